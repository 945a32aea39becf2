//! Service design, build and transition (8.5): changes from raising to closure with the change
//! authority's approvals, standard changes from templates, conflicts, blackouts, the calendar
//! and its iCalendar feed, releases with deployments, and service designs taking services live.

use crate::common::App;
use crate::db_test;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

async fn created(app: &App, who: &str, path: &str, body: Value) -> Value {
    let r = app.post(who, path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
    r.body
}

async fn put(app: &App, who: &str, path: &str, body: Value) -> crate::common::Resp {
    app.call(who, Method::PUT, path, Some(body)).await
}

async fn moved(app: &App, who: &str, number: &str, body: Value) -> Value {
    let r = app
        .patch(who, &format!("/api/v1/changes/{number}"), body.clone())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{number} {body}: {}", r.body);
    r.body
}

const LOW: &str = r#"{"complexity": "simple", "testing": "fully", "backout": "easy", "downtime": "in_window", "experience": "routine"}"#;

fn low() -> Value {
    serde_json::from_str(LOW).expect("answers")
}

/// A server CI serving a service with a customer; a CAB (the manager and the SMS manager, any
/// one decides) for the "Infrastructure" category; an emergency CAB (the admin).
struct Setup {
    service: i64,
    server: i64,
    other: i64,
    cab_group: i64,
}

async fn setup(app: &App) -> Setup {
    let service = created(
        app,
        "manager",
        "/api/v1/services",
        json!({"name": "Payroll", "customer_ids": [app.customers[0]]}),
    )
    .await["id"]
        .as_i64()
        .expect("service");
    created(
        app,
        "manager",
        "/api/v1/ci-classes",
        json!({"name": "server", "attributes": [{"name": "os", "type": "text"}]}),
    )
    .await;
    let server = created(
        app,
        "manager",
        "/api/v1/cis",
        json!({"class": "server", "name": "pay-db-01", "service_id": service, "attributes": {"os": "Debian 12"}}),
    )
    .await["id"]
        .as_i64()
        .expect("ci");
    let other = created(
        app,
        "manager",
        "/api/v1/cis",
        json!({"class": "server", "name": "web-01"}),
    )
    .await["id"]
        .as_i64()
        .expect("ci");
    let cab_group = created(app, "admin", "/api/v1/groups", json!({"name": "CAB"})).await["id"]
        .as_i64()
        .expect("group");
    for u in ["manager", "sms-manager"] {
        let r = app
            .post(
                "admin",
                &format!("/api/v1/groups/{cab_group}/members"),
                json!({"user_id": app.users[u]}),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
    }
    let ecab_group = created(app, "admin", "/api/v1/groups", json!({"name": "ECAB"})).await["id"]
        .as_i64()
        .expect("group");
    app.post(
        "admin",
        &format!("/api/v1/groups/{ecab_group}/members"),
        json!({"user_id": app.users["admin"]}),
    )
    .await;
    let cab = created(
        app,
        "manager",
        "/api/v1/change-authorities",
        json!({"name": "CAB", "group_id": cab_group, "rule": "any"}),
    )
    .await["id"]
        .as_i64()
        .expect("authority");
    let ecab = created(
        app,
        "manager",
        "/api/v1/change-authorities",
        json!({"name": "ECAB", "group_id": ecab_group, "rule": "all"}),
    )
    .await["id"]
        .as_i64()
        .expect("authority");
    created(
        app,
        "manager",
        "/api/v1/change-categories",
        json!({"name": "Infrastructure", "authority_id": cab}),
    )
    .await;
    let r = put(
        app,
        "manager",
        "/api/v1/change-policy",
        json!({"emergency_criteria": "A live service is down or about to be", "emergency_authority_id": ecab,
               "controlled_service_ids": [service]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    Setup {
        service,
        server,
        other,
        cab_group,
    }
}

async fn normal_change(app: &App, s: &Setup, title: &str) -> String {
    let c = created(
        app,
        "agent",
        "/api/v1/changes",
        json!({"title": title, "service_id": s.service, "details": {"change_type": "normal", "change_category": "Infrastructure"}}),
    )
    .await;
    c["number"].as_str().expect("number").to_string()
}

db_test!(
    normal_change_is_assessed_authorized_scheduled_implemented_and_closed,
    |app| {
        let s = setup(app).await;
        // A change names its type.
        let r = app
            .post("agent", "/api/v1/changes", json!({"title": "Upgrade"}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["field"], "details.change_type");
        assert_eq!(
            app.post(
                "requester",
                "/api/v1/changes",
                json!({"title": "x", "details": {"change_type": "normal"}})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        let n = normal_change(app, &s, "Upgrade the payroll database").await;
        assert!(n.starts_with("CHG-"), "{n}");
        let base = format!("/api/v1/changes/{n}");
        // The CI it changes, and what it does to it: checked now, applied on successful closure.
        let bad = app
            .post(
                "agent",
                &format!("{base}/ci-updates"),
                json!({"ci_id": s.server, "status": "exploded"}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        let r = app
            .post(
                "agent",
                &format!("{base}/ci-updates"),
                json!({"ci_id": s.server, "attributes": {"os": "Debian 13"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // No way around authorization: new → implement and new → scheduled are refused.
        let r = app
            .patch("agent", &base, json!({"state": "implement"}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        let r = app
            .patch("agent", &base, json!({"state": "scheduled"}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        // What it was raised as stays: a normal change does not become a pre-authorized one.
        let r = app
            .patch(
                "agent",
                &base,
                json!({"details": {"change_type": "standard"}}),
            )
            .await;
        assert_eq!(r.body["field"], "details.change_type", "{}", r.body);
        moved(app, "agent", &n, json!({"state": "assess"})).await;
        // Authorization needs the plans, including the backout plan, and the risk.
        let r = app
            .patch("agent", &base, json!({"state": "authorize"}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["field"], "details.implementation_plan", "{}", r.body);
        moved(
        app,
        "agent",
        &n,
        json!({"details": {"implementation_plan": "pg_upgrade", "backout_plan": "restore snapshot"}}),
    )
    .await;
        let r = app
            .patch("agent", &base, json!({"state": "authorize"}))
            .await;
        assert_eq!(r.body["field"], "risk", "{}", r.body);
        let r = put(
            app,
            "agent",
            &format!("{base}/risk"),
            json!({"answers": {"complexity": "simple"}}),
        )
        .await;
        assert_eq!(r.body["field"], "answers.testing", "{}", r.body);
        let r = put(
            app,
            "agent",
            &format!("{base}/risk"),
            json!({"answers": low()}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The CMDB impact counts: the server reaches Payroll and its customer.
        assert_eq!(r.body["services_affected"], json!(["Payroll"]));
        assert_eq!(r.body["score"], 4, "{}", r.body);
        assert_eq!(r.body["level"], "low");
        assert_eq!(r.body["controlled_cis"], json!([s.server]));
        moved(app, "agent", &n, json!({"state": "authorize"})).await;
        // The CAB's members were asked (not the agent who raised it) and told through the outbox.
        let approvals = app.get("agent", &format!("{base}/approvals")).await.body;
        let approvers: Vec<i64> = approvals
            .as_array()
            .expect("approvals")
            .iter()
            .map(|a| a["approver_id"].as_i64().expect("id"))
            .collect();
        assert_eq!(approvers.len(), 2, "{approvals}");
        assert!(approvers.contains(&app.users["manager"]));
        assert_eq!(approvals[0]["basis"], "CAB");
        assert_eq!(approvals[0]["rule"], "any");
        let inbox = app.get("manager", "/api/v1/approvals").await.body;
        assert_eq!(inbox[0]["number"], n.as_str(), "{inbox}");
        let notes = app
            .get("sms-manager", "/api/v1/notifications")
            .await
            .body
            .to_string();
        assert!(notes.contains("needs your approval"), "{notes}");
        // Not yet authorized: scheduling is refused.
        let r = app
            .patch("agent", &base, json!({"state": "scheduled"}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        // Only an approver decides; a rejection needs a reason.
        let mine = approvals
            .as_array()
            .expect("a")
            .iter()
            .find(|a| a["approver_id"] == app.users["manager"])
            .expect("mine")["id"]
            .as_i64()
            .expect("id");
        let path = format!("{base}/approvals/{mine}");
        assert_eq!(
            app.post("agent", &path, json!({"decision": "approve"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post("manager", &path, json!({"decision": "reject"}))
                .await
                .body["field"],
            "comment"
        );
        let r = app
            .post(
                "manager",
                &path,
                json!({"decision": "approve", "comment": "go"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // `any`: one approval decides; the other approver is skipped.
        assert_eq!(r.body["state"], "scheduled", "{}", r.body);
        let approvals = app
            .get("agent", &format!("{base}/approvals"))
            .await
            .body
            .to_string();
        assert!(approvals.contains("skipped"), "{approvals}");
        assert!(
            app.get("sms-manager", "/api/v1/approvals")
                .await
                .body
                .as_array()
                .expect("inbox")
                .is_empty()
        );
        // Implementing needs a window.
        let r = app
            .patch("agent", &base, json!({"state": "implement"}))
            .await;
        assert_eq!(r.body["field"], "planned_start", "{}", r.body);
        let r = put(
            app,
            "agent",
            &format!("{base}/schedule"),
            json!({"planned_start": "2030-01-10T20:00:00Z", "planned_end": "2030-01-10T19:00:00Z"}),
        )
        .await;
        assert_eq!(r.body["field"], "planned_end");
        let r = put(
            app,
            "agent",
            &format!("{base}/schedule"),
            json!({"planned_start": "2030-01-10T20:00:00Z", "planned_end": "2030-01-10T22:00:00Z"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // An implementation task for the group; the change goes to implementation.
        let r = app
            .post(
                "agent",
                &format!("{base}/tasks"),
                json!({"name": "Run pg_upgrade", "group_id": app.group, "stage": 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let task = r.body["id"].as_i64().expect("task");
        moved(app, "agent", &n, json!({"state": "implement"})).await;
        // A successful outcome needs the tasks done.
        let r = app
            .patch(
                "agent",
                &base,
                json!({"state": "review", "details": {"outcome": "successful"}}),
            )
            .await;
        assert_eq!(r.body["field"], "tasks", "{}", r.body);
        let r = app
            .post(
                "agent",
                &format!("{base}/tasks/{task}/complete"),
                json!({"note": "done"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app.patch("agent", &base, json!({"state": "review"})).await;
        assert_eq!(r.body["field"], "details.outcome", "{}", r.body);
        moved(
            app,
            "agent",
            &n,
            json!({"state": "review", "details": {"outcome": "successful"}}),
        )
        .await;
        // The CMDB is untouched until the change closes.
        let ci = app
            .get("agent", &format!("/api/v1/cis/{}", s.server))
            .await
            .body;
        assert_eq!(ci["attributes"]["os"], "Debian 12");
        moved(app, "agent", &n, json!({"state": "closed"})).await;
        let ci = app
            .get("agent", &format!("/api/v1/cis/{}", s.server))
            .await
            .body;
        assert_eq!(ci["attributes"]["os"], "Debian 13", "{ci}");
        let audit = app
            .get(
                "auditor",
                &format!("/api/v1/audit?entity_type=ci&entity_id={}", s.server),
            )
            .await
            .body
            .to_string();
        assert!(
            audit.contains(&n),
            "the CI's audit names the change: {audit}"
        );
        let audit = app
            .get(
                "auditor",
                &format!("/api/v1/audit?entity_type=change&entity_id={n}"),
            )
            .await
            .body
            .to_string();
        for action in [
            "approval.decide",
            "risk.assess",
            "schedule",
            "task.complete",
        ] {
            assert!(audit.contains(action), "{action}: {audit}");
        }
        // Under change control, the CI is not edited by hand.
        let r = app
            .patch(
                "manager",
                &format!("/api/v1/cis/{}", s.server),
                json!({"attributes": {"os": "FreeBSD"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert!(
            app.patch(
                "manager",
                &format!("/api/v1/cis/{}", s.other),
                json!({"attributes": {"os": "FreeBSD"}})
            )
            .await
            .status
            .is_success()
        );
        // Metrics: one closed change, successful.
        let m = app.get("manager", "/api/v1/changes/metrics").await.body;
        assert_eq!(m["closed"], 1, "{m}");
        assert_eq!(m["success_rate"], 1.0);
        assert_eq!(m["emergency_share"], 0.0);
        // The requester never sees changes.
        assert_eq!(
            app.get("requester", &base).await.status,
            StatusCode::FORBIDDEN
        );
        let _ = s.cab_group;
    }
);

db_test!(standard_changes_come_pre_authorized_from_templates, |app| {
    let s = setup(app).await;
    let r = app
        .post(
            "manager",
            "/api/v1/change-templates",
            json!({"name": "Restart web tier", "implementation_plan": "", "backout_plan": "x"}),
        )
        .await;
    assert_eq!(r.body["field"], "implementation_plan");
    let t = created(
        app,
        "manager",
        "/api/v1/change-templates",
        json!({"name": "Restart web tier", "implementation_plan": "systemctl restart", "backout_plan": "none needed",
               "service_id": s.service, "tasks": [{"name": "Restart", "group_id": app.group, "stage": 1}]}),
    )
    .await["id"]
        .as_i64()
        .expect("template");
    let r = app
        .post(
            "agent",
            "/api/v1/changes",
            json!({"title": "Restart", "details": {"change_type": "standard"}}),
        )
        .await;
    assert_eq!(r.body["field"], "details.template", "{}", r.body);
    let c = created(
        app,
        "agent",
        "/api/v1/changes",
        json!({"title": "Restart web tier tonight", "details": {"change_type": "standard", "template": t.to_string()}}),
    )
    .await;
    let n = c["number"].as_str().expect("n").to_string();
    // The template's plans and service came with it; its risk is pre-assessed low.
    assert_eq!(
        c["details"]["implementation_plan"], "systemctl restart",
        "{c}"
    );
    assert_eq!(c["service"]["id"], s.service);
    let risk = app
        .get("agent", &format!("/api/v1/changes/{n}/risk"))
        .await
        .body;
    assert_eq!(risk["level"], "low");
    put(
        app,
        "agent",
        &format!("/api/v1/changes/{n}/schedule"),
        json!({"planned_start": "2030-02-01T01:00:00Z", "planned_end": "2030-02-01T02:00:00Z"}),
    )
    .await;
    // No approval: straight to scheduled, then implementation opens its tasks.
    moved(app, "agent", &n, json!({"state": "scheduled"})).await;
    moved(app, "agent", &n, json!({"state": "implement"})).await;
    let tasks = app
        .get("agent", &format!("/api/v1/changes/{n}/tasks"))
        .await
        .body;
    assert_eq!(tasks[0]["state"], "open", "{tasks}");
    assert!(
        app.get("agent", &format!("/api/v1/changes/{n}/approvals"))
            .await
            .body
            .as_array()
            .expect("a")
            .is_empty()
    );
    // A failed change is backed out: its open tasks are cancelled, and it closes only after
    // the post-implementation review.
    moved(
        app,
        "agent",
        &n,
        json!({"state": "review", "details": {"outcome": "backed_out"}}),
    )
    .await;
    let r = app
        .patch(
            "agent",
            &format!("/api/v1/changes/{n}"),
            json!({"state": "closed"}),
        )
        .await;
    assert_eq!(r.body["field"], "details.review_notes", "{}", r.body);
    moved(
        app,
        "agent",
        &n,
        json!({"state": "closed", "details": {"review_notes": "restart hung; vendor case opened"}}),
    )
    .await;
    let m = app.get("manager", "/api/v1/changes/metrics").await.body;
    assert_eq!(m["backed_out"], 1, "{m}");
    assert_eq!(m["success_rate"], 0.0);
    // Withdrawing the template ends its pre-authorization for new changes; an empty backout
    // plan is refused by name; the change is audited.
    let path = format!("/api/v1/change-templates/{t}");
    assert_eq!(
        app.patch("manager", &path, json!({"backout_plan": " "}))
            .await
            .body["field"],
        "backout_plan"
    );
    assert_eq!(
        app.patch("agent", &path, json!({"active": false}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app.patch("manager", &path, json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let r = app
        .post("agent", "/api/v1/changes", json!({"title": "Again", "details": {"change_type": "standard", "template": t.to_string()}}))
        .await;
    assert_eq!(r.body["field"], "details.template", "{}", r.body);
    assert!(
        app.get("manager", "/api/v1/change-templates")
            .await
            .body
            .as_array()
            .expect("t")
            .is_empty()
    );
    let audit = app
        .get(
            "auditor",
            &format!("/api/v1/audit?entity_type=change_template&entity_id={t}"),
        )
        .await
        .body
        .to_string();
    assert!(
        audit.contains("update") && audit.contains("active"),
        "{audit}"
    );
    // A category can be retired and an authority's rule changed.
    let cats = app.get("manager", "/api/v1/change-categories").await.body;
    let infra = cats[0]["id"].as_i64().expect("category");
    let r = app
        .patch(
            "manager",
            &format!("/api/v1/change-categories/{infra}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post("agent", "/api/v1/changes", json!({"title": "x", "details": {"change_type": "normal", "change_category": "Infrastructure"}}))
        .await;
    assert_eq!(r.body["field"], "details.change_category", "{}", r.body);
    let auth = app.get("manager", "/api/v1/change-authorities").await.body;
    let cab = auth
        .as_array()
        .expect("a")
        .iter()
        .find(|a| a["name"] == "CAB")
        .expect("cab")["id"]
        .as_i64()
        .expect("id");
    let r = app
        .patch(
            "manager",
            &format!("/api/v1/change-authorities/{cab}"),
            json!({"rule": "quorum"}),
        )
        .await;
    assert_eq!(r.body["field"], "quorum", "{}", r.body);
    let r = app
        .patch(
            "manager",
            &format!("/api/v1/change-authorities/{cab}"),
            json!({"rule": "quorum", "quorum": 2}),
        )
        .await;
    assert_eq!(r.body["rule"], "quorum", "{}", r.body);
    assert_eq!(r.body["quorum"], 2);
});

db_test!(conflicts_blackouts_calendar_and_ical_feed, |app| {
    let s = setup(app).await;
    let a = normal_change(app, &s, "Patch the database").await;
    let b = normal_change(app, &s, "Resize the database disk").await;
    for n in [&a, &b] {
        let r = app
            .post(
                "agent",
                &format!("/api/v1/changes/{n}/cis"),
                json!({"ci_id": s.server}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    put(
        app,
        "agent",
        &format!("/api/v1/changes/{a}/schedule"),
        json!({"planned_start": "2030-03-01T20:00:00Z", "planned_end": "2030-03-01T23:00:00Z"}),
    )
    .await;
    let r = put(
        app,
        "agent",
        &format!("/api/v1/changes/{b}/schedule"),
        json!({"planned_start": "2030-03-01T22:00:00Z", "planned_end": "2030-03-02T01:00:00Z"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The same CI (and service) in overlapping windows: a clash, shown both ways.
    assert_eq!(r.body["clashes"][0]["number"], a.as_str(), "{}", r.body);
    assert_eq!(r.body["clashes"][0]["cis"], json!([s.server]));
    let other = app
        .get("agent", &format!("/api/v1/changes/{a}/schedule"))
        .await
        .body;
    assert_eq!(other["clashes"][0]["number"], b.as_str());
    // A blackout over the service: a normal change may not be planned into it, an emergency may.
    let r = app
        .post("manager", "/api/v1/change-blackouts", json!({"name": "Payroll run", "starts_at": "2030-03-25", "ends_at": "2030-03-28", "service_id": s.service}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "manager",
            "/api/v1/change-blackouts",
            json!({"name": "x", "starts_at": "2030-03-25", "ends_at": "2030-03-20"}),
        )
        .await;
    assert_eq!(r.body["field"], "ends_at");
    let r = put(
        app,
        "agent",
        &format!("/api/v1/changes/{b}/schedule"),
        json!({"planned_start": "2030-03-26T10:00:00Z", "planned_end": "2030-03-26T11:00:00Z"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Payroll run")
    );
    // Lifting a blackout lets the window in; its removal is audited.
    let extra = created(
        app,
        "manager",
        "/api/v1/change-blackouts",
        json!({"name": "Audit week", "starts_at": "2030-06-01", "ends_at": "2030-06-08"}),
    )
    .await;
    let id = extra["id"].as_i64().expect("id");
    let window =
        json!({"planned_start": "2030-06-02T10:00:00Z", "planned_end": "2030-06-02T11:00:00Z"});
    assert_eq!(
        put(
            app,
            "agent",
            &format!("/api/v1/changes/{b}/schedule"),
            window.clone()
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    let r = app
        .call(
            "manager",
            Method::DELETE,
            &format!("/api/v1/change-blackouts/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        put(
            app,
            "agent",
            &format!("/api/v1/changes/{b}/schedule"),
            window
        )
        .await
        .status,
        StatusCode::OK
    );
    put(
        app,
        "agent",
        &format!("/api/v1/changes/{b}/schedule"),
        json!({"planned_start": "2030-03-01T22:00:00Z", "planned_end": "2030-03-02T01:00:00Z"}),
    )
    .await;
    let audit = app
        .get(
            "auditor",
            &format!("/api/v1/audit?entity_type=change_blackout&entity_id={id}"),
        )
        .await
        .body
        .to_string();
    assert!(
        audit.contains("delete") && audit.contains("Audit week"),
        "{audit}"
    );
    let r = app
        .post("agent", "/api/v1/changes", json!({"title": "Hotfix", "service_id": s.service, "details": {"change_type": "emergency"}}))
        .await;
    assert_eq!(r.body["field"], "details.emergency_reason");
    let e = created(app, "agent", "/api/v1/changes",
        json!({"title": "Hotfix payroll", "service_id": s.service, "details": {"change_type": "emergency", "emergency_reason": "payroll down"}})).await;
    let e = e["number"].as_str().expect("n").to_string();
    let r = put(
        app,
        "agent",
        &format!("/api/v1/changes/{e}/schedule"),
        json!({"planned_start": "2030-03-26T10:00:00Z", "planned_end": "2030-03-26T11:00:00Z"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["blackouts"][0]["name"], "Payroll run");
    // The emergency goes to the emergency CAB.
    moved(app, "agent", &e, json!({"state": "assess", "details": {"implementation_plan": "patch", "backout_plan": "revert"}})).await;
    put(
        app,
        "agent",
        &format!("/api/v1/changes/{e}/risk"),
        json!({"answers": low()}),
    )
    .await;
    moved(app, "agent", &e, json!({"state": "authorize"})).await;
    let ap = app
        .get("admin", &format!("/api/v1/changes/{e}/approvals"))
        .await
        .body;
    assert_eq!(ap.as_array().expect("a").len(), 1, "{ap}");
    assert_eq!(ap[0]["basis"], "ECAB");
    // The calendar of March: three changes, the clash marked.
    let cal = app
        .get(
            "manager",
            "/api/v1/changes/calendar?from=2030-03-01&to=2030-04-01",
        )
        .await;
    assert_eq!(cal.status, StatusCode::OK, "{}", cal.body);
    assert_eq!(
        cal.body["changes"].as_array().expect("c").len(),
        3,
        "{}",
        cal.body
    );
    assert_eq!(cal.body["changes"][0]["clashes"], json!([b.clone()]));
    assert_eq!(cal.body["blackouts"][0]["name"], "Payroll run");
    // One service's forward schedule (its own and its CIs' changes).
    let other_service = created(app, "manager", "/api/v1/services", json!({"name": "Print"})).await
        ["id"]
        .as_i64()
        .expect("id");
    let mine = app
        .get(
            "manager",
            &format!(
                "/api/v1/changes/calendar?from=2030-03-01&to=2030-04-01&service_id={}",
                s.service
            ),
        )
        .await;
    assert_eq!(
        mine.body["changes"].as_array().expect("c").len(),
        3,
        "{}",
        mine.body
    );
    let none = app
        .get(
            "manager",
            &format!(
                "/api/v1/changes/calendar?from=2030-03-01&to=2030-04-01&service_id={other_service}"
            ),
        )
        .await;
    assert!(
        none.body["changes"].as_array().expect("c").is_empty(),
        "{}",
        none.body
    );
    assert!(
        none.body["blackouts"].as_array().expect("b").is_empty(),
        "{}",
        none.body
    );
    assert_eq!(
        app.get(
            "manager",
            "/api/v1/changes/calendar?from=2030-03-01&to=2030-02-01"
        )
        .await
        .body["field"],
        "to"
    );
    // The feed: a token that reads the calendar and nothing else.
    assert_eq!(
        app.post(
            "requester",
            "/api/v1/changes/calendar-feeds",
            json!({"label": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let feed = created(
        app,
        "manager",
        "/api/v1/changes/calendar-feeds",
        json!({"label": "Phone"}),
    )
    .await;
    let url = feed["url"].as_str().expect("url").to_string();
    let token = url.split("token=").nth(1).expect("token").to_string();
    let r = app.get("", &url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/calendar")
    );
    let text = String::from_utf8(r.raw.clone()).expect("utf-8");
    let cal = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()))
        .next()
        .expect("a calendar")
        .expect("parses");
    assert_eq!(cal.events.len(), 3, "{text}");
    let prop = |ev: &ical::parser::ical::component::IcalEvent, name: &str| {
        ev.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_default()
    };
    let first = &cal.events[0];
    assert_eq!(prop(first, "UID"), format!("{a}@keel"));
    assert_eq!(prop(first, "DTSTART"), "20300301T200000Z");
    assert_eq!(prop(first, "DTEND"), "20300301T230000Z");
    assert!(prop(first, "SUMMARY").starts_with(&a));
    assert_eq!(prop(first, "STATUS"), "TENTATIVE");
    // The token is no API token, and a wrong or revoked one reads nothing.
    let r = app
        .call_with(
            "",
            Method::GET,
            "/api/v1/changes",
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("", "/api/v1/changes/calendar.ics?token=nope")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let id = feed["id"].as_i64().expect("id");
    let r = app
        .call(
            "manager",
            Method::DELETE,
            &format!("/api/v1/changes/calendar-feeds/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("", &url).await.status, StatusCode::UNAUTHORIZED);
});

db_test!(
    releases_are_accepted_before_deployment_and_failures_open_an_analysis,
    |app| {
        let s = setup(app).await;
        let c1 = normal_change(app, &s, "Payroll 2.4").await;
        let r = app
            .post(
                "agent",
                "/api/v1/releases",
                json!({"name": "Payroll 2.4", "kind": "huge", "planned_at": "2030-04-01"}),
            )
            .await;
        assert_eq!(r.body["field"], "kind");
        let rel = created(app, "agent", "/api/v1/releases",
        json!({"name": "Payroll 2.4", "kind": "major", "planned_at": "2030-04-01", "changes": [c1]})).await;
        let n = rel["number"].as_str().expect("n").to_string();
        assert!(n.starts_with("REL-"));
        assert_eq!(rel["changes"][0]["number"], c1.as_str());
        // A change is in one release only.
        let r = app
        .post("agent", "/api/v1/releases", json!({"name": "Other", "kind": "minor", "planned_at": "2030-04-02", "changes": [c1]}))
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        // The release policy: majors at most every 90 days.
        let second = created(
            app,
            "agent",
            "/api/v1/releases",
            json!({"name": "Payroll 2.5", "kind": "major", "planned_at": "2030-05-01"}),
        )
        .await;
        assert_eq!(
            second["policy_warnings"].as_array().expect("w").len(),
            1,
            "{second}"
        );
        let base = format!("/api/v1/releases/{n}");
        let r = app
        .post("agent", &format!("{base}/deployments"),
            json!({"environment": "production", "planned_start": "2030-04-01T20:00:00Z", "planned_end": "2030-04-01T22:00:00Z",
                   "cis": [{"ci_id": s.other, "attributes": {"os": "Debian 13"}}]}))
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let dep = r.body["deployments"][0]["id"].as_i64().expect("deployment");
        // Not accepted yet: no deployment.
        let outcome = format!("{base}/deployments/{dep}/outcome");
        let r = app
            .post("agent", &outcome, json!({"state": "succeeded"}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        let r = app.patch("agent", &base, json!({"state": "built"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .patch("agent", &base, json!({"state": "accepted"}))
            .await;
        assert_eq!(r.body["field"], "acceptance_notes", "{}", r.body);
        let r = app
            .patch(
                "agent",
                &base,
                json!({"state": "accepted", "acceptance_notes": "UAT passed"}),
            )
            .await;
        assert_eq!(r.body["accepted_by"], "agent", "{}", r.body);
        let r = app
            .patch("agent", &base, json!({"state": "deployed"}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        // Success: the CI takes the deployed attributes and the release is deployed.
        let r = app
            .post("agent", &outcome, json!({"state": "succeeded"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["state"], "deployed");
        assert_eq!(r.body["deployments"][0]["cis"][0]["applied"], true);
        let ci = app
            .get("agent", &format!("/api/v1/cis/{}", s.other))
            .await
            .body;
        assert_eq!(ci["attributes"]["os"], "Debian 13");
        // A failing release opens a problem for the analysis.
        let b2 = second["number"].as_str().expect("n").to_string();
        let base2 = format!("/api/v1/releases/{b2}");
        app.patch("agent", &base2, json!({"state": "built"})).await;
        app.patch(
            "agent",
            &base2,
            json!({"state": "accepted", "acceptance_notes": "ok"}),
        )
        .await;
        let r = app
        .post("agent", &format!("{base2}/deployments"),
            json!({"environment": "production", "planned_start": "2030-05-01T20:00:00Z", "planned_end": "2030-05-01T22:00:00Z"}))
        .await;
        let dep2 = r.body["deployments"][0]["id"].as_i64().expect("d");
        let out2 = format!("{base2}/deployments/{dep2}/outcome");
        assert_eq!(
            app.post("agent", &out2, json!({"state": "failed"}))
                .await
                .body["field"],
            "notes"
        );
        let r = app
            .post(
                "agent",
                &out2,
                json!({"state": "failed", "notes": "schema migration failed"}),
            )
            .await;
        assert_eq!(r.body["state"], "failed", "{}", r.body);
        let problem = r.body["problem"].as_str().expect("problem").to_string();
        let p = app
            .get("agent", &format!("/api/v1/problems/{problem}"))
            .await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body["title"].as_str().unwrap_or_default().contains(&b2));
        let r = app
            .post(
                "agent",
                &out2,
                json!({"state": "rolled_back", "notes": "restored"}),
            )
            .await;
        assert_eq!(r.body["state"], "rolled_back", "{}", r.body);
        assert_eq!(
            app.get("requester", &base).await.status,
            StatusCode::FORBIDDEN
        );
    }
);

db_test!(service_design_acceptance_takes_the_service_live, |app| {
    let svc = created(
        app,
        "manager",
        "/api/v1/services",
        json!({"name": "Video calls", "stage": "pipeline"}),
    )
    .await;
    let sid = svc["id"].as_i64().expect("id");
    let d = created(app, "manager", "/api/v1/service-designs",
        json!({"service_id": sid, "title": "Video calls v1", "resources": "2 SFU servers", "capabilities": "100 participants",
               "service_levels": "99.5% in business hours", "dependencies": "Network", "transition_plan": "pilot with IT"})).await;
    let n = d["number"].as_str().expect("n").to_string();
    let base = format!("/api/v1/service-designs/{n}");
    // Approval needs acceptance criteria.
    let r = app
        .patch("manager", &base, json!({"state": "approved"}))
        .await;
    assert_eq!(r.body["field"], "acceptance_criteria", "{}", r.body);
    let d = app
        .patch("manager", &base, json!({"acceptance_criteria": ["100-person call works", "recording stored 30 days"], "state": "approved"}))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    // While the design is open, the service is not put live by hand.
    let r = app
        .patch(
            "manager",
            &format!("/api/v1/services/{sid}"),
            json!({"stage": "live"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = app
        .post(
            "manager",
            &format!("{base}/tasks"),
            json!({"name": "Train the desk", "due_date": "2030-06-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let task = r.body["tasks"][0]["id"].as_i64().expect("task");
    app.patch("manager", &base, json!({"state": "in_transition"}))
        .await;
    let c = &r.body["criteria"];
    let (c1, c2) = (
        c[0]["id"].as_i64().expect("c"),
        c[1]["id"].as_i64().expect("c"),
    );
    app.post(
        "agent",
        &format!("{base}/criteria/{c1}"),
        json!({"result": "passed"}),
    )
    .await;
    app.post(
        "agent",
        &format!("{base}/criteria/{c2}"),
        json!({"result": "failed", "notes": "kept 7 days"}),
    )
    .await;
    let r = app
        .patch("manager", &base, json!({"state": "accepted"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        detail.contains("recording stored 30 days") && detail.contains("transition task"),
        "{detail}"
    );
    app.post(
        "agent",
        &format!("{base}/criteria/{c2}"),
        json!({"result": "passed", "notes": "fixed"}),
    )
    .await;
    app.post("agent", &format!("{base}/tasks/{task}/complete"), json!({}))
        .await;
    let r = app
        .patch("manager", &base, json!({"state": "accepted"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["service_stage"], "live", "{}", r.body);
    let svc = app
        .get("manager", &format!("/api/v1/services/{sid}"))
        .await
        .body;
    assert_eq!(svc["stage"], "live");
});

db_test!(a_problem_is_fixed_by_a_change, |app| {
    let p = created(
        app,
        "agent",
        "/api/v1/problems",
        json!({"title": "Disk fills up"}),
    )
    .await;
    let pn = p["number"].as_str().expect("n").to_string();
    let r = app
        .post("agent", &format!("/api/v1/problems/{pn}/change"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cn = r.body["number"].as_str().expect("n").to_string();
    assert!(cn.starts_with("CHG-"));
    assert_eq!(r.body["details"]["change_type"], "normal");
    let links = app
        .get("agent", &format!("/api/v1/problems/{pn}/links"))
        .await
        .body
        .to_string();
    assert!(links.contains("fixes") && links.contains(&cn), "{links}");
});
