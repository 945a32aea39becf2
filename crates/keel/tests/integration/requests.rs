//! Service requests (8.6.2): request types, approvals by all approvers, staged fulfilment tasks.

use crate::db_test;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn states(tasks: &Value) -> Vec<(String, String)> {
    tasks
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

db_test!(
    request_approved_by_all_then_fulfilled_stage_by_stage,
    |app| {
        let net = app
            .post("admin", "/api/v1/groups", json!({"name": "Network"}))
            .await
            .body["id"]
            .as_i64()
            .expect("g");
        let r = app
            .post(
                "manager",
                "/api/v1/request-types",
                json!({
                    "name": "New laptop",
                    "approvers": ["requester_manager", "named"],
                    "approver_id": app.users["sms-manager"],
                    "tasks": [
                        {"name": "Order laptop", "group_id": app.group, "stage": 1},
                        {"name": "Create account", "group_id": net, "stage": 1},
                        {"name": "Deliver", "group_id": app.group, "stage": 2}
                    ]
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let t = r.body["id"].as_i64().expect("type");
        assert_eq!(
            app.post("agent", "/api/v1/request-types", json!({"name": "x"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let bad = app
            .post(
                "manager",
                "/api/v1/request-types",
                json!({"name": "y", "approvers": ["boss"]}),
            )
            .await;
        assert_eq!(bad.body["field"], "approvers");
        let bad = app
            .post(
                "manager",
                "/api/v1/request-types",
                json!({"name": "y", "tasks": [{"name": "t", "stage": 0}]}),
            )
            .await;
        assert_eq!(bad.body["field"], "tasks[0].stage");
        // The requester's manager is on record.
        let r = app
            .patch(
                "admin",
                &format!("/api/v1/users/{}", app.users["requester"]),
                json!({"manager_id": app.users["manager"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // A request needs a valid type.
        let r = app
            .post(
                "requester",
                "/api/v1/requests",
                json!({"title": "Laptop please"}),
            )
            .await;
        assert_eq!(r.body["field"], "details.request_type", "{}", r.body);
        let r = app
            .post(
                "requester",
                "/api/v1/requests",
                json!({"title": "Laptop please", "details": {"request_type": "999"}}),
            )
            .await;
        assert_eq!(r.body["field"], "details.request_type", "{}", r.body);
        let r = app
        .post("requester", "/api/v1/requests", json!({"title": "Laptop for new starter", "details": {"request_type": t.to_string()}}))
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let n = r.body["number"].as_str().expect("n").to_string();
        assert!(n.starts_with("REQ-"));
        assert_eq!(r.body["state"], "awaiting_approval");
        let path = format!("/api/v1/requests/{n}");
        assert_eq!(
            app.get("requester2", &path).await.status,
            StatusCode::NOT_FOUND
        );
        let approvals = app
            .get("requester", &format!("{path}/approvals"))
            .await
            .body;
        let ids: Vec<i64> = approvals
            .as_array()
            .expect("a")
            .iter()
            .map(|a| a["id"].as_i64().unwrap_or_default())
            .collect();
        assert_eq!(ids.len(), 2, "{approvals}");
        assert_eq!(approvals[0]["approver"], "manager");
        assert_eq!(
            app.get("manager", "/api/v1/notifications").await.body[0]["event"],
            "approval.requested"
        );
        // Only the approver decides; the request waits for both.
        let r = app
            .post(
                "agent",
                &format!("{path}/approvals/{}", ids[0]),
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app
            .post(
                "manager",
                &format!("{path}/approvals/{}", ids[0]),
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["state"].as_str()),
            (StatusCode::OK, Some("awaiting_approval")),
            "{}",
            r.body
        );
        let r = app
            .post(
                "manager",
                &format!("{path}/approvals/{}", ids[0]),
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "decided once");
        let r = app
            .post(
                "sms-manager",
                &format!("{path}/approvals/{}", ids[1]),
                json!({"decision": "approve"}),
            )
            .await;
        assert_eq!(r.body["state"], "in_fulfilment", "{}", r.body);
        // Stage 1 is open, stage 2 waits.
        let tasks = app.get("agent", &format!("{path}/tasks")).await.body;
        assert_eq!(
            states(&tasks),
            [
                ("Order laptop".to_string(), "open".to_string()),
                ("Create account".to_string(), "open".to_string()),
                ("Deliver".to_string(), "pending".to_string()),
            ]
        );
        let tid = |i: usize| tasks[i]["id"].as_i64().expect("task");
        assert_eq!(
            app.post(
                "agent",
                &format!("{path}/tasks/{}/complete", tid(2)),
                json!({})
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
        // Fulfilled only when all tasks are done.
        let r = app
            .patch("agent", &path, json!({"state": "fulfilled"}))
            .await;
        assert_eq!(r.body["field"], "tasks", "{}", r.body);
        assert_eq!(
            app.post(
                "agent",
                &format!("{path}/tasks/{}/complete", tid(0)),
                json!({"note": "Ordered"})
            )
            .await
            .status,
            StatusCode::OK
        );
        // The agent is not in Network; a manager may complete any task.
        assert_eq!(
            app.post(
                "agent",
                &format!("{path}/tasks/{}/complete", tid(1)),
                json!({})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post(
                "manager",
                &format!("{path}/tasks/{}/complete", tid(1)),
                json!({})
            )
            .await
            .status,
            StatusCode::OK
        );
        let tasks = app.get("agent", &format!("{path}/tasks")).await.body;
        assert_eq!(tasks[2]["state"], "open");
        let r = app
            .post(
                "agent",
                &format!("{path}/tasks/{}/complete", tid(2)),
                json!({"note": "Handed over"}),
            )
            .await;
        assert_eq!(r.body["state"], "fulfilled", "{}", r.body);
        let h = app
            .get("auditor", &format!("{path}/history"))
            .await
            .body
            .to_string();
        assert!(
            h.contains("approval.decide") && h.contains("task.complete"),
            "{h}"
        );
    }
);

db_test!(
    a_rejection_rejects_and_types_without_approval_go_straight_to_fulfilment,
    |app| {
        let t = app
        .post("manager", "/api/v1/request-types", json!({"name": "Software", "approvers": ["named"], "approver_id": app.users["manager"]}))
        .await.body["id"].as_i64().expect("t");
        let n = app
            .post(
                "requester",
                "/api/v1/requests",
                json!({"title": "Photoshop", "details": {"request_type": t.to_string()}}),
            )
            .await
            .body["number"]
            .as_str()
            .expect("n")
            .to_string();
        let path = format!("/api/v1/requests/{n}");
        let id = app.get("manager", &format!("{path}/approvals")).await.body[0]["id"]
            .as_i64()
            .expect("id");
        let r = app
            .post(
                "manager",
                &format!("{path}/approvals/{id}"),
                json!({"decision": "reject"}),
            )
            .await;
        assert_eq!(r.body["field"], "comment");
        let r = app
            .post(
                "manager",
                &format!("{path}/approvals/{id}"),
                json!({"decision": "reject", "comment": "Use the standard image"}),
            )
            .await;
        assert_eq!(r.body["state"], "rejected", "{}", r.body);
        let c = app
            .get("requester", &format!("{path}/comments"))
            .await
            .body
            .to_string();
        assert!(
            c.contains("Request rejected: Use the standard image"),
            "{c}"
        );
        // No approvers, no tasks: fulfilment at once, fulfilled by hand.
        let t2 = app
            .post(
                "manager",
                "/api/v1/request-types",
                json!({"name": "Password reset"}),
            )
            .await
            .body["id"]
            .as_i64()
            .expect("t");
        let r = app
            .post(
                "requester",
                "/api/v1/requests",
                json!({"title": "Reset please", "details": {"request_type": t2.to_string()}}),
            )
            .await;
        assert_eq!(r.body["state"], "in_fulfilment", "{}", r.body);
        let n2 = r.body["number"].as_str().expect("n").to_string();
        let r = app
            .patch(
                "agent",
                &format!("/api/v1/requests/{n2}"),
                json!({"state": "fulfilled"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // A manager on record is needed for requester_manager approval; without one, the step is
        // skipped and audited.
        let t3 = app
            .post(
                "manager",
                "/api/v1/request-types",
                json!({"name": "Desk move", "approvers": ["requester_manager"]}),
            )
            .await
            .body["id"]
            .as_i64()
            .expect("t");
        let r = app
            .post(
                "requester2",
                "/api/v1/requests",
                json!({"title": "Move desk", "details": {"request_type": t3.to_string()}}),
            )
            .await;
        assert_eq!(r.body["state"], "in_fulfilment", "{}", r.body);
    }
);
