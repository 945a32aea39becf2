//! Full-text search (`/api/v1/search`): ranking, comments, stemming, scope, and input that
//! would break a query syntax.

use crate::db_test;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn numbers(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["number"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn enc(s: &str) -> String {
    keel::platform::ui::urlencode(s)
}

db_test!(search_finds_ranks_and_respects_scope, |app| {
    let a = app
        .incident(
            "requester",
            json!({"title": "Printer jams on floor 3", "description": "Paper stuck in tray 2"}),
        )
        .await;
    let b = app
        .incident(
            "agent",
            json!({"title": "Laptop slow", "description": "The printers driver update hangs"}),
        )
        .await;
    let c = app
        .incident("requester2", json!({"title": "VPN drops"}))
        .await;
    app.post(
        "agent",
        &format!("/api/v1/incidents/{c}/comments"),
        json!({"body": "Replaced the printer cable"}),
    )
    .await;
    app.post(
        "agent",
        &format!("/api/v1/incidents/{b}/comments"),
        json!({"body": "secret toner plan", "internal": true}),
    )
    .await;
    // Stemming and prefixes: "printer" finds printers/printer; the title match ranks first.
    let r = app.get("agent", "/api/v1/search?q=printer").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let found = numbers(&r.body);
    assert_eq!(found.first(), Some(&a), "{}", r.body);
    assert!(found.contains(&b) && found.contains(&c), "{}", r.body);
    let via_comment = r.body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .find(|h| h["number"] == c.as_str())
        .cloned()
        .expect("c");
    assert_eq!(via_comment["matched_in"], "comment");
    // All words must match; numbers are searchable.
    assert_eq!(
        numbers(
            &app.get("agent", "/api/v1/search?q=printer%20tray")
                .await
                .body
        ),
        [a.as_str()]
    );
    assert_eq!(
        numbers(
            &app.get("agent", &format!("/api/v1/search?q={}", enc(&c)))
                .await
                .body
        ),
        [c.as_str()]
    );
    // Requesters find only their own organisation's tickets, and never internal notes.
    assert_eq!(
        numbers(&app.get("requester", "/api/v1/search?q=printer").await.body),
        [a.as_str()]
    );
    assert_eq!(
        numbers(&app.get("requester", "/api/v1/search?q=toner").await.body),
        Vec::<String>::new()
    );
    assert_eq!(
        numbers(&app.get("agent", "/api/v1/search?q=toner").await.body),
        [b.as_str()]
    );
    // Updates are indexed.
    app.patch(
        "agent",
        &format!("/api/v1/incidents/{c}"),
        json!({"title": "VPN drops every hour (firewall)"}),
    )
    .await;
    assert_eq!(
        numbers(&app.get("agent", "/api/v1/search?q=firewall").await.body),
        [c.as_str()]
    );
    // Query syntax of either engine is just text.
    for q in [
        "\"unbalanced",
        "NEAR(a b)",
        "title:printer",
        "a AND OR NOT",
        "*",
        "x' OR '1'='1",
        "printer -jams",
        "(((",
        "é ü ß",
    ] {
        let r = app
            .get("agent", &format!("/api/v1/search?q={}", enc(q)))
            .await;
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{q}: {} {}",
            r.status,
            r.body
        );
    }
    let r = app.get("agent", "/api/v1/search?q=%20%2B%2B").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "q");
    let r = app.get("agent", "/api/v1/search?q=x&limit=0").await;
    assert_eq!(r.body["field"], "limit");
});

db_test!(search_covers_known_errors_for_staff_only, |app| {
    let r = app
        .post("agent", "/api/v1/known-errors", json!({"title": "Outlook profile corrupt", "details": {"workaround": "Recreate the mail profile"}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ke = r.body["number"].as_str().expect("ke").to_string();
    let r = app
        .get("agent", "/api/v1/search?q=recreate%20profile")
        .await;
    assert_eq!(numbers(&r.body), [ke.as_str()]);
    assert_eq!(
        numbers(
            &app.get("agent", "/api/v1/search?q=profile&kind=incident")
                .await
                .body
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        numbers(&app.get("requester", "/api/v1/search?q=profile").await.body),
        Vec::<String>::new()
    );
});
