//! The SMS page: the scope (services in it, exclusions with reasons), RACI per process and the
//! communication plan, each with its form for the SMS manager.

use super::leadership as lead;
use crate::platform::db::Q;
use crate::platform::error::AppError;
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::Action;
use keel_core::management::leadership::FREQUENCIES;
use minijinja::value::Serde;
use minijinja::{Value as V, context};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sms", get(page))
        .route("/sms/scope", post(scope_submit))
        .route("/sms/raci/{process}", post(raci_submit))
        .route("/sms/communication", post(communication_submit))
}

async fn page(State(st): State<AppState>, WebUser(p): WebUser, headers: HeaderMap) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let services: Vec<(i64, String, String)> = st.db.all(Q::new("SELECT id, name, stage FROM services ORDER BY name")).await?;
        let users: Vec<(i64, String)> = st.db.all(Q::new("SELECT id, name FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name")).await?;
        Ok::<_, AppError>((lead::scope(&st.db).await?, lead::raci(&st.db).await?, lead::plan(&st.db).await?, services, users))
    }
    .await;
    match r {
        Ok((scope, raci, plan, services, users)) => {
            let services: Vec<V> = services
                .into_iter()
                .map(|(id, name, stage)| context! { id => id, name => name, stage => stage, checked => scope.as_ref().is_some_and(|s| s.service_ids.contains(&id)) })
                .collect();
            let users: Vec<V> = users
                .into_iter()
                .map(|(id, name)| context! { id => id, name => name })
                .collect();
            let exclusions = scope
                .as_ref()
                .map(|s| {
                    s.exclusions
                        .iter()
                        .map(|e| format!("{}: {}", e.what, e.reason))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            clear_flash(st.ui.render(
                "sms.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), scope => V::from(Serde(&scope)), raci => V::from(Serde(&raci)),
                    plan => V::from(Serde(&plan)), services => services, users => users, exclusions => exclusions,
                    frequencies => V::from(Serde(FREQUENCIES)), can_manage => p.can(Action::ManageCompliance),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

/// `what: reason` per line.
fn exclusions(text: &str) -> Result<Vec<lead::Exclusion>, AppError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| match l.split_once(':') {
            Some((w, r)) => Ok(lead::Exclusion {
                what: w.trim().to_string(),
                reason: r.trim().to_string(),
            }),
            None => Err(AppError::invalid(
                &format!("exclusions[{i}]"),
                "write each as `what: reason`",
            )),
        })
        .collect()
}

async fn scope_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let ids = f
            .all("service_ids")
            .iter()
            .map(|v| {
                v.parse()
                    .map_err(|_| AppError::invalid("service_ids", "not a service"))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        let s = lead::set_scope(
            &st.db,
            &p,
            lead::ScopeBody {
                statement: f.get("statement"),
                service_ids: ids,
                locations: f.get("locations"),
                units: f.get("units"),
                parties: f.get("parties"),
                exclusions: exclusions(&f.get("exclusions"))?,
                version: None,
            },
        )
        .await?;
        Ok(if s.unscoped.is_empty() {
            "Scope saved.".to_string()
        } else {
            format!("Scope saved; not covered yet: {}.", s.unscoped.join(", "))
        })
    }
    .await;
    back_with_flash(&st, &p, "/sms", r)
}

async fn raci_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(process): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let entries = f
            .get("entries")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| match l.rsplit_once(':') {
                Some((who, letter)) => Ok(lead::RaciEntry {
                    who: who.trim().to_string(),
                    letter: letter.trim().to_uppercase(),
                }),
                None => Err(AppError::invalid(
                    &format!("entries[{i}]"),
                    "write each as `who: R` (R, A, C or I)",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let r = lead::set_raci(&st.db, &p, &process, lead::RaciBody { entries }).await?;
        Ok(format!("RACI of {} saved.", r.name))
    }
    .await;
    back_with_flash(&st, &p, "/sms", r)
}

async fn communication_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let c = lead::add_communication(
            &st.db,
            &p,
            lead::NewCommunication {
                topic: f.get("topic"),
                audience: f.get("audience"),
                frequency: f.get("frequency"),
                channel: f.get("channel"),
                owner_id: f.id("owner_id")?,
            },
        )
        .await?;
        Ok(format!("\"{}\" added to the communication plan.", c.topic))
    }
    .await;
    back_with_flash(&st, &p, "/sms", r)
}
