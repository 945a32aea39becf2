//! Clause 8.4.2 — actual demand per service and month from Keel's own records (requests and
//! incidents raised, distinct requesters) against the forecasts, and the gap.

use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q};
use crate::platform::error::{AppResult, Problem};
use crate::platform::extract::{ApiQuery, period_ms};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use keel_core::access::Action;
use keel_core::operation::supply::demand::gap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandRow {
    pub service_id: i64,
    pub service: String,
    /// `YYYY-MM`.
    pub month: String,
    pub measure: String,
    pub forecast: Option<i64>,
    /// Null for measures Keel does not see (transactions).
    pub actual: Option<i64>,
    pub gap: Option<i64>,
    /// Gap in percent of the forecast.
    pub gap_percent: Option<f64>,
}

/// Forecast and actual of one service, month and measure.
type Cell = (Option<i64>, Option<i64>);

/// Forecast and actual per service, month and measure over `[from, to)`.
pub async fn demand(
    db: &Db,
    service: Option<i64>,
    from: i64,
    to: i64,
) -> AppResult<Vec<DemandRow>> {
    let month_expr = match db.backend() {
        crate::platform::db::Backend::Sqlite => {
            "strftime('%Y-%m', w.created_at / 1000, 'unixepoch')"
        }
        crate::platform::db::Backend::Postgres => {
            "to_char(to_timestamp(w.created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM')"
        }
    };
    let actual: Vec<(i64, String, String, i64, i64)> = db
        .all(
            Q::new(format!(
                "SELECT w.service_id, {month_expr} AS m, w.kind, COUNT(*), COUNT(DISTINCT w.requester_id) FROM work_items w \
                 WHERE w.service_id IS NOT NULL AND w.kind IN ('request', 'incident') AND w.created_at >= $1 AND w.created_at < $2 \
                 GROUP BY w.service_id, {month_expr}, w.kind"
            ))
            .bind(from)
            .bind(to),
        )
        .await?;
    let months = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| {
                jiff::tz::TimeZone::UTC
                    .to_datetime(t)
                    .strftime("%Y-%m")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let (first, last) = (months(from), months(to - 1));
    let forecasts: Vec<(i64, String, String, i64)> = db
        .all(
            Q::new("SELECT service_id, month, COALESCE(measure, 'requests'), forecast FROM demand_forecasts WHERE month >= $1 AND month <= $2")
                .bind(first)
                .bind(last),
        )
        .await?;
    let names: BTreeMap<i64, String> = db
        .all::<(i64, String)>(Q::new("SELECT id, name FROM services"))
        .await?
        .into_iter()
        .collect();
    // (service, month, measure) → (forecast, actual)
    let mut cells: BTreeMap<(i64, String, String), Cell> = BTreeMap::new();
    let mut users: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for (s, m, kind, n, requesters) in actual {
        let measure = if kind == "request" {
            "requests"
        } else {
            "incidents"
        };
        cells.entry((s, m.clone(), measure.into())).or_default().1 = Some(n);
        *users.entry((s, m)).or_default() += requesters;
    }
    for ((s, m), n) in users {
        cells.entry((s, m, "users".into())).or_default().1 = Some(n);
    }
    for (s, m, measure, f) in forecasts {
        let e = cells.entry((s, m, measure.clone())).or_default();
        e.0 = Some(f);
        if measure == "transactions" {
            e.1 = None;
        } else if e.1.is_none() {
            e.1 = Some(0);
        }
    }
    Ok(cells
        .into_iter()
        .filter(|((s, _, _), _)| service.is_none_or(|x| x == *s))
        .map(|((s, month, measure), (forecast, actual))| {
            let g = match (forecast, actual) {
                (Some(f), Some(a)) => Some(gap(f, a)),
                _ => None,
            };
            DemandRow {
                service_id: s,
                service: names.get(&s).cloned().unwrap_or_default(),
                month,
                measure,
                forecast,
                actual,
                gap: g.map(|x| x.0),
                gap_percent: g.and_then(|x| x.1).map(|p| p as f64 / 10.0),
            }
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DemandParams {
    /// `2026`, `2026-Q3`, `2026-07` or `A..B` (default: this year).
    pub period: Option<String>,
    pub service_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DemandReport {
    pub period: String,
    pub rows: Vec<DemandRow>,
}

/// Demand per service and month: forecast, actual from the records, and the gap (8.4.2).
#[utoipa::path(get, path = "/api/v1/demand", tag = "capacity", params(DemandParams),
    responses((status = 200, body = DemandReport), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_demand(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<DemandParams>,
) -> AppResult<Json<DemandReport>> {
    p.require(Action::ReadAssurance)?;
    let year = crate::platform::extract::today().year().to_string();
    let (from, to, text) = period_ms("period", q.period.as_deref(), &year)?;
    Ok(Json(DemandReport {
        period: text,
        rows: demand(&st.db, q.service_id, from, to).await?,
    }))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "demand",
    api: part_api,
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api_demand))
}

/// This process's registers (`keel_core`), kept by the kernel's register machine.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::supply::demand::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
