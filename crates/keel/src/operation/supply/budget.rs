//! Clause 8.4.1 — actuals against budget per service, cost per service and per customer. A
//! service's costs are shared among the customers it serves in equal parts (exactly, to the
//! thousandth); costs recorded for one customer are theirs alone; indirect costs without a
//! service stay unallocated.

use crate::platform::auth::Principal;
use crate::platform::csv::{csv, csv_response};
use crate::platform::db::{Db, Q};
use crate::platform::error::{AppResult, Problem};
use crate::platform::extract::ApiQuery;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use keel_core::access::Action;
use keel_core::operation::supply::budget::{split, variance};
use keel_core::period;
use keel_core::register::format_milli;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceFigures {
    pub service_id: i64,
    pub service: String,
    /// Sum of the budgets whose period lies within the report's period.
    pub budget: f64,
    pub actual: f64,
    /// budget − actual; negative is an overspend.
    pub variance: f64,
    /// actual ÷ budget in percent; null without a budget.
    pub used_percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerFigures {
    pub customer_id: i64,
    pub customer: String,
    /// Costs recorded for this customer.
    pub direct: f64,
    /// Their equal share of the costs of the services they use.
    pub allocated: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BudgetReport {
    pub period: String,
    pub services: Vec<ServiceFigures>,
    pub customers: Vec<CustomerFigures>,
    /// Indirect costs belonging to no service.
    pub unallocated: f64,
    pub total_budget: f64,
    pub total_actual: f64,
}

fn money(m: i64) -> f64 {
    format_milli(m).parse().unwrap_or_default()
}

/// The report for a period written as `2026`, `2026-Q3` or `2026-07`.
pub async fn report(db: &Db, text: &str) -> AppResult<BudgetReport> {
    let (a, b) =
        period::parse(text).map_err(|e| crate::platform::error::AppError::invalid("period", e))?;
    let (from, to) = (a.to_string(), b.to_string());
    let budgets: Vec<(i64, String, i64)> = db
        .all(Q::new("SELECT service_id, period, amount FROM budgets"))
        .await?;
    let costs: Vec<(Option<i64>, Option<i64>, i64)> = db
        .all(
            Q::new("SELECT service_id, customer_id, amount FROM costs WHERE incurred_on >= $1 AND incurred_on <= $2")
                .bind(from)
                .bind(to),
        )
        .await?;
    let services: Vec<(i64, String)> = db
        .all(Q::new("SELECT id, name FROM services ORDER BY name"))
        .await?;
    let customers: Vec<(i64, String)> = db
        .all(Q::new("SELECT id, name FROM customers ORDER BY name"))
        .await?;
    let served: Vec<(i64, i64)> = db
        .all(Q::new("SELECT service_id, customer_id FROM service_customers ORDER BY service_id, customer_id"))
        .await?;
    // A budget counts when its own period lies inside the report's.
    let mut budget_of: BTreeMap<i64, i64> = BTreeMap::new();
    for (s, p, amount) in budgets {
        if let Ok((pa, pb)) = period::parse(&p)
            && pa >= a
            && pb <= b
        {
            *budget_of.entry(s).or_default() += amount;
        }
    }
    let mut actual_of: BTreeMap<i64, i64> = BTreeMap::new();
    let mut direct_of: BTreeMap<i64, i64> = BTreeMap::new();
    let mut service_shared: BTreeMap<i64, i64> = BTreeMap::new();
    let mut unallocated = 0;
    for (s, c, amount) in &costs {
        match (s, c) {
            (Some(s), Some(c)) => {
                *actual_of.entry(*s).or_default() += amount;
                *direct_of.entry(*c).or_default() += amount;
            }
            (Some(s), None) => {
                *actual_of.entry(*s).or_default() += amount;
                *service_shared.entry(*s).or_default() += amount;
            }
            (None, Some(c)) => *direct_of.entry(*c).or_default() += amount,
            (None, None) => unallocated += amount,
        }
    }
    let mut allocated_of: BTreeMap<i64, i64> = BTreeMap::new();
    for (s, amount) in &service_shared {
        let who: Vec<i64> = served.iter().filter(|x| x.0 == *s).map(|x| x.1).collect();
        if who.is_empty() {
            unallocated += amount;
            continue;
        }
        for (c, share) in who.iter().zip(split(*amount, who.len())) {
            *allocated_of.entry(*c).or_default() += share;
        }
    }
    let services: Vec<ServiceFigures> = services
        .into_iter()
        .filter(|(id, _)| budget_of.contains_key(id) || actual_of.contains_key(id))
        .map(|(id, name)| {
            let v = variance(
                budget_of.get(&id).copied().unwrap_or_default(),
                actual_of.get(&id).copied().unwrap_or_default(),
            );
            ServiceFigures {
                service_id: id,
                service: name,
                budget: money(v.budget),
                actual: money(v.actual),
                variance: money(v.variance),
                used_percent: v.used_permille.map(|p| p as f64 / 10.0),
            }
        })
        .collect();
    let customers = customers
        .into_iter()
        .filter(|(id, _)| direct_of.contains_key(id) || allocated_of.contains_key(id))
        .map(|(id, name)| {
            let d = direct_of.get(&id).copied().unwrap_or_default();
            let al = allocated_of.get(&id).copied().unwrap_or_default();
            CustomerFigures {
                customer_id: id,
                customer: name,
                direct: money(d),
                allocated: money(al),
                total: money(d + al),
            }
        })
        .collect();
    Ok(BudgetReport {
        period: text.to_string(),
        total_budget: money(budget_of.values().sum()),
        total_actual: money(costs.iter().map(|c| c.2).sum()),
        services,
        customers,
        unallocated: money(unallocated),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// `2026`, `2026-Q3` or `2026-07` (default: this year).
    pub period: Option<String>,
    /// `csv` for a spreadsheet (services, then customers).
    pub format: Option<String>,
}

/// Actuals against budget per service, and cost per customer (8.4.1).
#[utoipa::path(get, path = "/api/v1/budgets/report", tag = "budgeting", params(ReportParams),
    responses((status = 200, body = BudgetReport), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_report(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> AppResult<Response> {
    p.require(Action::ReadFinance)?;
    let year = crate::platform::extract::today().year().to_string();
    let text = q
        .period
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&year);
    let r = report(&st.db, text).await?;
    if q.format.as_deref() == Some("csv") {
        let header: Vec<String> = [
            "section",
            "id",
            "name",
            "budget",
            "actual",
            "variance",
            "used_percent",
            "direct",
            "allocated",
            "total",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut rows: Vec<Vec<String>> = r
            .services
            .iter()
            .map(|s| {
                vec![
                    "service".into(),
                    s.service_id.to_string(),
                    s.service.clone(),
                    s.budget.to_string(),
                    s.actual.to_string(),
                    s.variance.to_string(),
                    s.used_percent.map(|u| u.to_string()).unwrap_or_default(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]
            })
            .collect();
        rows.extend(r.customers.iter().map(|c| {
            vec![
                "customer".into(),
                c.customer_id.to_string(),
                c.customer.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                c.direct.to_string(),
                c.allocated.to_string(),
                c.total.to_string(),
            ]
        }));
        return Ok(csv_response(
            &format!("budget-{}", r.period),
            csv(&header, &rows),
        ));
    }
    Ok(Json(r).into_response())
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "budgeting",
    api: part_api,
    tags: &[(
        "budgeting",
        "Budgets and costs per service and customer, actuals against budget (8.4.1)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api_report))
}

/// This process's registers (`keel_core`), kept by the kernel's register machine.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::supply::budget::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
