//! Clause 8.4 — the demo's supply and demand: budgets and costs per service (8.4.1), demand
//! forecasts (8.4.2) and a capacity plan with utilisation samples (8.4.3). Seeded through the
//! same use cases the API calls.

use super::{Org, record};
use crate::platform::db::Db;
use crate::platform::error::AppResult;
use serde_json::json;

/// Budgets, costs, forecasts and capacity, as the manager; the samples as the agent.
pub(super) async fn seed(db: &Db, org: &Org) -> AppResult<()> {
    let (manager, m) = (org.manager.user_id, &org.as_manager);
    let (customers, services) = (&org.customers, &org.services);
    let this_year = org.today.year().to_string();
    let (mail, network, erp) = (services[0], services[1], services[2]);
    // 8.4: budgets, costs, forecasts, capacity.
    for (s, amount) in [
        (mail, "60000"),
        (network, "85000"),
        (erp, "140000"),
        (services[3], "220000"),
        (services[4], "75000"),
    ] {
        record(
            db,
            m,
            "budgets",
            json!({"service_id": s, "period": this_year, "amount": amount, "owner_id": manager}),
        )
        .await?;
    }
    for (s, c, amount, cat, what) in [
        (Some(mail), None, "4000", "supplier", "Hosted mail, monthly"),
        (Some(erp), None, "7500", "supplier", "ERP platform, monthly"),
        (
            Some(network),
            None,
            "4000",
            "supplier",
            "WAN lines, monthly",
        ),
        (
            Some(erp),
            Some(customers[0]),
            "2200",
            "staff",
            "Northwind year-end close support",
        ),
        (
            None,
            None,
            "1800",
            "facilities",
            "Data room power and cooling",
        ),
    ] {
        record(db, m, "costs", json!({"incurred_on": org.day(-10), "description": what, "amount": amount, "category": cat,
            "kind": if s.is_some() { "direct" } else { "indirect" }, "service_id": s, "customer_id": c})).await?;
    }
    let month = org.today.strftime("%Y-%m").to_string();
    for (s, n) in [(mail, 12), (network, 10), (erp, 8)] {
        record(db, m, "demand-forecasts", json!({"service_id": s, "month": month, "measure": "incidents", "forecast": n, "notes": "Last year's month plus 10 %."})).await?;
    }
    let plan = record(db, m, "capacity-plans", json!({"title": "Mail storage", "service_id": mail, "resource": "storage", "unit": "%",
        "capacity": "20000", "forecast": "82", "horizon": org.day(180), "warning_at": "80", "critical_at": "95", "raise_incident": true,
        "review_date": org.day(60), "owner_id": manager})).await?;
    record(db, m, "capacity-plans", json!({"title": "VPN concurrent sessions", "service_id": network, "resource": "sessions", "unit": "sessions",
        "capacity": "500", "warning_at": "400", "critical_at": "475", "owner_id": manager})).await?;
    let now = crate::platform::db::now_ms();
    let samples: Vec<_> = [71.0, 74.5, 78.0, 81.2]
        .iter()
        .enumerate()
        .map(|(i, v)| crate::operation::supply::capacity::Sample {
            plan_id: plan,
            value: json!(v),
            at: Some(crate::platform::web::iso(now - (4 - i as i64) * 86_400_000)),
        })
        .collect();
    crate::operation::supply::capacity::record(
        db,
        &org.agent,
        crate::operation::supply::capacity::Samples {
            samples,
            source: Some("demo".into()),
        },
    )
    .await?;
    Ok(())
}
