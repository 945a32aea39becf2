//! Integrations driven end to end: webhooks delivered to a real HTTP receiver on loopback (signed,
//! retried, logged, replayed), Alertmanager's payload opening, deduplicating and resolving
//! incidents, and mail opening items, threading replies and keeping what it cannot process.

use crate::common::App;
use crate::db_test;
use axum::http::{HeaderMap, StatusCode};
use keel::platform::db::Q;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What a receiver got.
#[derive(Clone)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// An HTTP receiver on loopback that answers 500 to its first `fail_first` requests, then 200.
pub async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Got>>>) {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut g = seen.lock().expect("lock");
                g.push(Got {
                    headers,
                    body: body.to_vec(),
                });
                if g.len() <= fail_first {
                    (StatusCode::INTERNAL_SERVER_ERROR, "not yet")
                } else {
                    (StatusCode::OK, "thanks")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

/// Run every due job as a node would (webhook deliveries here); returns how many ran.
pub async fn drain(app: &App) -> usize {
    let mut n = 0;
    while let Some(job) = keel::platform::jobs::claim(&app.db, "test-node")
        .await
        .expect("claim")
    {
        let r = match job.kind.as_str() {
            "webhook.deliver" => keel::integration::webhooks::deliver(&app.db, &job).await,
            _ => Ok(()),
        };
        keel::platform::jobs::finish(&app.db, &job, "test-node", r)
            .await
            .expect("finish");
        n += 1;
    }
    n
}

/// Let the back-off pass: every queued job is due now.
async fn time_passes(app: &App) {
    app.db
        .exec(Q::new("UPDATE jobs SET run_at = 0 WHERE state = 'queued'"))
        .await
        .expect("due");
}

fn signature_ok(secret: &str, g: &Got) -> bool {
    let h = g
        .headers
        .get("keel-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = jiff::Timestamp::now().as_second();
    keel_core::integration::webhook::verify(secret, h, &g.body, now, 300)
}

db_test!(webhooks_are_signed_retried_logged_and_replayed, |app| {
    let (url, got) = receiver(1).await;
    // Only administrators subscribe; bad input names its field.
    let r = app
        .post(
            "manager",
            "/api/v1/webhooks",
            json!({"name": "x", "url": url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for (body, field) in [
        (
            json!({"name": "x", "url": "ftp://host/x", "events": ["*"]}),
            "url",
        ),
        (
            json!({"name": "x", "url": url, "events": ["item.deleted"]}),
            "events",
        ),
        (json!({"name": "x", "url": url, "events": []}), "events"),
    ] {
        let r = app.post("admin", "/api/v1/webhooks", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.body["field"], field);
    }
    let r = app
        .post(
            "admin",
            "/api/v1/webhooks",
            json!({"name": "Chat", "url": url, "events": ["item.created", "item.state_changed"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let hook = r.body["id"].as_i64().expect("id");
    let secret = r.body["secret"].as_str().expect("secret once").to_string();
    // Readers (the auditor too) never see the secret.
    let r = app
        .get("auditor", &format!("/api/v1/webhooks/{hook}"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("secret").is_none(), "{}", r.body);

    let number = app
        .incident(
            "agent",
            json!({"title": "Mail server down", "impact": 1, "urgency": 1}),
        )
        .await;
    // First attempt: the receiver answers 500; the job is retried after its back-off.
    assert_eq!(drain(app).await, 1);
    assert_eq!(got.lock().expect("lock").len(), 1);
    assert_eq!(drain(app).await, 0, "the retry waits for its back-off");
    time_passes(app).await;
    assert_eq!(drain(app).await, 1);
    let calls = got.lock().expect("lock").clone();
    assert_eq!(calls.len(), 2);
    // Both attempts carried the same body, each properly signed.
    assert_eq!(calls[0].body, calls[1].body);
    for c in &calls {
        assert!(signature_ok(&secret, c));
        assert!(!signature_ok("wrong", c));
        assert_eq!(c.headers["keel-event"], "item.created");
    }
    let body: Value = serde_json::from_slice(&calls[1].body).expect("json");
    assert_eq!(body["event"], "item.created");
    assert_eq!(body["item"]["number"], number.as_str());
    assert_eq!(body["item"]["title"], "Mail server down");

    // The delivery log shows both attempts.
    let r = app
        .get("auditor", &format!("/api/v1/webhooks/{hook}/deliveries"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = &r.body[0];
    assert_eq!(d["state"], "delivered");
    let statuses: Vec<i64> = d["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status"].as_i64().expect("status"))
        .collect();
    assert_eq!(statuses, vec![500, 200]);
    let delivery = d["id"].as_i64().expect("id");

    // Replay: a new delivery, the same body.
    let r = app
        .post(
            "admin",
            &format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/replay"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["replay_of"], delivery);
    assert_eq!(drain(app).await, 1);
    {
        let calls = got.lock().expect("lock");
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].body, calls[1].body);
        assert_ne!(
            calls[2].headers["keel-delivery"],
            calls[1].headers["keel-delivery"]
        );
    }
    // Only subscribed events go out: a state change does, a comment does not.
    let r = app
        .patch(
            "agent",
            &format!("/api/v1/incidents/{number}"),
            json!({"state": "in_progress"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{number}/comments"),
            json!({"body": "looking"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(drain(app).await, 1);
    {
        let calls = got.lock().expect("lock");
        let last: Value = serde_json::from_slice(&calls[3].body).expect("json");
        assert_eq!(last["event"], "item.state_changed");
        assert_eq!(last["data"]["from"], "new");
        assert_eq!(last["data"]["state"], "in_progress");
    }
    // A paused subscription gets nothing.
    let r = app
        .patch(
            "admin",
            &format!("/api/v1/webhooks/{hook}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.incident("agent", json!({"title": "Quiet"})).await;
    assert_eq!(drain(app).await, 0);

    // A receiver that never answers well: the delivery ends `failed` after its last attempt.
    let (dead, _) = receiver(usize::MAX).await;
    let r = app
        .post(
            "admin",
            "/api/v1/webhooks",
            json!({"name": "Dead", "url": dead, "events": ["*"]}),
        )
        .await;
    let dead_hook = r.body["id"].as_i64().expect("id");
    let r = app
        .post(
            "admin",
            &format!("/api/v1/webhooks/{dead_hook}/ping"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.db
        .exec(Q::new(
            "UPDATE jobs SET max_attempts = 2 WHERE state = 'queued'",
        ))
        .await
        .expect("fewer attempts");
    drain(app).await;
    time_passes(app).await;
    drain(app).await;
    let r = app
        .get("admin", &format!("/api/v1/webhooks/{dead_hook}/deliveries"))
        .await;
    assert_eq!(r.body[0]["event"], "ping");
    assert_eq!(r.body[0]["state"], "failed", "{}", r.body);
    assert_eq!(r.body[0]["attempts"].as_array().map(Vec::len), Some(2));
    // Every change to a subscription is audited, its secret never.
    let (n, leaked): (i64, i64) = app
        .db
        .one(
            Q::new("SELECT COUNT(*), SUM(CASE WHEN changes LIKE $1 THEN 1 ELSE 0 END) FROM audit_log WHERE entity_type = 'webhook'")
                .bind(format!("%{secret}%")),
        )
        .await
        .expect("audit");
    assert!(n >= 5, "{n}");
    assert_eq!(leaked, 0);
});

async fn alert(app: &App, who: &str, query: &str, alerts: Value) -> (StatusCode, Value) {
    let r = app
        .post(
            who,
            &format!("/api/v1/integrations/alertmanager{query}"),
            json!({"version": "4", "status": "firing", "receiver": "keel", "groupLabels": {}, "commonLabels": {},
                   "externalURL": "http://alertmanager.example:9093", "alerts": alerts}),
        )
        .await;
    (r.status, r.body)
}

fn firing(fp: &str, instance: &str) -> Value {
    json!({"status": "firing", "fingerprint": fp,
           "labels": {"alertname": "HostDown", "instance": instance, "severity": "critical"},
           "annotations": {"summary": "host unreachable", "description": "No scrape for 5 minutes."},
           "startsAt": "2026-11-20T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph"})
}

db_test!(
    alertmanager_opens_deduplicates_and_resolves_incidents,
    |app| {
        let svc = app
            .post("manager", "/api/v1/services", json!({"name": "Payroll"}))
            .await
            .body["id"]
            .as_i64()
            .expect("service");
        assert_eq!(
            app.post("manager", "/api/v1/ci-classes", json!({"name": "server"}))
                .await
                .status,
            StatusCode::CREATED
        );
        let r = app
            .post(
                "manager",
                "/api/v1/cis",
                json!({"class": "server", "name": "db1", "service_id": svc}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // Requesters and auditors cannot send alerts; a bad payload names the alert.
        assert_eq!(
            alert(app, "requester", "", json!([firing("a1", "db1:9100")]))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            alert(app, "auditor", "", json!([firing("a1", "db1:9100")]))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        let (s, b) = alert(
            app,
            "agent",
            "",
            json!([{"status": "burning", "labels": {}}]),
        )
        .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("alerts[0].status"))
        );
        let (s, b) = alert(
            app,
            "agent",
            "?group=Nobody",
            json!([firing("a1", "db1:9100")]),
        )
        .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("group"))
        );

        // A firing alert opens a P1 incident on the CI (its port stripped) and the CI's service.
        let q = "?resolve=true&group=Service%20Desk&category=hardware";
        let (s, b) = alert(app, "agent", q, json!([firing("a1", "db1:9100")])).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["alerts"][0]["action"], "opened");
        let number = b["alerts"][0]["incident"]
            .as_str()
            .expect("incident")
            .to_string();
        let inc = app
            .get("agent", &format!("/api/v1/incidents/{number}"))
            .await
            .body;
        assert_eq!(inc["priority"], 1, "{inc}");
        assert_eq!(inc["title"], "HostDown on db1:9100: host unreachable");
        assert_eq!(inc["service"]["name"], "Payroll");
        assert_eq!(inc["assignment_group"]["name"], "Service Desk");
        assert_eq!(inc["category"], "hardware");
        let cis = app
            .get("agent", &format!("/api/v1/incidents/{number}/cis"))
            .await
            .body;
        assert_eq!(cis["cis"][0]["name"], "db1", "{cis}");
        // Repeats of the fingerprint update the same incident.
        for _ in 0..3 {
            let (_, b) = alert(app, "agent", q, json!([firing("a1", "db1:9100")])).await;
            assert_eq!(b["alerts"][0]["action"], "updated");
            assert_eq!(b["alerts"][0]["incident"], number.as_str());
        }
        let (n,): (i64,) = app
            .db
            .one(Q::new(
                "SELECT COUNT(*) FROM work_items WHERE kind = 'incident'",
            ))
            .await
            .expect("count");
        assert_eq!(n, 1);
        // Recovery resolves it (asked for with resolve=true) with a note.
        let mut rec = firing("a1", "db1:9100");
        rec["status"] = json!("resolved");
        rec["endsAt"] = json!("2026-11-20T10:30:00Z");
        let (_, b) = alert(app, "agent", q, json!([rec])).await;
        assert_eq!(b["alerts"][0]["action"], "resolved", "{b}");
        let inc = app
            .get("agent", &format!("/api/v1/incidents/{number}"))
            .await
            .body;
        assert_eq!(inc["state"], "resolved");
        assert_eq!(inc["resolution_code"], "recovered");
        let notes = app
            .get("agent", &format!("/api/v1/incidents/{number}/comments"))
            .await
            .body;
        assert!(
            notes
                .to_string()
                .contains("Alert resolved at 2026-11-20T10:30:00Z"),
            "{notes}"
        );
        // Firing again after the incident was resolved opens a new one; an alert without a known
        // CI still opens one, at the severity's priority.
        let (_, b) = alert(app, "agent", q, json!([firing("a1", "db1:9100"), {"status": "firing", "fingerprint": "b2", "labels": {"alertname": "Slow", "severity": "warning"}}])).await;
        assert_eq!(b["alerts"][0]["action"], "opened");
        assert_ne!(b["alerts"][0]["incident"], number.as_str());
        let other = b["alerts"][1]["incident"]
            .as_str()
            .expect("incident")
            .to_string();
        let inc = app
            .get("agent", &format!("/api/v1/incidents/{other}"))
            .await
            .body;
        assert_eq!(
            (inc["impact"].as_i64(), inc["urgency"].as_i64()),
            (Some(2), Some(2))
        );
        // Without resolve=true a recovery only notes it.
        let (_, b) = alert(
            app,
            "agent",
            "",
            json!([{"status": "resolved", "fingerprint": "b2", "labels": {}}]),
        )
        .await;
        assert_eq!(b["alerts"][0]["action"], "recovered");
        let inc = app
            .get("agent", &format!("/api/v1/incidents/{other}"))
            .await
            .body;
        assert_eq!(inc["state"], "new");
    }
);

fn cfg() -> keel::platform::config::Config {
    let mut c = keel::platform::config::Config::default();
    c.mail.addresses = vec!["desk@keel.example".into()];
    c
}

async fn mail(app: &App, raw: &[u8]) -> keel::integration::mail::Handled {
    keel::integration::mail::ingest(&app.db, &cfg(), "incidents", "test", raw.to_vec())
        .await
        .expect("stored")
}

fn msg(from: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: desk@keel.example\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

db_test!(
    mail_opens_items_threads_replies_and_keeps_what_it_cannot_process,
    |app| {
        // A requester's mail opens an incident for them, from the mail channel.
        let h = mail(
            app,
            &msg(
                "Requester <requester@test.keel>",
                "Laptop will not boot",
                "Message-ID: <m1@test.keel>\r\n",
                "It shows a black screen.",
            ),
        )
        .await;
        assert_eq!(
            (h.state.as_str(), h.action.as_deref()),
            ("processed", Some("created")),
            "{h:?}"
        );
        let number = h.item.clone().expect("item");
        let inc = app
            .get("requester", &format!("/api/v1/incidents/{number}"))
            .await
            .body;
        assert_eq!(inc["title"], "Laptop will not boot");
        assert_eq!(inc["requester"]["id"], app.users["requester"], "{inc}");
        assert!(description(&inc).contains("black screen"));
        // The same bytes again (an MTA retry) do not open a second incident.
        let again = mail(
            app,
            &msg(
                "Requester <requester@test.keel>",
                "Laptop will not boot",
                "Message-ID: <m1@test.keel>\r\n",
                "It shows a black screen.",
            ),
        )
        .await;
        assert_eq!(
            (again.id, again.item.as_deref()),
            (h.id, Some(number.as_str()))
        );
        // A reply threads by In-Reply-To and loses its quoted text.
        let h = mail(app, &msg("requester@test.keel", "Re: something else", "Message-ID: <m2@test.keel>\r\nIn-Reply-To: <m1@test.keel>\r\n",
        "Now it beeps three times.\r\n\r\nOn Wed, 25 Nov 2026, Desk <desk@keel.example> wrote:\r\n> It shows a black screen.")).await;
        assert_eq!(
            (h.action.as_deref(), h.item.as_deref()),
            (Some("commented"), Some(number.as_str()))
        );
        // A colleague of the same organisation may write by number in the subject.
        let h = mail(
            app,
            &msg(
                "colleague@test.keel",
                &format!("[{number}] same here"),
                "",
                "Mine too.",
            ),
        )
        .await;
        assert_eq!(h.action.as_deref(), Some("commented"), "{h:?}");
        let comments = app
            .get("requester", &format!("/api/v1/incidents/{number}/comments"))
            .await
            .body;
        let bodies: Vec<&str> = comments
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["body"].as_str())
            .collect();
        assert_eq!(bodies, vec!["Now it beeps three times.", "Mine too."]);
        // Another customer's requester may not: quarantined, with the reason, nothing written.
        let h = mail(
            app,
            &msg(
                "requester2@test.keel",
                &format!("Re: [{number}]"),
                "",
                "Let me in.",
            ),
        )
        .await;
        assert_eq!(h.state, "quarantined");
        assert!(
            h.reason
                .as_deref()
                .unwrap_or_default()
                .contains("may not write"),
            "{h:?}"
        );
        // So may not an outsider who is not a correspondent of the item.
        let h = mail(
            app,
            &msg(
                "contractor@partner.example",
                &format!("Re: [{number}]"),
                "",
                "Let me in.",
            ),
        )
        .await;
        assert_eq!(h.state, "quarantined");
        let stranger = h.id;
        // Unknown senders open items as outside correspondents, and may answer them.
        let h = mail(
            app,
            &msg(
                "Vera Visitor <vera@outside.example>",
                "Projector in room 4",
                "Message-ID: <v1@outside.example>\r\n",
                "No signal.",
            ),
        )
        .await;
        let vera_item = h.item.clone().expect("item");
        let inc = app
            .get("agent", &format!("/api/v1/incidents/{vera_item}"))
            .await
            .body;
        assert!(inc["requester"].is_null(), "{inc}");
        assert!(description(&inc).contains("vera@outside.example"));
        let h = mail(
            app,
            &msg(
                "vera@outside.example",
                &format!("Re: {vera_item}"),
                "",
                "Still no signal.",
            ),
        )
        .await;
        assert_eq!(h.action.as_deref(), Some("commented"), "{h:?}");
        // Automatic mail is ignored with its reason; our own mail too (a loop).
        let h = mail(
            app,
            &msg(
                "requester@test.keel",
                "Out of office",
                "Auto-Submitted: auto-replied\r\n",
                "Away.",
            ),
        )
        .await;
        assert_eq!(
            (h.state.as_str(), h.reason.as_deref()),
            ("ignored", Some("auto-submitted (Auto-Submitted header)"))
        );
        let h = mail(app, &msg("desk@keel.example", "Loop", "", "x")).await;
        assert_eq!(h.state, "ignored");
        let h = mail(
            app,
            &msg(
                "requester@test.keel",
                "List",
                "List-Id: <x.lists.example>\r\n",
                "x",
            ),
        )
        .await;
        assert_eq!(h.state, "ignored");
        // A number that does not exist is quarantined, not turned into a new item.
        let h = mail(app, &msg("requester@test.keel", "Re: INC-999999", "", "?")).await;
        assert_eq!(h.state, "quarantined");
        // Attachments are kept, in the same transaction as the item.
        let raw = b"From: requester@test.keel\r\nSubject: Screenshot\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nSee picture.\r\n--x\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"screen.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--x--\r\n";
        let h = mail(app, raw).await;
        let n = h.item.expect("item");
        let atts = app
            .get("requester", &format!("/api/v1/incidents/{n}/attachments"))
            .await
            .body;
        assert_eq!(atts[0]["filename"], "screen.png", "{atts}");
        assert_eq!(atts[0]["size"], 8);

        // The quarantine: readable by administrators and auditors, not by requesters or agents.
        assert_eq!(
            app.get("requester", "/api/v1/mail/quarantine").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get("agent", "/api/v1/mail/quarantine").await.status,
            StatusCode::FORBIDDEN
        );
        let q = app.get("auditor", "/api/v1/mail/quarantine").await;
        assert_eq!(q.status, StatusCode::OK);
        assert_eq!(q.body.as_array().map(Vec::len), Some(3), "{}", q.body);
        assert_eq!(
            app.post(
                "auditor",
                &format!("/api/v1/mail/quarantine/{stranger}/reprocess"),
                json!({})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        let raw = app
            .get(
                "auditor",
                &format!("/api/v1/mail/quarantine/{stranger}/raw"),
            )
            .await;
        assert_eq!(raw.headers["content-type"], "message/rfc822");
        assert!(String::from_utf8_lossy(&raw.raw).contains("Let me in."));
        // Once the sender may write (here: given an agent's account), reprocessing records the comment.
        let r = app.post("admin", "/api/v1/users", json!({"email": "contractor@partner.example", "name": "Contractor", "role": "agent"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = app
            .post(
                "admin",
                &format!("/api/v1/mail/quarantine/{stranger}/reprocess"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["state"], "processed");
        assert_eq!(r.body["item"], number.as_str());
        // Discarding keeps the message, with the reason, out of the quarantine.
        let left = app.get("admin", "/api/v1/mail/quarantine").await.body;
        assert_eq!(left.as_array().map(Vec::len), Some(2));
        let id = left[0]["id"].as_i64().expect("id");
        let r = app
            .post(
                "admin",
                &format!("/api/v1/mail/quarantine/{id}/discard"),
                json!({"reason": ""}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let r = app
            .post(
                "admin",
                &format!("/api/v1/mail/quarantine/{id}/discard"),
                json!({"reason": "test message"}),
            )
            .await;
        assert_eq!(r.body["state"], "discarded", "{}", r.body);
        assert_eq!(
            app.get("admin", "/api/v1/mail/quarantine")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let all = app
            .get("admin", "/api/v1/mail/quarantine?state=all")
            .await
            .body;
        assert_eq!(
            all.as_array().map(Vec::len),
            Some(12),
            "every distinct message received is kept"
        );
        // Both administrative acts are audited.
        let (n,): (i64,) = app
            .db
            .one(Q::new(
                "SELECT COUNT(*) FROM audit_log WHERE entity_type = 'mail_message'",
            ))
            .await
            .expect("audit");
        assert_eq!(n, 2);
    }
);

fn description(item: &Value) -> &str {
    item["description"].as_str().unwrap_or_default()
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/mail/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("corpus file")
}

async fn title_of(app: &App, h: &keel::integration::mail::Handled) -> Value {
    let n = h.item.clone().unwrap_or_else(|| panic!("no item: {h:?}"));
    app.get("agent", &format!("/api/v1/incidents/{n}"))
        .await
        .body
}

db_test!(the_mail_corpus_that_breaks_parsers, |app| {
    // Charsets: the declared one disagreeing with the bytes, ISO-2022-JP, Windows-1250.
    let h = mail(app, &corpus("charset-mismatch.eml")).await;
    let inc = title_of(app, &h).await;
    assert!(
        description(&inc).contains("printer prints nothing"),
        "{inc}"
    );
    let inc = title_of(app, &mail(app, &corpus("iso-2022-jp.eml")).await).await;
    assert_eq!(inc["title"], "プリンターが壊れました");
    assert!(description(&inc).contains("三階のプリンター"), "{inc}");
    let inc = title_of(app, &mail(app, &corpus("windows-1250.eml")).await).await;
    assert_eq!(inc["title"], "Tiskárna nefunguje – Příliš žluťoučký kůň");
    assert!(description(&inc).contains("třetím patře"), "{inc}");
    // RFC 2231 file names, encoded and continued.
    let h = mail(app, &corpus("rfc2231-filenames.eml")).await;
    let n = h.item.clone().expect("item");
    let atts = app
        .get("agent", &format!("/api/v1/incidents/{n}/attachments"))
        .await
        .body;
    let names: Vec<&str> = atts
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(names, vec!["návod k použití.pdf", "řádky z protokolu.txt"]);
    // Invalid byte sequences are replaced, not fatal.
    let inc = title_of(app, &mail(app, &corpus("invalid-bytes.eml")).await).await;
    assert!(
        inc["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Broken"),
        "{inc}"
    );
    assert!(description(&inc).contains("stray"), "{inc}");
    // A malformed Content-Type is read as plain text.
    let inc = title_of(app, &mail(app, &corpus("malformed-content-type.eml")).await).await;
    assert!(description(&inc).contains("scanner is jammed"), "{inc}");
    // HTML-only mail becomes text, without markup, styles or scripts.
    let inc = title_of(app, &mail(app, &corpus("html-only.eml")).await).await;
    let d = inc["description"].as_str().unwrap_or_default().to_string();
    assert!(d.contains("VPN") && d.contains("drops every hour"), "{d}");
    assert!(
        !d.contains("<b>") && !d.contains("alert(1)") && !d.contains("color:red"),
        "{d}"
    );
    // Deep nesting neither crashes nor loses the message.
    let h = mail(app, &corpus("deep-nesting.eml")).await;
    assert!(
        matches!(h.state.as_str(), "processed" | "quarantined"),
        "{h:?}"
    );
    // A backslash and quotes in the subject survive as written.
    let inc = title_of(app, &mail(app, &corpus("backslash-subject.eml")).await).await;
    assert_eq!(inc["title"], "C:\\Users\\ann\\printer \"broken\"");
    // No sender, or no mail at all: quarantined with a reason.
    for f in ["no-from.eml", "not-mail.bin"] {
        let h = mail(app, &corpus(f)).await;
        assert_eq!(h.state, "quarantined", "{f}: {h:?}");
        assert!(h.reason.is_some());
    }
    assert_eq!(mail(app, &corpus("auto-reply.eml")).await.state, "ignored");
    // A 25 MB attachment is kept whole.
    let big: Vec<u8> = (0..25 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut raw = b"From: Ann <ann@corpus.example>\r\nSubject: Big log\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nLog attached.\r\n--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"server.log\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&big);
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--big--\r\n");
    let h = mail(app, &raw).await;
    let n = h.item.clone().unwrap_or_else(|| panic!("{h:?}"));
    let atts = app
        .get("agent", &format!("/api/v1/incidents/{n}/attachments"))
        .await
        .body;
    assert_eq!(atts[0]["size"], 25 * 1024 * 1024, "{atts}");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&big));
    assert_eq!(atts[0]["sha256"], sha.as_str());
});

/// A real SMTP server on loopback (Debian's aiosmtpd) writing what it receives to a maildir.
struct Sink {
    port: u16,
    dir: crate::common::tempfile_dir::Dir,
    child: std::process::Child,
}

impl Sink {
    fn start(tls: Option<(&std::path::Path, &std::path::Path)>) -> Sink {
        let dir = crate::common::tempfile_dir::Dir::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mut cmd = std::process::Command::new("/usr/bin/python3");
        cmd.args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let child = cmd
            .arg(dir.path.join("maildir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd (Debian's python3-aiosmtpd, installed by scripts/test)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Sink { port, dir, child }
    }

    /// Every message received so far, raw.
    fn messages(&self) -> Vec<String> {
        let mut out = vec![];
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.dir.path.join("maildir").join(sub)) {
                for e in rd.flatten() {
                    out.push(std::fs::read_to_string(e.path()).expect("message"));
                }
            }
        }
        out
    }

    fn to(&self, addr: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(addr)))
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header(m: &str, name: &str) -> Option<String> {
    let head = m.split("\n\n").next().unwrap_or_default();
    head.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim().to_string())
}

fn smtp_cfg(
    port: u16,
    tls: &str,
    ca: Option<std::path::PathBuf>,
) -> keel::platform::config::Config {
    let mut c = cfg();
    c.mail.base_url = Some("https://desk.test.keel".into());
    c.mail.smtp = Some(keel::platform::config::SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: tls.into(),
        username: None,
        password: None,
        ca_file: ca,
        from: "Service Desk <desk@keel.example>".into(),
        timeout_secs: Some(10),
    });
    c
}

/// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command.
fn certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Keel Test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

db_test!(mail_goes_out_threaded_and_in_each_persons_language, |app| {
    let sink = Sink::start(None);
    let c = smtp_cfg(sink.port, "none", None);
    let ingest = |raw: Vec<u8>| {
        let c = smtp_cfg(sink.port, "none", None);
        async move {
            keel::integration::mail::ingest(&app.db, &c, "incidents", "test", raw)
                .await
                .expect("stored")
        }
    };
    let h = ingest(msg(
        "Requester <requester@test.keel>",
        "Monitor flickers",
        "Message-ID: <flicker-1@test.keel>\r\n",
        "Since this morning.",
    ))
    .await;
    let number = h.item.expect("item");
    // The requester reads German; the agent the installation's English.
    let r = app
        .patch(
            "admin",
            &format!("/api/v1/users/{}", app.users["requester"]),
            json!({"language": "de"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .patch(
            "admin",
            &format!("/api/v1/users/{}", app.users["agent"]),
            json!({"language": "xx"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("language"))
    );
    let r = app
        .patch(
            "manager",
            &format!("/api/v1/incidents/{number}"),
            json!({"assignment_group_id": app.group, "assignee_id": app.users["agent"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{number}/comments"),
            json!({"body": "Which cable do you use?"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    // Internal notes are not mailed to the requester.
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{number}/comments"),
            json!({"body": "probably the dock", "internal": true}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let sent = keel::integration::smtp::send_due(&app.db, &c)
        .await
        .expect("send");
    assert_eq!(sent, 2);
    let to_requester = sink.to("requester@test.keel");
    assert_eq!(to_requester.len(), 1, "{:?}", sink.messages());
    let m = &to_requester[0];
    assert_eq!(
        header(m, "Subject").as_deref(),
        Some(format!("[{number}] Neuer Kommentar: Monitor flickers").as_str())
    );
    assert_eq!(
        header(m, "In-Reply-To").as_deref(),
        Some("<flicker-1@test.keel>")
    );
    assert!(
        header(m, "References")
            .unwrap_or_default()
            .contains("<flicker-1@test.keel>")
    );
    assert_eq!(
        header(m, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(
        m.contains("Which cable do you use?") && !m.contains("probably the dock"),
        "{m}"
    );
    assert!(
        m.contains(&format!("https://desk.test.keel/incidents/{number}")),
        "{m}"
    );
    let to_agent = sink.to("agent@test.keel");
    assert_eq!(to_agent.len(), 1);
    assert!(to_agent[0].contains("Hello agent"), "{}", to_agent[0]);
    assert!(
        header(&to_agent[0], "Subject")
            .unwrap_or_default()
            .starts_with(&format!("[{number}]"))
    );
    // Nothing is sent twice.
    assert_eq!(
        keel::integration::smtp::send_due(&app.db, &c)
            .await
            .expect("send"),
        0
    );
    // The requester answers our message with a subject that names nothing: it threads by
    // In-Reply-To to the item, and the agent hears of it.
    let ours = header(m, "Message-ID").expect("message id");
    let h = ingest(msg(
        "requester@test.keel",
        "Re: hm",
        &format!("In-Reply-To: {ours}\r\n"),
        "The USB-C one.",
    ))
    .await;
    assert_eq!(
        (h.action.as_deref(), h.item.as_deref()),
        (Some("commented"), Some(number.as_str())),
        "{h:?}"
    );
    assert_eq!(
        keel::integration::smtp::send_due(&app.db, &c)
            .await
            .expect("send"),
        1
    );
    assert_eq!(sink.to("agent@test.keel").len(), 2);
    // An outside correspondent gets answers, but not their own words back.
    let h = ingest(msg(
        "Olga <olga@outside.example>",
        "Badge reader",
        "",
        "It beeps red.",
    ))
    .await;
    let badge = h.item.expect("item");
    ingest(msg(
        "olga@outside.example",
        &format!("Re: [{badge}]"),
        "",
        "Still red.",
    ))
    .await;
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{badge}/comments"),
            json!({"body": "Replaced it."}),
        )
        .await;
    assert!(r.status.is_success());
    keel::integration::smtp::send_due(&app.db, &c)
        .await
        .expect("send");
    let olga = sink.to("olga@outside.example");
    assert_eq!(olga.len(), 1, "{olga:?}");
    assert!(olga[0].contains("Replaced it."));
    // The server down: the message stays queued with the error, for a later attempt.
    drop(sink);
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{number}/comments"),
            json!({"body": "Try another port."}),
        )
        .await;
    assert!(r.status.is_success());
    assert_eq!(
        keel::integration::smtp::send_due(&app.db, &c)
            .await
            .expect("send"),
        0
    );
    let (state, err): (String, Option<String>) = app
        .db
        .one(Q::new(
            "SELECT state, last_error FROM mail_outgoing ORDER BY id DESC LIMIT 1",
        ))
        .await
        .expect("row");
    assert_eq!(state, "queued");
    assert!(err.is_some());
    // STARTTLS to a server whose certificate comes from the installation's own CA.
    let certs = crate::common::tempfile_dir::Dir::new();
    let (ca, cert, key) = certificates(&certs.path);
    let tls_sink = Sink::start(Some((&cert, &key)));
    let tc = smtp_cfg(tls_sink.port, "starttls", Some(ca));
    app.db
        .exec(Q::new(
            "UPDATE mail_outgoing SET next_at = 0 WHERE state = 'queued'",
        ))
        .await
        .expect("due");
    assert_eq!(
        keel::integration::smtp::send_due(&app.db, &tc)
            .await
            .expect("send"),
        1
    );
    assert!(tls_sink.to("requester@test.keel")[0].contains("Try another port."));
    // Without trusting that CA the certificate is refused.
    let r = app
        .post(
            "agent",
            &format!("/api/v1/incidents/{number}/comments"),
            json!({"body": "Anything?"}),
        )
        .await;
    assert!(r.status.is_success());
    let untrusting = smtp_cfg(tls_sink.port, "starttls", None);
    assert_eq!(
        keel::integration::smtp::send_due(&app.db, &untrusting)
            .await
            .expect("send"),
        0
    );
});

/// A real Dovecot IMAP server (Debian's dovecot-imapd, installed by scripts/test) on loopback,
/// with a plain listener and an implicit-TLS one whose certificate comes from a test CA.
struct Dovecot {
    plain: u16,
    tls: u16,
    ca: std::path::PathBuf,
    dir: crate::common::tempfile_dir::Dir,
    child: std::process::Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

impl Dovecot {
    fn start() -> Dovecot {
        let dir = crate::common::tempfile_dir::Dir::new();
        let d = dir.path.clone();
        let (ca, cert, key) = certificates(&d);
        let (plain, tls) = (free_port(), free_port());
        std::fs::create_dir_all(d.join("home")).expect("home");
        let _ = std::process::Command::new("chmod")
            .arg("777")
            .arg(d.join("home"))
            .status();
        std::fs::write(d.join("passwd"), "desk@test.keel:{PLAIN}imap-secret\n").expect("passwd");
        std::fs::write(
            d.join("dovecot.conf"),
            format!(
                "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
                 ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/home/%u\n}}\n\
                 mail_location = maildir:~/Maildir\n\
                 service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {plain}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls}\n    ssl = yes\n  }}\n}}\n\
                 service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n",
                d = d.display(),
                cert = cert.display(),
                key = key.display(),
            ),
        )
        .expect("config");
        let child = std::process::Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dovecot (Debian's dovecot-imapd, installed by scripts/test)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", plain)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "dovecot did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Dovecot {
            plain,
            tls,
            ca,
            dir,
            child,
        }
    }

    fn config(&self, tls: bool) -> keel::platform::config::ImapConfig {
        keel::platform::config::ImapConfig {
            host: "127.0.0.1".into(),
            port: Some(if tls { self.tls } else { self.plain }),
            tls: if tls { "tls" } else { "none" }.into(),
            username: "desk@test.keel".into(),
            password: "imap-secret".into(),
            mailbox: None,
            ca_file: tls.then(|| self.ca.clone()),
            idle: Some(true),
            poll_seconds: Some(5),
        }
    }

    /// Deliver a message into the mailbox (IMAP APPEND).
    async fn deliver(&self, raw: &[u8]) {
        let (mut s, _) = keel::integration::imap::connect(&self.config(false))
            .await
            .expect("connect");
        s.append("INBOX", None, None, raw).await.expect("append");
        let _ = s.logout().await;
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

fn imap_queue(dv: &Dovecot, tls: bool) -> keel::platform::config::MailQueue {
    keel::platform::config::MailQueue {
        name: "incidents".into(),
        kind: "incident".into(),
        group: None,
        service: None,
        imap: Some(dv.config(tls)),
    }
}

async fn titles(app: &App) -> Vec<String> {
    let v = app
        .get("agent", "/api/v1/incidents?sort=created_at")
        .await
        .body;
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["title"].as_str().map(str::to_string))
        .collect()
}

db_test!(mail_is_read_from_a_real_imap_mailbox_with_idle, |app| {
    let dv = Dovecot::start();
    let c = cfg();
    dv.deliver(&msg(
        "requester@test.keel",
        "First by IMAP",
        "Message-ID: <i1@test.keel>\r\n",
        "one",
    ))
    .await;
    dv.deliver(&msg(
        "requester@test.keel",
        "Second by IMAP",
        "Message-ID: <i2@test.keel>\r\n",
        "two",
    ))
    .await;
    let q = imap_queue(&dv, false);
    assert_eq!(
        keel::integration::imap::fetch_once(&app.db, &c, &q)
            .await
            .expect("fetch"),
        2
    );
    assert_eq!(titles(app).await, vec!["First by IMAP", "Second by IMAP"]);
    // The cursor remembers: nothing is taken twice, and what was taken is flagged \Seen.
    assert_eq!(
        keel::integration::imap::fetch_once(&app.db, &c, &q)
            .await
            .expect("fetch"),
        0
    );
    {
        let (mut s, _) = keel::integration::imap::connect(&dv.config(false))
            .await
            .expect("connect");
        let unseen = s.uid_search("UNSEEN").await.expect("search");
        assert!(unseen.is_empty(), "{unseen:?}");
        let _ = s.logout().await;
    }
    // Implicit TLS, trusting the installation's CA.
    dv.deliver(&msg("requester@test.keel", "Third over TLS", "", "three"))
        .await;
    let tq = imap_queue(&dv, true);
    assert_eq!(
        keel::integration::imap::fetch_once(&app.db, &c, &tq)
            .await
            .expect("fetch over TLS"),
        1
    );
    let mut untrusted = tq.clone();
    if let Some(i) = untrusted.imap.as_mut() {
        i.ca_file = None;
    }
    let e = keel::integration::imap::fetch_once(&app.db, &c, &untrusted)
        .await
        .expect_err("unknown CA");
    assert!(e.contains("TLS"), "{e}");
    // Watching with IDLE: a message is taken as soon as it arrives.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(keel::integration::imap::watch(
        app.db.clone(),
        std::sync::Arc::new(c.clone()),
        q.clone(),
        "node-a".into(),
        stop_rx,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    dv.deliver(&msg(
        "requester@test.keel",
        "Fourth while idling",
        "",
        "four",
    ))
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !titles(app)
        .await
        .contains(&"Fourth while idling".to_string())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "IDLE did not deliver the message"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The mailbox is leased to the watching node.
    let (by,): (Option<String>,) = app
        .db
        .one(Q::new(
            "SELECT leased_by FROM mail_cursors WHERE mailbox = 'incidents'",
        ))
        .await
        .expect("lease");
    assert_eq!(by.as_deref(), Some("node-a"));
    stop_tx.send(true).expect("stop");
    tokio::time::timeout(std::time::Duration::from_secs(10), watcher)
        .await
        .expect("watcher stops")
        .expect("joined");
    let (n,): (i64,) = app
        .db
        .one(Q::new(
            "SELECT COUNT(*) FROM mail_messages WHERE source LIKE 'imap:%'",
        ))
        .await
        .expect("count");
    assert_eq!(n, 4);
});

db_test!(
    imports_from_other_tools_map_columns_check_rows_and_apply_all_or_nothing,
    |app| {
        let users_csv = "User ID,Name,E-mail,Company,Role\nu1,Ada Import,ada@import.example,Alpha Corp,ITIL\nu2,Bo Import,bo@import.example,,Employee\nu3,Existing,agent@test.keel,,ITIL\n";
        let body = |csv: &str, dry: bool| {
            json!({
                "csv": csv, "dry_run": dry, "source": "ServiceNow",
                "mapping": {"email": "E-mail", "name": "Name", "customer": "Company", "role": "Role"},
                "values": {"role": {"ITIL": "agent", "Employee": "requester"}},
            })
        };
        // Administrators only; the mapping is checked against the fields and the file's columns.
        assert_eq!(
            app.post("manager", "/api/v1/imports/users", body(users_csv, true))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post("admin", "/api/v1/imports/tickets", body(users_csv, true))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let mut bad = body(users_csv, true);
        bad["mapping"]["shoe_size"] = json!("Name");
        let r = app.post("admin", "/api/v1/imports/users", bad).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("mapping.shoe_size"))
        );
        let mut bad = body(users_csv, true);
        bad["mapping"]["email"] = json!("Mail");
        let r = app.post("admin", "/api/v1/imports/users", bad).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("mapping.email"))
        );
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("E-mail"),
            "{}",
            r.body
        );
        // A dry run reports what would happen and writes nothing.
        let (before,): (i64,) = app
            .db
            .one(Q::new("SELECT COUNT(*) FROM users"))
            .await
            .expect("count");
        let r = app
            .post("admin", "/api/v1/imports/users", body(users_csv, true))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            (
                r.body["created"].as_i64(),
                r.body["skipped"].as_i64(),
                r.body["applied"].as_bool()
            ),
            (Some(2), Some(1), Some(false)),
            "{}",
            r.body
        );
        let (after,): (i64,) = app
            .db
            .one(Q::new("SELECT COUNT(*) FROM users"))
            .await
            .expect("count");
        assert_eq!(before, after);
        // One bad row: every row is reported, nothing is written.
        let broken = format!(
            "{users_csv}u4,No Mail,not-an-address,,ITIL\nu5,Cy,cy@import.example,Gamma GmbH,ITIL\n"
        );
        let r = app
            .post("admin", "/api/v1/imports/users", body(&broken, false))
            .await;
        assert_eq!(
            (r.body["errors"].as_i64(), r.body["applied"].as_bool()),
            (Some(2), Some(false)),
            "{}",
            r.body
        );
        let errs: Vec<(i64, String, String)> = r.body["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|x| x["action"] == "error")
            .map(|x| {
                (
                    x["row"].as_i64().unwrap_or(0),
                    x["field"].as_str().unwrap_or("").to_string(),
                    x["column"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        assert_eq!(
            errs,
            vec![
                (4, "email".to_string(), "E-mail".to_string()),
                (5, "customer".to_string(), "Company".to_string())
            ]
        );
        let (still,): (i64,) = app
            .db
            .one(Q::new("SELECT COUNT(*) FROM users"))
            .await
            .expect("count");
        assert_eq!(before, still, "nothing half-imported");
        // The real run.
        let r = app
            .post("admin", "/api/v1/imports/users", body(users_csv, false))
            .await;
        assert_eq!(
            (r.body["created"].as_i64(), r.body["applied"].as_bool()),
            (Some(2), Some(true)),
            "{}",
            r.body
        );
        let ada = app.get("admin", "/api/v1/users").await.body;
        let ada = ada
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["email"] == "ada@import.example")
            .cloned()
            .expect("ada");
        assert_eq!(
            (ada["role"].as_str(), ada["customer_id"].as_i64()),
            (Some("agent"), Some(app.customers[0]))
        );

        // Services, with customers separated by semicolons.
        let r = app.post("admin", "/api/v1/imports/services", json!({
        "csv": "Service;Owner;Customers\nPayroll;ada@import.example;Alpha Corp|Beta Ltd\n",
        "delimiter": ";", "mapping": {"name": "Service", "owner": "Owner", "customers": "Customers"},
        "values": {"customers": {"Alpha Corp|Beta Ltd": "Alpha Corp; Beta Ltd"}},
    })).await;
        assert_eq!(
            (r.body["created"].as_i64(), r.body["applied"].as_bool()),
            (Some(1), Some(true)),
            "{}",
            r.body
        );

        // Incidents: values mapped, closed ones left in the old tool, where they came from noted.
        let incidents_csv = "Number,Short description,Description,Impact,Urgency,State,Caller,Assignment group,Service,Opened\n\
        INC0010001,VPN drops,Every hour,1 - High,2 - Medium,In Progress,ada@import.example,Service Desk,Payroll,2026-11-01 09:00\n\
        INC0010002,Old printer issue,,3 - Low,3 - Low,Closed,bo@import.example,,,2026-01-01 10:00\n\
        INC0010003,Monitor,Flickers,2 - Medium,3 - Low,New,bo@import.example,,,2026-11-20 12:00\n";
        let ib = |dry: bool| {
            json!({
                "csv": incidents_csv, "dry_run": dry, "source": "ServiceNow",
                "mapping": {"external_id": "Number", "title": "Short description", "description": "Description", "impact": "Impact",
                            "urgency": "Urgency", "state": "State", "requester": "Caller", "assignment_group": "Assignment group",
                            "service": "Service", "opened_at": "Opened"},
                "values": {"impact": {"1 - High": "1", "2 - Medium": "2", "3 - Low": "3"}, "urgency": {"1 - High": "1", "2 - Medium": "2", "3 - Low": "3"},
                           "state": {"New": "new", "In Progress": "in_progress", "Closed": "closed"}},
                "defaults": {"category": "network"},
            })
        };
        let r = app
            .post("admin", "/api/v1/imports/incidents", ib(true))
            .await;
        assert_eq!(
            (
                r.body["created"].as_i64(),
                r.body["skipped"].as_i64(),
                r.body["errors"].as_i64()
            ),
            (Some(2), Some(1), Some(0)),
            "{}",
            r.body
        );
        let r = app
            .post("admin", "/api/v1/imports/incidents", ib(false))
            .await;
        assert_eq!(r.body["applied"], true, "{}", r.body);
        let first = r.body["rows"][0]["key"]
            .as_str()
            .expect("number")
            .to_string();
        let inc = app
            .get("agent", &format!("/api/v1/incidents/{first}"))
            .await
            .body;
        assert_eq!(
            (
                inc["title"].as_str(),
                inc["impact"].as_i64(),
                inc["urgency"].as_i64()
            ),
            (Some("VPN drops"), Some(1), Some(2))
        );
        assert_eq!(inc["assignment_group"]["name"], "Service Desk");
        assert_eq!(inc["service"]["name"], "Payroll");
        assert_eq!(inc["category"], "network");
        assert!(
            description(&inc).contains(
                "Imported from ServiceNow: reference INC0010001, opened 2026-11-01 09:00."
            ),
            "{inc}"
        );
        assert_eq!(r.body["rows"][1]["action"], "skipped");

        // CIs through the CMDB's own rules.
        app.post("manager", "/api/v1/ci-classes", json!({"name": "server", "identity": ["serial"], "attributes": [{"name": "serial", "type": "text", "required": true}]})).await;
        let r = app
            .post(
                "admin",
                "/api/v1/imports/cis",
                json!({
                    "csv": "Host,Serial\nsrv-a,S-1\nsrv-b,\n", "defaults": {"class": "server"},
                    "mapping": {"name": "Host", "attributes.serial": "Serial"},
                }),
            )
            .await;
        assert_eq!(
            (r.body["errors"].as_i64(), r.body["applied"].as_bool()),
            (Some(1), Some(false)),
            "{}",
            r.body
        );
        let r = app
            .post(
                "admin",
                "/api/v1/imports/cis",
                json!({
                    "csv": "Host,Serial\nsrv-a,S-1\nsrv-b,S-2\n", "defaults": {"class": "server"},
                    "mapping": {"name": "Host", "attributes.serial": "Serial"},
                }),
            )
            .await;
        assert_eq!(
            (r.body["created"].as_i64(), r.body["applied"].as_bool()),
            (Some(2), Some(true)),
            "{}",
            r.body
        );
    }
);

/// A real OpenLDAP slapd (Debian's slapd, installed by scripts/test) on loopback, holding
/// `dc=test,dc=keel` with people under `ou=people` and groups under `ou=groups`.
struct Slapd {
    port: u16,
    dir: crate::common::tempfile_dir::Dir,
    child: std::process::Child,
}

impl Slapd {
    fn start() -> Slapd {
        let dir = crate::common::tempfile_dir::Dir::new();
        let d = dir.path.clone();
        std::fs::create_dir_all(d.join("db")).expect("db dir");
        let port = free_port();
        std::fs::write(
            d.join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\ninclude /etc/ldap/schema/nis.schema\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {d}/slapd.pid\n\
                 database mdb\nmaxsize 10485760\nsuffix \"dc=test,dc=keel\"\nrootdn \"cn=admin,dc=test,dc=keel\"\nrootpw ldap-secret\ndirectory {d}/db\n",
                d = d.display()
            ),
        )
        .expect("slapd.conf");
        let child = std::process::Command::new("/usr/sbin/slapd")
            .args(["-d", "0", "-h", &format!("ldap://127.0.0.1:{port}/"), "-f"])
            .arg(d.join("slapd.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("slapd (Debian's slapd, installed by scripts/test)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "slapd did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Slapd { port, dir, child }
    }

    async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut ldap) =
            ldap3::LdapConnAsync::new(&format!("ldap://127.0.0.1:{}", self.port))
                .await
                .expect("connect");
        ldap3::drive!(conn);
        ldap.simple_bind("cn=admin,dc=test,dc=keel", "ldap-secret")
            .await
            .expect("bind")
            .success()
            .expect("bound");
        ldap
    }

    async fn add(&self, dn: &str, attrs: Vec<(&str, Vec<&str>)>) {
        let mut l = self.admin().await;
        let attrs: Vec<(&str, std::collections::HashSet<&str>)> = attrs
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        l.add(dn, attrs)
            .await
            .expect("add")
            .success()
            .unwrap_or_else(|e| panic!("add {dn}: {e}"));
        let _ = l.unbind().await;
    }

    async fn person(&self, uid: &str, name: &str) {
        self.add(
            &format!("uid={uid},ou=people,dc=test,dc=keel"),
            vec![
                ("objectClass", vec!["inetOrgPerson"]),
                ("uid", vec![uid]),
                ("cn", vec![name]),
                ("sn", vec![name]),
                ("mail", vec![&format!("{uid}@corp.test.keel")]),
            ],
        )
        .await;
    }

    fn config(&self) -> keel::platform::config::LdapConfig {
        keel::platform::config::LdapConfig {
            url: format!("ldap://127.0.0.1:{}", self.port),
            starttls: false,
            ca_file: None,
            bind_dn: "cn=admin,dc=test,dc=keel".into(),
            bind_password: "ldap-secret".into(),
            user_base: "ou=people,dc=test,dc=keel".into(),
            user_filter: None,
            email_attribute: None,
            name_attribute: None,
            group_base: "ou=groups,dc=test,dc=keel".into(),
            group_filter: None,
            roles: [
                ("keel-agents".to_string(), "agent".to_string()),
                ("keel-managers".to_string(), "manager".to_string()),
            ]
            .into_iter()
            .collect(),
            default_role: None,
            support_groups: None,
            interval_minutes: None,
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

db_test!(
    users_and_groups_are_synchronised_from_a_real_ldap_directory,
    |app| {
        let ldap = Slapd::start();
        ldap.add(
            "dc=test,dc=keel",
            vec![
                ("objectClass", vec!["dcObject", "organization"]),
                ("dc", vec!["test"]),
                ("o", vec!["Test"]),
            ],
        )
        .await;
        ldap.add(
            "ou=people,dc=test,dc=keel",
            vec![
                ("objectClass", vec!["organizationalUnit"]),
                ("ou", vec!["people"]),
            ],
        )
        .await;
        ldap.add(
            "ou=groups,dc=test,dc=keel",
            vec![
                ("objectClass", vec!["organizationalUnit"]),
                ("ou", vec!["groups"]),
            ],
        )
        .await;
        ldap.person("dana", "Dana Directory").await;
        ldap.person("eli", "Eli Directory").await;
        ldap.person("fay", "Fay Directory").await;
        // A directory entry for an address a local account holds is left alone.
        ldap.add(
            "uid=admin,ou=people,dc=test,dc=keel",
            vec![
                ("objectClass", vec!["inetOrgPerson"]),
                ("uid", vec!["admin"]),
                ("cn", vec!["Imposter"]),
                ("sn", vec!["I"]),
                ("mail", vec!["admin@test.keel"]),
            ],
        )
        .await;
        let member = |u: &str| format!("uid={u},ou=people,dc=test,dc=keel");
        let (d, e, f) = (member("dana"), member("eli"), member("fay"));
        ldap.add(
            "cn=keel-agents,ou=groups,dc=test,dc=keel",
            vec![
                ("objectClass", vec!["groupOfNames"]),
                ("cn", vec!["keel-agents"]),
                ("member", vec![&d, &e]),
            ],
        )
        .await;
        ldap.add(
            "cn=keel-managers,ou=groups,dc=test,dc=keel",
            vec![
                ("objectClass", vec!["groupOfNames"]),
                ("cn", vec!["keel-managers"]),
                ("member", vec![&e]),
            ],
        )
        .await;
        ldap.add(
            "cn=Network Team,ou=groups,dc=test,dc=keel",
            vec![
                ("objectClass", vec!["groupOfNames"]),
                ("cn", vec!["Network Team"]),
                ("member", vec![&d, &f]),
            ],
        )
        .await;

        let r = keel::directory::ldap::sync(&app.db, &ldap.config())
            .await
            .expect("sync");
        assert_eq!(
            (r.users_created, r.groups_created, r.memberships_added),
            (3, 1, 2),
            "{r:?}"
        );
        assert_eq!(r.skipped.len(), 1, "{r:?}");
        let users = app.get("admin", "/api/v1/users").await.body;
        let role = |email: &str| {
            users
                .as_array()
                .expect("users")
                .iter()
                .find(|u| u["email"] == email)
                .map(|u| u["role"].as_str().unwrap_or("").to_string())
        };
        assert_eq!(role("dana@corp.test.keel").as_deref(), Some("agent"));
        assert_eq!(
            role("eli@corp.test.keel").as_deref(),
            Some("manager"),
            "the most privileged of their groups"
        );
        assert_eq!(role("fay@corp.test.keel").as_deref(), Some("requester"));
        assert_eq!(
            role("admin@test.keel").as_deref(),
            Some("admin"),
            "local accounts keep working, unchanged"
        );
        // A second run with nothing changed changes nothing.
        let r = keel::directory::ldap::sync(&app.db, &ldap.config())
            .await
            .expect("sync");
        assert_eq!(
            (
                r.users_created,
                r.users_updated,
                r.users_disabled,
                r.memberships_added,
                r.memberships_removed
            ),
            (0, 0, 0, 0, 0),
            "{r:?}"
        );
        // Changes in the directory follow: fay leaves the team, dana leaves the company.
        {
            let mut l = ldap.admin().await;
            l.modify(
                "cn=Network Team,ou=groups,dc=test,dc=keel",
                vec![ldap3::Mod::Delete(
                    "member",
                    [f.as_str()].into_iter().collect(),
                )],
            )
            .await
            .expect("modify")
            .success()
            .expect("modified");
            l.delete(&d)
                .await
                .expect("delete")
                .success()
                .expect("deleted");
            let _ = l.unbind().await;
        }
        let r = keel::directory::ldap::sync(&app.db, &ldap.config())
            .await
            .expect("sync");
        assert_eq!((r.users_disabled, r.memberships_removed), (1, 2), "{r:?}");
        let users = app.get("admin", "/api/v1/users").await.body;
        let dana = users
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["email"] == "dana@corp.test.keel")
            .cloned()
            .expect("dana");
        assert_eq!(dana["disabled"], true);
        // The API: administrators only, and a clear answer when no directory is configured.
        assert_eq!(
            app.post("manager", "/api/v1/directory/sync", json!({}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let r = app.post("admin", "/api/v1/directory/sync", json!({})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        // Every change was audited as the directory sync.
        let (n,): (i64,) = app
            .db
            .one(Q::new(
                "SELECT COUNT(*) FROM audit_log WHERE actor = 'system:directory sync'",
            ))
            .await
            .expect("audit");
        assert!(n >= 8, "{n}");
    }
);

db_test!(any_work_item_list_exports_as_csv, |app| {
    for i in 0..7 {
        app.incident(
            "requester",
            json!({"title": format!("Export me {i}"), "impact": 2}),
        )
        .await;
    }
    app.incident("requester2", json!({"title": "Other customer's"}))
        .await;
    // Every matching item, not one page, with the list's filters.
    let r = app
        .get("agent", "/api/v1/incidents?limit=2&q=Export&format=csv")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let text = String::from_utf8_lossy(&r.raw).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "number,title,state,priority,impact,urgency,category,service,customer,requester,assignment_group,assignee,created_at,updated_at,resolved_at"
    );
    assert_eq!(lines.len(), 8, "{text}");
    // A requester's export holds only what they may see.
    let r = app.get("requester2", "/api/v1/incidents?format=csv").await;
    let text = String::from_utf8_lossy(&r.raw).to_string();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("Other customer's") && !text.contains("Export me"));
    let r = app.get("agent", "/api/v1/incidents?format=xml").await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("format"))
    );
});

db_test!(directory_and_portfolio_lists_export_as_csv, |app| {
    let r = app.get("agent", "/api/v1/users?format=csv").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&r.raw).to_string();
    assert!(
        text.starts_with("id,created_at,customer_id,disabled,email,name,role\r\n"),
        "{text}"
    );
    assert!(text.contains("requester@test.keel"));
    app.post(
        "manager",
        "/api/v1/services",
        json!({"name": "Mail, with comma", "customer_ids": [app.customers[0]]}),
    )
    .await;
    let text = String::from_utf8_lossy(&app.get("agent", "/api/v1/services?format=csv").await.raw)
        .to_string();
    assert!(text.contains("\"Mail, with comma\""), "{text}");
    for path in ["/api/v1/groups?format=csv", "/api/v1/customers?format=csv"] {
        let r = app.get("agent", path).await;
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/csv"),
            "{path}"
        );
    }
    let r = app.get("agent", "/api/v1/users?format=pdf").await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("format"))
    );
    // JSON stays the default.
    assert!(app.get("agent", "/api/v1/users").await.body.is_array());
});
