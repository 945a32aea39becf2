//! Clause 8.4.3 — utilisation samples pushed by monitoring tools against capacity plans, the
//! threshold crossings they cause (an event in the outbox, and an incident when the plan asks
//! for one on reaching critical), and each plan's current level.

use crate::kernel::register::{get as get_record, reg};
use crate::kernel::{self, NewItem};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::outbox::{Event, emit};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::operation::supply::capacity::{Level, is_event, level};
use keel_core::register::{format_milli, parse_instant, parse_milli};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub plan_id: i64,
    /// The utilisation, in the plan's unit (a number, at most three decimals).
    #[schema(value_type = f64)]
    pub value: Value,
    /// RFC 3339; default now.
    pub at: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Samples {
    /// 1–1000 samples, recorded all or none.
    pub samples: Vec<Sample>,
    /// The tool that measured them, e.g. `prometheus`.
    pub source: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Crossing {
    pub plan_id: i64,
    pub level: String,
    pub value: f64,
    /// The incident raised for it, if the plan asks for one.
    pub incident: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub recorded: usize,
    pub events: Vec<Crossing>,
}

fn num(m: i64) -> f64 {
    format_milli(m).parse().unwrap_or_default()
}

/// Record samples, raising events for levels that rise; in one transaction.
pub async fn record(db: &Db, p: &Principal, body: Samples) -> AppResult<Accepted> {
    p.require(Action::ReportMetrics)?;
    if body.samples.is_empty() || body.samples.len() > 1000 {
        return Err(AppError::invalid(
            "samples",
            "send between 1 and 1000 samples",
        ));
    }
    let source = body.source.map(|s| s.chars().take(100).collect::<String>());
    let now = now_ms();
    let mut parsed = Vec::with_capacity(body.samples.len());
    for (i, s) in body.samples.iter().enumerate() {
        let field = |f: &str| format!("samples[{i}].{f}");
        let text = match &s.value {
            Value::Number(n) => n.to_string(),
            Value::String(t) => t.clone(),
            _ => String::new(),
        };
        let value = parse_milli(&text).ok_or_else(|| {
            AppError::invalid(
                &field("value"),
                "must be a number with at most three decimals",
            )
        })?;
        let at = match &s.at {
            Some(a) => parse_instant(a)
                .ok_or_else(|| AppError::invalid(&field("at"), "must be an RFC 3339 instant"))?,
            None => now,
        };
        let plan = get_record(db, reg("capacity-plans"), s.plan_id)
            .await
            .map_err(|_| {
                AppError::invalid(&field("plan_id"), format!("no capacity plan {}", s.plan_id))
            })?;
        if plan.text("status") == Some("retired") {
            return Err(AppError::invalid(&field("plan_id"), "the plan is retired"));
        }
        parsed.push((plan, value, at));
    }
    parsed.sort_by_key(|x| x.2);
    let mut tx = db.begin().await?;
    let mut events = vec![];
    for (plan, value, at) in &parsed {
        tx.exec(
            Q::new(
                "INSERT INTO capacity_metrics (plan_id, at, value, source) VALUES ($1, $2, $3, $4)",
            )
            .bind(plan.id)
            .bind(*at)
            .bind(*value)
            .bind(source.clone()),
        )
        .await?;
        if let Some(c) = crossing(&mut tx, p, plan, *value, *at).await? {
            events.push(c);
        }
    }
    tx.commit().await?;
    Ok(Accepted {
        recorded: parsed.len(),
        events,
    })
}

async fn crossing(
    tx: &mut Tx,
    p: &Principal,
    plan: &crate::kernel::register::Rec,
    value: i64,
    at: i64,
) -> AppResult<Option<Crossing>> {
    let prev: Option<(String, i64)> = tx
        .opt(Q::new("SELECT level, at FROM capacity_status WHERE plan_id = $1").bind(plan.id))
        .await?;
    // A late sample (older than the current reading) is kept but does not move the level.
    if prev.as_ref().is_some_and(|(_, t)| *t > at) {
        return Ok(None);
    }
    let before = prev
        .as_ref()
        .map_or(Level::Normal, |(l, _)| Level::parse(l));
    let now = level(
        value,
        plan.int("warning_at").unwrap_or(i64::MAX),
        plan.int("critical_at").unwrap_or(i64::MAX),
    );
    if prev.is_some() {
        tx.exec(
            Q::new("UPDATE capacity_status SET level = $1, value = $2, at = $3 WHERE plan_id = $4")
                .bind(now.as_str())
                .bind(value)
                .bind(at)
                .bind(plan.id),
        )
        .await?;
    } else {
        tx.exec(
            Q::new(
                "INSERT INTO capacity_status (plan_id, level, value, at) VALUES ($1, $2, $3, $4)",
            )
            .bind(plan.id)
            .bind(now.as_str())
            .bind(value)
            .bind(at),
        )
        .await?;
    }
    if !is_event(before, now) {
        return Ok(None);
    }
    let title = plan.text("title").unwrap_or_default().to_string();
    let unit = plan.text("unit").unwrap_or_default().to_string();
    let incident = if now == Level::Critical && plan.int("raise_incident") == Some(1) {
        let d = kernel::draft(
            keel_core::operation::resolution::incident::KIND,
            &p.actor(),
            p,
            NewItem {
                title: format!("Capacity critical: {title}"),
                description: format!(
                    "{} reached {}{unit} at {}, at or above the critical threshold {}{unit} of capacity plan {} ({}).",
                    plan.text("resource").unwrap_or_default(),
                    format_milli(value),
                    iso(at),
                    format_milli(plan.int("critical_at").unwrap_or_default()),
                    plan.id,
                    title
                ),
                impact: Some(2),
                urgency: Some(2),
                category: Some("hardware".into()),
                service_id: plan.int("service_id"),
                ..Default::default()
            },
        )?;
        Some(kernel::create_in(tx, d).await?)
    } else {
        None
    };
    tx.exec(
        Q::new("INSERT INTO capacity_events (plan_id, at, level, value, incident) VALUES ($1, $2, $3, $4, $5)")
            .bind(plan.id)
            .bind(at)
            .bind(now.as_str())
            .bind(value)
            .bind(incident.clone()),
    )
    .await?;
    emit(
        tx,
        Event {
            event: "capacity.threshold",
            item_id: None,
            title: format!(
                "Capacity {}: {title} at {}{unit}",
                now.as_str(),
                format_milli(value)
            ),
            payload: json!({"plan_id": plan.id, "level": now.as_str(), "value": num(value), "incident": incident}),
            recipients: plan.int("owner_id").into_iter().collect(),
        },
    )
    .await?;
    Ok(Some(Crossing {
        plan_id: plan.id,
        level: now.as_str().into(),
        value: num(value),
        incident,
    }))
}

/// Push utilisation samples for capacity plans (monitoring tools, with an agent's token).
#[utoipa::path(post, path = "/api/v1/metrics", tag = "capacity", request_body = Samples,
    responses((status = 201, body = Accepted), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_record(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<Samples>,
) -> AppResult<(StatusCode, Json<Accepted>)> {
    Ok((StatusCode::CREATED, Json(record(&st.db, &p, b).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricParams {
    pub plan_id: Option<i64>,
    /// RFC 3339 or YYYY-MM-DD; default seven days ago.
    pub from: Option<String>,
    /// At most this many, newest first (default 500, at most 5000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricSample {
    pub plan_id: i64,
    pub at: String,
    pub value: f64,
    pub source: Option<String>,
}

/// Samples recorded, newest first.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "capacity", params(MetricParams),
    responses((status = 200, body = Vec<MetricSample>), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_samples(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<MetricParams>,
) -> AppResult<Json<Vec<MetricSample>>> {
    p.require(Action::ReadAssurance)?;
    let from = match q.from.as_deref() {
        Some(f) => crate::platform::extract::instant("from", f)?,
        None => now_ms() - 7 * 86_400_000,
    };
    let limit = q.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 5000"));
    }
    let rows: Vec<(i64, i64, i64, Option<String>)> = st
        .db
        .all(
            Q::new(format!("SELECT plan_id, at, value, source FROM capacity_metrics WHERE at >= $1 AND ($2 = 0 OR plan_id = $2) ORDER BY at DESC, id DESC LIMIT {limit}"))
                .bind(from)
                .bind(q.plan_id.unwrap_or(0)),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(plan_id, at, value, source)| MetricSample {
                plan_id,
                at: iso(at),
                value: num(value),
                source,
            })
            .collect(),
    ))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanStatus {
    pub plan_id: i64,
    pub title: String,
    pub service_id: Option<i64>,
    pub resource: String,
    pub unit: String,
    /// normal, warning, critical, or `unmeasured`.
    pub level: String,
    pub value: Option<f64>,
    pub measured_at: Option<String>,
    pub warning_at: f64,
    pub critical_at: f64,
    pub events_30d: i64,
}

type StatusRow = (
    i64,
    String,
    Option<i64>,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    i64,
);

/// Every active plan's current level (optionally one service's).
pub async fn status(db: &Db, service: Option<i64>) -> AppResult<Vec<PlanStatus>> {
    let rows: Vec<StatusRow> = db
        .all(
            Q::new("SELECT p.id, p.title, p.service_id, p.resource, p.unit, p.warning_at, p.critical_at, s.level, s.value, s.at, \
                    (SELECT COUNT(*) FROM capacity_events e WHERE e.plan_id = p.id AND e.at >= $1) \
                    FROM capacity_plans p LEFT JOIN capacity_status s ON s.plan_id = p.id \
                    WHERE COALESCE(p.status, 'active') = 'active' AND ($2 = 0 OR p.service_id = $2) ORDER BY p.title")
                .bind(now_ms() - 30 * 86_400_000)
                .bind(service.unwrap_or(0)),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, title, service_id, resource, unit, w, c, lvl, value, at, events)| PlanStatus {
                plan_id: id,
                title,
                service_id,
                resource,
                unit: unit.unwrap_or_default(),
                level: lvl.unwrap_or_else(|| "unmeasured".into()),
                value: value.map(num),
                measured_at: at.map(iso),
                warning_at: num(w),
                critical_at: num(c),
                events_30d: events,
            },
        )
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusParams {
    pub service_id: Option<i64>,
}

/// Each active capacity plan's current level against its thresholds.
#[utoipa::path(get, path = "/api/v1/capacity-status", tag = "capacity", params(StatusParams),
    responses((status = 200, body = Vec<PlanStatus>)), security(("bearer" = [])))]
pub async fn api_status(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<StatusParams>,
) -> AppResult<Json<Vec<PlanStatus>>> {
    p.require(Action::ReadAssurance)?;
    Ok(Json(status(&st.db, q.service_id).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CapacityEvent {
    pub id: i64,
    pub plan_id: i64,
    pub plan: String,
    pub at: String,
    pub level: String,
    pub value: f64,
    pub incident: Option<String>,
}

/// Threshold crossings, newest first (the last 500).
#[utoipa::path(get, path = "/api/v1/capacity-events", tag = "capacity", params(StatusParams),
    responses((status = 200, body = Vec<CapacityEvent>)), security(("bearer" = [])))]
pub async fn api_events(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<StatusParams>,
) -> AppResult<Json<Vec<CapacityEvent>>> {
    p.require(Action::ReadAssurance)?;
    Ok(Json(events(&st.db, q.service_id).await?))
}

/// id, plan, plan title, at, level, value, incident.
type EventRow = (i64, i64, String, i64, String, i64, Option<String>);

pub async fn events(db: &Db, service: Option<i64>) -> AppResult<Vec<CapacityEvent>> {
    let rows: Vec<EventRow> = db
        .all(
            Q::new("SELECT e.id, e.plan_id, p.title, e.at, e.level, e.value, e.incident FROM capacity_events e JOIN capacity_plans p ON p.id = e.plan_id \
                    WHERE ($1 = 0 OR p.service_id = $1) ORDER BY e.at DESC, e.id DESC LIMIT 500")
                .bind(service.unwrap_or(0)),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, plan_id, plan, at, level, value, incident)| CapacityEvent {
                id,
                plan_id,
                plan,
                at: iso(at),
                level,
                value: num(value),
                incident,
            },
        )
        .collect())
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "capacity",
    api: part_api,
    tags: &[(
        "capacity",
        "Demand forecasts against actual demand (8.4.2); capacity plans, utilisation metrics and threshold events (8.4.3)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ReportMetrics,
            routes!(api_samples, api_record),
        ))
        .routes(routes!(api_status))
        .routes(routes!(api_events))
}

/// This process's registers (`keel_core`), kept by the kernel's register machine.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::supply::capacity::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
