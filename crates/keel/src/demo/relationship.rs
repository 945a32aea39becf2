//! Clause 8.3 — the demo's relationship and agreement: service levels (calendars and targets per
//! priority), customer accounts, contacts and reviews, a complaint, satisfaction surveys
//! (8.3.2), suppliers and their contracts (8.3.4), and an SLA, an OLA and an underpinning
//! contract (8.3.3). Seeded through the same use cases the API calls.

use super::{Org, amend, record};
use crate::kernel::{self, NewItem, Patch, Scope};
use crate::platform::audit::Actor;
use crate::platform::db::Db;
use crate::platform::error::AppResult;
use serde_json::json;

/// Two calendars and targets per priority, so every demo incident runs SLA clocks.
pub(super) async fn seed_service_levels(db: &Db, actor: &Actor) -> AppResult<()> {
    use crate::operation::relationship::service_level::{
        CalendarInput, TargetInput, Window, create_calendar, create_target,
    };
    let days = keel_core::operation::relationship::service_level::calendar::WEEKDAYS;
    let window = |d: &str, start: &str, end: &str| Window {
        weekday: d.into(),
        start: start.into(),
        end: end.into(),
    };
    let always = create_calendar(
        db,
        actor,
        &CalendarInput {
            name: "24x7".into(),
            time_zone: "UTC".into(),
            windows: days.iter().map(|d| window(d, "00:00", "24:00")).collect(),
            holidays: vec![],
        },
    )
    .await?;
    let office = create_calendar(
        db,
        actor,
        &CalendarInput {
            name: "London office hours".into(),
            time_zone: "Europe/London".into(),
            windows: days[..5]
                .iter()
                .map(|d| window(d, "08:00", "18:00"))
                .collect(),
            holidays: [
                "2026-12-25",
                "2026-12-28",
                "2027-01-01",
                "2027-03-26",
                "2027-03-29",
                "2027-05-03",
                "2027-05-31",
                "2027-08-30",
                "2027-12-27",
                "2027-12-28",
            ]
            .map(String::from)
            .to_vec(),
        },
    )
    .await?;
    // (priority, response minutes, resolution minutes, calendar)
    let plan = [
        (1, 15, 4 * 60, always.id),
        (2, 30, 8 * 60, office.id),
        (3, 4 * 60, 3 * 10 * 60, office.id),
        (4, 8 * 60, 5 * 10 * 60, office.id),
        (5, 2 * 10 * 60, 10 * 10 * 60, office.id),
    ];
    for (priority, response, resolution, calendar) in plan {
        for (metric, minutes) in [("response", response), ("resolution", resolution)] {
            create_target(
                db,
                actor,
                &TargetInput {
                    name: format!("P{priority} {metric}"),
                    kind: None,
                    metric: metric.into(),
                    service_id: None,
                    customer_id: None,
                    priority: Some(priority),
                    target_minutes: minutes,
                    warn_percent: None,
                    calendar_id: calendar,
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Accounts, contacts, reviews, a complaint and surveys (8.3.2); suppliers (8.3.4); agreements
/// (8.3.3) — in this order, as the records' ids show.
pub(super) async fn seed(db: &Db, org: &Org) -> AppResult<()> {
    let (manager, m) = (org.manager.user_id, &org.as_manager);
    let (customers, services) = (&org.customers, &org.services);
    let this_year = org.today.year().to_string();
    let (mail, network, erp) = (services[0], services[1], services[2]);
    // 8.3.2: accounts, contacts, reviews, a complaint.
    for (c, freq) in customers
        .iter()
        .zip(["quarterly", "monthly", "half_yearly"])
    {
        record(
            db,
            m,
            "customer-accounts",
            json!({"customer_id": c, "relationship_manager_id": manager, "review_frequency": freq}),
        )
        .await?;
    }
    record(db, m, "contacts", json!({"customer_id": customers[0], "name": "Nadia Northwind", "role": "executive", "email": "nadia@northwind.example", "user_id": org.users[7]})).await?;
    record(db, m, "contacts", json!({"customer_id": customers[1], "name": "Chen Contoso", "role": "primary", "email": "contoso@demo.keel", "user_id": org.users[9]})).await?;
    record(db, m, "service-reviews", json!({"customer_id": customers[0], "scheduled_on": org.day(-40), "status": "held", "held_on": org.day(-40),
        "attendees": "Nadia Northwind; Maya Manager", "minutes": "Incident volumes fell 12 %. Northwind asked for earlier notice of ERP changes.",
        "actions": "Send the forward schedule of change monthly.", "satisfaction": 4, "next_review": org.day(50), "owner_id": manager})).await?;
    record(
        db,
        m,
        "service-reviews",
        json!({"customer_id": customers[1], "scheduled_on": org.day(14), "owner_id": manager}),
    )
    .await?;
    let complaint = kernel::create(
        db,
        keel_core::operation::relationship::business::COMPLAINT,
        m,
        &org.agent,
        NewItem {
            title: "ERP outage announced too late".into(),
            description:
                "Contoso's finance team learnt of the ERP maintenance from the error page.".into(),
            customer_id: Some(customers[1]),
            service_id: Some(erp),
            details: json!({"channel": "email", "subject": "service_quality"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        },
    )
    .await?;
    kernel::update(
        db,
        keel_core::operation::relationship::business::COMPLAINT,
        &complaint.number,
        Scope::All,
        m,
        Patch {
            state: Some("investigating".into()),
            ..Default::default()
        },
        None,
    )
    .await?;
    // Satisfaction: answered surveys for some resolved incidents.
    crate::operation::relationship::business::send_due(db).await?;
    let sent: Vec<(i64,)> = db
        .all(crate::platform::db::Q::new(
            "SELECT id FROM surveys ORDER BY id LIMIT 6",
        ))
        .await?;
    for (i, (id,)) in sent.iter().enumerate() {
        let score = [5, 4, 4, 3, 5, 2][i % 6];
        let input = json!({"status": "answered", "score": score, "answered_on": org.today.to_string(),
            "comment": if i == 5 { "Took three days." } else { "" }});
        amend(db, &org.actor, "surveys", *id, input).await?;
    }
    // 8.3.4: suppliers, contracts, a review, a dispute.
    let telco = record(
        db,
        m,
        "suppliers",
        json!({"name": "Northern Telco", "services": [network], "contact_name": "Sven Lind",
        "email": "noc@northern-telco.example", "owner_id": manager}),
    )
    .await?;
    let cloud = record(
        db,
        m,
        "suppliers",
        json!({"name": "Stratus Cloud", "services": [mail, erp], "owner_id": manager}),
    )
    .await?;
    let lines = record(db, m, "contracts", json!({"supplier_id": telco, "reference": "NT-2024-07", "title": "WAN and internet lines",
        "services": [network], "scope": "Two 1 Gbit/s lines per site, managed routers.", "targets": "99.95 % per line per month; fault response 4 h.",
        "value": "48000", "starts_on": "2024-07-01", "ends_on": org.day(60), "notice_days": 90, "owner_id": manager})).await?;
    record(db, m, "contracts", json!({"supplier_id": cloud, "reference": "SC-365", "title": "Hosted mail and ERP platform",
        "services": [mail, erp], "value": "96000", "starts_on": "2025-01-01", "ends_on": org.day(420), "owner_id": manager})).await?;
    record(db, m, "supplier-reviews", json!({"supplier_id": telco, "contract_id": lines, "held_on": org.day(-30), "rating": 3, "targets_met": false,
        "findings": "Two line outages over target in the quarter.", "actions": "Service credits claimed; escalation path agreed."})).await?;
    record(db, m, "disputes", json!({"supplier_id": telco, "contract_id": lines, "subject": "Service credits for the March outage",
        "raised_on": org.day(-25), "description": "Telco disputes that the outage exceeded the target."})).await?;
    // 8.3.3: an SLA and an OLA.
    let sla = record(db, m, "agreements", json!({"kind": "sla", "reference": "SLA-NW-2026", "title": "Northwind: e-mail and ERP",
        "customer_id": customers[0], "services": [mail, erp], "status": "active", "valid_from": format!("{this_year}-01-01"),
        "review_date": org.day(45), "availability_target": "99.5", "other_targets": "Service review every quarter.", "owner_id": manager})).await?;
    record(db, m, "agreements", json!({"kind": "ola", "reference": "OLA-NET-1", "title": "Network operations to the service desk",
        "group_id": org.groups[1], "services": [network], "status": "active", "valid_from": format!("{this_year}-01-01"), "review_date": org.day(120)})).await?;
    record(db, m, "agreements", json!({"kind": "underpinning_contract", "reference": "UC-NT-1", "title": "Northern Telco lines",
        "supplier_id": telco, "services": [network], "status": "active", "valid_from": "2024-07-01", "availability_target": "99.95"})).await?;
    let last_month = org
        .today
        .first_of_month()
        .checked_sub(jiff::Span::new().months(1))
        .map(|d| d.strftime("%Y-%m").to_string())
        .unwrap_or_default();
    record(db, m, "breach-explanations", json!({"agreement_id": sla, "month": last_month, "target": "Resolution of priority 2 incidents",
        "explanation": "Two ERP incidents waited on the supplier for a patch.", "actions": "Supplier escalation path agreed."})).await?;
    Ok(())
}
