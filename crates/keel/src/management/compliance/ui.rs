//! Compliance pages: the dashboard (readiness by clause and process, failing checks, open
//! nonconformities, the gap plan, assessments, the audit pack), a requirement's page (its text,
//! live evidence down to the failing records, the judgement, evidence files, gap actions), a
//! process's capability rating, and assessments with their comparison. Auditors read all of it;
//! only the SMS manager (and admins) change anything.

use super::api::{PeriodParams, evidence_download, requirement_detail};
use super::{assessment, default_period, period, readiness};
use crate::platform::auth::Principal;
use crate::platform::db::{Q, now_ms};
use crate::platform::error::AppError;
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, check_csrf, clear_flash, flash, page_error,
    redirect_with_flash, viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Multipart, Path, Query, RawForm, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keel_core::access::Action;
use keel_core::management::compliance::capability::{Attribute, LEVEL_NAMES};
use keel_core::management::compliance::catalogue;
use keel_core::management::compliance::conformity::Rating;
use minijinja::value::Serde;
use minijinja::{Value as V, context};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/compliance", get(dashboard))
        .route("/compliance/audit-pack", get(pack_download))
        .route("/compliance/requirements/{id}", get(requirement_page))
        .route(
            "/compliance/requirements/{id}/judgement",
            post(judgement_submit),
        )
        .route(
            "/compliance/requirements/{id}/evidence",
            post(evidence_submit),
        )
        .route("/compliance/requirements/{id}/actions", post(action_submit))
        .route("/compliance/actions/{number}", post(action_update_submit))
        .route("/compliance/evidence/{id}", get(evidence_get))
        .route(
            "/compliance/processes/{id}",
            get(process_page).post(process_submit),
        )
        .route(
            "/assessments",
            get(assessments_page).post(assessment_submit),
        )
        .route("/assessments/{number}", get(assessment_page))
}

fn can_manage(p: &Principal) -> bool {
    p.can(Action::ManageCompliance)
}

async fn dashboard(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(q): Query<PeriodParams>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let cat = super::edition(q.edition.as_deref())?;
        let per = period(q.from.as_deref(), q.to.as_deref(), now_ms())?;
        let r = readiness(&st.db, cat, per).await?;
        let ncs: Vec<(String, String, String, String)> = st
            .db
            .all(Q::new("SELECT number, title, state, details FROM work_items WHERE kind = 'nonconformity' AND state NOT IN ('closed', 'cancelled') ORDER BY seq"))
            .await?;
        let ncs: Vec<V> = ncs
            .into_iter()
            .map(|(n, t, s, d)| {
                let d: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&d).unwrap_or_default();
                context! { number => n, title => t, state => s, severity => d.get("severity").and_then(|v| v.as_str()).unwrap_or("").to_string() }
            })
            .collect();
        let actions: Vec<assessment::GapAction> = assessment::actions(&st.db, None)
            .await?
            .into_iter()
            .filter(|a| matches!(a.state.as_str(), "open" | "in_progress"))
            .collect();
        let taken = assessment::list(&st.db).await?;
        let audits: Vec<crate::management::evaluation::AuditSummary> =
            crate::management::evaluation::list(&st.db)
                .await?
                .into_iter()
                .filter(|a| matches!(a.state.as_str(), "planned" | "in_progress"))
                .take(5)
                .collect();
        let docs: Vec<crate::management::support::documents::DocumentSummary> =
            crate::management::support::documents::list(&st.db)
                .await?
                .into_iter()
                .filter(|d| d.review_due || d.in_review || (d.state == "active" && d.current_version.is_none()))
                .collect();
        let objectives = crate::management::evaluation::kpi::objectives(&st.db).await?;
        let reviews: Vec<crate::management::evaluation::review::ReviewSummary> =
            crate::management::evaluation::review::list(&st.db)
                .await?
                .into_iter()
                .filter(|r| matches!(r.state.as_str(), "planned" | "held"))
                .collect();
        Ok::<_, AppError>((r, ncs, actions, taken, (audits, docs, objectives, reviews)))
    }
    .await;
    match r {
        Ok((r, ncs, actions, taken, (audits, docs, objectives, reviews))) => {
            let mut failing: Vec<&super::CheckResult> = Vec::new();
            for q in &r.requirements {
                for c in &q.checks {
                    if c.status == "fail" && !failing.iter().any(|f| f.id == c.id) {
                        failing.push(c);
                    }
                }
            }
            clear_flash(st.ui.render(
                "compliance.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), r => V::from(Serde(&r)),
                    failing => V::from(Serde(&failing)), ncs => ncs, actions => V::from(Serde(&actions)),
                    assessments => V::from(Serde(&taken)), can_manage => can_manage(&p),
                    audits => V::from(Serde(&audits)), docs => V::from(Serde(&docs)),
                    objectives => V::from(Serde(&objectives)), reviews => V::from(Serde(&reviews)),
                    from => q.from.clone().unwrap_or_default(), to => q.to.clone().unwrap_or_default(),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn pack_download(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Query(q): Query<PeriodParams>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let cat = super::edition(q.edition.as_deref())?;
        let per = period(q.from.as_deref(), q.to.as_deref(), now_ms())?;
        let bytes = super::pack::build(&st.db, cat, per, &p.name).await?;
        Ok::<_, AppError>((super::pack::file_name(per), bytes))
    }
    .await;
    match r {
        Ok((name, bytes)) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e @ AppError::Invalid { .. }) => {
            redirect_with_flash("/compliance", &format!("No pack: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn requirement_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PeriodParams>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let d = requirement_detail(&st, &id, &q).await?;
        let users: Vec<(i64, String)> = st.db.all(Q::new("SELECT id, name FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name")).await?;
        Ok::<_, AppError>((d, users))
    }
    .await;
    match r {
        Ok((d, users)) => {
            let users: Vec<V> = users
                .into_iter()
                .map(|(id, name)| context! { id => id, name => name })
                .collect();
            let cat = catalogue::current();
            let process = cat
                .process(&d.status.process)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            clear_flash(st.ui.render(
                "requirement.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), d => V::from(Serde(&d)), process => process,
                    ratings => V::from(Serde(Rating::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>())),
                    users => users, can_manage => can_manage(&p),
                    states => V::from(Serde(assessment::ACTION_STATES)),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn judgement_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/compliance/requirements/{id}");
    let r = async {
        f.check_csrf(&p)?;
        let cat = catalogue::current();
        if f.opt("rating").as_deref() == Some("") {
            super::unjudge(&st.db, &p, cat, &id).await?;
            return Ok("Judgement withdrawn; the checks rate the requirement.".to_string());
        }
        let s = super::judge(&st.db, &p, cat, &id, &f.get("rating"), &f.get("notes")).await?;
        Ok(format!(
            "Judged {}: {}.",
            s.id,
            s.rating.unwrap_or_default().replace('_', " ")
        ))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn evidence_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<String>,
    mut mp: Multipart,
) -> Response {
    let to = format!("/compliance/requirements/{id}");
    let r = async {
        let mut token = String::new();
        let mut file: Option<(String, String, Vec<u8>)> = None;
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?
        {
            match field.name() {
                Some("csrf") => {
                    token = field
                        .text()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?
                }
                Some("file") => {
                    let name = field.file_name().unwrap_or("file").to_string();
                    let ct = field
                        .content_type()
                        .unwrap_or("application/octet-stream")
                        .to_string();
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?;
                    file = Some((name, ct, bytes.to_vec()));
                }
                _ => {}
            }
        }
        check_csrf(&p, &token)?;
        let (name, ct, bytes) = file.ok_or_else(|| AppError::invalid("file", "choose a file"))?;
        let e = super::api::add_evidence(&st, &p, &id, &name, &ct, &bytes).await?;
        Ok(format!("Kept {} as evidence.", e.filename))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn evidence_get(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        evidence_download(&st, id).await
    }
    .await;
    r.unwrap_or_else(|e| page_error(&st, Some(&p), e))
}

async fn action_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/compliance/requirements/{id}");
    let r = async {
        f.check_csrf(&p)?;
        let a = assessment::add_action(
            &st.db,
            &p,
            assessment::NewAction {
                requirement: id.clone(),
                title: f.get("title"),
                description: f.get("description"),
                owner_id: f.id("owner_id")?,
                due_on: Some(f.get("due_on")),
                assessment: None,
            },
        )
        .await?;
        Ok(format!("{} added to the gap plan.", a.number))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn action_update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = f
        .filled("back")
        .filter(|b| b.starts_with("/compliance"))
        .unwrap_or_else(|| "/compliance".into());
    let r = async {
        f.check_csrf(&p)?;
        let progress = match f.get("progress").as_str() {
            "" => None,
            v => Some(
                v.parse()
                    .map_err(|_| AppError::invalid("progress", "a number 0–100"))?,
            ),
        };
        let a = assessment::update_action(
            &st.db,
            &p,
            &number,
            assessment::ActionPatch {
                progress,
                state: f.filled("state"),
                ..Default::default()
            },
        )
        .await?;
        Ok(format!(
            "{} is {} ({} %).",
            a.number,
            a.state.replace('_', " "),
            a.progress
        ))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn process_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let cat = catalogue::current();
        let r = readiness(&st.db, cat, default_period(now_ms())).await?;
        let proc = r
            .processes
            .iter()
            .find(|x| x.id == id)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("process {id}")))?;
        let reqs: Vec<super::RequirementStatus> = r
            .requirements
            .into_iter()
            .filter(|q| q.process == id)
            .collect();
        Ok::<_, AppError>((proc, reqs))
    }
    .await;
    match r {
        Ok((proc, reqs)) => {
            let attrs: Vec<V> = Attribute::ALL
                .iter()
                .map(|a| context! { code => a.code(), name => a.name(), level => a.level(), rating => proc.ratings.get(a.code()).cloned().unwrap_or_default() })
                .collect();
            clear_flash(st.ui.render(
                "process.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), proc => V::from(Serde(&proc)), reqs => V::from(Serde(&reqs)),
                    attrs => attrs, levels => V::from(Serde(LEVEL_NAMES)), can_manage => can_manage(&p),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn process_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let to = format!("/compliance/processes/{id}");
    let r = async {
        f.check_csrf(&p)?;
        let ratings: BTreeMap<String, String> = Attribute::ALL
            .iter()
            .filter_map(|a| f.filled(a.code()).map(|v| (a.code().to_string(), v)))
            .collect();
        let (_, level) = super::rate_process(
            &st.db,
            &p,
            catalogue::current(),
            &id,
            &ratings,
            &f.get("notes"),
        )
        .await?;
        Ok(format!(
            "Rated: capability level {level} ({}).",
            LEVEL_NAMES[usize::from(level.min(5))]
        ))
    }
    .await;
    back_with_flash(&st, &p, &to, r)
}

async fn assessments_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        assessment::list(&st.db).await
    }
    .await;
    match r {
        Ok(rows) => clear_flash(st.ui.render(
            "assessments.html",
            context! { me => viewer(&p), flash => flash(&headers), rows => V::from(Serde(&rows)), can_manage => can_manage(&p) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn assessment_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        assessment::take(
            &st.db,
            &p,
            assessment::NewAssessment {
                title: f.get("title"),
                from: f.filled("from"),
                to: f.filled("to"),
                edition: None,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(a) => redirect_with_flash(
            &format!("/assessments/{}", a.summary.number),
            &format!("{} taken: {} %.", a.summary.number, a.summary.score),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            redirect_with_flash("/assessments", &format!("Not taken: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

#[derive(Debug, Deserialize, Default)]
struct CompareQuery {
    with: Option<String>,
}

async fn assessment_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(q): Query<CompareQuery>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        let a = assessment::get(&st.db, &number).await?;
        let cmp = match q.with.as_deref().filter(|w| !w.is_empty()) {
            Some(w) => Some(assessment::compare(&st.db, &number, w).await?),
            None => None,
        };
        let others = assessment::list(&st.db).await?;
        Ok::<_, AppError>((a, cmp, others))
    }
    .await;
    match r {
        Ok((a, cmp, others)) => clear_flash(st.ui.render(
            "assessment.html",
            context! {
                me => viewer(&p), flash => flash(&headers), a => V::from(Serde(&a)), cmp => V::from(Serde(&cmp)),
                others => V::from(Serde(&others)), with => q.with.unwrap_or_default(),
            },
        )),
        Err(e @ AppError::Invalid { .. }) => redirect_with_flash(&format!("/assessments/{number}"), &format!("No comparison: {e}")),
        Err(e) => page_error(&st, Some(&p), e),
    }
}
