//! Clause 9.3 — management reviews: `/api/v1/management-reviews`. A review is planned for a
//! period; its inputs (the ones 9.3 names) are compiled from Keel's records and kept as they
//! were when compiled; it is held (minutes) and closed (decisions); its actions are gap-plan
//! actions that name it, so the next review sees their status.

use super::list as audits;
use crate::management::compliance::{self, assessment, evidence::Period};
use crate::operation::relationship::service_level::api::{AttainmentParams, attainment_report};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, required_day};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::evaluation::{REVIEW_INPUTS, REVIEW_LIFECYCLE};
use keel_core::management::planning::rated;
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    number: String,
    title: String,
    planned_on: String,
    held_on: Option<String>,
    attendees: String,
    period_from: i64,
    period_to: i64,
    state: String,
    inputs: Option<String>,
    compiled_at: Option<i64>,
    minutes: Option<String>,
    decisions: Option<String>,
    version: i64,
}

const SQL: &str = "SELECT id, number, title, planned_on, held_on, attendees, period_from, period_to, state, inputs, compiled_at, minutes, decisions, version FROM management_reviews";

/// One compiled input: its heading, what it says in a few lines, and the figures behind it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Input {
    pub key: String,
    pub heading: String,
    pub lines: Vec<String>,
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub number: String,
    pub title: String,
    /// YYYY-MM-DD.
    pub planned_on: String,
    pub held_on: Option<String>,
    pub attendees: String,
    pub period_from: String,
    pub period_to: String,
    /// planned, held, closed or cancelled.
    pub state: String,
    pub next_states: Vec<String>,
    pub inputs: Vec<Input>,
    pub compiled_at: Option<String>,
    pub minutes: Option<String>,
    pub decisions: Option<String>,
    pub version: i64,
    pub actions: Vec<assessment::GapAction>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewSummary {
    pub number: String,
    pub title: String,
    pub planned_on: String,
    pub held_on: Option<String>,
    pub state: String,
}

async fn row(db: &Db, number: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{SQL} WHERE number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("management review {number}")))
}

async fn review_actions(db: &Db, id: i64) -> AppResult<Vec<assessment::GapAction>> {
    let numbers: Vec<(String,)> = db
        .all(
            Q::new("SELECT number FROM compliance_actions WHERE review_id = $1 ORDER BY id")
                .bind(id),
        )
        .await?;
    let mut out = Vec::new();
    for (n,) in numbers {
        out.push(assessment::action(db, &n).await?);
    }
    Ok(out)
}

async fn view(db: &Db, r: Row) -> AppResult<Review> {
    let inputs: Vec<Input> = r
        .inputs
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    Ok(Review {
        next_states: REVIEW_LIFECYCLE
            .next_states(&r.state)
            .into_iter()
            .map(String::from)
            .collect(),
        actions: review_actions(db, r.id).await?,
        number: r.number,
        title: r.title,
        planned_on: r.planned_on,
        held_on: r.held_on,
        attendees: r.attendees,
        period_from: iso(r.period_from),
        period_to: iso(r.period_to),
        state: r.state,
        inputs,
        compiled_at: r.compiled_at.map(iso),
        minutes: r.minutes,
        decisions: r.decisions,
        version: r.version,
    })
}

pub async fn get(db: &Db, number: &str) -> AppResult<Review> {
    view(db, row(db, number).await?).await
}

pub async fn list(db: &Db) -> AppResult<Vec<ReviewSummary>> {
    let rows: Vec<(String, String, String, Option<String>, String)> = db
        .all(Q::new("SELECT number, title, planned_on, held_on, state FROM management_reviews ORDER BY planned_on DESC, id DESC LIMIT 500"))
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(number, title, planned_on, held_on, state)| ReviewSummary {
                number,
                title,
                planned_on,
                held_on,
                state,
            },
        )
        .collect())
}

fn heading(key: &str) -> String {
    REVIEW_INPUTS
        .iter()
        .find(|i| i.0 == key)
        .map(|i| i.1.to_string())
        .unwrap_or_default()
}

fn input(key: &str, lines: Vec<String>, data: Value) -> Input {
    Input {
        key: key.to_string(),
        heading: heading(key),
        lines,
        data,
    }
}

/// Compile the 9.3 inputs for a period from Keel's records.
pub async fn compile(db: &Db, review_id: Option<i64>, p: Period) -> AppResult<Vec<Input>> {
    let mut out = Vec::new();

    // Actions from earlier reviews.
    let prev: Vec<(String,)> = db
        .all(Q::new("SELECT number FROM compliance_actions WHERE review_id IS NOT NULL AND review_id <> $1 ORDER BY id").bind(review_id.unwrap_or(-1)))
        .await?;
    let mut acts = Vec::new();
    for (n,) in prev {
        acts.push(assessment::action(db, &n).await?);
    }
    let open = acts
        .iter()
        .filter(|a| matches!(a.state.as_str(), "open" | "in_progress"))
        .count();
    let overdue = acts.iter().filter(|a| a.overdue).count();
    out.push(input(
        "previous_actions",
        vec![format!(
            "{} actions from earlier reviews: {} done, {open} open ({overdue} overdue).",
            acts.len(),
            acts.len() - open
        )],
        json!(acts),
    ));

    // Conformity.
    let cat = keel_core::management::compliance::catalogue::current();
    let r = compliance::readiness(db, cat, p).await?;
    let mut lines = vec![format!(
        "Readiness {} % ({} met, {} partially met, {} not met, {} awaiting the assessor).",
        r.overall.percent,
        r.overall.met,
        r.overall.partially_met,
        r.overall.not_met,
        r.overall.unassessed
    )];
    let failing: Vec<String> = r
        .requirements
        .iter()
        .flat_map(|q| {
            q.checks
                .iter()
                .filter(|c| c.status == "fail")
                .map(|c| c.title.clone())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !failing.is_empty() {
        lines.push(format!("Failing evidence checks: {}.", failing.join("; ")));
    }
    out.push(input(
        "readiness",
        lines,
        json!({"overall": r.overall, "clauses": r.clauses}),
    ));

    // Service performance.
    let sla = attainment_report(
        db,
        AttainmentParams {
            from: Some(iso(p.from)),
            to: Some(iso(p.to)),
            by: None,
            kind: None,
        },
    )
    .await?;
    let lines = sla
        .rows
        .iter()
        .map(|a| {
            format!(
                "Incident {}: {} of {} within target{}.",
                a.metric,
                a.met,
                a.total,
                a.attainment_percent
                    .map(|x| format!(" ({x} %)"))
                    .unwrap_or_default()
            )
        })
        .collect();
    out.push(input("service_performance", lines, json!(sla.rows)));

    // Nonconformities.
    let ncs: Vec<(String, String, String, i64, Option<i64>)> = db
        .all(Q::new("SELECT number, title, state, created_at, closed_at FROM work_items WHERE kind = 'nonconformity' ORDER BY seq"))
        .await?;
    let raised = ncs.iter().filter(|n| n.3 >= p.from && n.3 < p.to).count();
    let closed = ncs
        .iter()
        .filter(|n| n.4.is_some_and(|c| c >= p.from && c < p.to))
        .count();
    let still: Vec<String> = ncs
        .iter()
        .filter(|n| !matches!(n.2.as_str(), "closed" | "cancelled"))
        .map(|n| format!("{} {} ({})", n.0, n.1, n.2.replace('_', " ")))
        .collect();
    out.push(input(
        "nonconformities",
        vec![format!(
            "{raised} raised and {closed} closed in the period; {} open.",
            still.len()
        )],
        json!({"open": still}),
    ));

    // Internal audits.
    let aud = audits(db).await?;
    let lines = aud
        .iter()
        .filter(|a| a.planned_end.as_str() >= iso(p.from).get(..10).unwrap_or(""))
        .map(|a| {
            format!(
                "{} {} ({}): {} findings, {} nonconformities.",
                a.number,
                a.title,
                a.state.replace('_', " "),
                a.findings,
                a.nonconformities
            )
        })
        .collect();
    out.push(input("audits", lines, json!(aud)));

    // Risks.
    let risks: Vec<(String, String, String, String)> = db
        .all(Q::new("SELECT number, title, state, details FROM work_items WHERE kind = 'risk' AND state <> 'closed' ORDER BY seq"))
        .await?;
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, _, d) in &risks {
        let d: Map<String, Value> = serde_json::from_str(d).unwrap_or_default();
        let lvl = rated(
            d.get("likelihood").and_then(Value::as_str),
            d.get("impact").and_then(Value::as_str),
        )
        .map(|r| r.1)
        .unwrap_or("unrated");
        *levels.entry(lvl).or_default() += 1;
    }
    let by: Vec<String> = levels.iter().map(|(l, n)| format!("{n} {l}")).collect();
    out.push(input(
        "risks",
        vec![format!(
            "{} open risks and opportunities: {}.",
            risks.len(),
            if by.is_empty() {
                "none".into()
            } else {
                by.join(", ")
            }
        )],
        json!(levels),
    ));

    // Changes.
    let m = crate::operation::transition::change::metrics(db, p.from, p.to).await?;
    out.push(input("changes", vec![format!("{} changes closed: {} successful, {} failed, {} backed out; {} emergencies; {} incidents caused.", m.closed, m.successful, m.failed, m.backed_out, m.emergency, m.incidents_caused)], json!(m)));

    // Improvements.
    let imps: Vec<(String, String, String)> = db
        .all(Q::new(
            "SELECT number, title, state FROM work_items WHERE kind = 'improvement' ORDER BY seq",
        ))
        .await?;
    let open: Vec<String> = imps
        .iter()
        .filter(|i| !matches!(i.2.as_str(), "closed" | "rejected"))
        .map(|i| format!("{} {} ({})", i.0, i.1, i.2))
        .collect();
    out.push(input(
        "improvements",
        vec![format!(
            "{} improvements in the register, {} under way.",
            imps.len(),
            open.len()
        )],
        json!({"open": open}),
    ));

    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub title: String,
    /// YYYY-MM-DD.
    pub planned_on: String,
    /// The period the review looks back on (default: the twelve months before `planned_on`).
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default)]
    pub attendees: String,
}

pub async fn create(db: &Db, p: &Principal, b: NewReview) -> AppResult<Review> {
    p.require(Action::ManageCompliance)?;
    let title = Line::parse(&b.title, 200).map_err(|e| AppError::invalid("title", e))?;
    let planned = required_day("planned_on", &b.planned_on)?;
    let attendees = bounded(&b.attendees, 2_000).map_err(|e| AppError::invalid("attendees", e))?;
    let per = compliance::period(b.from.as_deref(), b.to.as_deref(), now_ms())?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "management_review", "MR").await?;
    tx.exec(Q::new("INSERT INTO management_reviews (number, title, planned_on, attendees, period_from, period_to, state, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'planned', $7, $8, $8)")
        .bind(number.as_str()).bind(title.as_str()).bind(planned.as_str()).bind(attendees.as_str()).bind(per.from).bind(per.to).bind(p.user_id).bind(now))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "management_review",
        &number,
        diff(
            &[],
            &[
                ("title", json!(title.as_str())),
                ("planned_on", json!(planned)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &number).await
}

/// (Re)compile the inputs from the records as they are now.
pub async fn compile_inputs(db: &Db, p: &Principal, number: &str) -> AppResult<Review> {
    p.require(Action::ManageCompliance)?;
    let r = row(db, number).await?;
    if !matches!(r.state.as_str(), "planned" | "held") {
        return Err(AppError::Conflict(format!(
            "{number} is {}: its inputs are final",
            r.state
        )));
    }
    let inputs = compile(
        db,
        Some(r.id),
        Period {
            from: r.period_from,
            to: r.period_to,
        },
    )
    .await?;
    let text = serde_json::to_string(&inputs).map_err(|e| AppError::Internal(e.into()))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    tx.exec(Q::new("UPDATE management_reviews SET inputs = $1, compiled_at = $2, version = version + 1, updated_at = $2 WHERE id = $3").bind(text).bind(now).bind(r.id)).await?;
    append(
        &mut tx,
        &p.actor(),
        "compile",
        "management_review",
        number,
        diff(
            &[("compiled_at", json!(r.compiled_at.map(iso)))],
            &[("compiled_at", json!(iso(now)))],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewPatch {
    pub title: Option<String>,
    pub planned_on: Option<String>,
    pub attendees: Option<String>,
    pub minutes: Option<String>,
    /// Decisions on improvement opportunities, changes to the SMS and resources.
    pub decisions: Option<String>,
    /// planned → held (needs minutes and compiled inputs) → closed (needs decisions); cancelled.
    pub state: Option<String>,
    pub version: Option<i64>,
}

pub async fn update(db: &Db, p: &Principal, number: &str, b: ReviewPatch) -> AppResult<Review> {
    p.require(Action::ManageCompliance)?;
    let before = row(db, number).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let title = match &b.title {
        Some(t) => Line::parse(t, 200)
            .map_err(|e| AppError::invalid("title", e))?
            .into_string(),
        None => before.title.clone(),
    };
    let planned = match &b.planned_on {
        Some(d) => required_day("planned_on", d)?,
        None => before.planned_on.clone(),
    };
    let attendees = match &b.attendees {
        Some(a) => bounded(a, 2_000).map_err(|e| AppError::invalid("attendees", e))?,
        None => before.attendees.clone(),
    };
    let text =
        |field: &str, v: &Option<String>, old: &Option<String>| -> AppResult<Option<String>> {
            match v {
                Some(t) => Ok(
                    Some(bounded(t, 100_000).map_err(|e| AppError::invalid(field, e))?)
                        .filter(|t| !t.trim().is_empty()),
                ),
                None => Ok(old.clone()),
            }
        };
    let minutes = text("minutes", &b.minutes, &before.minutes)?;
    let decisions = text("decisions", &b.decisions, &before.decisions)?;
    let state = match b.state.as_deref().filter(|s| *s != before.state) {
        Some(to) => {
            if to == "held" && before.inputs.is_none() {
                return Err(AppError::Conflict(format!(
                    "compile the inputs of {number} before holding it"
                )));
            }
            REVIEW_LIFECYCLE
                .check(&before.state, to, |f| match f {
                    "minutes" => minutes.is_some(),
                    "decisions" => decisions.is_some(),
                    _ => false,
                })
                .map_err(|e| match e {
                    keel_core::kernel::lifecycle::TransitionError::Missing { field, .. } => {
                        AppError::invalid(field, format!("record the {field} first"))
                    }
                    e => e.into(),
                })?
                .to_string()
        }
        None => before.state.clone(),
    };
    let held_on = if state == "held" && before.held_on.is_none() {
        Some(
            jiff::tz::TimeZone::UTC
                .to_datetime(jiff::Timestamp::now())
                .date()
                .to_string(),
        )
    } else {
        before.held_on.clone()
    };
    let mut tx = db.begin().await?;
    let n = tx
        .exec(Q::new("UPDATE management_reviews SET title = $1, planned_on = $2, attendees = $3, minutes = $4, decisions = $5, state = $6, held_on = $7, version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10")
            .bind(title.as_str()).bind(planned.as_str()).bind(attendees.as_str()).bind(minutes.clone()).bind(decisions.clone()).bind(state.as_str()).bind(held_on.clone()).bind(now_ms()).bind(before.id).bind(before.version))
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "management_review",
        number,
        diff(
            &[
                ("title", json!(before.title)),
                ("planned_on", json!(before.planned_on)),
                ("attendees", json!(before.attendees)),
                ("minutes", json!(before.minutes)),
                ("decisions", json!(before.decisions)),
                ("state", json!(before.state)),
            ],
            &[
                ("title", json!(title)),
                ("planned_on", json!(planned)),
                ("attendees", json!(attendees)),
                ("minutes", json!(minutes)),
                ("decisions", json!(decisions)),
                ("state", json!(state)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewAction {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub owner_id: Option<i64>,
    /// YYYY-MM-DD.
    pub due_on: Option<String>,
    /// The requirement it serves (default 9.3).
    pub requirement: Option<String>,
}

/// An action decided by the review: a gap-plan action naming it.
pub async fn add_action(
    db: &Db,
    p: &Principal,
    number: &str,
    b: ReviewAction,
) -> AppResult<Review> {
    p.require(Action::ManageCompliance)?;
    let r = row(db, number).await?;
    if !matches!(r.state.as_str(), "held" | "closed") {
        return Err(AppError::Conflict(format!(
            "{number} is {}: actions come from a review that was held",
            r.state
        )));
    }
    assessment::add_action_for(
        db,
        p,
        assessment::NewAction {
            requirement: b.requirement.unwrap_or_else(|| "9.3".into()),
            title: b.title,
            description: b.description,
            owner_id: b.owner_id,
            due_on: b.due_on,
            assessment: None,
        },
        Some(r.id),
    )
    .await?;
    get(db, number).await
}

fn read(p: &Principal) -> AppResult<()> {
    p.require(Action::ReadCompliance)
}

/// Management reviews, latest first.
#[utoipa::path(get, path = "/api/v1/management-reviews", tag = "management-reviews", responses((status = 200, body = Vec<ReviewSummary>)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<ReviewSummary>>> {
    read(&p)?;
    Ok(Json(list(&st.db).await?))
}

/// Plan a management review for a period.
#[utoipa::path(post, path = "/api/v1/management-reviews", tag = "management-reviews", request_body = NewReview,
    responses((status = 201, body = Review), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewReview>,
) -> AppResult<(StatusCode, Json<Review>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One review with its inputs, minutes, decisions and actions.
#[utoipa::path(get, path = "/api/v1/management-reviews/{number}", tag = "management-reviews", params(("number" = String, Path)),
    responses((status = 200, body = Review), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Review>> {
    read(&p)?;
    Ok(Json(get(&st.db, &number).await?))
}

/// Record minutes and decisions, or move the review on.
#[utoipa::path(patch, path = "/api/v1/management-reviews/{number}", tag = "management-reviews", params(("number" = String, Path)), request_body = ReviewPatch,
    responses((status = 200, body = Review), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ReviewPatch>,
) -> AppResult<Json<Review>> {
    Ok(Json(update(&st.db, &p, &number, b).await?))
}

/// Compile the review's inputs from the records as they are now.
#[utoipa::path(post, path = "/api/v1/management-reviews/{number}/inputs", tag = "management-reviews", params(("number" = String, Path)),
    responses((status = 200, body = Review), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_compile(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Review>> {
    Ok(Json(compile_inputs(&st.db, &p, &number).await?))
}

/// Record an action the review decided.
#[utoipa::path(post, path = "/api/v1/management-reviews/{number}/actions", tag = "management-reviews", params(("number" = String, Path)), request_body = ReviewAction,
    responses((status = 201, body = Review), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_add_action(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ReviewAction>,
) -> AppResult<(StatusCode, Json<Review>)> {
    Ok((
        StatusCode::CREATED,
        Json(add_action(&st.db, &p, &number, b).await?),
    ))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "management reviews",
    api: part_api,
    pages: super::review_ui::routes,
    templates: &[
        (
            "reviews.html",
            include_str!("../../../templates/reviews.html"),
        ),
        (
            "review.html",
            include_str!("../../../templates/review.html"),
        ),
    ],
    tags: &[(
        "management-reviews",
        "Management reviews: inputs compiled from the records, minutes, decisions, actions (9.3)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_list, api_create),
        ))
        .routes(gate(Action::ManageCompliance, routes!(api_get, api_update)))
        .routes(gate(Action::ManageCompliance, routes!(api_compile)))
        .routes(gate(Action::ManageCompliance, routes!(api_add_action)))
}
