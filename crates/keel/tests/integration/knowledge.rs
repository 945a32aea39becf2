//! Knowledge (7.6): versions, review and publication, what requesters see, search.

use crate::db_test;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn numbers(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|a| a["number"].as_str().unwrap_or_default().to_string())
        .collect()
}

db_test!(
    articles_are_reviewed_published_versioned_and_retired,
    |app| {
        let r = app
        .post("agent", "/api/v1/knowledge", json!({"title": "Reset a VPN token", "body": "Open the portal and choose Reset token.", "review_date": "2027-05-01"}))
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let kb = r.body["number"].as_str().expect("number").to_string();
        assert_eq!(kb, "KB-000001");
        assert_eq!(
            (r.body["state"].as_str(), r.body["latest_version"].as_i64()),
            (Some("draft"), Some(1))
        );
        let path = format!("/api/v1/knowledge/{kb}");
        // Drafts are invisible to requesters.
        assert_eq!(
            app.get("requester", &path).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            numbers(&app.get("requester", "/api/v1/knowledge").await.body),
            Vec::<String>::new()
        );
        assert_eq!(
            app.post(
                "requester",
                "/api/v1/knowledge",
                json!({"title": "x", "body": "y"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        // Draft → review; agents cannot publish, managers can; not straight from draft.
        let r = app
            .patch("manager", &path, json!({"state": "published"}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(
            app.patch("agent", &path, json!({"state": "review"}))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.patch("agent", &path, json!({"state": "published"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let r = app
            .patch("manager", &path, json!({"state": "published"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["published_version"], 1);
        // Requesters see and find it.
        let r = app.get("requester", &path).await;
        assert_eq!(r.body["body"], "Open the portal and choose Reset token.");
        assert_eq!(
            numbers(
                &app.get("requester", "/api/v1/knowledge?q=vpn%20tokens")
                    .await
                    .body
            ),
            [kb.as_str()]
        );
        // A new version goes back to draft; requesters keep seeing version 1 until it is published.
        let version = r.body["version"].as_i64().expect("v");
        let r = app
        .patch("agent", &path, json!({"body": "Use the self-service portal: Security › Reset token.", "version": 1}))
        .await;
        assert_eq!(
            r.status,
            StatusCode::PRECONDITION_FAILED,
            "stale version: {}",
            r.body
        );
        let r = app
        .patch("agent", &path, json!({"body": "Use the self-service portal: Security › Reset token.", "version": version}))
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            (r.body["state"].as_str(), r.body["latest_version"].as_i64()),
            (Some("draft"), Some(2))
        );
        assert_eq!(app.get("requester", &path).await.body["shown_version"], 1);
        app.patch("agent", &path, json!({"state": "review"})).await;
        app.patch("sms-manager", &path, json!({"state": "published"}))
            .await;
        let r = app.get("requester", &path).await;
        assert_eq!(
            (r.body["shown_version"].as_i64(), r.body["body"].as_str()),
            (
                Some(2),
                Some("Use the self-service portal: Security › Reset token.")
            )
        );
        let v = app.get("auditor", &format!("{path}/versions")).await;
        assert_eq!(v.body.as_array().map(Vec::len), Some(2), "{}", v.body);
        assert_eq!(
            app.get("requester", &format!("{path}/versions"))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        // Retired: gone for requesters, kept for staff.
        assert_eq!(
            app.patch("manager", &path, json!({"state": "retired"}))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.get("requester", &path).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.get("agent", &path).await.status, StatusCode::OK);
        let h = app
            .get("auditor", "/api/v1/audit?limit=200")
            .await
            .body
            .to_string();
        assert!(
            h.contains("knowledge") && h.contains("published_version"),
            "audited"
        );
    }
);

db_test!(articles_validate_and_link_known_errors, |app| {
    let bad = [
        (json!({"title": "", "body": "b"}), "title"),
        (json!({"title": "t", "body": "  "}), "body"),
        (
            json!({"title": "t", "body": "b", "review_date": "next week"}),
            "review_date",
        ),
        (
            json!({"title": "t", "body": "b", "known_error": "INC-000001"}),
            "known_error",
        ),
        (
            json!({"title": "t", "body": "b", "service_id": 999}),
            "service_id",
        ),
    ];
    for (body, field) in bad {
        let r = app.post("agent", "/api/v1/knowledge", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
    let ke = app
        .post(
            "agent",
            "/api/v1/known-errors",
            json!({"title": "Mail stuck in outbox"}),
        )
        .await
        .body["number"]
        .as_str()
        .expect("ke")
        .to_string();
    let r = app.post("agent", "/api/v1/knowledge", json!({"title": "Outbox stuck", "body": "Restart Outlook in safe mode.", "known_error": ke.to_lowercase()})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["known_error"], ke.as_str());
    // Review due: the owner is told (once a week at most).
    let n = r.body["number"].as_str().expect("kb").to_string();
    app.patch(
        "agent",
        &format!("/api/v1/knowledge/{n}"),
        json!({"review_date": "2020-01-01"}),
    )
    .await;
    assert_eq!(
        keel::management::support::knowledge::remind_reviews(&app.db)
            .await
            .expect("remind"),
        1
    );
    assert_eq!(
        keel::management::support::knowledge::remind_reviews(&app.db)
            .await
            .expect("remind"),
        0
    );
    assert_eq!(
        app.get("agent", "/api/v1/notifications").await.body[0]["event"],
        "knowledge.review_due"
    );
    assert_eq!(
        numbers(
            &app.get("agent", "/api/v1/knowledge?review_due=true")
                .await
                .body
        ),
        [n.as_str()]
    );
});
