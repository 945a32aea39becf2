//! Internal audit pages: the programme (audits by planned date, with a planning form) and an
//! audit's page (its checklist from the catalogue, findings per requirement, the report).

use crate::platform::db::Q;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, redirect_with_flash,
    viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::Action;
use keel_core::management::compliance::catalogue;
use keel_core::management::evaluation::GRADES;
use minijinja::value::Serde;
use minijinja::{Value as V, context};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audits", get(programme).post(plan_submit))
        .route("/audits/{number}", get(audit_page).post(update_submit))
        .route("/audits/{number}/findings", post(finding_submit))
}

async fn staff(st: &AppState) -> AppResult<Vec<V>> {
    let users: Vec<(i64, String)> = st
        .db
        .all(Q::new(
            "SELECT id, name FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name",
        ))
        .await?;
    Ok(users
        .into_iter()
        .map(|(id, name)| context! { id => id, name => name })
        .collect())
}

async fn programme(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        Ok::<_, AppError>((super::list(&st.db).await?, staff(&st).await?))
    }
    .await;
    match r {
        Ok((audits, users)) => {
            let cat = catalogue::current();
            let processes: Vec<V> = cat
                .processes
                .iter()
                .map(|p| context! { id => p.id.clone(), name => p.name.clone() })
                .collect();
            clear_flash(st.ui.render(
                "audits.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), audits => V::from(Serde(&audits)),
                    processes => processes, users => users, can_manage => p.can(Action::ManageCompliance),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn plan_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let lead = match f.get("lead_auditor_id").as_str() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| AppError::invalid("lead_auditor_id", "not a user"))?,
            ),
        };
        let requirements = f
            .get("requirements")
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        super::create(
            &st.db,
            &p,
            super::NewAudit {
                title: f.get("title"),
                requirements,
                processes: f.all("processes"),
                criteria: f.get("criteria"),
                planned_start: f.get("planned_start"),
                planned_end: f.get("planned_end"),
                lead_auditor_id: lead,
                auditees: f.get("auditees"),
            },
        )
        .await
    }
    .await;
    match r {
        Ok(a) => redirect_with_flash(
            &format!("/audits/{}", a.number),
            &format!("{} planned.", a.number),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            redirect_with_flash("/audits", &format!("Not planned: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn audit_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        Ok::<_, AppError>((super::get(&st.db, &number).await?, staff(&st).await?))
    }
    .await;
    match r {
        Ok((a, users)) => clear_flash(st.ui.render(
            "audit.html",
            context! {
                me => viewer(&p), flash => flash(&headers), a => V::from(Serde(&a)), grades => V::from(Serde(GRADES)),
                users => users, can_manage => p.can(Action::ManageCompliance),
            },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/audits/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let a = super::update(
            &st.db,
            &p,
            &number,
            super::AuditPatch {
                state: f.filled("state"),
                report: f.opt("report"),
                version: f.get("version").parse().ok(),
                ..Default::default()
            },
        )
        .await?;
        Ok(format!("{} is {}.", a.number, a.state.replace('_', " ")))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn finding_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/audits/{number}");
    let r = async {
        f.check_csrf(&p)?;
        let before = super::get(&st.db, &number).await?.findings;
        let a = super::add_finding(
            &st.db,
            &p,
            &number,
            super::NewFinding {
                requirement: f.get("requirement"),
                grade: f.get("grade"),
                statement: f.get("statement"),
                evidence: f.get("evidence"),
            },
        )
        .await?;
        let nc = a
            .checklist
            .iter()
            .flat_map(|c| &c.findings)
            .max_by_key(|x| x.id)
            .and_then(|x| x.nonconformity.clone());
        debug_assert!(a.findings > before);
        Ok(match nc {
            Some(n) => format!("Finding recorded as nonconformity {n}."),
            None => "Finding recorded.".to_string(),
        })
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}
