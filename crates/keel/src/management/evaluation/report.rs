//! Clause 9.4 — service reporting: report definitions per service or customer, and service
//! reports (`RPT-…`) generated from the records for every complete period by the
//! `service_reports.generate` job (or on demand). A report is kept as generated.

use super::kpi::today;
use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, day_start_ms, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::measurement::{FREQUENCIES, due_periods};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Definition {
    pub id: i64,
    pub name: String,
    pub service_id: Option<i64>,
    pub service: Option<String>,
    pub customer_id: Option<i64>,
    pub customer: Option<String>,
    pub frequency: String,
    #[serde(skip)]
    pub active_flag: i64,
}

const DEFS: &str = "SELECT d.id, d.name, d.service_id, s.name AS service, d.customer_id, c.name AS customer, d.frequency, d.active AS active_flag \
    FROM report_definitions d LEFT JOIN services s ON s.id = d.service_id LEFT JOIN customers c ON c.id = d.customer_id";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ServiceReport)]
pub struct Report {
    pub number: String,
    pub definition: String,
    pub service: Option<String>,
    pub customer: Option<String>,
    pub period_from: String,
    pub period_to: String,
    pub generated_at: String,
    /// What the report says: incidents, SLA attainment, requests, major incidents, changes.
    #[schema(value_type = Object)]
    pub content: Value,
}

#[derive(Debug, sqlx::FromRow)]
struct ReportRow {
    number: String,
    definition: String,
    service: Option<String>,
    customer: Option<String>,
    period_from: String,
    period_to: String,
    content: String,
    generated_at: i64,
}

const REPORTS: &str = "SELECT r.number, d.name AS definition, s.name AS service, c.name AS customer, r.period_from, r.period_to, r.content, r.generated_at \
    FROM service_reports r JOIN report_definitions d ON d.id = r.definition_id LEFT JOIN services s ON s.id = d.service_id LEFT JOIN customers c ON c.id = d.customer_id";

pub async fn definitions(db: &Db) -> AppResult<Vec<Definition>> {
    Ok(db.all(Q::new(format!("{DEFS} ORDER BY d.id"))).await?)
}

fn to_report(r: ReportRow) -> Report {
    Report {
        number: r.number,
        definition: r.definition,
        service: r.service,
        customer: r.customer,
        period_from: r.period_from,
        period_to: r.period_to,
        content: serde_json::from_str(&r.content).unwrap_or(Value::Null),
        generated_at: iso(r.generated_at),
    }
}

pub async fn reports(db: &Db) -> AppResult<Vec<Report>> {
    let rows: Vec<ReportRow> = db
        .all(Q::new(format!(
            "{REPORTS} ORDER BY r.period_from DESC, r.id DESC LIMIT 500"
        )))
        .await?;
    Ok(rows.into_iter().map(to_report).collect())
}

pub async fn report(db: &Db, number: &str) -> AppResult<Report> {
    let r: ReportRow = db
        .opt(Q::new(format!("{REPORTS} WHERE r.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("service report {number}")))?;
    Ok(to_report(r))
}

/// The report's figures for one definition and period.
async fn compile(db: &Db, d: &Definition, from: i64, to: i64) -> AppResult<Value> {
    // Ids come from our own rows, formatted as integers.
    let mut scope = String::new();
    if let Some(s) = d.service_id {
        scope.push_str(&format!(" AND w.service_id = {s}"));
    }
    if let Some(c) = d.customer_id {
        scope.push_str(&format!(" AND w.customer_id = {c}"));
    }
    let count = |sql: String| async move {
        let (n,): (i64,) = db.one(Q::new(sql).bind(from).bind(to)).await?;
        Ok::<i64, AppError>(n)
    };
    let opened = count(format!("SELECT COUNT(*) FROM work_items w WHERE w.kind = 'incident' AND w.created_at >= $1 AND w.created_at < $2{scope}")).await?;
    let resolved = count(format!("SELECT COUNT(*) FROM work_items w WHERE w.kind = 'incident' AND w.resolved_at >= $1 AND w.resolved_at < $2{scope}")).await?;
    let majors = count(format!("SELECT COUNT(*) FROM major_incidents m JOIN work_items w ON w.id = m.item_id WHERE m.declared_at >= $1 AND m.declared_at < $2{scope}")).await?;
    let requests = count(format!("SELECT COUNT(*) FROM work_items w WHERE w.kind = 'request' AND w.created_at >= $1 AND w.created_at < $2{scope}")).await?;
    let changes = count(format!("SELECT COUNT(*) FROM work_items w WHERE w.kind = 'change' AND w.closed_at >= $1 AND w.closed_at < $2{scope}")).await?;
    let by_priority: Vec<(i64, i64)> = db
        .all(Q::new(format!("SELECT w.priority, COUNT(*) FROM work_items w WHERE w.kind = 'incident' AND w.created_at >= $1 AND w.created_at < $2{scope} GROUP BY w.priority ORDER BY w.priority")).bind(from).bind(to))
        .await?;
    let sla: Vec<(String, i64, i64)> = db
        .all(Q::new(format!("SELECT c.metric, CAST(COALESCE(SUM(CASE WHEN c.status = 'stopped' AND c.breached_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
                CAST(COALESCE(SUM(CASE WHEN c.breached_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
            FROM sla_clocks c JOIN work_items w ON w.id = c.item_id WHERE w.kind = 'incident' AND c.started_at >= $1 AND c.started_at < $2{scope} GROUP BY c.metric ORDER BY c.metric")).bind(from).bind(to))
        .await?;
    Ok(json!({
        "incidents": {
            "opened": opened,
            "resolved": resolved,
            "by_priority": by_priority.into_iter().map(|(p, n)| json!({"priority": p, "count": n})).collect::<Vec<_>>(),
            "major": majors,
        },
        "sla": sla.into_iter().map(|(m, met, breached)| json!({
            "metric": m, "met": met, "breached": breached,
            "attainment_percent": (met + breached > 0).then(|| (met as f64 * 1000.0 / (met + breached) as f64).round() / 10.0),
        })).collect::<Vec<_>>(),
        "requests": {"opened": requests},
        "changes": {"closed": changes},
    }))
}

/// Generate every report that is due (complete periods not reported yet, at most a year back).
pub async fn generate_due(db: &Db, actor: &Actor) -> AppResult<usize> {
    let defs: Vec<Definition> = db
        .all(Q::new(format!("{DEFS} WHERE d.active = 1 ORDER BY d.id")))
        .await?;
    let today = today();
    let mut made = 0;
    for d in defs {
        let last: Option<(Option<String>,)> = db
            .opt(
                Q::new("SELECT MAX(period_to) FROM service_reports WHERE definition_id = $1")
                    .bind(d.id),
            )
            .await?;
        let last = last.and_then(|l| l.0).and_then(|l| l.parse::<Date>().ok());
        for (from, to) in due_periods(&d.frequency, last, today, 12) {
            let content = compile(db, &d, day_start_ms(from), day_start_ms(to)).await?;
            let mut tx = db.begin().await?;
            let exists: Option<(i64,)> = tx
                .opt(Q::new("SELECT id FROM service_reports WHERE definition_id = $1 AND period_from = $2").bind(d.id).bind(from.to_string()))
                .await?;
            if exists.is_some() {
                continue;
            }
            let number = next_number(&mut tx, "service_report", "RPT").await?;
            tx.exec(Q::new("INSERT INTO service_reports (number, definition_id, period_from, period_to, content, generated_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(number.as_str()).bind(d.id).bind(from.to_string()).bind(to.to_string()).bind(content.to_string()).bind(now_ms()))
                .await?;
            append(
                &mut tx,
                actor,
                "generate",
                "service_report",
                &number,
                diff(
                    &[],
                    &[
                        ("definition", json!(d.name)),
                        ("period_from", json!(from.to_string())),
                        ("period_to", json!(to.to_string())),
                    ],
                ),
            )
            .await?;
            tx.commit().await?;
            made += 1;
        }
    }
    Ok(made)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDefinition {
    pub name: String,
    pub service_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// weekly, monthly (default) or quarterly.
    pub frequency: Option<String>,
}

pub async fn define(db: &Db, p: &Principal, b: NewDefinition) -> AppResult<Definition> {
    p.require(Action::ManageCompliance)?;
    let name = Line::parse(&b.name, 200).map_err(|e| AppError::invalid("name", e))?;
    let freq = b.frequency.as_deref().unwrap_or("monthly");
    if !FREQUENCIES.contains(&freq) {
        return Err(AppError::invalid(
            "frequency",
            "must be weekly, monthly or quarterly",
        ));
    }
    if let Some(s) = b.service_id
        && db
            .opt::<(i64,)>(Q::new("SELECT id FROM services WHERE id = $1").bind(s))
            .await?
            .is_none()
    {
        return Err(AppError::invalid("service_id", format!("no service {s}")));
    }
    if let Some(c) = b.customer_id
        && db
            .opt::<(i64,)>(Q::new("SELECT id FROM customers WHERE id = $1").bind(c))
            .await?
            .is_none()
    {
        return Err(AppError::invalid("customer_id", format!("no customer {c}")));
    }
    if b.service_id.is_none() && b.customer_id.is_none() {
        return Err(AppError::invalid(
            "service_id",
            "a report covers a service, a customer or both",
        ));
    }
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(Q::new("INSERT INTO report_definitions (name, service_id, customer_id, frequency, active, created_by, created_at) VALUES ($1, $2, $3, $4, 1, $5, $6) RETURNING id")
            .bind(name.as_str()).bind(b.service_id).bind(b.customer_id).bind(freq).bind(p.user_id).bind(now_ms()))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "report_definition",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("service_id", json!(b.service_id)),
                ("customer_id", json!(b.customer_id)),
                ("frequency", json!(freq)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(db
        .one(Q::new(format!("{DEFS} WHERE d.id = $1")).bind(id))
        .await?)
}

fn read(p: &Principal) -> AppResult<()> {
    p.require(Action::ReadCompliance)
}

/// Generated service reports, newest first.
#[utoipa::path(get, path = "/api/v1/service-reports", tag = "service-reports", responses((status = 200, body = Vec<Report>)), security(("bearer" = [])))]
pub async fn api_reports(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Report>>> {
    read(&p)?;
    Ok(Json(reports(&st.db).await?))
}

/// One service report.
#[utoipa::path(get, path = "/api/v1/service-reports/{number}", tag = "service-reports", params(("number" = String, Path)), responses((status = 200, body = Report), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_report(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Report>> {
    read(&p)?;
    Ok(Json(report(&st.db, &number).await?))
}

/// Report definitions.
#[utoipa::path(get, path = "/api/v1/service-reports/definitions", tag = "service-reports", responses((status = 200, body = Vec<Definition>)), security(("bearer" = [])))]
pub async fn api_definitions(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Definition>>> {
    read(&p)?;
    Ok(Json(definitions(&st.db).await?))
}

/// Define a report for a service and/or customer.
#[utoipa::path(post, path = "/api/v1/service-reports/definitions", tag = "service-reports", request_body = NewDefinition, responses((status = 201, body = Definition), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_define(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewDefinition>,
) -> AppResult<(StatusCode, Json<Definition>)> {
    Ok((StatusCode::CREATED, Json(define(&st.db, &p, b).await?)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Generated {
    pub generated: usize,
}

/// Generate the due reports now instead of waiting for the daily job.
#[utoipa::path(post, path = "/api/v1/service-reports/generate", tag = "service-reports", responses((status = 200, body = Generated)), security(("bearer" = [])))]
pub async fn api_generate(State(st): State<AppState>, p: Principal) -> AppResult<Json<Generated>> {
    p.require(Action::ManageCompliance)?;
    Ok(Json(Generated {
        generated: generate_due(&st.db, &p.actor()).await?,
    }))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "service reports",
    api: part_api,
    pages: super::measure_ui::report_routes,
    templates: &[
        (
            "service_reports.html",
            include_str!("../../../templates/service_reports.html"),
        ),
        (
            "service_report.html",
            include_str!("../../../templates/service_report.html"),
        ),
    ],
    tags: &[(
        "service-reports",
        "Service reports per service or customer, generated on schedule from the records (9.4)",
    )],
    jobs: &[crate::platform::part::JobKind {
        kind: "service_reports.generate",
        every: Some(|_| Some(6 * 60 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                generate_due(&st.db, &Actor::system("service reporting"))
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
        .routes(routes!(api_reports))
        .routes(routes!(api_report))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_definitions, api_define),
        ))
        .routes(gate(Action::ManageCompliance, routes!(api_generate)))
}
