//! The integrations page for administrators and auditors: webhook subscriptions and their
//! delivery log (with replay), received mail and the quarantine (reprocess, discard), mail sent
//! and waiting, and the alerts that opened incidents. Auditors read it all and change nothing.

use crate::platform::auth::Principal;
use crate::platform::db::Q;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, viewer,
};
use crate::platform::web::{AppState, iso};
use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::Action;
use minijinja::context;
use minijinja::value::{Serde, Value as MV};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(hub))
        .route("/integrations/webhooks/{id}", get(webhook_page))
        .route(
            "/integrations/webhooks/{id}/deliveries/{delivery}/replay",
            post(replay),
        )
        .route("/integrations/mail/{id}/reprocess", post(reprocess))
        .route("/integrations/mail/{id}/discard", post(discard))
}

/// id, to, event, state, attempts, error, created, sent.
type OutRow = (
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
    Option<i64>,
);
/// fingerprint, incident, status, labels, last seen.
type AlertRow = (String, String, String, String, i64);

async fn hub_data(st: &AppState) -> AppResult<MV> {
    let hooks = super::webhooks::list(&st.db).await?;
    let quarantine = super::mail::messages(&st.db, "quarantined").await?;
    let recent = super::mail::messages(&st.db, "all").await?;
    let outgoing: Vec<OutRow> = st
        .db
        .all(Q::new("SELECT id, email, event, state, attempts, last_error, created_at, sent_at FROM mail_outgoing ORDER BY id DESC LIMIT 50"))
        .await?;
    let alerts: Vec<AlertRow> = st
        .db
        .all(Q::new("SELECT a.fingerprint, w.number, a.status, a.labels, a.last_seen_at FROM alerts a JOIN work_items w ON w.id = a.item_id ORDER BY a.id DESC LIMIT 30"))
        .await?;
    let outgoing: Vec<MV> = outgoing
        .into_iter()
        .map(|(id, to, event, state, attempts, error, created, sent)| {
            context! { id, to, event, state, attempts, error, created => iso(created), sent => sent.map(iso) }
        })
        .collect();
    let alerts: Vec<MV> = alerts
        .into_iter()
        .map(|(fp, number, status, labels, seen)| {
            let name = serde_json::from_str::<serde_json::Value>(&labels)
                .ok()
                .and_then(|v| {
                    v.get("alertname")
                        .and_then(|n| n.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            context! { fingerprint => fp, number, status, name, seen => iso(seen) }
        })
        .collect();
    let recent: Vec<_> = recent.into_iter().take(50).collect();
    Ok(context! {
        hooks => MV::from(Serde(&hooks)),
        quarantine => MV::from(Serde(&quarantine)),
        recent => MV::from(Serde(&recent)),
        outgoing => outgoing,
        alerts => alerts,
        smtp => st.cfg.mail.smtp.is_some(),
        ldap => st.cfg.ldap.is_some(),
        oidc => st.cfg.oidc.is_some(),
    })
}

async fn hub(State(st): State<AppState>, WebUser(p): WebUser, headers: HeaderMap) -> Response {
    if let Err(e) = p.require(Action::ReadIntegrations) {
        return page_error(&st, Some(&p), e);
    }
    match hub_data(&st).await {
        Ok(d) => clear_flash(st.ui.render(
            "integrations.html",
            context! { me => viewer(&p), flash => flash(&headers), d => d, can_manage => p.can(Action::ManageIntegrations) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn webhook_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(e) = p.require(Action::ReadIntegrations) {
        return page_error(&st, Some(&p), e);
    }
    let data = async {
        let hook = super::webhooks::get(&st.db, id, false).await?;
        let deliveries = super::webhooks::deliveries(&st.db, id).await?;
        Ok::<_, AppError>((hook, deliveries))
    }
    .await;
    match data {
        Ok((hook, deliveries)) => clear_flash(st.ui.render(
            "webhook.html",
            context! { me => viewer(&p), flash => flash(&headers), hook => MV::from(Serde(&hook)),
                       deliveries => MV::from(Serde(&deliveries)), can_manage => p.can(Action::ManageIntegrations) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

fn checked(p: &Principal, raw: &RawForm) -> Result<FormFields, AppError> {
    let f = FormFields::parse(raw);
    f.check_csrf(p)?;
    p.require(Action::ManageIntegrations)?;
    Ok(f)
}

async fn replay(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((id, delivery)): Path<(i64, i64)>,
    raw: RawForm,
) -> Response {
    let r = async {
        checked(&p, &raw)?;
        let d = super::webhooks::replay(&st.db, &p, id, delivery).await?;
        Ok(format!("Delivery {delivery} queued again as {}.", d.id))
    }
    .await;
    back_with_flash(&st, &p, &format!("/integrations/webhooks/{id}"), r)
}

async fn reprocess(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    raw: RawForm,
) -> Response {
    let r = async {
        checked(&p, &raw)?;
        let h = super::mail::reprocess(&st, &p, id).await?;
        Ok(match (h.state.as_str(), h.item) {
            ("processed", Some(n)) => format!("Message {id} processed: {n}."),
            (state, _) => format!(
                "Message {id} is {state} again: {}",
                h.reason.unwrap_or_default()
            ),
        })
    }
    .await;
    back_with_flash(&st, &p, "/integrations", r)
}

async fn discard(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    raw: RawForm,
) -> Response {
    let r = async {
        let f = checked(&p, &raw)?;
        super::mail::discard(
            &st.db,
            &p,
            id,
            super::mail::Discard {
                reason: f.get("reason"),
            },
        )
        .await?;
        Ok(format!("Message {id} discarded."))
    }
    .await;
    back_with_flash(&st, &p, "/integrations", r)
}
