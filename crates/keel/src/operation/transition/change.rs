//! Clause 8.5.1 — change management: `/api/v1/changes` (the kernel's routes for the change
//! kind), raising standard changes from templates, risk assessment from the questions and the
//! CMDB impact, the change authority's approvals, the schedule with its conflicts and blackouts,
//! implementation tasks, the CIs a change updates (applied to the CMDB when it closes
//! successfully), and the change success rate and emergency share.
//!
//! The lifecycle and the rules (risk, conflicts, when a review is due) are in
//! `keel_core::operation::transition::change`; [`on_move`] adds what needs the database.

use super::calendar;
use super::policy::{self, BlackoutRow, BlackoutView, blackout_view, blackouts_between};
use crate::kernel::api::{ItemView, item_response, require_create, require_read};
use crate::kernel::approvals::{self, Approval, Ask, Decision};
use crate::kernel::tasks::{self, Completion, Task, TaskTemplate};
use crate::kernel::{self, ItemRow, NewItem, Patch, Scope};
use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::instant;
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::kernel::approval::{Outcome, Rule};
use keel_core::kernel::{Kind, LinkKind};
use keel_core::operation::transition::change::{
    self as rules, QUESTIONS, Question, RiskLevel, TYPES, Window,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const K: Kind = keel_core::operation::transition::change::KIND;

pub mod routes_mod {
    crate::work_item_routes! {
        kind: keel_core::operation::transition::change::KIND,
        tag: "changes",
        list: "/api/v1/changes",
        one: "/api/v1/changes/{number}",
        history: "/api/v1/changes/{number}/history",
        comments: "/api/v1/changes/{number}/comments",
        links: "/api/v1/changes/{number}/links",
        attachments: "/api/v1/changes/{number}/attachments",
        attachment: "/api/v1/changes/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::operation::transition::change::KIND,
        tag: "changes",
        sla: "/api/v1/changes/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::operation::transition::change::KIND,
        tag: "changes",
        cis: "/api/v1/changes/{number}/cis",
        ci: "/api/v1/changes/{number}/cis/{ci_id}",
    }
}

fn text<'a>(d: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    d.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A change's type (`normal` when unreadable: the strictest path that needs no template).
pub fn change_type(item: &ItemRow) -> String {
    text(&item.details_map(), "change_type")
        .unwrap_or("normal")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Raising a change

/// Before a change is created: its type is given; a standard change names an active template;
/// an emergency says why it is one; a category, when given, exists.
pub async fn check_draft(db: &Db, details: &Map<String, Value>) -> AppResult<()> {
    let ty = text(details, "change_type").ok_or_else(|| {
        AppError::invalid(
            "details.change_type",
            format!("choose the change type: {}", TYPES.join(", ")),
        )
    })?;
    let mut tx = db.begin().await?;
    if ty == "standard" {
        let id = text(details, "template")
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| {
                AppError::invalid(
                    "details.template",
                    "a standard change comes from a template (its id, from /api/v1/change-templates)",
                )
            })?;
        if policy::template(&mut tx, id).await?.is_none() {
            return Err(AppError::invalid(
                "details.template",
                "no active change template with that id",
            ));
        }
    }
    if ty == "emergency" && text(details, "emergency_reason").is_none() {
        return Err(AppError::invalid(
            "details.emergency_reason",
            "say which emergency criterion the change meets",
        ));
    }
    if let Some(c) = text(details, "change_category")
        && policy::category_named(&mut tx, c).await?.is_none()
    {
        return Err(AppError::invalid(
            "details.change_category",
            "no active change category with that name",
        ));
    }
    Ok(())
}

/// After a change is created: its plan row, and for a standard change what its template
/// brings (plans, category, service, tasks, a low pre-assessed risk).
pub async fn start(db: &Db, number: &str, actor: &Actor) -> AppResult<ItemRow> {
    let item = kernel::get(db, K, number, Scope::All).await?;
    let d = item.details_map();
    let mut tx = db.begin().await?;
    let now = now_ms();
    tx.exec(
        Q::new("INSERT INTO change_plans (item_id, updated_at) VALUES ($1, $2) ON CONFLICT (item_id) DO NOTHING")
            .bind(item.id)
            .bind(now),
    )
    .await?;
    let template = match text(&d, "template").and_then(|t| t.parse::<i64>().ok()) {
        Some(id) if text(&d, "change_type") == Some("standard") => {
            policy::template(&mut tx, id).await?
        }
        _ => None,
    };
    let Some(t) = template else {
        tx.commit().await?;
        return Ok(item);
    };
    tasks::instantiate(&mut tx, &item, &t.tasks).await?;
    tx.exec(
        Q::new("UPDATE change_plans SET risk_score = 0, risk_level = 'low', risk_reasons = $1, assessed_at = $2, updated_at = $2 WHERE item_id = $3")
            .bind(json!([format!("pre-authorized standard change “{}”", t.name)]).to_string())
            .bind(now)
            .bind(item.id),
    )
    .await?;
    let category: Option<(String,)> = match t.category_id {
        Some(c) => {
            tx.opt(Q::new("SELECT name FROM change_categories WHERE id = $1").bind(c))
                .await?
        }
        None => None,
    };
    tx.commit().await?;
    let mut details = Map::new();
    for (k, v) in [
        ("implementation_plan", &t.implementation_plan),
        ("backout_plan", &t.backout_plan),
        ("test_plan", &t.test_plan),
    ] {
        if text(&d, k).is_none() && !v.is_empty() {
            details.insert(k.into(), json!(v));
        }
    }
    if let (None, Some((c,))) = (text(&d, "change_category"), category) {
        details.insert("change_category".into(), json!(c));
    }
    kernel::update(
        db,
        K,
        number,
        Scope::All,
        actor,
        Patch {
            details: (!details.is_empty()).then_some(details),
            service_id: item
                .service_id
                .is_none()
                .then_some(t.service_id)
                .flatten()
                .map(Some),
            ..Default::default()
        },
        None,
    )
    .await
}

/// Raise a change outside the API's create (the web form, a problem's fix): check, create, start.
pub async fn raise(db: &Db, p: &Principal, input: NewItem) -> AppResult<ItemRow> {
    require_create(p, K)?;
    check_draft(db, &input.details).await?;
    let row = kernel::create(db, K, &p.actor(), p, input).await?;
    start(db, &row.number, &p.actor()).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixBody {
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Raise the normal change that permanently fixes a problem (8.6.3): it takes the problem's
/// service and affected CIs, and is linked as fixing it.
pub async fn raise_fix(db: &Db, p: &Principal, number: &str, b: FixBody) -> AppResult<ItemRow> {
    require_read(p, keel_core::operation::resolution::problem::PROBLEM)?;
    require_create(p, K)?;
    let problem = kernel::get(
        db,
        keel_core::operation::resolution::problem::PROBLEM,
        number,
        Scope::of(p),
    )
    .await?;
    let input = NewItem {
        title: b
            .title
            .unwrap_or_else(|| format!("Fix: {}", problem.title.trim_start_matches("Problem: "))),
        description: b.description.unwrap_or_else(|| {
            format!(
                "Permanent fix for {}.\n\n{}",
                problem.number, problem.description
            )
        }),
        impact: Some(problem.impact),
        urgency: Some(problem.urgency),
        service_id: problem.service_id,
        assignment_group_id: problem.assignment_group_id,
        details: [("change_type".to_string(), json!("normal"))]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let change = raise(db, p, input).await?;
    let mut tx = db.begin().await?;
    kernel::link_in(&mut tx, &change, &problem, LinkKind::Fixes, &p.actor()).await?;
    tx.exec(
        Q::new("INSERT INTO work_item_cis (item_id, ci_id) SELECT $1, ci_id FROM work_item_cis WHERE item_id = $2")
            .bind(change.id)
            .bind(problem.id),
    )
    .await?;
    tx.commit().await?;
    Ok(change)
}

/// Raise the change that fixes a problem permanently, linked to it.
#[utoipa::path(post, path = "/api/v1/problems/{number}/change", tag = "problems", params(("number" = String, Path)), request_body = FixBody,
    responses((status = 201, body = ItemView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_raise_fix(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<FixBody>,
) -> AppResult<Response> {
    let row = raise_fix(&st.db, &p, &number, b).await?;
    Ok(item_response(StatusCode::CREATED, row))
}

// ---------------------------------------------------------------------------------------------
// The process rules of a move

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Plan {
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub actual_start: Option<i64>,
    pub actual_end: Option<i64>,
    pub risk_score: Option<i64>,
    pub risk_level: Option<String>,
    pub risk_answers: Option<String>,
    pub risk_reasons: Option<String>,
    pub assessed_at: Option<i64>,
}

const PLAN_SQL: &str = "SELECT planned_start, planned_end, actual_start, actual_end, risk_score, risk_level, risk_answers, risk_reasons, assessed_at FROM change_plans WHERE item_id = $1";

async fn plan_tx(tx: &mut Tx, item_id: i64) -> AppResult<Plan> {
    Ok(tx
        .opt(Q::new(PLAN_SQL).bind(item_id))
        .await?
        .unwrap_or_default())
}

pub async fn plan(db: &Db, item_id: i64) -> AppResult<Plan> {
    Ok(db
        .opt(Q::new(PLAN_SQL).bind(item_id))
        .await?
        .unwrap_or_default())
}

fn risk_level(p: &Plan) -> Option<RiskLevel> {
    p.risk_level.as_deref().and_then(RiskLevel::parse)
}

/// Members of an authority's group who may decide on `item` (not the one who raised it).
async fn authority_ask(tx: &mut Tx, authority_id: i64, item: &ItemRow) -> AppResult<Ask> {
    let a = policy::authority(tx, authority_id).await?;
    let members: Vec<(i64,)> = tx
        .all(
            Q::new("SELECT m.user_id FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 AND u.disabled = 0 ORDER BY m.user_id")
                .bind(a.group_id),
        )
        .await?;
    let approvers: Vec<i64> = members
        .into_iter()
        .map(|(u,)| u)
        .filter(|u| Some(*u) != item.requester_id)
        .collect();
    if approvers.is_empty() {
        return Err(AppError::invalid(
            "change_category",
            format!(
                "the change authority “{}” has nobody (besides the requester) to decide",
                a.name
            ),
        ));
    }
    Ok(Ask {
        basis: a.name,
        rule: Rule::parse(&a.rule, a.quorum).unwrap_or(Rule::Any),
        approvers,
    })
}

/// Rules of a change's state changes, inside the change's transaction (see the module doc).
pub async fn on_move(
    tx: &mut Tx,
    before: &ItemRow,
    after: &ItemRow,
    actor: &Actor,
) -> AppResult<()> {
    let d = after.details_map();
    let ty = text(&d, "change_type").unwrap_or("normal");
    let plan = plan_tx(tx, before.id).await?;
    let now = now_ms();
    match after.state.as_str() {
        "assess" if before.state == "authorize" => approvals::supersede(tx, before.id).await?,
        "authorize" => {
            if plan.risk_level.is_none() {
                return Err(AppError::invalid(
                    "risk",
                    "assess the change's risk first (answer the risk questions)",
                ));
            }
            if ty == "emergency" && text(&d, "emergency_reason").is_none() {
                return Err(AppError::invalid(
                    "details.emergency_reason",
                    "say which emergency criterion the change meets",
                ));
            }
            let pol = policy::load(tx).await?;
            let main = if ty == "emergency" {
                pol.emergency_authority_id.ok_or_else(|| {
                    AppError::invalid(
                        "change_type",
                        "the change policy names no emergency change authority",
                    )
                })?
            } else {
                let category = match text(&d, "change_category") {
                    Some(c) => policy::category_named(tx, c).await?,
                    None => None,
                };
                category
                    .map(|c| c.authority_id)
                    .or(pol.default_authority_id)
                    .ok_or_else(|| {
                        AppError::invalid(
                            "details.change_category",
                            "choose a change category: its change authority authorizes the change",
                        )
                    })?
            };
            let mut asks = vec![authority_ask(tx, main, after).await?];
            if risk_level(&plan) == Some(RiskLevel::High)
                && let Some(h) = pol.high_risk_authority_id.filter(|h| *h != main)
            {
                asks.push(authority_ask(tx, h, after).await?);
            }
            approvals::ask(tx, after, &asks).await?;
        }
        "scheduled" if before.state == "new" => {
            let template = text(&d, "template").and_then(|t| t.parse::<i64>().ok());
            let active = match template {
                Some(t) => policy::template(tx, t).await?.is_some(),
                None => false,
            };
            if ty != "standard" || !active {
                return Err(AppError::Conflict(format!(
                    "only a standard change from an active template is pre-authorized; assess {} and have it authorized",
                    before.number
                )));
            }
        }
        "scheduled" if approvals::standing(tx, before.id).await? != Some(Outcome::Approved) => {
            return Err(AppError::Conflict(format!(
                "{} is not authorized yet",
                before.number
            )));
        }
        "implement" => {
            let (Some(start), Some(end)) = (plan.planned_start, plan.planned_end) else {
                return Err(AppError::invalid(
                    "planned_start",
                    "schedule the change (planned start and end) before implementing it",
                ));
            };
            if ty != "standard"
                && approvals::standing(tx, before.id).await? != Some(Outcome::Approved)
            {
                return Err(AppError::Conflict(format!(
                    "{} is not authorized: its change authority has not approved it",
                    before.number
                )));
            }
            if ty != "emergency" {
                let hit = blackouts_for(tx, after, start, end).await?;
                if !hit.is_empty() {
                    return Err(AppError::Conflict(format!(
                        "{} is planned inside the blackout period {}",
                        before.number,
                        hit.join(", ")
                    )));
                }
            }
            tx.exec(
                Q::new(
                    "UPDATE change_plans SET actual_start = $1, updated_at = $1 WHERE item_id = $2",
                )
                .bind(now)
                .bind(before.id),
            )
            .await?;
            tasks::open_next_stage(tx, after).await?;
        }
        "review" => {
            if text(&d, "outcome") == Some("successful") {
                let open = tasks::open_count(tx, after).await?;
                if open > 0 {
                    return Err(AppError::invalid(
                        "tasks",
                        format!("{open} implementation task(s) are not done yet"),
                    ));
                }
            } else {
                tasks::cancel_open(tx, after).await?;
            }
            tx.exec(
                Q::new(
                    "UPDATE change_plans SET actual_end = $1, updated_at = $1 WHERE item_id = $2",
                )
                .bind(now)
                .bind(before.id),
            )
            .await?;
        }
        "closed" => {
            let outcome = text(&d, "outcome").unwrap_or("failed");
            if rules::needs_review(ty, outcome, risk_level(&plan))
                && text(&d, "review_notes").is_none()
            {
                return Err(AppError::invalid(
                    "details.review_notes",
                    "record the post-implementation review (failed, emergency and high-risk changes need one)",
                ));
            }
            if outcome == "successful" {
                apply_ci_updates(tx, before, actor).await?;
            }
        }
        "rejected" | "cancelled" => {
            tasks::cancel_open(tx, after).await?;
            approvals::skip_pending(tx, before.id).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn apply_ci_updates(tx: &mut Tx, item: &ItemRow, actor: &Actor) -> AppResult<()> {
    let rows: Vec<(i64, Option<String>, String)> = tx
        .all(
            Q::new("SELECT ci_id, status, attributes FROM change_ci_updates WHERE item_id = $1 AND applied_at IS NULL ORDER BY ci_id")
                .bind(item.id),
        )
        .await?;
    let updates: Vec<_> = rows
        .into_iter()
        .map(|(ci, status, a)| (ci, status, serde_json::from_str(&a).unwrap_or_default()))
        .collect();
    super::apply_ci_updates(tx, actor, &updates, &item.number).await?;
    tx.exec(
        Q::new("UPDATE change_ci_updates SET applied_at = $1 WHERE item_id = $2 AND applied_at IS NULL")
            .bind(now_ms())
            .bind(item.id),
    )
    .await?;
    Ok(())
}

/// The services a change touches: its own and those of its CIs.
async fn window_of(tx: &mut Tx, item: &ItemRow, start: i64, end: i64) -> AppResult<Window> {
    let rows: Vec<(i64, Option<i64>)> = tx
        .all(
            Q::new("SELECT w.ci_id, c.service_id FROM work_item_cis w JOIN cis c ON c.id = w.ci_id WHERE w.item_id = $1")
                .bind(item.id),
        )
        .await?;
    let mut services: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
    services.extend(item.service_id);
    Ok(Window {
        id: item.id,
        start,
        end,
        cis: rows.iter().map(|r| r.0).collect(),
        services,
    })
}

/// Names of the blackouts the change's window falls into.
async fn blackouts_for(
    tx: &mut Tx,
    item: &ItemRow,
    start: i64,
    end: i64,
) -> AppResult<Vec<String>> {
    let w = window_of(tx, item, start, end).await?;
    let rows: Vec<BlackoutRow> = tx.all(blackouts_between(start, end)).await?;
    let hit = rules::blackouts_hit(&w, &calendar::blackouts(&rows));
    Ok(rows
        .into_iter()
        .filter(|r| hit.contains(&r.0))
        .map(|r| format!("“{}”", r.1))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Risk

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RiskView {
    /// The questions and their answers with weights.
    #[schema(value_type = Vec<Object>)]
    pub questions: &'static [Question],
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
    pub score: Option<i64>,
    /// low, medium or high; none until assessed.
    pub level: Option<String>,
    pub reasons: Vec<String>,
    pub assessed_at: Option<String>,
    /// The CMDB impact of the change's CIs, which the score includes.
    pub services_affected: Vec<String>,
    pub customers_affected: Vec<String>,
    /// The change's CIs under change control by the policy.
    pub controlled_cis: Vec<i64>,
}

pub async fn risk_view(st: &AppState, item: &ItemRow) -> AppResult<RiskView> {
    let p = plan(&st.db, item.id).await?;
    let affected = crate::operation::portfolio::affected::affected(st, item.id).await?;
    let pol = policy::load_db(&st.db).await?;
    let ids: Vec<i64> = affected.cis.iter().map(|c| c.id).collect();
    let controlled_cis = policy::controlled_among(&st.db, &pol, &ids).await?;
    Ok(RiskView {
        questions: QUESTIONS,
        answers: p
            .risk_answers
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default(),
        score: p.risk_score,
        level: p.risk_level.clone(),
        reasons: p
            .risk_reasons
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default(),
        assessed_at: p.assessed_at.map(iso),
        services_affected: affected.services.iter().map(|s| s.name.clone()).collect(),
        customers_affected: affected.customers.iter().map(|c| c.name.clone()).collect(),
        controlled_cis,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskBody {
    /// One answer per question, e.g. `{"complexity": "simple", …}`.
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, String>,
}

/// Assess the risk: the answers plus the CMDB impact of the change's CIs. Only before
/// authorization is asked; afterwards the approvers' decision stands on what they saw.
pub async fn assess(
    st: &AppState,
    p: &Principal,
    number: &str,
    b: RiskBody,
) -> AppResult<RiskView> {
    p.require(Action::UpdateWorkItems)?;
    let item = kernel::get(&st.db, K, number, Scope::All).await?;
    if !matches!(item.state.as_str(), "new" | "assess") {
        return Err(AppError::Conflict(format!(
            "{number} is {}: risk is assessed before authorization",
            item.state
        )));
    }
    let affected = crate::operation::portfolio::affected::affected(st, item.id).await?;
    let risk = rules::assess(
        b.answers.iter().map(|(q, a)| (q.as_str(), a.as_str())),
        affected.services.len(),
        affected.customers.len(),
    )
    .map_err(|e| AppError::invalid(&e.field(), e))?;
    let before = plan(&st.db, item.id).await?;
    let now = now_ms();
    let mut tx = st.db.begin().await?;
    let answers = json!(b.answers).to_string();
    tx.exec(
        Q::new("INSERT INTO change_plans (item_id, risk_score, risk_level, risk_answers, risk_reasons, assessed_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                ON CONFLICT (item_id) DO UPDATE SET risk_score = $2, risk_level = $3, risk_answers = $4, risk_reasons = $5, assessed_at = $6, updated_at = $6")
            .bind(item.id)
            .bind(i64::from(risk.score))
            .bind(risk.level.as_str())
            .bind(answers.as_str())
            .bind(json!(risk.reasons).to_string())
            .bind(now),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "risk.assess",
        K.as_str(),
        &item.number,
        vec![FieldChange {
            field: "risk".into(),
            old: json!({"score": before.risk_score, "level": before.risk_level}),
            new: json!({"score": risk.score, "level": risk.level.as_str(), "answers": b.answers}),
        }],
    )
    .await?;
    tx.commit().await?;
    risk_view(st, &item).await
}

/// The risk questions, the change's answers, and the impact its score includes.
#[utoipa::path(get, path = "/api/v1/changes/{number}/risk", tag = "changes", params(("number" = String, Path)),
    responses((status = 200, body = RiskView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_risk(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<RiskView>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(risk_view(&st, &item).await?))
}

/// Assess the change's risk.
#[utoipa::path(put, path = "/api/v1/changes/{number}/risk", tag = "changes", params(("number" = String, Path)), request_body = RiskBody,
    responses((status = 200, body = RiskView), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_assess(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<RiskBody>,
) -> AppResult<Json<RiskView>> {
    Ok(Json(assess(&st, &p, &number, b).await?))
}

// ---------------------------------------------------------------------------------------------
// Schedule and conflicts

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClashView {
    pub number: String,
    pub title: String,
    pub state: String,
    pub planned_start: String,
    pub planned_end: String,
    /// The CIs and services both changes touch.
    pub cis: Vec<i64>,
    pub services: Vec<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    pub actual_start: Option<String>,
    pub actual_end: Option<String>,
    /// Open changes overlapping in time that share a CI or a service.
    pub clashes: Vec<ClashView>,
    /// Blackout periods the window falls into.
    pub blackouts: Vec<BlackoutView>,
}

pub async fn schedule(db: &Db, item: &ItemRow) -> AppResult<Schedule> {
    let p = plan(db, item.id).await?;
    let (mut clashes, mut hit) = (vec![], vec![]);
    if let (Some(start), Some(end)) = (p.planned_start, p.planned_end) {
        let entries = calendar::entries(db, start, end).await?;
        let mine = entries.iter().find(|e| e.window.id == item.id);
        if let Some(me) = mine {
            let others: Vec<Window> = entries.iter().map(|e| e.window.clone()).collect();
            for c in rules::clashes(&me.window, &others) {
                if let Some(o) = entries.iter().find(|e| e.window.id == c.other) {
                    clashes.push(ClashView {
                        number: o.number.clone(),
                        title: o.title.clone(),
                        state: o.state.clone(),
                        planned_start: iso(o.window.start),
                        planned_end: iso(o.window.end),
                        cis: c.cis,
                        services: c.services,
                    });
                }
            }
            let rows: Vec<BlackoutRow> = db.all(blackouts_between(start, end)).await?;
            let ids = rules::blackouts_hit(&me.window, &calendar::blackouts(&rows));
            hit = rows
                .iter()
                .filter(|r| ids.contains(&r.0))
                .map(blackout_view)
                .collect();
        }
    }
    Ok(Schedule {
        planned_start: p.planned_start.map(iso),
        planned_end: p.planned_end.map(iso),
        actual_start: p.actual_start.map(iso),
        actual_end: p.actual_end.map(iso),
        clashes,
        blackouts: hit,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// RFC 3339 instants.
    pub planned_start: String,
    pub planned_end: String,
}

/// Plan the change's window. Inside a blackout only an emergency change may go; overlapping
/// changes on the same CIs or services are reported as clashes for the approvers.
pub async fn set_schedule(
    db: &Db,
    p: &Principal,
    number: &str,
    b: ScheduleBody,
) -> AppResult<Schedule> {
    p.require(Action::UpdateWorkItems)?;
    let start = instant("planned_start", &b.planned_start)?;
    let end = instant("planned_end", &b.planned_end)?;
    if end <= start {
        return Err(AppError::invalid(
            "planned_end",
            "must be after planned_start",
        ));
    }
    let item = kernel::get(db, K, number, Scope::All).await?;
    if !matches!(
        item.state.as_str(),
        "new" | "assess" | "authorize" | "scheduled"
    ) {
        return Err(AppError::Conflict(format!(
            "{number} is {}: its window can no longer move",
            item.state
        )));
    }
    let before = plan(db, item.id).await?;
    let mut tx = db.begin().await?;
    if change_type(&item) != "emergency" {
        let hit = blackouts_for(&mut tx, &item, start, end).await?;
        if !hit.is_empty() {
            return Err(AppError::Conflict(format!(
                "the window falls inside the blackout period {}; only emergency changes may",
                hit.join(", ")
            )));
        }
    }
    let now = now_ms();
    tx.exec(
        Q::new("INSERT INTO change_plans (item_id, planned_start, planned_end, updated_at) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (item_id) DO UPDATE SET planned_start = $2, planned_end = $3, updated_at = $4")
            .bind(item.id)
            .bind(start)
            .bind(end)
            .bind(now),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "schedule",
        K.as_str(),
        &item.number,
        vec![
            FieldChange {
                field: "planned_start".into(),
                old: json!(before.planned_start.map(iso)),
                new: json!(iso(start)),
            },
            FieldChange {
                field: "planned_end".into(),
                old: json!(before.planned_end.map(iso)),
                new: json!(iso(end)),
            },
        ],
    )
    .await?;
    tx.commit().await?;
    schedule(db, &item).await
}

/// The change's window, its clashes with other changes and the blackouts it falls into.
#[utoipa::path(get, path = "/api/v1/changes/{number}/schedule", tag = "changes", params(("number" = String, Path)),
    responses((status = 200, body = Schedule), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_schedule(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Schedule>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(schedule(&st.db, &item).await?))
}

/// Plan the change's window.
#[utoipa::path(put, path = "/api/v1/changes/{number}/schedule", tag = "changes", params(("number" = String, Path)), request_body = ScheduleBody,
    responses((status = 200, body = Schedule), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_set_schedule(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ScheduleBody>,
) -> AppResult<Json<Schedule>> {
    Ok(Json(set_schedule(&st.db, &p, &number, b).await?))
}

// ---------------------------------------------------------------------------------------------
// The CIs a change updates

#[derive(Debug, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct CiUpdate {
    pub ci_id: i64,
    pub ci_name: String,
    /// The status the CI gets.
    pub status: Option<String>,
    /// Attributes merged into the CI's (JSON object as text).
    pub attributes: String,
    #[serde(skip)]
    pub applied_at: Option<i64>,
    /// Applied when the change closed successfully.
    #[sqlx(skip)]
    pub applied: bool,
}

pub async fn ci_updates(db: &Db, item: &ItemRow) -> AppResult<Vec<CiUpdate>> {
    let mut rows: Vec<CiUpdate> = db
        .all(Q::new("SELECT u.ci_id, c.name AS ci_name, u.status, u.attributes, u.applied_at FROM change_ci_updates u JOIN cis c ON c.id = u.ci_id WHERE u.item_id = $1 ORDER BY c.name").bind(item.id))
        .await?;
    for r in &mut rows {
        r.applied = r.applied_at.is_some();
    }
    Ok(rows)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiUpdateBody {
    pub ci_id: i64,
    pub status: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

/// Record what the change will do to a CI (checked against the CI's class now, applied when the
/// change closes successfully); the CI becomes one the change affects.
pub async fn add_ci_update(
    db: &Db,
    p: &Principal,
    number: &str,
    b: CiUpdateBody,
) -> AppResult<Vec<CiUpdate>> {
    p.require(Action::UpdateWorkItems)?;
    let item = kernel::get(db, K, number, Scope::All).await?;
    if !matches!(
        item.state.as_str(),
        "new" | "assess" | "authorize" | "scheduled" | "implement"
    ) {
        return Err(AppError::Conflict(format!("{number} is {}", item.state)));
    }
    if b.status.is_none() && b.attributes.is_empty() {
        return Err(AppError::invalid(
            "attributes",
            "say what changes: a status or attributes",
        ));
    }
    // Validate by applying the patch in a transaction that is rolled back: the same checks as
    // the CMDB's own write path, so the update cannot fail later for a reason visible now.
    {
        let mut probe = db.begin().await?;
        crate::directory::exists(&mut probe, "cis", b.ci_id, "ci_id").await?;
        crate::operation::portfolio::configuration::patch_ci_tx(
            &mut probe,
            b.ci_id,
            &crate::operation::portfolio::configuration::CiPatch {
                status: b.status.clone(),
                attributes: (!b.attributes.is_empty()).then(|| b.attributes.clone()),
                ..Default::default()
            },
        )
        .await?;
        drop(probe);
    }
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("INSERT INTO change_ci_updates (item_id, ci_id, status, attributes) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (item_id, ci_id) DO UPDATE SET status = $3, attributes = $4, applied_at = NULL")
            .bind(item.id)
            .bind(b.ci_id)
            .bind(b.status.clone())
            .bind(Value::Object(b.attributes.clone()).to_string()),
    )
    .await?;
    tx.exec(
        Q::new("INSERT INTO work_item_cis (item_id, ci_id) VALUES ($1, $2) ON CONFLICT (item_id, ci_id) DO NOTHING")
            .bind(item.id)
            .bind(b.ci_id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "ci_update.plan",
        K.as_str(),
        &item.number,
        vec![FieldChange {
            field: format!("ci.{}", b.ci_id),
            old: Value::Null,
            new: json!({"status": b.status, "attributes": b.attributes}),
        }],
    )
    .await?;
    tx.commit().await?;
    ci_updates(db, &item).await
}

/// What the change does to CIs, applied to the CMDB when it closes successfully.
#[utoipa::path(get, path = "/api/v1/changes/{number}/ci-updates", tag = "changes", params(("number" = String, Path)),
    responses((status = 200, body = Vec<CiUpdate>)), security(("bearer" = [])))]
pub async fn api_ci_updates(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Vec<CiUpdate>>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(ci_updates(&st.db, &item).await?))
}

/// Plan an update of a CI.
#[utoipa::path(post, path = "/api/v1/changes/{number}/ci-updates", tag = "changes", params(("number" = String, Path)), request_body = CiUpdateBody,
    responses((status = 201, body = Vec<CiUpdate>), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_add_ci_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<CiUpdateBody>,
) -> AppResult<(StatusCode, Json<Vec<CiUpdate>>)> {
    Ok((
        StatusCode::CREATED,
        Json(add_ci_update(&st.db, &p, &number, b).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Approvals and implementation tasks (the kernel's)

/// The change authority's approvals.
#[utoipa::path(get, path = "/api/v1/changes/{number}/approvals", tag = "changes", params(("number" = String, Path)),
    responses((status = 200, body = Vec<Approval>)), security(("bearer" = [])))]
pub async fn api_approvals(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Vec<Approval>>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(approvals::list(&st.db, &item).await?))
}

/// Approve or reject (a member of the change authority), with a reason.
#[utoipa::path(post, path = "/api/v1/changes/{number}/approvals/{id}", tag = "changes", params(("number" = String, Path), ("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = ItemView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_decide(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<Decision>,
) -> AppResult<Response> {
    require_read(&p, K)?;
    let row = approvals::decide(&st.db, &p, K, &number, id, b).await?;
    Ok(item_response(StatusCode::OK, row))
}

/// Implementation tasks, by stage.
#[utoipa::path(get, path = "/api/v1/changes/{number}/tasks", tag = "changes", params(("number" = String, Path)),
    responses((status = 200, body = Vec<Task>)), security(("bearer" = [])))]
pub async fn api_tasks(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Vec<Task>>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(tasks::list(&st.db, &item).await?))
}

/// Add an implementation task (it opens at once while the change is being implemented).
#[utoipa::path(post, path = "/api/v1/changes/{number}/tasks", tag = "changes", params(("number" = String, Path)), request_body = TaskTemplate,
    responses((status = 201, body = Task), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_add_task(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<TaskTemplate>,
) -> AppResult<(StatusCode, Json<Task>)> {
    require_read(&p, K)?;
    p.require(Action::UpdateWorkItems)?;
    let item = kernel::get(&st.db, K, &number, Scope::All).await?;
    if !kernel_open(&item) {
        return Err(AppError::Conflict(format!("{number} is {}", item.state)));
    }
    let implementing = item.state == "implement";
    Ok((
        StatusCode::CREATED,
        Json(tasks::add(&st.db, &p, &item, b, implementing).await?),
    ))
}

fn kernel_open(item: &ItemRow) -> bool {
    K.lifecycle().is_open(&item.state) && item.state != "review"
}

/// Complete an implementation task (a member of its group).
#[utoipa::path(post, path = "/api/v1/changes/{number}/tasks/{id}/complete", tag = "changes", params(("number" = String, Path), ("id" = i64, Path)), request_body = Completion,
    responses((status = 200, body = ItemView), (status = 403, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_complete(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<Completion>,
) -> AppResult<Response> {
    let row = tasks::complete(&st.db, &p, K, &number, id, b).await?;
    Ok(item_response(StatusCode::OK, row))
}

// ---------------------------------------------------------------------------------------------
// Metrics

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// Period start (RFC 3339 or YYYY-MM-DD); default 90 days ago.
    pub from: Option<String>,
    /// Period end, exclusive; default now.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeMetrics {
    pub from: String,
    pub to: String,
    /// Changes closed in the period.
    pub closed: i64,
    pub successful: i64,
    pub failed: i64,
    pub backed_out: i64,
    pub emergency: i64,
    /// successful / closed (0 when none closed).
    pub success_rate: f64,
    /// emergency / closed.
    pub emergency_share: f64,
    /// Incidents linked as caused by a change closed in the period.
    pub incidents_caused: i64,
    /// Closed changes per type.
    #[schema(value_type = Object)]
    pub by_type: BTreeMap<String, i64>,
}

/// Change success rate and emergency share over the changes closed in a period (8.5.1).
pub async fn metrics(db: &Db, from: i64, to: i64) -> AppResult<ChangeMetrics> {
    let rows: Vec<(i64, String)> = db
        .all(Q::new("SELECT id, details FROM work_items WHERE kind = 'change' AND state = 'closed' AND closed_at >= $1 AND closed_at < $2").bind(from).bind(to))
        .await?;
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|(_, d)| {
            let m: Map<String, Value> = serde_json::from_str(d).unwrap_or_default();
            (
                text(&m, "change_type").unwrap_or("normal").to_string(),
                text(&m, "outcome").unwrap_or("failed").to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (success_rate, emergency_share) = rules::rates(&refs);
    let count = |f: &dyn Fn(&(&str, &str)) -> bool| refs.iter().filter(|x| f(x)).count() as i64;
    let mut by_type = BTreeMap::new();
    for (t, _) in &refs {
        *by_type.entry((*t).to_string()).or_insert(0) += 1;
    }
    let (incidents_caused,): (i64,) = db
        .one(Q::new("SELECT COUNT(DISTINCT l.from_id) FROM work_item_links l JOIN work_items c ON c.id = l.to_id JOIN work_items i ON i.id = l.from_id \
                     WHERE l.kind = 'caused_by' AND c.kind = 'change' AND i.kind = 'incident' AND c.state = 'closed' AND c.closed_at >= $1 AND c.closed_at < $2").bind(from).bind(to))
        .await?;
    Ok(ChangeMetrics {
        from: iso(from),
        to: iso(to),
        closed: refs.len() as i64,
        successful: count(&|x| x.1 == "successful"),
        failed: count(&|x| x.1 == "failed"),
        backed_out: count(&|x| x.1 == "backed_out"),
        emergency: count(&|x| x.0 == "emergency"),
        success_rate,
        emergency_share,
        incidents_caused,
        by_type,
    })
}

/// Change success rate, emergency share and incidents caused, over a period.
#[utoipa::path(get, path = "/api/v1/changes/metrics", tag = "changes", params(MetricsParams),
    responses((status = 200, body = ChangeMetrics), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_metrics(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<MetricsParams>,
) -> AppResult<Json<ChangeMetrics>> {
    require_read(&p, K)?;
    let to = match &q.to {
        Some(v) => instant("to", v)?,
        None => now_ms(),
    };
    let from = match &q.from {
        Some(v) => instant("from", v)?,
        None => to - 90 * 86_400_000,
    };
    if to <= from {
        return Err(AppError::invalid("to", "must be after `from`"));
    }
    Ok(Json(metrics(&st.db, from, to).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "changes",
    api: part_api,
    pages: super::ui::change_routes,
    templates: &[
        (
            "change_panel.html",
            include_str!("../../../templates/change_panel.html"),
        ),
        (
            "change_calendar.html",
            include_str!("../../../templates/change_calendar.html"),
        ),
    ],
    tags: &[(
        "changes",
        "Change management: policy, authorities, templates, risk, approvals, schedule, calendar feed (8.5.1)",
    )],
    nav: &[
        crate::platform::part::Nav {
            order: 50,
            label: "Changes",
            requester_label: None,
            href: "/changes",
            shown: |p| p.can(keel_core::access::Action::ReadInternalItems),
        },
        crate::platform::part::Nav {
            order: 51,
            label: "Change calendar",
            requester_label: None,
            href: "/changes/calendar",
            shown: |p| p.can(keel_core::access::Action::ReadInternalItems),
        },
    ],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .merge(routes_mod::routes::router())
        .routes(gate(Action::UpdateWorkItems, routes!(api_raise_fix)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_risk, api_assess)))
        .routes(gate(
            Action::UpdateWorkItems,
            routes!(api_schedule, api_set_schedule),
        ))
        .routes(gate(
            Action::UpdateWorkItems,
            routes!(api_ci_updates, api_add_ci_update),
        ))
        .routes(routes!(api_approvals))
        .routes(gate(Action::ReadInternalItems, routes!(api_decide)))
        .routes(gate(
            Action::UpdateWorkItems,
            routes!(api_tasks, api_add_task),
        ))
        .routes(gate(Action::UpdateWorkItems, routes!(api_complete)))
        .routes(routes!(api_metrics))
        .routes(routes!(super::calendar::api_calendar))
        .routes(routes!(super::calendar::api_ics))
        .routes(gate(
            Action::UpdateWorkItems,
            routes!(
                super::calendar::api_list_feeds,
                super::calendar::api_create_feed
            ),
        ))
        .routes(gate(
            Action::UpdateWorkItems,
            routes!(super::calendar::api_revoke_feed),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(super::policy::api_get_policy, super::policy::api_put_policy),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(
                super::policy::api_list_authorities,
                super::policy::api_create_authority
            ),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(
                super::policy::api_list_categories,
                super::policy::api_create_category
            ),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(
                super::policy::api_list_templates,
                super::policy::api_create_template
            ),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(
                super::policy::api_list_blackouts,
                super::policy::api_create_blackout
            ),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(super::policy::api_update_authority),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(super::policy::api_update_category),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(super::policy::api_update_template),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(super::policy::api_delete_blackout),
        ))
        .merge(routes_mod::clock_routes::router())
        .merge(routes_mod::ci_routes::router())
}

/// Changes as a kind of work item: checked against their type and template when raised, a
/// template's plan taken after; no implementation without authorization; the assessment
/// panel on the page.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(K),
    check: Some(|db, details| Box::pin(check_draft(db, details))),
    start: Some(|db, number, actor| Box::pin(start(db, number, actor))),
    moving: Some(|tx, _, before, after, actor| Box::pin(on_move(tx, before, after, actor))),
    panels: Some(|st, _, item| {
        Box::pin(async move {
            Ok(vec![crate::kernel::process::Panel {
                template: "change_panel.html",
                top: false,
                data: minijinja::Value::from(minijinja::value::Serde(
                    super::ui::panel(st, item).await?,
                )),
            }])
        })
    }),
    ..crate::kernel::process::Process::NONE
};
