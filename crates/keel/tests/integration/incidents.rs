//! Incident management (8.6.1) beyond the kernel: priority override with a reason, reassignment
//! count, functional and hierarchical escalation, major incidents, and the requester's answer
//! to a resolution.

use crate::db_test;
use axum::http::StatusCode;
use serde_json::json;

db_test!(priority_override_needs_a_reason_and_sticks, |app| {
    let n = app
        .incident(
            "agent",
            json!({"title": "Payroll run", "impact": 3, "urgency": 3}),
        )
        .await;
    let path = format!("/api/v1/incidents/{n}");
    assert_eq!(app.get("agent", &path).await.body["priority"], 5);
    let r = app.patch("agent", &path, json!({"priority": 1})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "priority_reason");
    let r = app
        .patch(
            "agent",
            &path,
            json!({"priority": 1, "priority_reason": "Payroll closes today"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["priority"].as_i64(),
            r.body["priority_reason"].as_str()
        ),
        (Some(1), Some("Payroll closes today"))
    );
    // Impact changes do not undo an override; returning to the matrix does.
    let r = app.patch("agent", &path, json!({"impact": 2})).await;
    assert_eq!(r.body["priority"], 1);
    let r = app.patch("agent", &path, json!({"priority": null})).await;
    assert_eq!(
        (
            r.body["priority"].as_i64(),
            r.body["priority_reason"].is_null()
        ),
        (Some(4), true)
    );
    // Audited, reason included.
    let h = app
        .get("auditor", &format!("{path}/history"))
        .await
        .body
        .to_string();
    assert!(h.contains("Payroll closes today"), "{h}");
    let r = app
        .patch(
            "agent",
            &path,
            json!({"priority": 9, "priority_reason": "x"}),
        )
        .await;
    assert_eq!(r.body["field"], "priority");
});

db_test!(reassignments_and_escalations, |app| {
    let manager = app.users["manager"];
    let net = app
        .post(
            "admin",
            "/api/v1/groups",
            json!({"name": "Network", "manager_id": manager}),
        )
        .await
        .body["id"]
        .as_i64()
        .expect("g");
    let apps = app
        .post("admin", "/api/v1/groups", json!({"name": "Apps"}))
        .await
        .body["id"]
        .as_i64()
        .expect("g");
    let n = app
        .incident(
            "agent",
            json!({"title": "Slow app", "assignment_group_id": app.group}),
        )
        .await;
    let path = format!("/api/v1/incidents/{n}");
    assert_eq!(app.get("agent", &path).await.body["reassignment_count"], 0);
    // Functional escalation moves it and counts.
    let r = app
        .post(
            "agent",
            &format!("{path}/escalate"),
            json!({"kind": "functional", "group_id": net, "reason": "Looks like packet loss"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["assignment_group"]["name"], "Network");
    assert_eq!(r.body["reassignment_count"], 1);
    app.patch("agent", &path, json!({"assignment_group_id": apps}))
        .await;
    assert_eq!(app.get("agent", &path).await.body["reassignment_count"], 2);
    let notes = app.get("agent", &format!("{path}/comments")).await.body;
    assert!(
        notes
            .to_string()
            .contains("Escalated to Network: Looks like packet loss"),
        "{notes}"
    );
    // The requester does not see the internal escalation note.
    // Hierarchical: Apps has no manager; Network has.
    let r = app
        .post(
            "agent",
            &format!("{path}/escalate"),
            json!({"kind": "hierarchical", "reason": "Customer VP calling"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    app.patch("agent", &path, json!({"assignment_group_id": net}))
        .await;
    let r = app
        .post(
            "agent",
            &format!("{path}/escalate"),
            json!({"kind": "hierarchical", "reason": "Customer VP calling"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let told = app.get("manager", "/api/v1/notifications").await.body;
    assert_eq!(told[0]["event"], "incident.escalated", "{told}");
    let r = app
        .post(
            "agent",
            &format!("{path}/escalate"),
            json!({"kind": "sideways", "reason": "x"}),
        )
        .await;
    assert_eq!(r.body["field"], "kind");
    let r = app
        .post(
            "agent",
            &format!("{path}/escalate"),
            json!({"kind": "functional", "reason": "x"}),
        )
        .await;
    assert_eq!(r.body["field"], "group_id");
});

db_test!(
    major_incident_declared_communicated_reviewed_closed,
    |app| {
        let n = app.incident("agent", json!({"title": "Data centre power loss", "impact": 1, "urgency": 1, "assignment_group_id": app.group})).await;
        let path = format!("/api/v1/incidents/{n}");
        let manager = app.users["manager"];
        let body = json!({"criterion": "service_outage", "manager_id": manager});
        assert_eq!(
            app.post("agent", &format!("{path}/major"), body.clone())
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let r = app
            .post(
                "sms-manager",
                &format!("{path}/major"),
                json!({"criterion": "gut", "manager_id": manager}),
            )
            .await;
        assert_eq!(r.body["field"], "criterion");
        let r = app
            .post(
                "sms-manager",
                &format!("{path}/major"),
                json!({"criterion": "service_outage", "manager_id": app.users["requester"]}),
            )
            .await;
        assert_eq!(r.body["field"], "manager_id");
        let r = app
            .post("sms-manager", &format!("{path}/major"), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["manager"], "manager");
        assert_eq!(
            app.post("sms-manager", &format!("{path}/major"), body)
                .await
                .status,
            StatusCode::CONFLICT
        );
        // The manager and the group heard about it.
        assert_eq!(
            app.get("manager", "/api/v1/notifications").await.body[0]["event"],
            "incident.major"
        );
        assert_eq!(
            app.get("agent", "/api/v1/notifications").await.body[0]["event"],
            "incident.major"
        );
        let r = app
        .post("agent", &format!("{path}/major/communications"), json!({"audience": "customers", "body": "We are restoring power; next update 14:00."}))
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["communications"][0]["audience"], "customers");
        let r = app
            .post(
                "agent",
                &format!("{path}/major/communications"),
                json!({"audience": "press", "body": "x"}),
            )
            .await;
        assert_eq!(r.body["field"], "audience");
        // Resolve; closing waits for the review (the auto-close job too).
        let r = app
        .patch("agent", &path, json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Generator on"}))
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app.patch("agent", &path, json!({"state": "closed"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["field"], "major_review");
        assert_eq!(
            keel::operation::resolution::incident::auto_close(&app.db, -1)
                .await
                .expect("auto close"),
            0
        );
        let r = app
            .post(
                "manager",
                &format!("{path}/major/review"),
                json!({"review": "UPS batteries past end of life; replace fleet."}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["reviewed_at"].is_string());
        assert_eq!(
            app.patch("agent", &path, json!({"state": "closed"}))
                .await
                .status,
            StatusCode::OK
        );
        let h = app
            .get("auditor", &format!("{path}/history"))
            .await
            .body
            .to_string();
        for a in ["major.declare", "major.communicate", "major.review"] {
            assert!(h.contains(a), "{a} in {h}");
        }
        // The record is the provider's: requesters do not read it.
        assert_eq!(
            app.get("requester", &format!("{path}/major")).await.status,
            StatusCode::FORBIDDEN
        );
    }
);

db_test!(requester_confirms_or_rejects_a_resolution, |app| {
    let resolve = |n: String| {
        let path = format!("/api/v1/incidents/{n}");
        async move {
            let r = app
                .patch("agent", &path, json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "Replaced"}))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    let a = app
        .incident("requester", json!({"title": "Keyboard dead"}))
        .await;
    assert_eq!(
        app.post(
            "requester",
            &format!("/api/v1/incidents/{a}/confirm"),
            json!({})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    resolve(a.clone()).await;
    // Another customer's requester cannot answer; a colleague of the same organisation can.
    assert_eq!(
        app.post(
            "requester2",
            &format!("/api/v1/incidents/{a}/confirm"),
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            "requester",
            &format!("/api/v1/incidents/{a}/confirm"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "closed");
    let b = app
        .incident("requester", json!({"title": "Monitor flickers"}))
        .await;
    resolve(b.clone()).await;
    let r = app
        .post(
            "requester",
            &format!("/api/v1/incidents/{b}/reject"),
            json!({}),
        )
        .await;
    assert_eq!(r.body["field"], "reason");
    let r = app
        .post(
            "colleague",
            &format!("/api/v1/incidents/{b}/reject"),
            json!({"reason": "Still flickers after lunch"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "in_progress");
    let comments = app
        .get("requester", &format!("/api/v1/incidents/{b}/comments"))
        .await
        .body
        .to_string();
    assert!(
        comments.contains("Resolution rejected: Still flickers after lunch"),
        "{comments}"
    );
    assert_eq!(
        app.post(
            "auditor",
            &format!("/api/v1/incidents/{b}/confirm"),
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
});
