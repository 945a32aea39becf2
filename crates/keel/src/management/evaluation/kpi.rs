//! Clauses 6.2 and 9.1 — service management objectives (`OBJ-…`, `/api/v1/objectives`) and the
//! KPIs that measure them (`KPI-…`, `/api/v1/kpis`). A KPI's value for a period is computed from
//! Keel's records (the metric catalogue is `keel_core::management::measurement::METRICS`); the
//! `kpi.measure` job measures every complete period not measured yet, so results are kept as
//! they were measured.

use crate::directory::active_user;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, day_start_ms, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, day};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::measurement::{
    FREQUENCIES, METRICS, Metric, due_periods, meets, metric,
};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn today() -> Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

fn service_clause(service: Option<i64>, col: &str) -> (String, Option<i64>) {
    match service {
        Some(s) => (format!(" AND {col} = {}", s), Some(s)),
        None => (String::new(), None),
    }
}

/// A metric's value over `[from, to)` (epoch ms), optionally for one service; `None` when there
/// was nothing to measure.
pub async fn value(
    db: &Db,
    m: &Metric,
    service: Option<i64>,
    from: i64,
    to: i64,
) -> AppResult<Option<f64>> {
    // The service id is an i64 from our own table, formatted, never user text.
    let (svc, _) = service_clause(service, "w.service_id");
    Ok(match m.id {
        "incident_resolution_attainment" | "incident_response_attainment" => {
            let metric = if m.id == "incident_resolution_attainment" {
                "resolution"
            } else {
                "response"
            };
            let (met, breached): (i64, i64) = db
                .one(Q::new(format!("SELECT CAST(COALESCE(SUM(CASE WHEN c.status = 'stopped' AND c.breached_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
                        CAST(COALESCE(SUM(CASE WHEN c.breached_at IS NOT NULL OR (c.status <> 'stopped' AND c.due_at <= $1) THEN 1 ELSE 0 END), 0) AS BIGINT) \
                    FROM sla_clocks c JOIN work_items w ON w.id = c.item_id WHERE w.kind = 'incident' AND c.metric = $2 AND c.started_at >= $3 AND c.started_at < $4{svc}"))
                    .bind(now_ms()).bind(metric).bind(from).bind(to))
                .await?;
            (met + breached > 0).then(|| met as f64 * 100.0 / (met + breached) as f64)
        }
        "incidents_opened" => {
            let (n,): (i64,) = db.one(Q::new(format!("SELECT COUNT(*) FROM work_items w WHERE w.kind = 'incident' AND w.created_at >= $1 AND w.created_at < $2{svc}")).bind(from).bind(to)).await?;
            Some(n as f64)
        }
        "major_incidents" => {
            let (n,): (i64,) = db.one(Q::new(format!("SELECT COUNT(*) FROM major_incidents m JOIN work_items w ON w.id = m.item_id WHERE m.declared_at >= $1 AND m.declared_at < $2{svc}")).bind(from).bind(to)).await?;
            Some(n as f64)
        }
        "mean_time_to_resolve" => {
            let (n, total): (i64, i64) = db
                .one(Q::new(format!("SELECT COUNT(*), CAST(COALESCE(SUM(w.resolved_at - w.created_at), 0) AS BIGINT) FROM work_items w WHERE w.kind = 'incident' AND w.resolved_at >= $1 AND w.resolved_at < $2{svc}")).bind(from).bind(to))
                .await?;
            (n > 0).then(|| total as f64 / n as f64 / 3_600_000.0)
        }
        "requests_fulfilled" => {
            let (n,): (i64,) = db
                .one(Q::new(format!("SELECT COUNT(*) FROM work_items w WHERE w.kind = 'request' AND EXISTS (SELECT 1 FROM work_item_transitions t WHERE t.item_id = w.id AND t.to_state = 'fulfilled' AND t.at >= $1 AND t.at < $2){svc}")).bind(from).bind(to))
                .await?;
            Some(n as f64)
        }
        "change_success_rate" | "emergency_change_share" => {
            let c = crate::operation::transition::change::metrics(db, from, to).await?;
            (c.closed > 0).then(|| {
                100.0
                    * if m.id == "change_success_rate" {
                        c.success_rate
                    } else {
                        c.emergency_share
                    }
            })
        }
        "open_nonconformities" => {
            let (n,): (i64,) = db
                .one(Q::new("SELECT COUNT(*) FROM work_items WHERE kind = 'nonconformity' AND state <> 'cancelled' AND created_at < $1 AND (closed_at IS NULL OR closed_at >= $1)").bind(to))
                .await?;
            Some(n as f64)
        }
        _ => None,
    })
}

fn milli(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}

fn unmilli(v: i64) -> f64 {
    v as f64 / 1000.0
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Measurement {
    /// YYYY-MM-DD, first day; `period_to` is the first day after.
    pub period_from: String,
    pub period_to: String,
    /// Null when the period had nothing to measure.
    pub value: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Kpi {
    pub number: String,
    pub name: String,
    pub metric: String,
    pub metric_name: String,
    pub unit: String,
    /// higher or lower.
    pub better: String,
    pub service_id: Option<i64>,
    pub service: Option<String>,
    pub target: f64,
    /// weekly, monthly or quarterly.
    pub frequency: String,
    pub objective: Option<String>,
    pub active: bool,
    pub version: i64,
    /// Newest first (at most 24).
    pub measurements: Vec<Measurement>,
}

type KpiRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    i64,
    String,
    Option<String>,
    i64,
    i64,
);

const KPIS: &str = "SELECT k.id, k.number, k.name, k.metric, k.service_id, s.name, k.target_milli, k.frequency, o.number, k.active, k.version \
    FROM kpis k LEFT JOIN services s ON s.id = k.service_id LEFT JOIN objectives o ON o.id = k.objective_id";

async fn kpi_view(db: &Db, r: KpiRow) -> AppResult<Kpi> {
    let m = metric(&r.3);
    let ms: Vec<(String, String, Option<i64>, Option<i64>)> = db
        .all(Q::new("SELECT period_from, period_to, value_milli, met FROM kpi_measurements WHERE kpi_id = $1 ORDER BY period_from DESC LIMIT 24").bind(r.0))
        .await?;
    Ok(Kpi {
        number: r.1,
        name: r.2,
        metric_name: m.map(|m| m.name).unwrap_or_default().to_string(),
        unit: m.map(|m| m.unit).unwrap_or_default().to_string(),
        better: m
            .map(|m| {
                if m.better == keel_core::management::measurement::Better::Higher {
                    "higher"
                } else {
                    "lower"
                }
            })
            .unwrap_or_default()
            .to_string(),
        metric: r.3,
        service_id: r.4,
        service: r.5,
        target: unmilli(r.6),
        frequency: r.7,
        objective: r.8,
        active: r.9 == 1,
        version: r.10,
        measurements: ms
            .into_iter()
            .map(|(f, t, v, met)| Measurement {
                period_from: f,
                period_to: t,
                value: v.map(unmilli),
                met: met.map(|m| m == 1),
            })
            .collect(),
    })
}

pub async fn kpi(db: &Db, number: &str) -> AppResult<Kpi> {
    let r: KpiRow = db
        .opt(Q::new(format!("{KPIS} WHERE k.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("KPI {number}")))?;
    kpi_view(db, r).await
}

pub async fn kpis(db: &Db, objective: Option<i64>) -> AppResult<Vec<Kpi>> {
    let rows: Vec<KpiRow> = match objective {
        Some(o) => {
            db.all(Q::new(format!("{KPIS} WHERE k.objective_id = $1 ORDER BY k.id")).bind(o))
                .await?
        }
        None => db.all(Q::new(format!("{KPIS} ORDER BY k.id"))).await?,
    };
    let mut out = Vec::new();
    for r in rows {
        out.push(kpi_view(db, r).await?);
    }
    Ok(out)
}

/// id, metric, service, target, frequency, end of the last period measured.
type DueRow = (i64, String, Option<i64>, i64, String, Option<String>);

/// Measure every complete period of every active KPI not measured yet (at most a year back).
pub async fn measure_due(db: &Db) -> AppResult<usize> {
    let rows: Vec<DueRow> = db
        .all(Q::new("SELECT k.id, k.metric, k.service_id, k.target_milli, k.frequency, (SELECT MAX(m.period_to) FROM kpi_measurements m WHERE m.kpi_id = k.id) FROM kpis k WHERE k.active = 1"))
        .await?;
    let today = today();
    let mut n = 0;
    for (id, metric_id, service, target, freq, last) in rows {
        let Some(m) = metric(&metric_id) else {
            continue;
        };
        let last = last.and_then(|l| l.parse::<Date>().ok());
        for (from, to) in due_periods(&freq, last, today, 53) {
            let v = value(db, m, service, day_start_ms(from), day_start_ms(to)).await?;
            let met = v.map(|v| meets(v, unmilli(target), m.better));
            // ON CONFLICT: another node measured the same period first; keep theirs.
            n += db
                .exec(Q::new("INSERT INTO kpi_measurements (kpi_id, period_from, period_to, value_milli, met, measured_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kpi_id, period_from) DO NOTHING")
                    .bind(id).bind(from.to_string()).bind(to.to_string()).bind(v.map(milli)).bind(met.map(i64::from)).bind(now_ms()))
                .await? as usize;
        }
    }
    Ok(n)
}

// ---- Objectives ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Objective {
    pub number: String,
    pub title: String,
    pub description: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    /// YYYY-MM-DD.
    pub due_on: Option<String>,
    /// active, achieved or abandoned.
    pub state: String,
    pub version: i64,
    pub kpis: Vec<Kpi>,
    /// Whether every KPI's latest measurement met its target (null: nothing measured yet).
    pub on_track: Option<bool>,
}

type ObjRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    i64,
);

const OBJS: &str = "SELECT o.id, o.number, o.title, o.description, o.owner_id, u.name, o.due_on, o.state, o.version FROM objectives o LEFT JOIN users u ON u.id = o.owner_id";

async fn objective_view(db: &Db, r: ObjRow) -> AppResult<Objective> {
    let kpis = kpis(db, Some(r.0)).await?;
    let latest: Vec<Option<bool>> = kpis
        .iter()
        .map(|k| k.measurements.first().and_then(|m| m.met))
        .collect();
    let on_track = if latest.iter().all(Option::is_none) {
        None
    } else {
        Some(latest.iter().all(|m| m.unwrap_or(true)))
    };
    Ok(Objective {
        number: r.1,
        title: r.2,
        description: r.3,
        owner_id: r.4,
        owner: r.5,
        due_on: r.6,
        state: r.7,
        version: r.8,
        kpis,
        on_track,
    })
}

pub async fn objective(db: &Db, number: &str) -> AppResult<Objective> {
    let r: ObjRow = db
        .opt(Q::new(format!("{OBJS} WHERE o.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("objective {number}")))?;
    objective_view(db, r).await
}

pub async fn objectives(db: &Db) -> AppResult<Vec<Objective>> {
    let rows: Vec<ObjRow> = db.all(Q::new(format!("{OBJS} ORDER BY o.id"))).await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(objective_view(db, r).await?);
    }
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObjective {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub owner_id: Option<i64>,
    /// YYYY-MM-DD.
    pub due_on: Option<String>,
}

pub async fn create_objective(db: &Db, p: &Principal, b: NewObjective) -> AppResult<Objective> {
    p.require(Action::ManageCompliance)?;
    let title = Line::parse(&b.title, 200).map_err(|e| AppError::invalid("title", e))?;
    let description =
        bounded(&b.description, 20_000).map_err(|e| AppError::invalid("description", e))?;
    let owner = active_user(db, "owner_id", b.owner_id).await?;
    let due = day("due_on", b.due_on.as_deref().unwrap_or(""))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "objective", "OBJ").await?;
    tx.exec(Q::new("INSERT INTO objectives (number, title, description, owner_id, due_on, state, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)")
        .bind(number.as_str()).bind(title.as_str()).bind(description.as_str()).bind(owner).bind(due.clone()).bind(p.user_id).bind(now))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "objective",
        &number,
        diff(
            &[],
            &[
                ("title", json!(title.as_str())),
                ("owner_id", json!(owner)),
                ("due_on", json!(due)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    objective(db, &number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectivePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub owner_id: Option<i64>,
    pub due_on: Option<String>,
    /// active, achieved or abandoned.
    pub state: Option<String>,
    pub version: Option<i64>,
}

pub async fn update_objective(
    db: &Db,
    p: &Principal,
    number: &str,
    b: ObjectivePatch,
) -> AppResult<Objective> {
    p.require(Action::ManageCompliance)?;
    let before = objective(db, number).await?;
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
    let description = match &b.description {
        Some(d) => bounded(d, 20_000).map_err(|e| AppError::invalid("description", e))?,
        None => before.description.clone(),
    };
    let owner = match b.owner_id {
        Some(id) => active_user(db, "owner_id", Some(id)).await?,
        None => before.owner_id,
    };
    let due = match &b.due_on {
        Some(d) => day("due_on", d)?,
        None => before.due_on.clone(),
    };
    let state = match b.state.as_deref() {
        Some(s @ ("active" | "achieved" | "abandoned")) => s.to_string(),
        Some(_) => {
            return Err(AppError::invalid(
                "state",
                "must be active, achieved or abandoned",
            ));
        }
        None => before.state.clone(),
    };
    let mut tx = db.begin().await?;
    let n = tx
        .exec(Q::new("UPDATE objectives SET title = $1, description = $2, owner_id = $3, due_on = $4, state = $5, version = version + 1, updated_at = $6 WHERE number = $7 AND version = $8")
            .bind(title.as_str()).bind(description.as_str()).bind(owner).bind(due.clone()).bind(state.as_str()).bind(now_ms()).bind(number).bind(before.version))
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
        "objective",
        number,
        diff(
            &[
                ("title", json!(before.title)),
                ("owner_id", json!(before.owner_id)),
                ("due_on", json!(before.due_on)),
                ("state", json!(before.state)),
            ],
            &[
                ("title", json!(title)),
                ("owner_id", json!(owner)),
                ("due_on", json!(due)),
                ("state", json!(state)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    objective(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKpi {
    pub name: String,
    /// A metric id from `GET /api/v1/kpis/metrics`.
    pub metric: String,
    /// Narrow to one service (for metrics that allow it).
    pub service_id: Option<i64>,
    pub target: f64,
    /// weekly, monthly (default) or quarterly.
    pub frequency: Option<String>,
    /// The objective it measures, by number.
    pub objective: Option<String>,
}

pub async fn create_kpi(db: &Db, p: &Principal, b: NewKpi) -> AppResult<Kpi> {
    p.require(Action::ManageCompliance)?;
    let name = Line::parse(&b.name, 200).map_err(|e| AppError::invalid("name", e))?;
    let m = metric(&b.metric).ok_or_else(|| {
        AppError::invalid(
            "metric",
            format!(
                "must be one of: {}",
                METRICS.iter().map(|m| m.id).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    if b.service_id.is_some() && !m.per_service {
        return Err(AppError::invalid(
            "service_id",
            format!(
                "{} is measured for the whole provider, not per service",
                m.id
            ),
        ));
    }
    if let Some(s) = b.service_id {
        let ok: Option<(i64,)> = db
            .opt(Q::new("SELECT id FROM services WHERE id = $1").bind(s))
            .await?;
        if ok.is_none() {
            return Err(AppError::invalid("service_id", format!("no service {s}")));
        }
    }
    if !b.target.is_finite() || b.target < 0.0 || (m.unit == "%" && b.target > 100.0) {
        return Err(AppError::invalid(
            "target",
            if m.unit == "%" {
                "a percentage 0–100"
            } else {
                "a number of at least 0"
            },
        ));
    }
    let freq = b.frequency.as_deref().unwrap_or("monthly");
    if !FREQUENCIES.contains(&freq) {
        return Err(AppError::invalid(
            "frequency",
            "must be weekly, monthly or quarterly",
        ));
    }
    let objective_id = match &b.objective {
        Some(n) => Some(
            db.opt::<(i64,)>(
                Q::new("SELECT id FROM objectives WHERE number = $1").bind(n.as_str()),
            )
            .await?
            .ok_or_else(|| AppError::invalid("objective", format!("no objective {n}")))?
            .0,
        ),
        None => None,
    };
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "kpi", "KPI").await?;
    tx.exec(Q::new("INSERT INTO kpis (number, name, metric, service_id, target_milli, frequency, objective_id, active, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $9)")
        .bind(number.as_str()).bind(name.as_str()).bind(m.id).bind(b.service_id).bind(milli(b.target)).bind(freq).bind(objective_id).bind(p.user_id).bind(now))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "kpi",
        &number,
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("metric", json!(m.id)),
                ("target", json!(b.target)),
                ("frequency", json!(freq)),
                ("objective", json!(b.objective)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    kpi(db, &number).await
}

/// Measure the KPI's due periods now (the job does this daily for every KPI).
pub async fn measure_now(db: &Db, p: &Principal, number: &str) -> AppResult<Kpi> {
    p.require(Action::ManageCompliance)?;
    kpi(db, number).await?;
    measure_due(db).await?;
    kpi(db, number).await
}

fn read(p: &Principal) -> AppResult<()> {
    p.require(Action::ReadCompliance)
}

/// Service management objectives with their KPIs.
#[utoipa::path(get, path = "/api/v1/objectives", tag = "objectives", responses((status = 200, body = Vec<Objective>)), security(("bearer" = [])))]
pub async fn api_objectives(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Objective>>> {
    read(&p)?;
    Ok(Json(objectives(&st.db).await?))
}

/// Set an objective.
#[utoipa::path(post, path = "/api/v1/objectives", tag = "objectives", request_body = NewObjective, responses((status = 201, body = Objective), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_objective(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewObjective>,
) -> AppResult<(StatusCode, Json<Objective>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_objective(&st.db, &p, b).await?),
    ))
}

/// One objective.
#[utoipa::path(get, path = "/api/v1/objectives/{number}", tag = "objectives", params(("number" = String, Path)), responses((status = 200, body = Objective), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_objective(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Objective>> {
    read(&p)?;
    Ok(Json(objective(&st.db, &number).await?))
}

/// Change an objective (or mark it achieved or abandoned).
#[utoipa::path(patch, path = "/api/v1/objectives/{number}", tag = "objectives", params(("number" = String, Path)), request_body = ObjectivePatch, responses((status = 200, body = Objective), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update_objective(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ObjectivePatch>,
) -> AppResult<Json<Objective>> {
    Ok(Json(update_objective(&st.db, &p, &number, b).await?))
}

/// KPIs with their latest measurements.
#[utoipa::path(get, path = "/api/v1/kpis", tag = "objectives", responses((status = 200, body = Vec<Kpi>)), security(("bearer" = [])))]
pub async fn api_kpis(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Kpi>>> {
    read(&p)?;
    Ok(Json(kpis(&st.db, None).await?))
}

/// Define a KPI on a metric Keel measures.
#[utoipa::path(post, path = "/api/v1/kpis", tag = "objectives", request_body = NewKpi, responses((status = 201, body = Kpi), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_kpi(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewKpi>,
) -> AppResult<(StatusCode, Json<Kpi>)> {
    Ok((StatusCode::CREATED, Json(create_kpi(&st.db, &p, b).await?)))
}

/// The metrics a KPI can measure.
#[utoipa::path(get, path = "/api/v1/kpis/metrics", tag = "objectives", responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn api_metrics(p: Principal) -> AppResult<Json<Vec<Metric>>> {
    read(&p)?;
    Ok(Json(METRICS.to_vec()))
}

/// One KPI with its measurements.
#[utoipa::path(get, path = "/api/v1/kpis/{number}", tag = "objectives", params(("number" = String, Path)), responses((status = 200, body = Kpi), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_kpi(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Kpi>> {
    read(&p)?;
    Ok(Json(kpi(&st.db, &number).await?))
}

/// Measure the due periods now instead of waiting for the daily job.
#[utoipa::path(post, path = "/api/v1/kpis/{number}/measure", tag = "objectives", params(("number" = String, Path)), responses((status = 200, body = Kpi), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_measure(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Kpi>> {
    Ok(Json(measure_now(&st.db, &p, &number).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "objectives",
    api: part_api,
    pages: super::measure_ui::objective_routes,
    templates: &[(
        "objectives.html",
        include_str!("../../../templates/objectives.html"),
    )],
    tags: &[(
        "objectives",
        "Service management objectives and the KPIs that measure them, measured on schedule (6.2, 9.1)",
    )],
    jobs: &[crate::platform::part::JobKind {
        kind: "kpi.measure",
        every: Some(|_| Some(6 * 60 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                measure_due(&st.db)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_objectives, api_create_objective),
        ))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_objective, api_update_objective),
        ))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_kpis, api_create_kpi),
        ))
        .routes(routes!(api_metrics))
        .routes(routes!(api_kpi))
        .routes(gate(Action::ManageCompliance, routes!(api_measure)))
}
