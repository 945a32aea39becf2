//! Clause 8.7.1 — measured availability per service and period against its target, computed
//! from the outages register (agreed maintenance excluded), and recording an outage from an
//! incident.

use crate::kernel::register::{self as registers, reg, to_json};
use crate::kernel::{self, Scope};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiQuery, period_ms};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::operation::assurance::availability::{Outage, measure};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceAvailability {
    pub service_id: i64,
    pub service: String,
    /// Percent, from the latest target valid at the period's start (null without one).
    pub target: Option<f64>,
    /// Percent; null when no service time was agreed in the period.
    pub measured: Option<f64>,
    pub met: Option<bool>,
    pub downtime_minutes: i64,
    pub maintenance_minutes: i64,
    pub outages: i64,
}

fn pct(milli: i64) -> f64 {
    milli as f64 / 1000.0
}

/// Availability of live services (or the given ones) over `[from, to)`, in three queries
/// however many services.
pub async fn measured(
    db: &Db,
    services: Option<&[i64]>,
    from: i64,
    to: i64,
) -> AppResult<Vec<ServiceAvailability>> {
    let services: Vec<(i64, String)> = match services {
        Some([]) => vec![],
        Some(ids) => {
            let mut q = Q::new("");
            let args: Vec<String> = ids.iter().map(|i| q.arg(*i)).collect();
            q.sql = format!(
                "SELECT id, name FROM services WHERE id IN ({}) ORDER BY name",
                args.join(", ")
            );
            db.all(q).await?
        }
        None => {
            db.all(Q::new(
                "SELECT id, name FROM services WHERE stage IN ('live', 'retiring') ORDER BY name",
            ))
            .await?
        }
    };
    let outages: Vec<(i64, i64, Option<i64>, i64)> = db
        .all(
            Q::new("SELECT service_id, started_at, ended_at, COALESCE(scheduled, 0) FROM outages WHERE started_at < $1 AND (ended_at IS NULL OR ended_at > $2)")
                .bind(to)
                .bind(from),
        )
        .await?;
    let from_day = jiff::Timestamp::from_millisecond(from)
        .map(|t| jiff::tz::TimeZone::UTC.to_datetime(t).date().to_string())
        .unwrap_or_default();
    let targets: Vec<(i64, i64, String)> = db
        .all(
            Q::new("SELECT service_id, target, valid_from FROM availability_targets WHERE valid_from <= $1 ORDER BY valid_from, id")
                .bind(from_day),
        )
        .await?;
    let now = now_ms();
    Ok(services
        .into_iter()
        .map(|(id, name)| {
            let os: Vec<Outage> = outages
                .iter()
                .filter(|o| o.0 == id)
                .map(|o| Outage {
                    start: o.1,
                    end: o.2,
                    scheduled: o.3 != 0,
                })
                .collect();
            let m = measure(from, to, &os, now);
            let target = targets.iter().rev().find(|t| t.0 == id).map(|t| t.1);
            ServiceAvailability {
                service_id: id,
                service: name,
                target: target.map(pct),
                measured: m.availability.map(pct),
                met: match (m.availability, target) {
                    (Some(a), Some(t)) => Some(a >= t),
                    _ => None,
                },
                downtime_minutes: m.downtime_ms / 60_000,
                maintenance_minutes: m.maintenance_ms / 60_000,
                outages: os.len() as i64,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityParams {
    /// `2026`, `2026-Q3`, `2026-07` or `A..B` (default: this month).
    pub period: Option<String>,
    pub service_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AvailabilityReport {
    pub period: String,
    pub services: Vec<ServiceAvailability>,
}

/// Measured availability per service against its target (8.7.1).
#[utoipa::path(get, path = "/api/v1/availability", tag = "availability", params(AvailabilityParams),
    responses((status = 200, body = AvailabilityReport), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_availability(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AvailabilityParams>,
) -> AppResult<Json<AvailabilityReport>> {
    p.require(Action::ReadAssurance)?;
    let (from, to, text) = period_ms(
        "period",
        q.period.as_deref(),
        &crate::platform::extract::this_month(),
    )?;
    Ok(Json(AvailabilityReport {
        period: text,
        services: measured(
            &st.db,
            q.service_id.as_ref().map(std::slice::from_ref),
            from,
            to,
        )
        .await?,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageFromIncident {
    /// Defaults to the incident's service.
    pub service_id: Option<i64>,
    /// Defaults to when the incident was raised.
    pub started_at: Option<String>,
    /// Defaults to when it was resolved (open while it is not).
    pub ended_at: Option<String>,
    pub cause: Option<String>,
}

/// Record the outage an incident caused: service, start and end default to the incident's.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/outage", tag = "availability", params(("number" = String, Path)),
    request_body = OutageFromIncident, responses((status = 201, body = Object), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_outage_from_incident(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    crate::platform::extract::ApiJson(b): crate::platform::extract::ApiJson<OutageFromIncident>,
) -> AppResult<(StatusCode, Json<Value>)> {
    p.require(Action::ManageAssurance)?;
    let item = kernel::get(
        &st.db,
        keel_core::operation::resolution::incident::KIND,
        &number,
        Scope::All,
    )
    .await?;
    let service = b.service_id.or(item.service_id).ok_or_else(|| {
        AppError::invalid("service_id", "the incident names no service; give one")
    })?;
    let iso = crate::platform::web::iso;
    let mut input = Map::new();
    input.insert("service_id".into(), json!(service));
    input.insert("description".into(), json!(item.title));
    input.insert(
        "started_at".into(),
        json!(b.started_at.unwrap_or_else(|| iso(item.created_at))),
    );
    if let Some(e) = b.ended_at.or_else(|| item.resolved_at.map(iso)) {
        input.insert("ended_at".into(), json!(e));
    }
    input.insert("incident".into(), json!(item.number));
    if let Some(c) = b.cause {
        input.insert("cause".into(), json!(c));
    }
    let r = reg("outages");
    let rec = registers::create(&st.db, &p, r, &input).await?;
    Ok((StatusCode::CREATED, Json(to_json(r, &rec))))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "availability",
    api: part_api,
    tags: &[(
        "availability",
        "Availability targets, outages and measured availability (8.7.1)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(api_availability))
        .routes(gate(
            Action::ManageAssurance,
            routes!(api_outage_from_incident),
        ))
}

/// Availability targets and outages; resolving an incident ends the outages still open for it
/// (8.7.1).
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::assurance::availability::REGISTERS,
    moving: Some(|tx, kind, _, after, actor| Box::pin(end_outages(tx, kind, after, actor))),
    ..crate::kernel::process::Process::NONE
};

async fn end_outages(
    tx: &mut crate::platform::db::Tx,
    kind: keel_core::kernel::Kind,
    after: &crate::kernel::ItemRow,
    actor: &crate::platform::audit::Actor,
) -> AppResult<()> {
    if kind != keel_core::operation::resolution::incident::KIND || after.state != "resolved" {
        return Ok(());
    }
    crate::kernel::register::fill_where_empty(
        tx,
        actor,
        &keel_core::operation::assurance::availability::OUTAGES,
        "incident",
        &keel_core::register::V::Text(after.number.clone()),
        "ended_at",
        &keel_core::register::V::Int(
            after
                .resolved_at
                .unwrap_or_else(crate::platform::db::now_ms),
        ),
    )
    .await?;
    Ok(())
}
