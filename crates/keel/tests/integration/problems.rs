//! Problem management (8.6.3) through the API: raising a problem from an incident, the known
//! error lifecycle, known-error records, trends, and what requesters may not see.

use crate::db_test;
use axum::http::StatusCode;
use serde_json::json;

db_test!(problem_from_incident_to_known_error_and_closure, |app| {
    let inc = app
        .incident(
            "requester",
            json!({"title": "Outlook crashes on start", "category": "software"}),
        )
        .await;
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{inc}/problem"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let prb = r.body["number"].as_str().expect("number").to_string();
    assert!(prb.starts_with("PRB-"), "{prb}");
    assert_eq!(
        r.headers["location"],
        format!("/api/v1/problems/{prb}").as_str()
    );
    assert_eq!(r.body["details"], json!({"origin": "incident"}));
    assert_eq!(r.body["title"], "Problem: Outlook crashes on start");
    assert_eq!(r.body["category"], "software");
    // The incident is linked as caused by the problem; the requester does not see that link.
    let links = app
        .get("agent", &format!("/api/v1/incidents/{inc}/links"))
        .await
        .body;
    assert_eq!(links[0]["kind"], "caused_by", "{links}");
    assert_eq!(links[0]["number"], prb.as_str());
    assert_eq!(
        app.get("requester", &format!("/api/v1/incidents/{inc}/links"))
            .await
            .body,
        json!([])
    );
    // Requesters neither read nor raise problems.
    assert_eq!(
        app.get("requester", "/api/v1/problems").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("requester", &format!("/api/v1/problems/{prb}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("requester", "/api/v1/problems", json!({"title": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Investigating, then known error: needs root cause and workaround.
    let path = format!("/api/v1/problems/{prb}");
    assert_eq!(
        app.patch("agent", &path, json!({"state": "investigating"}))
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .patch("agent", &path, json!({"state": "known_error"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "details.root_cause");
    let r = app
        .patch("agent", &path, json!({"details": {"colour": "red"}}))
        .await;
    assert_eq!(r.body["field"], "details.colour", "{}", r.body);
    let r = app
        .patch(
            "agent",
            &path,
            json!({"details": {"origin": "gut feeling"}}),
        )
        .await;
    assert_eq!(r.body["field"], "details.origin", "{}", r.body);
    // Recording a known error before the root cause is documented is refused.
    let r = app
        .post("agent", &format!("{path}/known-error"), json!({}))
        .await;
    assert_eq!(r.body["field"], "details.root_cause", "{}", r.body);
    let r = app
        .patch(
            "agent",
            &path,
            json!({"state": "known_error", "details": {"root_cause": "Corrupt add-in cache", "workaround": "Delete %LOCALAPPDATA%\\Outlook\\addins"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "known_error");
    assert_eq!(r.body["details"]["root_cause"], "Corrupt add-in cache");
    // Each detail is audited as its own field.
    let h = app.get("auditor", &format!("{path}/history")).await.body;
    assert!(h.to_string().contains("details.root_cause"), "{h}");
    // The known error record: searchable by agents, readable by auditors, not by requesters.
    let r = app
        .post("agent", &format!("{path}/known-error"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ke = r.body["number"].as_str().expect("ke").to_string();
    assert!(ke.starts_with("KE-"), "{ke}");
    assert_eq!(r.body["state"], "active");
    assert_eq!(
        r.body["details"]["workaround"],
        "Delete %LOCALAPPDATA%\\Outlook\\addins"
    );
    assert_eq!(
        r.headers["location"],
        format!("/api/v1/known-errors/{ke}").as_str()
    );
    let found = app
        .get("agent", "/api/v1/known-errors?q=outlook")
        .await
        .body;
    assert_eq!(found["items"][0]["number"], ke.as_str(), "{found}");
    assert_eq!(
        app.get("auditor", &format!("/api/v1/known-errors/{ke}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("requester", "/api/v1/known-errors").await.status,
        StatusCode::FORBIDDEN
    );
    // Resolve (permanent fix), then closing needs the closure review.
    let r = app
        .patch("agent", &path, json!({"state": "resolved", "resolution_code": "fixed_by_change", "resolution_notes": "Add-in updated"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.patch("agent", &path, json!({"state": "closed"})).await;
    assert_eq!(r.body["field"], "details.closure_review", "{}", r.body);
    let r = app
        .patch(
            "manager",
            &path,
            json!({"state": "closed", "details": {"closure_review": "No recurrence in 30 days"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Retire the known error once the fix is everywhere.
    let r = app
        .patch(
            "agent",
            &format!("/api/v1/known-errors/{ke}"),
            json!({"state": "retired"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
});

db_test!(detail_fields_belong_to_their_kind, |app| {
    let r = app
        .post(
            "agent",
            "/api/v1/incidents",
            json!({"title": "x", "details": {"root_cause": "y"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "details.root_cause");
    let r = app
        .post(
            "agent",
            "/api/v1/problems",
            json!({"title": "Disk fills weekly", "details": {"origin": "proactive"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["details"]["origin"], "proactive");
    let n = r.body["number"].as_str().expect("n");
    let r = app.get("agent", &format!("/api/v1/problems/{n}")).await;
    assert_eq!(r.body["details"]["origin"], "proactive");
    let r = app
        .patch(
            "agent",
            &format!("/api/v1/problems/{n}"),
            json!({"details": {"origin": null}}),
        )
        .await;
    assert_eq!(r.body["details"], json!({}), "{}", r.body);
});

db_test!(trends_count_incidents_and_those_with_problems, |app| {
    for (title, cat) in [
        ("a", "network"),
        ("b", "network"),
        ("c", "network"),
        ("d", "hardware"),
    ] {
        app.incident("agent", json!({"title": title, "category": cat}))
            .await;
    }
    app.post("agent", "/api/v1/incidents/INC-000001/problem", json!({}))
        .await;
    let r = app.get("manager", "/api/v1/problems/trends").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let g = &r.body["groups"];
    assert_eq!(g[0]["key"], "network", "{}", r.body);
    assert_eq!(g[0]["incidents"], 3);
    assert_eq!(g[0]["with_problem"], 1);
    assert_eq!(g[1]["key"], "hardware");
    let r = app
        .get("manager", "/api/v1/problems/trends?by=service&limit=1")
        .await;
    assert_eq!(
        r.body["groups"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    let r = app.get("manager", "/api/v1/problems/trends?limit=0").await;
    assert_eq!(r.body["field"], "limit");
    assert_eq!(
        app.get("requester", "/api/v1/problems/trends").await.status,
        StatusCode::FORBIDDEN
    );
});
