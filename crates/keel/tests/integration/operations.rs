//! The remaining operational processes of clause 8: relationship and agreement (8.3), supply and
//! demand (8.4) and service assurance (8.7), driven through the HTTP API on both databases.

use crate::common::App;
use crate::db_test;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

async fn ok(app: &App, who: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = app.call(who, method, path, body).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

async fn refused(app: &App, who: &str, path: &str, body: Value, field: &str) {
    let r = app.post(who, path, body).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{path}: {}",
        r.body
    );
    assert_eq!(r.body["field"], field, "{}", r.body);
}

/// One evidence check's outcome in today's readiness.
async fn evidence(app: &App, req: &str, id: &str) -> Value {
    let r = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    crate::compliance::check(&r, req, id).clone()
}

async fn service(app: &App, name: &str, customers: &[i64]) -> i64 {
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": name, "customer_ids": customers})),
    )
    .await["id"]
        .as_i64()
        .expect("service id")
}

db_test!(suppliers_and_contracts_as_registers, |app| {
    let net = service(app, "Network", &[]).await;
    let s = ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/suppliers",
        Some(json!({"name": "Fibre Co", "services": [net], "owner_id": app.users["manager"]})),
    )
    .await;
    let sid = s["id"].as_i64().expect("id");
    assert_eq!(s["kind"], "external", "default applied");
    assert_eq!(s["services"], json!([net]));
    assert_eq!(s["services_label"], json!(["Network"]));
    assert_eq!(s["owner_id_label"], "manager");

    // Bad input names the field and stores nothing.
    let good = json!({"supplier_id": sid, "reference": "C-1", "title": "Leased lines",
        "starts_on": "2026-01-01", "ends_on": "2026-12-31", "value": "12000.50", "services": [net]});
    let mut bad = good.clone();
    bad["ends_on"] = json!("2025-12-31");
    refused(app, "manager", "/api/v1/contracts", bad, "ends_on").await;
    let mut bad = good.clone();
    bad["supplier_id"] = json!(999_999);
    refused(app, "manager", "/api/v1/contracts", bad, "supplier_id").await;
    let mut bad = good.clone();
    bad["colour"] = json!("blue");
    refused(app, "manager", "/api/v1/contracts", bad, "colour").await;
    let mut bad = good.clone();
    bad["value"] = json!("12.3456");
    refused(app, "manager", "/api/v1/contracts", bad, "value").await;
    refused(
        app,
        "manager",
        "/api/v1/contracts",
        json!({"supplier_id": sid, "title": "x", "starts_on": "2026-01-01"}),
        "reference",
    )
    .await;
    let list = ok(app, "auditor", Method::GET, "/api/v1/contracts", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));

    // Agents read; only managers write; requesters see nothing of it; auditors only read.
    assert_eq!(
        app.post("agent", "/api/v1/contracts", good.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("requester", "/api/v1/suppliers").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("auditor", "/api/v1/suppliers", json!({"name": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let created = app.post("manager", "/api/v1/contracts", good).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let cid = created.body["id"].as_i64().expect("id");
    assert_eq!(created.body["value"], json!(12000.5));
    assert_eq!(created.headers["etag"], "\"v1\"");
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/contracts/{cid}").as_str()
    );
    assert_eq!(created.body["notice_days"], 90);

    // Conditional update: a stale version is refused; the change is audited field by field.
    let stale = app
        .call_with(
            "manager",
            Method::PATCH,
            &format!("/api/v1/contracts/{cid}"),
            Some(json!({"status": "terminated"})),
            &[("if-match", "\"v7\"")],
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    let changed = ok(
        app,
        "manager",
        Method::PATCH,
        &format!("/api/v1/contracts/{cid}"),
        Some(json!({"notice_days": 30, "ends_on": null})),
    )
    .await;
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["ends_on"], Value::Null);
    let audit = ok(
        app,
        "auditor",
        Method::GET,
        &format!("/api/v1/audit?entity_type=contract&entity_id={cid}"),
        None,
    )
    .await;
    let entries = audit["items"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(audit.to_string().contains("notice_days"));

    // Filters and CSV.
    let by_supplier = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/contracts?supplier_id={sid}"),
        None,
    )
    .await;
    assert_eq!(by_supplier["items"].as_array().map(Vec::len), Some(1));
    let by_service = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/suppliers?services={net}"),
        None,
    )
    .await;
    assert_eq!(by_service["items"][0]["name"], "Fibre Co");
    let r = app.get("agent", "/api/v1/contracts?status=nonsense").await;
    assert_eq!(r.body["field"], "status");
    let csv = app.get("auditor", "/api/v1/contracts?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = String::from_utf8(csv.raw).expect("utf8");
    assert!(
        text.starts_with("id,supplier_id,supplier_id_label,reference"),
        "{text}"
    );
    assert!(text.contains("Leased lines"));

    // The register is evidence for 8.3.4: managed, under contract, but not yet reviewed.
    let e = evidence(app, "8.3.4.1", "suppliers-managed").await;
    assert_eq!(e["status"], "fail", "{e}");
    assert_eq!(e["failures"][0]["reasons"], json!(["no last review"]));

    // Reviews and disputes feed the supplier's performance.
    ok(app, "manager", Method::POST, "/api/v1/supplier-reviews",
        Some(json!({"supplier_id": sid, "contract_id": cid, "held_on": "2026-03-01", "rating": 4, "targets_met": true}))).await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/supplier-reviews",
        Some(
            json!({"supplier_id": sid, "held_on": "2026-06-01", "rating": 2, "targets_met": false}),
        ),
    )
    .await;
    refused(app, "manager", "/api/v1/disputes",
        json!({"supplier_id": sid, "subject": "Credits", "raised_on": "2026-06-02", "status": "resolved"}), "resolution").await;
    let d = ok(app, "manager", Method::POST, "/api/v1/disputes",
        Some(json!({"supplier_id": sid, "contract_id": cid, "subject": "Credits", "raised_on": "2026-06-02"}))).await;
    let perf = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/suppliers/{sid}/performance?period=2026"),
        None,
    )
    .await;
    assert_eq!(perf["reviews"], 2);
    assert_eq!(perf["mean_rating"], json!(3.0));
    assert_eq!(perf["targets_met_percent"], json!(50.0));
    assert_eq!(perf["open_disputes"], 1);
    assert_eq!(perf["active_contracts"], 1);
    let resolved = ok(
        app,
        "manager",
        Method::PATCH,
        &format!("/api/v1/disputes/{}", d["id"]),
        Some(json!({"status": "resolved", "resolution": "Credits paid"})),
    )
    .await;
    assert!(resolved["resolved_on"].is_string(), "stamped: {resolved}");

    assert_eq!(
        evidence(app, "8.3.4.1", "suppliers-managed").await["status"],
        "pass"
    );
});

db_test!(contract_renewal_warnings, |app| {
    let sid = ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/suppliers",
        Some(json!({"name": "Soft Inc"})),
    )
    .await["id"]
        .clone();
    let soon = (keel::platform::extract::today() + jiff::Span::new().days(20)).to_string();
    let later = (keel::platform::extract::today() + jiff::Span::new().days(400)).to_string();
    for (reference, ends) in [("R-1", &soon), ("R-2", &later)] {
        ok(app, "manager", Method::POST, "/api/v1/contracts", Some(json!({"supplier_id": sid, "reference": reference,
            "title": "Licences", "starts_on": "2025-01-01", "ends_on": ends, "owner_id": app.users["manager"]}))).await;
    }
    assert_eq!(
        keel::operation::relationship::supplier::warn_renewals(&app.db)
            .await
            .expect("job"),
        1
    );
    assert_eq!(
        keel::operation::relationship::supplier::warn_renewals(&app.db)
            .await
            .expect("job"),
        0,
        "once a week"
    );
    let n = ok(app, "manager", Method::GET, "/api/v1/notifications", None).await;
    assert!(n.to_string().contains("R-1"), "{n}");
});

db_test!(agreements_availability_and_attainment, |app| {
    let alpha = app.customers[0];
    let mail = service(app, "Mail", &[alpha]).await;
    refused(
        app,
        "manager",
        "/api/v1/agreements",
        json!({"kind": "sla", "reference": "SLA-1", "title": "Mail", "valid_from": "2026-01-01"}),
        "customer_id",
    )
    .await;
    refused(app, "manager", "/api/v1/agreements",
        json!({"kind": "sla", "reference": "SLA-1", "title": "Mail", "valid_from": "2026-01-01", "customer_id": alpha, "status": "active"}), "services").await;
    let a = ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/agreements",
        Some(json!({"kind": "sla", "reference": "SLA-1",
        "title": "Mail for Alpha", "customer_id": alpha, "services": [mail], "status": "active",
        "valid_from": "2026-01-01", "availability_target": 99.9})),
    )
    .await;
    let aid = a["id"].as_i64().expect("id");
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/availability-targets",
        Some(json!({"service_id": mail, "target": "99.5", "valid_from": "2026-01-01"})),
    )
    .await;
    // October 2026: 31 days; 4 h agreed maintenance; 3 h unplanned, one hour of it inside the
    // maintenance window (so 2 h count).
    ok(app, "manager", Method::POST, "/api/v1/outages", Some(json!({"service_id": mail, "description": "Patching",
        "started_at": "2026-10-10T00:00:00Z", "ended_at": "2026-10-10T04:00:00Z", "scheduled": true}))).await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/outages",
        Some(json!({"service_id": mail, "description": "Storage failure",
        "started_at": "2026-10-10T03:00:00Z", "ended_at": "2026-10-10T06:00:00Z"})),
    )
    .await;
    refused(
        app,
        "manager",
        "/api/v1/outages",
        json!({"service_id": mail, "description": "x",
        "started_at": "2026-10-10T03:00:00Z", "ended_at": "2026-10-09T06:00:00Z"}),
        "ended_at",
    )
    .await;
    let av = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/availability?period=2026-10&service_id={mail}"),
        None,
    )
    .await;
    let m = &av["services"][0];
    assert_eq!(m["downtime_minutes"], 120);
    assert_eq!(m["maintenance_minutes"], 240);
    assert_eq!(m["target"], json!(99.5));
    // (744 h − 4 h − 2 h) ÷ (744 h − 4 h) = 99.729 %.
    assert_eq!(m["measured"], json!(99.729));
    assert_eq!(m["met"], true);

    let att = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/agreements/{aid}/attainment?month=2026-10"),
        None,
    )
    .await;
    assert_eq!(att["availability_target"], json!(99.9));
    assert_eq!(
        att["met"], false,
        "99.729 % is below the agreement's 99.9 %: {att}"
    );
    ok(app, "manager", Method::POST, "/api/v1/breach-explanations", Some(json!({"agreement_id": aid, "month": "2026-10",
        "target": "Availability 99.9 %", "explanation": "Storage controller failed during patching."}))).await;
    let att = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/agreements/{aid}/attainment?month=2026-10"),
        None,
    )
    .await;
    assert_eq!(
        att["explanations"][0]["explanation"],
        "Storage controller failed during patching."
    );
    assert_eq!(
        app.get(
            "agent",
            &format!("/api/v1/agreements/{aid}/attainment?month=2026-13")
        )
        .await
        .body["field"],
        "month"
    );

    // An outage recorded from an incident takes its service and times.
    let inc = app
        .incident("agent", json!({"title": "Mail down", "service_id": mail}))
        .await;
    let o = ok(
        app,
        "manager",
        Method::POST,
        &format!("/api/v1/incidents/{inc}/outage"),
        Some(json!({})),
    )
    .await;
    assert_eq!(o["incident"], inc);
    assert_eq!(o["service_id"], mail);
    assert_eq!(o["ended_at"], Value::Null, "still open");
    assert_eq!(
        app.post(
            "agent",
            &format!("/api/v1/incidents/{inc}/outage"),
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    // Declaring a major incident for a service outage opens an outage; resolving it ends it.
    let major = app
        .incident(
            "agent",
            json!({"title": "Mail cluster down", "service_id": mail}),
        )
        .await;
    ok(
        app,
        "manager",
        Method::POST,
        &format!("/api/v1/incidents/{major}/major"),
        Some(json!({"criterion": "service_outage", "manager_id": app.users["manager"]})),
    )
    .await;
    let open = ok(
        app,
        "agent",
        Method::GET,
        "/api/v1/outages?scheduled=false",
        None,
    )
    .await;
    let o = open["items"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["incident"] == major))
        .cloned()
        .expect("outage opened");
    assert_eq!(o["ended_at"], Value::Null);
    ok(app, "agent", Method::PATCH, &format!("/api/v1/incidents/{major}"),
        Some(json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Node replaced"}))).await;
    let ended = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/outages/{}", o["id"]),
        None,
    )
    .await;
    assert!(ended["ended_at"].is_string(), "{ended}");
    assert_eq!(ended["version"], 2);
});

db_test!(satisfaction_surveys_after_resolution, |app| {
    let mail = service(app, "Mail", &[app.customers[0]]).await;
    let inc = app
        .incident(
            "requester",
            json!({"title": "Cannot send", "service_id": mail}),
        )
        .await;
    ok(app, "agent", Method::PATCH, &format!("/api/v1/incidents/{inc}"),
        Some(json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Quota raised"}))).await;
    assert_eq!(
        keel::operation::relationship::business::send_due(&app.db)
            .await
            .expect("job"),
        1
    );
    assert_eq!(
        keel::operation::relationship::business::send_due(&app.db)
            .await
            .expect("job"),
        0,
        "one survey per item"
    );
    let mine = ok(app, "requester", Method::GET, "/api/v1/surveys/mine", None).await;
    let sid = mine[0]["id"].as_i64().expect("survey");
    assert_eq!(mine[0]["item"], inc);
    assert_eq!(
        app.get("requester", "/api/v1/surveys").await.status,
        StatusCode::FORBIDDEN,
        "the register is staff's"
    );
    let other = app
        .post(
            "requester2",
            &format!("/api/v1/surveys/{sid}/answer"),
            json!({"score": 1}),
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let bad = app
        .post(
            "requester",
            &format!("/api/v1/surveys/{sid}/answer"),
            json!({"score": 9}),
        )
        .await;
    assert_eq!(bad.body["field"], "score");
    let a = ok(
        app,
        "requester",
        Method::POST,
        &format!("/api/v1/surveys/{sid}/answer"),
        Some(json!({"score": 4, "comment": "Quick"})),
    )
    .await;
    assert_eq!(a["status"], "answered");
    let again = app
        .post(
            "requester",
            &format!("/api/v1/surveys/{sid}/answer"),
            json!({"score": 5}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let scores = ok(
        app,
        "manager",
        Method::GET,
        "/api/v1/surveys/scores?by=service",
        None,
    )
    .await;
    let s = scores
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] == mail))
        .expect("mail's score");
    assert_eq!(s["mean"], json!(4.0));
    assert_eq!(s["answered"], 1);
    let scores = ok(
        app,
        "manager",
        Method::GET,
        "/api/v1/surveys/scores?by=customer",
        None,
    )
    .await;
    assert_eq!(scores[0]["name"], "Alpha Corp");
    assert_eq!(
        app.get("manager", "/api/v1/surveys/scores?by=colour")
            .await
            .body["field"],
        "by"
    );

    // Periodic surveys go to each contact with an account, at the customer's review frequency.
    let beta = app.customers[1];
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/customer-accounts",
        Some(json!({"customer_id": beta,
        "relationship_manager_id": app.users["manager"], "review_frequency": "monthly"})),
    )
    .await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/contacts",
        Some(json!({"customer_id": beta, "name": "Bea",
        "user_id": app.users["requester2"]})),
    )
    .await;
    assert_eq!(
        keel::operation::relationship::business::send_due(&app.db)
            .await
            .expect("job"),
        1
    );
    assert_eq!(
        keel::operation::relationship::business::send_due(&app.db)
            .await
            .expect("job"),
        0,
        "not again this month"
    );
    let periodic = ok(app, "requester2", Method::GET, "/api/v1/surveys/mine", None).await;
    assert_eq!(periodic[0]["kind"], "periodic");
    assert_eq!(periodic[0]["customer_id"], beta);
});

db_test!(complaints_and_service_reviews, |app| {
    let alpha = app.customers[0];
    let c = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/complaints",
        Some(json!({"title": "Nobody called back",
        "customer_id": alpha, "details": {"channel": "phone", "subject": "response_time"}})),
    )
    .await;
    let n = c["number"].as_str().expect("number").to_string();
    assert!(n.starts_with("CMP-"));
    assert_eq!(c["state"], "recorded");
    assert_eq!(
        app.get("requester", "/api/v1/complaints").await.status,
        StatusCode::FORBIDDEN
    );
    let path = format!("/api/v1/complaints/{n}");
    ok(
        app,
        "agent",
        Method::PATCH,
        &path,
        Some(json!({"state": "investigating"})),
    )
    .await;
    let r = app
        .patch("agent", &path, json!({"state": "resolved"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "details.findings");
    ok(app, "agent", Method::PATCH, &path, Some(json!({"state": "resolved",
        "details": {"findings": "Callback queue unowned", "response": "Apologised; queue now owned by the desk"}}))).await;
    let r = app.patch("agent", &path, json!({"state": "closed"})).await;
    assert_eq!(r.body["field"], "details.customer_informed_on");
    ok(
        app,
        "agent",
        Method::PATCH,
        &path,
        Some(json!({"state": "closed", "details": {"customer_informed_on": "2026-11-20"}})),
    )
    .await;

    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/customer-accounts",
        Some(json!({"customer_id": alpha, "relationship_manager_id": app.users["manager"]})),
    )
    .await;
    let dup = app
        .post(
            "manager",
            "/api/v1/customer-accounts",
            json!({"customer_id": alpha, "relationship_manager_id": app.users["manager"]}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.body);
    refused(
        app,
        "manager",
        "/api/v1/contacts",
        json!({"customer_id": alpha, "name": "Ann", "email": "not-mail"}),
        "email",
    )
    .await;
    ok(app, "manager", Method::POST, "/api/v1/contacts", Some(json!({"customer_id": alpha, "name": "Ann", "email": "ann@alpha.example", "role": "executive"}))).await;
    let review = ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/service-reviews",
        Some(json!({"customer_id": alpha, "scheduled_on": "2026-11-01"})),
    )
    .await;
    let rp = format!("/api/v1/service-reviews/{}", review["id"]);
    assert_eq!(
        app.patch("manager", &rp, json!({"status": "held"}))
            .await
            .body["field"],
        "minutes"
    );
    let held = ok(
        app,
        "manager",
        Method::PATCH,
        &rp,
        Some(json!({"status": "held", "minutes": "Reviewed October.", "satisfaction": 4})),
    )
    .await;
    assert!(held["held_on"].is_string(), "{held}");
});

db_test!(budgets_costs_and_their_report, |app| {
    let (alpha, beta) = (app.customers[0], app.customers[1]);
    let mail = service(app, "Mail", &[alpha, beta]).await;
    let erp = service(app, "ERP", &[alpha]).await;
    refused(
        app,
        "manager",
        "/api/v1/budgets",
        json!({"service_id": mail, "period": "2026-Q5", "amount": 10}),
        "period",
    )
    .await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/budgets",
        Some(json!({"service_id": mail, "period": "2026", "amount": 1000})),
    )
    .await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/budgets",
        Some(json!({"service_id": erp, "period": "2026-Q1", "amount": "500.5"})),
    )
    .await;
    refused(
        app,
        "manager",
        "/api/v1/costs",
        json!({"incurred_on": "2026-02-01", "description": "x", "amount": 1}),
        "service_id",
    )
    .await;
    for (service, customer, amount, kind) in [
        (Some(mail), None, "300.01", "direct"),
        (Some(erp), Some(alpha), "600", "direct"),
        (None, None, "50", "indirect"),
    ] {
        ok(app, "manager", Method::POST, "/api/v1/costs", Some(json!({"incurred_on": "2026-02-01",
            "description": "Run", "amount": amount, "service_id": service, "customer_id": customer, "kind": kind}))).await;
    }
    assert_eq!(
        app.get("agent", "/api/v1/budgets").await.status,
        StatusCode::FORBIDDEN,
        "finance is not the desk's"
    );
    let r = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/budgets/report?period=2026",
        None,
    )
    .await;
    let svc = |id: i64| {
        r["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["service_id"] == id))
            .cloned()
            .expect("row")
    };
    assert_eq!(svc(mail)["budget"], json!(1000.0));
    assert_eq!(svc(mail)["actual"], json!(300.01));
    assert_eq!(svc(erp)["variance"], json!(-99.5), "an overspend");
    assert_eq!(r["unallocated"], json!(50.0));
    let cust = |id: i64| {
        r["customers"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["customer_id"] == id))
            .cloned()
            .expect("row")
    };
    // Mail's 300.01 shared by two customers to the thousandth; ERP's cost was Alpha's own.
    assert_eq!(cust(alpha)["allocated"], json!(150.005));
    assert_eq!(cust(beta)["allocated"], json!(150.005));
    assert_eq!(cust(alpha)["direct"], json!(600.0));
    let csv = app
        .get("manager", "/api/v1/budgets/report?period=2026&format=csv")
        .await;
    let text = String::from_utf8(csv.raw).expect("utf8");
    assert!(
        text.contains("service,") && text.contains("customer,"),
        "{text}"
    );
    let q1 = ok(
        app,
        "manager",
        Method::GET,
        "/api/v1/budgets/report?period=2026-Q1",
        None,
    )
    .await;
    assert_eq!(
        q1["total_budget"],
        json!(500.5),
        "a yearly budget is not inside one quarter"
    );
});

db_test!(demand_and_capacity, |app| {
    let mail = service(app, "Mail", &[]).await;
    let month = keel::platform::extract::this_month();
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/demand-forecasts",
        Some(json!({"service_id": mail, "month": month, "measure": "incidents", "forecast": 5})),
    )
    .await;
    for t in ["a", "b"] {
        app.incident("agent", json!({"title": t, "service_id": mail}))
            .await;
    }
    let d = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/demand?period={month}&service_id={mail}"),
        None,
    )
    .await;
    let row = d["rows"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["measure"] == "incidents"))
        .expect("row");
    assert_eq!(
        d["rows"].as_array().map(Vec::len),
        Some(2),
        "incidents and users: {d}"
    );
    assert_eq!(row["forecast"], 5);
    assert_eq!(row["actual"], 2);
    assert_eq!(row["gap"], -3);

    refused(
        app,
        "manager",
        "/api/v1/capacity-plans",
        json!({"title": "Disk", "resource": "storage",
        "warning_at": 80, "critical_at": 95}),
        "service_id",
    )
    .await;
    refused(
        app,
        "manager",
        "/api/v1/capacity-plans",
        json!({"title": "Disk", "resource": "storage", "service_id": mail,
        "warning_at": 96, "critical_at": 95}),
        "warning_at",
    )
    .await;
    let plan = ok(app, "manager", Method::POST, "/api/v1/capacity-plans", Some(json!({"title": "Mail store", "resource": "storage",
        "service_id": mail, "warning_at": 80, "critical_at": 95, "raise_incident": true, "owner_id": app.users["manager"]}))).await;
    let pid = plan["id"].as_i64().expect("plan");
    let bad = app
        .post(
            "agent",
            "/api/v1/metrics",
            json!({"samples": [{"plan_id": pid, "value": "lots"}]}),
        )
        .await;
    assert_eq!(bad.body["field"], "samples[0].value");
    assert_eq!(
        app.post(
            "auditor",
            "/api/v1/metrics",
            json!({"samples": [{"plan_id": pid, "value": 1}]})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let push = |v: f64, at: &str| json!({"source": "test", "samples": [{"plan_id": pid, "value": v, "at": at}]});
    let r = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/metrics",
        Some(push(50.0, "2026-11-01T00:00:00Z")),
    )
    .await;
    assert_eq!(r["events"], json!([]));
    let r = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/metrics",
        Some(push(85.5, "2026-11-01T01:00:00Z")),
    )
    .await;
    assert_eq!(r["events"][0]["level"], "warning");
    assert_eq!(r["events"][0]["incident"], Value::Null);
    let r = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/metrics",
        Some(push(97.0, "2026-11-01T02:00:00Z")),
    )
    .await;
    assert_eq!(r["events"][0]["level"], "critical");
    let incident = r["events"][0]["incident"]
        .as_str()
        .expect("incident raised")
        .to_string();
    let r = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/metrics",
        Some(push(98.0, "2026-11-01T03:00:00Z")),
    )
    .await;
    assert_eq!(r["events"], json!([]), "still critical: no second event");
    let inc = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/incidents/{incident}"),
        None,
    )
    .await;
    assert_eq!(inc["service"]["id"], mail);
    let status = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/capacity-status?service_id={mail}"),
        None,
    )
    .await;
    assert_eq!(status[0]["level"], "critical");
    assert_eq!(status[0]["value"], json!(98.0));
    let events = ok(app, "agent", Method::GET, "/api/v1/capacity-events", None).await;
    assert_eq!(events.as_array().map(Vec::len), Some(2));
    let samples = ok(
        app,
        "agent",
        Method::GET,
        &format!("/api/v1/metrics?plan_id={pid}&from=2026-11-01"),
        None,
    )
    .await;
    assert_eq!(samples.as_array().map(Vec::len), Some(4));
    let n = ok(app, "manager", Method::GET, "/api/v1/notifications", None).await;
    assert!(n.to_string().contains("Capacity critical"), "{n}");
});

db_test!(continuity_plans_tests_and_security, |app| {
    let mail = service(app, "Mail", &[]).await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/continuity-requirements",
        Some(json!({"service_id": mail, "rto_minutes": 240, "rpo_minutes": 15})),
    )
    .await;
    let plan = ok(app, "manager", Method::POST, "/api/v1/continuity-plans", Some(json!({"service_id": mail,
        "title": "Mail recovery", "owner_id": app.users["manager"], "content": "Fail over to site B."}))).await;
    let path = format!("/api/v1/continuity-plans/{}", plan["id"]);
    let own = app
        .patch("manager", &path, json!({"status": "approved"}))
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", own.body);
    assert_eq!(own.body["field"], "approved_by");
    let approved = ok(
        app,
        "sms-manager",
        Method::PATCH,
        &path,
        Some(json!({"status": "approved"})),
    )
    .await;
    assert_eq!(approved["approved_by"], app.users["sms-manager"]);
    assert!(approved["approved_on"].is_string());
    let edit = app
        .patch("manager", &path, json!({"content": "Fail over to site C."}))
        .await;
    assert_eq!(
        edit.body["field"], "status",
        "a changed plan is approved again"
    );
    ok(
        app,
        "manager",
        Method::PATCH,
        &path,
        Some(json!({"content": "Fail over to site C.", "status": "draft", "plan_version": "1.1"})),
    )
    .await;
    refused(
        app,
        "manager",
        "/api/v1/continuity-tests",
        json!({"plan_id": plan["id"], "tested_on": "2026-09-01",
        "scenario": "Site A lost", "result": "failed"}),
        "actions",
    )
    .await;
    ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/continuity-tests",
        Some(json!({"plan_id": plan["id"], "tested_on": "2026-09-01",
        "scenario": "Site A lost", "result": "passed", "rto_achieved_minutes": 190})),
    )
    .await;
    ok(app, "manager", Method::POST, "/api/v1/continuity-invocations", Some(json!({"plan_id": plan["id"],
        "invoked_at": "2026-10-03T08:00:00Z", "ended_at": "2026-10-03T11:00:00Z", "reason": "Flood at site A"}))).await;

    refused(
        app,
        "manager",
        "/api/v1/security-controls",
        json!({"reference": "A.5.1", "name": "Policies", "applicable": false}),
        "justification",
    )
    .await;
    let chg = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/changes",
        Some(json!({"title": "Firewall rules", "details": {"change_type": "normal"}})),
    )
    .await["number"]
        .as_str()
        .expect("change")
        .to_string();
    let ctl = ok(app, "manager", Method::POST, "/api/v1/security-controls", Some(json!({"reference": "A.8.20",
        "name": "Network security", "status": "implemented", "owner_id": app.users["manager"], "changes": [chg]}))).await;
    assert_eq!(ctl["changes"], json!([chg]));
    assert_eq!(ctl["changes_label"], json!(["Firewall rules"]));
    refused(
        app,
        "manager",
        "/api/v1/security-controls",
        json!({"reference": "A.8.21", "name": "x", "changes": ["INC-000001"]}),
        "changes",
    )
    .await;

    // A security incident is classified before it is resolved.
    let inc = app
        .incident(
            "agent",
            json!({"title": "Phishing mail clicked", "category": "security"}),
        )
        .await;
    let path = format!("/api/v1/incidents/{inc}");
    let r = app.patch("agent", &path, json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Password reset"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "details.security_type");
    ok(app, "agent", Method::PATCH, &path, Some(json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Password reset",
        "details": {"security_type": "phishing", "security_property": "confidentiality", "personal_data": "no"}}))).await;
    let year = keel::platform::extract::today().year();
    let rep = ok(
        app,
        "auditor",
        Method::GET,
        &format!("/api/v1/security-incidents?period={year}"),
        None,
    )
    .await;
    assert_eq!(rep["total"], 1);
    assert_eq!(rep["by_type"]["phishing"], 1);
    assert_eq!(rep["by_property"]["confidentiality"], 1);

    // Evidence: the approved, tested plan passes 8.7.2 only once approved again after the edit.
    let e = evidence(app, "8.7.2", "continuity-plans-tested").await;
    assert_eq!(e["status"], "fail", "{e}");
    assert_eq!(
        e["failures"][0]["reasons"][0],
        "status is draft, expected approved"
    );
    let e = evidence(app, "8.7.3.2", "security-controls-owned").await;
    assert_eq!(
        e["status"], "fail",
        "A.8.20 has no justification or review date: {e}"
    );
    assert_eq!(
        evidence(app, "8.7.2", "continuity-requirements").await["status"],
        "pass"
    );
});

db_test!(every_register_table_matches_its_declaration, |app| {
    use keel::platform::db::{DynRow, Q};
    for r in keel::kernel::process::registers() {
        let cols: Vec<&str> = r
            .fields
            .iter()
            .filter(|f| f.is_column())
            .map(|f| f.name)
            .collect();
        let sql = format!(
            "SELECT id, version, created_at, updated_at, created_by, {} FROM {} LIMIT 1",
            cols.join(", "),
            r.table
        );
        let rows: Result<Vec<DynRow>, _> = app.db.all(Q::new(sql)).await;
        assert!(rows.is_ok(), "{}: {:?}", r.name, rows.err());
    }
});
