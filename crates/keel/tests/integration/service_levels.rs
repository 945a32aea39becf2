//! Service levels (8.3.3): calendars, targets, SLA clocks following incidents, the breach scan,
//! notifications and attainment — through the HTTP API, on both databases.

use crate::common::App;
use crate::db_test;
use axum::http::{Method, StatusCode};
use keel::platform::db::now_ms;
use serde_json::{Value, json};

fn all_week() -> Value {
    let days = keel_core::operation::relationship::service_level::calendar::WEEKDAYS;
    Value::Array(
        days.iter()
            .map(|d| json!({"weekday": d, "start": "00:00", "end": "24:00"}))
            .collect(),
    )
}

/// A 24×7 calendar and response/resolution targets for incidents; returns the calendar id.
async fn setup(app: &App, response_min: i64, resolution_min: i64) -> i64 {
    let r = app
        .post(
            "sms-manager",
            "/api/v1/calendars",
            json!({"name": "24x7", "time_zone": "UTC", "windows": all_week()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cal = r.body["id"].as_i64().expect("id");
    for (metric, min) in [("response", response_min), ("resolution", resolution_min)] {
        let r = app
            .post(
                "sms-manager",
                "/api/v1/service-level-targets",
                json!({"name": format!("{metric} any"), "metric": metric, "target_minutes": min, "calendar_id": cal}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["warn_percent"], 75);
    }
    cal
}

fn clock<'a>(clocks: &'a Value, metric: &str) -> &'a Value {
    clocks
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} clock in {clocks}"))
}

fn kinds(c: &Value) -> Vec<String> {
    c["ledger"]
        .as_array()
        .expect("ledger")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

db_test!(calendars_are_validated_and_versioned, |app| {
    let bad = [
        (
            json!({"name": "x", "time_zone": "Mars/Olympus", "windows": all_week()}),
            "time_zone",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "windows": []}),
            "windows",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "windows": [
                {"weekday": "monday", "start": "08:00", "end": "12:00"},
                {"weekday": "monday", "start": "11:00", "end": "13:00"}]}),
            "windows",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "windows": [{"weekday": "monday", "start": "8h", "end": "12:00"}]}),
            "windows",
        ),
        (
            json!({"name": "x", "time_zone": "UTC", "windows": all_week(), "holidays": ["2026-13-01"]}),
            "holidays[0]",
        ),
    ];
    for (body, field) in bad {
        let r = app.post("admin", "/api/v1/calendars", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    let r = app
        .post(
            "admin",
            "/api/v1/calendars",
            json!({"name": "Paris office", "time_zone": "Europe/Paris", "windows": [
                {"weekday": "friday", "start": "13:00", "end": "18:00"},
                {"weekday": "friday", "start": "08:00", "end": "12:00"}],
                "holidays": ["2026-12-25"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["version"], 1);
    // Stored sorted.
    assert_eq!(r.body["windows"][0]["start"], "08:00");
    let id = r.body["id"].as_i64().expect("id");
    let r = app
        .post(
            "admin",
            "/api/v1/calendars",
            json!({"name": "Paris office", "time_zone": "UTC", "windows": all_week()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = app
        .call(
            "admin",
            Method::PUT,
            &format!("/api/v1/calendars/{id}"),
            Some(
                json!({"name": "Paris office", "time_zone": "Europe/Paris", "windows": all_week()}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 2);
    // Agents read, only managers change.
    assert_eq!(
        app.get("agent", "/api/v1/calendars")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let r = app
        .post(
            "agent",
            "/api/v1/calendars",
            json!({"name": "y", "time_zone": "UTC", "windows": all_week()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "admin",
            "/api/v1/service-level-targets",
            json!({"name": "t", "metric": "speed", "target_minutes": 10, "calendar_id": id}),
        )
        .await;
    assert_eq!(r.body["field"], "metric", "{}", r.body);
    let r = app
        .post(
            "admin",
            "/api/v1/service-level-targets",
            json!({"name": "t", "metric": "response", "target_minutes": 0, "calendar_id": id}),
        )
        .await;
    assert_eq!(r.body["field"], "target_minutes", "{}", r.body);
    let r = app
        .post(
            "admin",
            "/api/v1/service-level-targets",
            json!({"name": "t", "metric": "response", "target_minutes": 5, "calendar_id": 999}),
        )
        .await;
    assert_eq!(r.body["field"], "calendar_id", "{}", r.body);
    // Both definitions are in the audit trail.
    let audit = app.get("auditor", "/api/v1/audit?limit=200").await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert!(
        audit.body.to_string().contains("Paris office"),
        "{}",
        audit.body
    );
});

db_test!(clocks_follow_the_incident_lifecycle, |app| {
    setup(app, 60, 240).await;
    let before = now_ms();
    let n = app
        .incident(
            "agent",
            json!({"title": "Mail down", "impact": 2, "urgency": 2}),
        )
        .await;
    let path = format!("/api/v1/incidents/{n}/sla");
    let r = app.get("agent", &path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let resp = clock(&r.body, "response");
    assert_eq!(resp["status"], "running");
    assert_eq!(kinds(resp), ["start"]);
    assert_eq!(resp["target_minutes"], 60);
    let due: jiff::Timestamp = resp["due_at"].as_str().expect("due").parse().expect("ts");
    let due = due.as_millisecond();
    assert!(
        due >= before + 3_600_000 && due <= now_ms() + 3_600_000,
        "{due}"
    );
    // Waiting for the requester: response stops (work has started), resolution pauses.
    let r = app
        .patch(
            "agent",
            &format!("/api/v1/incidents/{n}"),
            json!({"state": "on_hold", "hold_reason": "pending_requester"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("agent", &path).await;
    assert_eq!(kinds(clock(&r.body, "response")), ["start", "stop"]);
    let res = clock(&r.body, "resolution");
    assert_eq!(res["status"], "paused");
    assert_eq!(res["due_at"], Value::Null);
    assert_eq!(kinds(res), ["start", "pause"]);
    assert!(
        res["ledger"][1]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("pending_requester")
    );
    // "Monitoring" keeps the clock running.
    app.patch(
        "agent",
        &format!("/api/v1/incidents/{n}"),
        json!({"state": "in_progress"}),
    )
    .await;
    app.patch(
        "agent",
        &format!("/api/v1/incidents/{n}"),
        json!({"state": "on_hold", "hold_reason": "monitoring"}),
    )
    .await;
    let r = app.get("agent", &path).await;
    assert_eq!(
        kinds(clock(&r.body, "resolution")),
        ["start", "pause", "resume"]
    );
    // Resolve stops; reopen resumes; the response clock never restarts.
    let r = app
        .patch(
            "agent",
            &format!("/api/v1/incidents/{n}"),
            json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "restarted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.patch(
        "agent",
        &format!("/api/v1/incidents/{n}"),
        json!({"state": "in_progress"}),
    )
    .await;
    let r = app.get("agent", &path).await;
    assert_eq!(
        kinds(clock(&r.body, "resolution")),
        ["start", "pause", "resume", "stop", "resume"]
    );
    assert_eq!(kinds(clock(&r.body, "response")), ["start", "stop"]);
    assert_eq!(clock(&r.body, "response")["breached"], false);
    // A more specific target for priority 1 takes over when the priority rises: the measured
    // time is kept, the new target applies from now.
    let cal = app.get("agent", "/api/v1/calendars").await.body[0]["id"]
        .as_i64()
        .expect("cal");
    let r = app
        .post(
            "sms-manager",
            "/api/v1/service-level-targets",
            json!({"name": "P1 fix", "metric": "resolution", "priority": 1, "target_minutes": 30, "calendar_id": cal}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.patch(
        "agent",
        &format!("/api/v1/incidents/{n}"),
        json!({"impact": 1, "urgency": 1}),
    )
    .await;
    let r = app.get("agent", &path).await;
    let res = clock(&r.body, "resolution");
    assert_eq!(res["target"]["name"], "P1 fix");
    assert_eq!(res["target_minutes"], 30);
    let ledger = res["ledger"].as_array().expect("ledger");
    let last = ledger.last().expect("entry");
    assert_eq!(last["kind"], "retarget");
    assert!(
        last["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("priority"),
        "{last}"
    );
    // The requester sees the clocks of their own items too; another customer does not.
    let mine = app
        .incident("requester", json!({"title": "My laptop"}))
        .await;
    assert_eq!(
        app.get("requester", &format!("/api/v1/incidents/{mine}/sla"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("requester2", &format!("/api/v1/incidents/{mine}/sla"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
});

db_test!(
    the_scan_warns_and_breaches_once_and_tells_the_assignee,
    |app| {
        setup(app, 10, 20).await;
        let agent = app.users["agent"];
        let n = app
        .incident("manager", json!({"title": "Payroll stuck", "assignment_group_id": app.group, "assignee_id": agent}))
        .await;
        // The agent heard about the assignment.
        let r = app.get("agent", "/api/v1/notifications?unread=true").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body[0]["event"], "item.assigned", "{}", r.body);
        assert_eq!(r.body[0]["item"], n.as_str());
        // Eight minutes on: the response warning (75 % of 10) is due, nothing has breached.
        let t0 = now_ms();
        let s =
            keel::operation::relationship::service_level::clocks::scan(&app.db, t0 + 8 * 60_000)
                .await
                .expect("scan");
        assert_eq!((s.warned, s.breached), (1, 0));
        // An hour on: both breach, the resolution warning too; a second pass finds nothing new.
        let s = keel::operation::relationship::service_level::clocks::scan(&app.db, t0 + 3_600_000)
            .await
            .expect("scan");
        assert_eq!((s.warned, s.breached), (1, 2));
        let s = keel::operation::relationship::service_level::clocks::scan(&app.db, t0 + 3_600_000)
            .await
            .expect("scan");
        assert_eq!((s.warned, s.breached), (0, 0));
        let r = app.get("agent", "/api/v1/notifications").await;
        let events: Vec<&str> = r
            .body
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|n| n["event"].as_str())
            .collect();
        assert_eq!(
            events.iter().filter(|e| **e == "sla.breached").count(),
            2,
            "{events:?}"
        );
        assert_eq!(
            events.iter().filter(|e| **e == "sla.warning").count(),
            2,
            "{events:?}"
        );
        // The breach instant is the moment the target was reached, not when the scan ran.
        let r = app
            .get("agent", &format!("/api/v1/incidents/{n}/sla"))
            .await;
        let resp = clock(&r.body, "response");
        assert_eq!(resp["breached"], true);
        let started: jiff::Timestamp = resp["started_at"].as_str().expect("s").parse().expect("ts");
        let breached: jiff::Timestamp = resp["breached_at"]
            .as_str()
            .expect("b")
            .parse()
            .expect("ts");
        assert_eq!(
            breached.as_millisecond() - started.as_millisecond(),
            10 * 60_000
        );
        // Marking read.
        let r = app
            .post("agent", "/api/v1/notifications/read", json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["marked"], 5);
        assert_eq!(
            app.get("agent", "/api/v1/notifications?unread=true")
                .await
                .body,
            json!([])
        );
        // Attainment: two clocks breached, none met yet.
        let r = app
            .get("manager", "/api/v1/sla/attainment?by=priority")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let rows = r.body["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 2, "{}", r.body);
        assert!(
            rows.iter()
                .all(|r| r["breached"] == 1 && r["attainment_percent"] == 0.0),
            "{}",
            r.body
        );
        let r = app.get("manager", "/api/v1/sla/attainment?by=planet").await;
        assert_eq!(r.body["field"], "by", "{}", r.body);
        let r = app
            .get("manager", "/api/v1/sla/attainment?from=yesterday")
            .await;
        assert_eq!(r.body["field"], "from", "{}", r.body);
        assert_eq!(
            app.get("requester", "/api/v1/sla/attainment").await.status,
            StatusCode::FORBIDDEN
        );
    }
);

db_test!(changing_a_target_or_calendar_retargets_open_clocks, |app| {
    let cal = setup(app, 60, 240).await;
    let n = app.incident("agent", json!({"title": "VPN flaky"})).await;
    let met = app
        .incident("agent", json!({"title": "Done quickly"}))
        .await;
    app.patch(
        "agent",
        &format!("/api/v1/incidents/{met}"),
        json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "ok"}),
    )
    .await;
    let targets = app
        .get("manager", "/api/v1/service-level-targets")
        .await
        .body;
    let resolution = targets
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["metric"] == "resolution")
        .expect("resolution target")["id"]
        .as_i64()
        .expect("id");
    let r = app
        .patch(
            "sms-manager",
            &format!("/api/v1/service-level-targets/{resolution}"),
            json!({"target_minutes": 480}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["version"], 2);
    let r = app
        .get("agent", &format!("/api/v1/incidents/{n}/sla"))
        .await;
    let res = clock(&r.body, "resolution");
    assert_eq!(res["target_minutes"], 480);
    assert_eq!(kinds(res), ["start", "retarget"]);
    // The resolved item's stopped clock keeps the target it was measured against.
    let r = app
        .get("agent", &format!("/api/v1/incidents/{met}/sla"))
        .await;
    assert_eq!(clock(&r.body, "resolution")["target_minutes"], 240);
    // A new calendar version: every open clock on it moves to version 2.
    let r = app
        .call(
            "sms-manager",
            Method::PUT,
            &format!("/api/v1/calendars/{cal}"),
            Some(json!({"name": "24x7", "time_zone": "UTC", "windows": all_week(), "holidays": ["2030-01-01"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .get("agent", &format!("/api/v1/incidents/{n}/sla"))
        .await;
    let res = clock(&r.body, "resolution");
    assert_eq!(res["calendar_version"], 2);
    assert_eq!(kinds(res), ["start", "retarget", "retarget"]);
    assert_eq!(clock(&r.body, "response")["calendar_version"], 2);
    // Attainment counts the met one.
    let r = app.get("manager", "/api/v1/sla/attainment").await;
    let res_row = r.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["metric"] == "resolution")
        .cloned()
        .expect("row");
    assert_eq!(
        (
            res_row["total"].as_i64(),
            res_row["met"].as_i64(),
            res_row["open"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(res_row["attainment_percent"], 100.0);
});

db_test!(
    items_created_before_any_target_start_a_clock_when_one_applies,
    |app| {
        let n = app.incident("agent", json!({"title": "Old one"})).await;
        assert_eq!(
            app.get("agent", &format!("/api/v1/incidents/{n}/sla"))
                .await
                .body,
            json!([])
        );
        let svc = app
            .post("admin", "/api/v1/services", json!({"name": "E-mail"}))
            .await
            .body["id"]
            .as_i64()
            .expect("svc");
        let r = app
            .post(
                "sms-manager",
                "/api/v1/calendars",
                json!({"name": "24x7", "time_zone": "UTC", "windows": all_week()}),
            )
            .await;
        let cal = r.body["id"].as_i64().expect("cal");
        app.post(
        "sms-manager",
        "/api/v1/service-level-targets",
        json!({"name": "E-mail fix", "metric": "resolution", "service_id": svc, "target_minutes": 120, "calendar_id": cal}),
    )
    .await;
        app.patch(
            "agent",
            &format!("/api/v1/incidents/{n}"),
            json!({"service_id": svc}),
        )
        .await;
        let r = app
            .get("agent", &format!("/api/v1/incidents/{n}/sla"))
            .await;
        let res = clock(&r.body, "resolution");
        assert_eq!(res["target"]["name"], "E-mail fix");
        assert!(
            res["ledger"][0]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("from now")
        );
    }
);
