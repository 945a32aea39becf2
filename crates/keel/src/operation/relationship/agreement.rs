//! Clause 8.3.3 — a month's attainment of one agreement against its targets: the SLA clocks of
//! the work items it covers (the customer's for an SLA, the group's for an OLA, the covered
//! services' for an underpinning contract), availability of the covered services against the
//! agreement's availability target, the breached items, and the explanations recorded.

use crate::kernel::register::{Filters, all, get, reg, to_json};
use crate::operation::assurance::availability::{ServiceAvailability, measured};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiQuery, period_ms};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use keel_core::access::Action;
use keel_core::register::V;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricAttainment {
    /// response or resolution.
    pub metric: String,
    pub total: i64,
    pub met: i64,
    pub breached: i64,
    /// met ÷ (met + breached) in percent.
    pub attainment_percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Breach {
    pub number: String,
    pub title: String,
    pub metric: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgreementAttainment {
    pub agreement_id: i64,
    pub reference: String,
    pub month: String,
    pub clocks: Vec<MetricAttainment>,
    /// The agreement's availability target in percent, and each covered service's measure.
    pub availability_target: Option<f64>,
    pub availability: Vec<ServiceAvailability>,
    /// Every target met (clocks without breaches, availability at or above target).
    pub met: bool,
    pub breaches: Vec<Breach>,
    /// The breach explanations recorded for this month.
    #[schema(value_type = Vec<Object>)]
    pub explanations: Vec<Value>,
}

type ClockRow = (String, i64, i64, i64);

pub async fn attainment(db: &Db, id: i64, month: &str) -> AppResult<AgreementAttainment> {
    let r = reg("agreements");
    let a = get(db, r, id).await?;
    let (from, to, month) = period_ms("month", Some(month), month)?;
    let services: Vec<i64> = match a.vals.get("services") {
        Some(V::Many(ks)) => ks.iter().filter_map(|k| k.parse().ok()).collect(),
        _ => vec![],
    };
    // Which work items the agreement covers.
    let mut q = Q::new("");
    let (n, k) = (q.arg(now_ms()), q.arg("incident"));
    let (f, t) = (q.arg(from), q.arg(to));
    let mut scope = vec![];
    match a.text("kind") {
        Some("sla") => {
            let c = q.arg(a.int("customer_id"));
            scope.push(format!("w.customer_id = {c}"));
        }
        Some("ola") => {
            let g = q.arg(a.int("group_id"));
            scope.push(format!("w.assignment_group_id = {g}"));
        }
        _ => {}
    }
    if services.is_empty() {
        scope.push("1 = 0".into());
    } else {
        let ids: Vec<String> = services.iter().map(|s| q.arg(*s)).collect();
        scope.push(format!("w.service_id IN ({})", ids.join(", ")));
    }
    let scope = scope.join(" AND ");
    q.sql = format!(
        "SELECT c.metric, COUNT(*), \
         CAST(SUM(CASE WHEN c.status = 'stopped' AND c.breached_at IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN c.breached_at IS NOT NULL OR c.due_at <= {n} THEN 1 ELSE 0 END) AS BIGINT) \
         FROM sla_clocks c JOIN work_items w ON w.id = c.item_id \
         WHERE w.kind IN ({k}, 'request') AND c.started_at >= {f} AND c.started_at < {t} AND {scope} \
         GROUP BY c.metric ORDER BY c.metric"
    );
    let rows: Vec<ClockRow> = db.all(q.clone()).await?;
    let clocks: Vec<MetricAttainment> = rows
        .into_iter()
        .map(|(metric, total, met, breached)| MetricAttainment {
            metric,
            total,
            met,
            breached,
            attainment_percent: (met + breached > 0)
                .then(|| (met as f64 * 1000.0 / (met + breached) as f64).round() / 10.0),
        })
        .collect();
    q.sql = format!(
        "SELECT w.number, w.title, c.metric FROM sla_clocks c JOIN work_items w ON w.id = c.item_id \
         WHERE w.kind IN ({k}, 'request') AND c.started_at >= {f} AND c.started_at < {t} AND {scope} \
         AND (c.breached_at IS NOT NULL OR c.due_at <= {n}) ORDER BY w.number LIMIT 500"
    );
    let breaches: Vec<(String, String, String)> = db.all(q).await?;
    let availability = measured(db, Some(&services), from, to).await?;
    let target = a.int("availability_target");
    let avail_ok = target.is_none_or(|t| {
        availability
            .iter()
            .all(|s| s.measured.is_none_or(|m| m * 1000.0 >= t as f64 - 0.5))
    });
    let e = reg("breach-explanations");
    let filters: Filters = vec![
        ("agreement_id", V::Int(id)),
        ("month", V::Text(month.clone())),
    ];
    let explanations = all(db, e, &filters)
        .await?
        .iter()
        .map(|x| to_json(e, x))
        .collect();
    Ok(AgreementAttainment {
        agreement_id: id,
        reference: a.text("reference").unwrap_or_default().to_string(),
        met: breaches.is_empty() && avail_ok,
        month,
        clocks,
        availability_target: target.map(|t| t as f64 / 1000.0),
        availability,
        breaches: breaches
            .into_iter()
            .map(|(number, title, metric)| Breach {
                number,
                title,
                metric,
            })
            .collect(),
        explanations,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthParams {
    /// `YYYY-MM`; default this month.
    pub month: Option<String>,
}

/// An agreement's attainment in one month: clocks, availability, breaches, explanations (8.3.3).
#[utoipa::path(get, path = "/api/v1/agreements/{id}/attainment", tag = "agreements", params(("id" = i64, Path), MonthParams),
    responses((status = 200, body = AgreementAttainment), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_attainment(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<MonthParams>,
) -> AppResult<Json<AgreementAttainment>> {
    p.require(Action::ReadRelationships)?;
    let month = match q.month.as_deref() {
        Some(m) => keel_core::register::parse_month(m)
            .ok_or_else(|| AppError::invalid("month", "must be a month, YYYY-MM"))?,
        None => crate::platform::extract::this_month(),
    };
    Ok(Json(attainment(&st.db, id, &month).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "agreements",
    api: part_api,
    tags: &[(
        "agreements",
        "SLAs, OLAs and underpinning contracts as records; monthly attainment and breach explanations (8.3.3)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api_attainment))
}

/// This process's registers (`keel_core`), kept by the kernel's register machine.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::relationship::agreement::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
