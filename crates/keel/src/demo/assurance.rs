//! Clause 8.7 — the demo's service assurance: availability targets and outages (8.7.1),
//! continuity requirements, plans and a test (8.7.2), and security controls (8.7.3). Seeded
//! through the same use cases the API calls.

use super::{Org, amend, record};
use crate::platform::db::Db;
use crate::platform::error::AppResult;
use serde_json::json;

/// Availability, continuity and security, as the manager; the SMS manager approves the ERP plan.
pub(super) async fn seed(db: &Db, org: &Org) -> AppResult<()> {
    let (manager, m) = (org.manager.user_id, &org.as_manager);
    let this_year = org.today.year().to_string();
    let (mail, network, erp) = (org.services[0], org.services[1], org.services[2]);
    // 8.7: availability, continuity, security.
    for (s, t) in [(mail, "99.5"), (network, "99.9"), (erp, "99.5")] {
        record(
            db,
            m,
            "availability-targets",
            json!({"service_id": s, "target": t, "valid_from": format!("{this_year}-01-01")}),
        )
        .await?;
    }
    let at = |d: i64, h: i64| {
        crate::platform::web::iso(
            crate::platform::db::day_start_ms(org.today) + d * 86_400_000 + h * 3_600_000,
        )
    };
    record(db, m, "outages", json!({"service_id": erp, "description": "Quarterly ERP patching", "started_at": at(-12, 1), "ended_at": at(-12, 4), "scheduled": true})).await?;
    record(db, m, "outages", json!({"service_id": network, "description": "WAN line cut by roadworks", "started_at": at(-8, 9), "ended_at": at(-8, 11), "cause": "Supplier line damaged; failover did not trigger."})).await?;
    for (s, rto, rpo) in [(mail, 240, 60), (erp, 480, 15), (network, 120, 0)] {
        record(db, m, "continuity-requirements", json!({"service_id": s, "rto_minutes": rto, "rpo_minutes": rpo, "source": "Business impact analysis", "review_date": org.day(200)})).await?;
    }
    let erp_plan = record(db, m, "continuity-plans", json!({"service_id": erp, "title": "ERP recovery at the secondary site", "owner_id": manager,
        "content": "1. Declare. 2. Restore the database from the 15-minute log shipping. 3. Switch DNS. 4. Verify the invoice run.", "next_test_due": org.day(150)})).await?;
    amend(
        db,
        &org.as_sms,
        "continuity-plans",
        erp_plan,
        json!({"status": "approved"}),
    )
    .await?;
    record(db, m, "continuity-plans", json!({"service_id": mail, "title": "Mail continuity with the provider", "owner_id": manager})).await?;
    record(db, m, "continuity-tests", json!({"plan_id": erp_plan, "tested_on": org.day(-60), "kind": "simulation", "scenario": "Primary data centre unavailable",
        "result": "passed_with_issues", "rto_achieved_minutes": 410, "findings": "DNS change took 50 minutes.", "actions": "Lower the DNS TTL to 5 minutes."})).await?;
    for (reference, name, status, applicable) in [
        (
            "A.5.1",
            "Policies for information security",
            "effective",
            true,
        ),
        ("A.8.13", "Information backup", "implemented", true),
        ("A.8.20", "Networks security", "implemented", true),
        (
            "A.7.5",
            "Protecting against physical threats",
            "not_applicable",
            false,
        ),
    ] {
        record(db, m, "security-controls", json!({"reference": reference, "name": name, "status": status, "applicable": applicable,
            "justification": if applicable { "Required by the risk assessment." } else { "Hosting is outsourced; the supplier's controls apply." },
            "owner_id": manager, "review_date": org.day(90)})).await?;
    }
    Ok(())
}
