//! The HTML shell over HTTP: login, sessions, CSRF, flash messages, the incident pages.
//! (Clicking through in a real browser is `tests/browser/`.)

use crate::common::App;
use crate::db_test;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

async fn login(app: &App, email: &str, password: &str) -> (StatusCode, Option<String>) {
    let r = app
        .send(
            Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "email={}&password={}&next=%2Fincidents",
                    email.replace('@', "%40"),
                    password.replace(' ', "+")
                )))
                .expect("req"),
        )
        .await;
    let cookie = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("keel_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string());
    (r.status, cookie)
}

fn html(r: &crate::common::Resp) -> String {
    String::from_utf8_lossy(&r.raw).into_owned()
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    page[i..i + 64].to_string()
}

async fn page(app: &App, cookie: &str, path: &str) -> crate::common::Resp {
    app.send(
        Request::get(path)
            .header("cookie", cookie)
            .body(Body::empty())
            .expect("req"),
    )
    .await
}

async fn form(app: &App, cookie: &str, path: &str, body: &str) -> crate::common::Resp {
    app.send(
        Request::post(path)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_string()))
            .expect("req"),
    )
    .await
}

async fn user_with_password(app: &App, email: &str, role: &str) {
    let u = keel::directory::NewUser::parse(
        email,
        "Pat Person",
        role,
        Some(app.customers[0]),
        Some("correct horse battery".into()),
    )
    .expect("user");
    keel::directory::create_user(&app.db, &keel::platform::audit::Actor::cli(), u)
        .await
        .expect("create");
}

db_test!(login_session_csrf_and_pages, |app| {
    user_with_password(app, "pat@test.keel", "agent").await;
    // Anonymous pages redirect to login, keeping where you were going.
    let r = app.get("", "/incidents?state=new").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers["location"],
        "/login?next=/incidents%3Fstate%3Dnew"
    );
    let r = app.get("", "/login").await;
    assert!(html(&r).contains("<label for=\"email\">"));
    // Wrong password: 401, a message, no session.
    let (status, cookie) = login(app, "pat@test.keel", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_none());
    let (status, cookie) = login(app, "pat@test.keel", "correct horse battery").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("session cookie");
    // The list page, then the new-incident form, with CSRF.
    let list = page(app, &cookie, "/incidents").await;
    assert_eq!(list.status, StatusCode::OK);
    let body = html(&list);
    assert!(body.contains("Pat Person"));
    let csrf = csrf_of(&body);
    let r = form(
        app,
        &cookie,
        "/incidents",
        "title=From+the+web&impact=1&urgency=1",
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a form without the CSRF token is refused"
    );
    let r = form(
        app,
        &cookie,
        "/incidents",
        &format!("csrf={csrf}&title=From+the+web&impact=1&urgency=1&category=&service_id="),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let loc = r.headers["location"].to_str().expect("loc").to_string();
    assert_eq!(loc, "/incidents/INC-000001");
    let r = form(
        app,
        &cookie,
        "/incidents",
        &format!("csrf={csrf}&title=+&impact=1&urgency=1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&r).contains("title: must not be empty"));
    // The detail page: edit with version, illegal move shown as an error, comment.
    let d = page(app, &cookie, &loc).await;
    assert!(
        html(&d).contains("From the web"),
        "{} {}",
        d.status,
        html(&d)
    );
    let r = form(
        app,
        &cookie,
        &loc,
        &format!("csrf={csrf}&version=1&state=resolved&resolution_code=&resolution_notes="),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html(&r).contains("resolution_code"));
    let r = form(
        app,
        &cookie,
        &loc,
        &format!("csrf={csrf}&version=1&state=in_progress"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = form(
        app,
        &cookie,
        &loc,
        &format!("csrf={csrf}&version=1&title=Stale+edit"),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::PRECONDITION_FAILED,
        "a stale form does not overwrite"
    );
    let r = form(
        app,
        &cookie,
        &format!("{loc}/comments"),
        &format!("csrf={csrf}&body=Looking+into+it"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let d = html(&page(app, &cookie, &loc).await);
    assert!(d.contains("Looking into it"));
    assert!(d.contains("comment.public"), "history is on the page");
    // The API accepts the session cookie only with the CSRF header on writes.
    let r = app
        .send(
            Request::post("/api/v1/incidents")
                .header("cookie", &cookie)
                .header("content-type", "application/json")
                .body(Body::from(json!({"title": "x"}).to_string()))
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .send(
            Request::post("/api/v1/incidents")
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .header("content-type", "application/json")
                .body(Body::from(json!({"title": "x"}).to_string()))
                .expect("req"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["channel"], "web");
    // The filter form's "Any" options send empty values; paging keeps every filter.
    for i in 0..3 {
        app.incident("agent", json!({"title": format!("Unassigned {i}")}))
            .await;
    }
    let r = page(
        app,
        &cookie,
        "/incidents?q=&state=&assignment_group_id=&open=&sort=-created_at&unassigned=true&limit=2",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", html(&r));
    let body = html(&r);
    let next = body
        .split("href=\"")
        .find(|s| s.contains("cursor="))
        .and_then(|s| s.split('"').next())
        .expect("next link")
        .replace("&amp;", "&");
    assert!(
        next.contains("unassigned=true")
            && next.contains("limit=2")
            && next.contains("sort=-created_at"),
        "{next}"
    );
    assert!(
        body.contains("name=\"unassigned\" value=\"true\""),
        "the filter form keeps the view's filter"
    );
    // History shows names, not ids.
    let d = html(&page(app, &cookie, &loc).await);
    assert!(
        d.contains("Pat Person (#"),
        "requester shown by name in history"
    );
    // Logout ends the session.
    let r = form(app, &cookie, "/logout", &format!("csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page(app, &cookie, "/incidents").await.status,
        StatusCode::SEE_OTHER
    );
    // Security headers on pages.
    let r = app.get("", "/login").await;
    assert!(r.headers.contains_key("content-security-policy"));
    assert_eq!(r.headers["x-frame-options"], "DENY");
});

db_test!(login_is_throttled, |app| {
    user_with_password(app, "sam@test.keel", "agent").await;
    for _ in 0..5 {
        assert_eq!(
            login(app, "sam@test.keel", "guess guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while throttled.
    assert_eq!(
        login(app, "sam@test.keel", "correct horse battery").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
});

/// Sign in from a given client address.
async fn login_from(
    app: &App,
    ip: &str,
    email: &str,
    password: &str,
    origin: Option<&str>,
) -> crate::common::Resp {
    let mut req = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "keel.test");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let mut req = req
        .body(Body::from(format!(
            "email={}&password={}&next=%2Fincidents",
            email.replace('@', "%40"),
            password.replace(' ', "+")
        )))
        .expect("req");
    let addr: std::net::SocketAddr = format!("{ip}:40000").parse().expect("address");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    app.send(req).await
}

db_test!(
    sign_in_is_throttled_per_account_and_client_and_checks_its_origin,
    |app| {
        user_with_password(app, "sam@test.keel", "agent").await;
        for _ in 0..5 {
            let r = login_from(app, "203.0.113.9", "sam@test.keel", "guess guess", None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // The client that failed is refused, even with the right password, and told when to retry.
        let r = login_from(
            app,
            "203.0.113.9",
            "sam@test.keel",
            "correct horse battery",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=900).contains(&retry), "{retry}");
        assert!(html(&r).contains("Try again in"), "{}", html(&r));
        // Sam, from their own machine, still signs in: a stranger cannot lock them out.
        let r = login_from(
            app,
            "198.51.100.7",
            "sam@test.keel",
            "correct horse battery",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", html(&r));
        // Password spraying: one client trying many accounts is refused after 20 failures.
        for i in 0..20 {
            let r = login_from(
                app,
                "192.0.2.66",
                &format!("nobody{i}@test.keel"),
                "Winter2026",
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        }
        let r = login_from(
            app,
            "192.0.2.66",
            "someone-else@test.keel",
            "Winter2026",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // A sign-in form posted from another site is refused (login CSRF); Keel's own page is not.
        let r = login_from(
            app,
            "198.51.100.8",
            "sam@test.keel",
            "correct horse battery",
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = login_from(
            app,
            "198.51.100.8",
            "sam@test.keel",
            "correct horse battery",
            Some("http://keel.test"),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
);

db_test!(requester_pages_are_scoped, |app| {
    user_with_password(app, "rita@test.keel", "requester").await;
    let other = app
        .incident("requester2", json!({"title": "Beta only"}))
        .await;
    let (_, cookie) = login(app, "rita@test.keel", "correct horse battery").await;
    let cookie = cookie.expect("cookie");
    let list = html(&page(app, &cookie, "/incidents").await);
    assert!(list.contains("My tickets"));
    assert!(!list.contains("Beta only"));
    assert_eq!(
        page(app, &cookie, &format!("/incidents/{other}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
});

db_test!(notifications_page_and_its_csrf, |app| {
    user_with_password(app, "pat@test.keel", "agent").await;
    let pat = keel::directory::user_by_email(&app.db, "pat@test.keel")
        .await
        .expect("pat");
    // Someone assigns an incident to Pat: Pat hears about it.
    let n = app
        .incident(
            "manager",
            json!({"title": "Toner <low>", "assignee_id": pat.id}),
        )
        .await;
    let (_, cookie) = login(app, "pat@test.keel", "correct horse battery").await;
    let cookie = cookie.expect("session");
    let r = page(app, &cookie, "/notifications").await;
    assert_eq!(r.status, StatusCode::OK);
    let body = html(&r);
    assert!(body.contains(&format!("href=\"/incidents/{n}\"")), "{body}");
    assert!(body.contains("Toner &lt;low&gt;"), "escaped: {body}");
    // Without the CSRF token nothing is marked.
    let r = form(app, &cookie, "/notifications/read", "csrf=nope").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(html(&page(app, &cookie, "/notifications").await).contains("<strong>new</strong>"));
    let csrf = csrf_of(&body);
    let r = form(app, &cookie, "/notifications/read", &format!("csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!html(&page(app, &cookie, "/notifications").await).contains("<strong>new</strong>"));
});

db_test!(management_system_pages_render, |app| {
    // One of each record, so that every detail page has something to show.
    let post = |path: &'static str, body: serde_json::Value| async move {
        let r = app.post("sms-manager", path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
        r.body["number"].as_str().expect("number").to_string()
    };
    let audit = post("/api/v1/audits", json!({"title": "A", "processes": ["incident"], "planned_start": "2026-01-01", "planned_end": "2026-01-02"})).await;
    let doc = post(
        "/api/v1/documents",
        json!({"title": "Policy", "doc_type": "policy", "body": "We commit."}),
    )
    .await;
    let review = post(
        "/api/v1/management-reviews",
        json!({"title": "Review", "planned_on": "2026-06-30"}),
    )
    .await;
    let asm = post("/api/v1/assessments", json!({"title": "Baseline"})).await;
    app.post(
        "sms-manager",
        &format!("/api/v1/management-reviews/{review}/inputs"),
        json!({}),
    )
    .await;
    user_with_password(app, "sms-pages@test.keel", "sms-manager").await;
    user_with_password(app, "auditor-pages@test.keel", "auditor").await;
    let pages = [
        ("/compliance".to_string(), "Readiness"),
        (
            "/compliance/requirements/8.6.1".to_string(),
            "Incident management",
        ),
        (
            "/compliance/processes/incident".to_string(),
            "Process attributes",
        ),
        ("/assessments".to_string(), "Readiness assessments"),
        (format!("/assessments/{asm}?with=now"), "Compare with"),
        ("/audits".to_string(), "Internal audit programme"),
        (format!("/audits/{audit}"), "Checklist"),
        ("/documents".to_string(), "Controlled documents"),
        (format!("/documents/{doc}"), "Versions"),
        ("/management-reviews".to_string(), "Management reviews"),
        (format!("/management-reviews/{review}"), "Inputs"),
        ("/nonconformities".to_string(), "Nonconformities"),
        ("/improvements".to_string(), "Improvements"),
        ("/risks".to_string(), "Risks and opportunities"),
        ("/objectives".to_string(), "Service management objectives"),
        ("/service-reports".to_string(), "Definitions"),
        (
            "/interested-parties".to_string(),
            "Interested parties and their requirements",
        ),
        ("/competence".to_string(), "Competence and training"),
        ("/sms".to_string(), "Scope, roles and communication"),
    ];
    for who in ["sms-pages@test.keel", "auditor-pages@test.keel"] {
        let (_, cookie) = login(app, who, "correct horse battery").await;
        let cookie = cookie.expect("session");
        for (path, heading) in &pages {
            let r = page(app, &cookie, path).await;
            assert_eq!(r.status, StatusCode::OK, "{who} {path}: {}", html(&r));
            assert!(html(&r).contains(heading), "{path} lacks {heading}");
        }
    }
    user_with_password(app, "requester-pages@test.keel", "requester").await;
    let (_, cookie) = login(app, "requester-pages@test.keel", "correct horse battery").await;
    let cookie = cookie.expect("session");
    for path in [
        "/compliance",
        "/audits",
        "/management-reviews",
        "/documents",
        "/risks",
    ] {
        assert_eq!(
            page(app, &cookie, path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
});

db_test!(operations_pages_and_register_forms, |app| {
    let svc = app
        .post(
            "manager",
            "/api/v1/services",
            json!({"name": "Mail", "customer_ids": [app.customers[0]]}),
        )
        .await
        .body["id"]
        .as_i64()
        .expect("service");
    let plan = app
        .post(
            "manager",
            "/api/v1/continuity-plans",
            json!({"service_id": svc, "title": "Mail DR", "owner_id": app.users["manager"]}),
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);
    user_with_password(app, "manager-pages@test.keel", "manager").await;
    let (_, cookie) = login(app, "manager-pages@test.keel", "correct horse battery").await;
    let cookie = cookie.expect("session");
    for (path, heading) in [
        ("/operations".to_string(), "Relationship and agreement"),
        (
            "/operations/relationships".to_string(),
            "Agreements in force",
        ),
        ("/operations/supply".to_string(), "Actuals against budget"),
        ("/operations/assurance".to_string(), "Availability in"),
        ("/registers/outages".to_string(), "Agreed maintenance"),
        (
            format!("/registers/continuity-plans/{}", plan.body["id"]),
            "Mail DR",
        ),
        (format!("/services/{svc}"), "Supplier dependencies"),
    ] {
        let r = page(app, &cookie, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", html(&r));
        assert!(html(&r).contains(heading), "{path} lacks {heading}");
    }
    assert_eq!(
        page(app, &cookie, "/registers/nothing").await.status,
        StatusCode::NOT_FOUND
    );

    // A refused form is shown again with the values entered and the field named; a good one
    // lands on the new record.
    let list = html(&page(app, &cookie, "/registers/outages").await);
    let csrf = csrf_of(&list);
    let bad = form(app, &cookie, "/registers/outages", &format!(
        "csrf={csrf}&service_id={svc}&description=Disk+full&started_at=2026-10-01T10%3A00&ended_at=2026-10-01T09%3A00&scheduled=true"
    ))
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = html(&bad);
    assert!(
        body.contains("ended_at: must not be before started_at"),
        "{body}"
    );
    assert!(body.contains("value=\"Disk full\""), "entered values kept");
    let good = form(app, &cookie, "/registers/outages", &format!(
        "csrf={csrf}&service_id={svc}&description=Disk+full&started_at=2026-10-01T10%3A00&ended_at=2026-10-01T11%3A00"
    ))
    .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", html(&good));
    let to = good.headers[header::LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    let rec = html(&page(app, &cookie, &to).await);
    assert!(
        rec.contains("Disk full") && rec.contains("2026-10-01 10:00 UTC"),
        "{rec}"
    );
    assert!(rec.contains("record-history"), "history shown");
    let out = app.get("auditor", "/api/v1/outages").await;
    assert_eq!(
        out.body["items"][0]["scheduled"], false,
        "an unticked box is false"
    );

    // Requesters have no operations pages; agents read but get no forms.
    user_with_password(app, "requester-ops@test.keel", "requester").await;
    let (_, rc) = login(app, "requester-ops@test.keel", "correct horse battery").await;
    let rc = rc.expect("session");
    assert_eq!(
        page(app, &rc, "/registers/outages").await.status,
        StatusCode::FORBIDDEN
    );
    assert!(!html(&page(app, &rc, "/incidents").await).contains("href=\"/operations\""));
    user_with_password(app, "agent-ops@test.keel", "agent").await;
    let (_, ac) = login(app, "agent-ops@test.keel", "correct horse battery").await;
    let ac = ac.expect("session");
    let r = page(app, &ac, "/registers/outages").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!html(&r).contains("register-form"));
    assert_eq!(
        page(app, &ac, "/registers/budgets").await.status,
        StatusCode::FORBIDDEN
    );
});

db_test!(
    integrations_page_reprocesses_and_discards_quarantined_mail,
    |app| {
        let cfg = keel::platform::config::Config::default();
        for raw in [
            &b"Subject: no sender\r\n\r\nwho?\r\n"[..],
            &b"From: stranger@elsewhere.example\r\nSubject: Re: INC-000999\r\n\r\n?\r\n"[..],
        ] {
            let h =
                keel::integration::mail::ingest(&app.db, &cfg, "incidents", "test", raw.to_vec())
                    .await
                    .expect("stored");
            assert_eq!(h.state, "quarantined");
        }
        let hook = app
            .post(
                "admin",
                "/api/v1/webhooks",
                json!({"name": "Chat", "url": "http://127.0.0.1:9/hook", "events": ["*"]}),
            )
            .await;
        let hook = hook.body["id"].as_i64().expect("hook");
        app.post("admin", &format!("/api/v1/webhooks/{hook}/ping"), json!({}))
            .await;
        user_with_password(app, "admin-int@test.keel", "admin").await;
        let (_, cookie) = login(app, "admin-int@test.keel", "correct horse battery").await;
        let cookie = cookie.expect("session");
        let r = page(app, &cookie, "/integrations").await;
        assert_eq!(r.status, StatusCode::OK);
        let body = html(&r);
        assert!(body.contains("href=\"/integrations\""), "the nav links it");
        assert!(
            body.contains("no sender") || body.contains("no From address"),
            "{body}"
        );
        assert!(body.contains("/integrations/mail/1/discard") && body.contains("Chat"));
        let csrf = csrf_of(&body);
        // Discarding needs a reason; with one, the message leaves the quarantine.
        let r = form(
            app,
            &cookie,
            "/integrations/mail/1/discard",
            &format!("csrf={csrf}&reason="),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = form(
            app,
            &cookie,
            "/integrations/mail/1/discard",
            &format!("csrf={csrf}&reason=no+sender"),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = page(app, &cookie, "/integrations").await;
        assert!(!html(&r).contains("/integrations/mail/1/discard"));
        let r = form(
            app,
            &cookie,
            "/integrations/mail/2/reprocess",
            &format!("csrf={csrf}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        // The webhook's page lists its deliveries with a replay button.
        let r = page(app, &cookie, &format!("/integrations/webhooks/{hook}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            html(&r).contains("ping") && html(&r).contains("/replay"),
            "{}",
            html(&r)
        );
        // Auditors read without forms; agents have no such page.
        user_with_password(app, "auditor-int@test.keel", "auditor").await;
        let (_, ac) = login(app, "auditor-int@test.keel", "correct horse battery").await;
        let r = page(app, &ac.expect("session"), "/integrations").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!html(&r).contains("/reprocess"));
        user_with_password(app, "agent-int@test.keel", "agent").await;
        let (_, gc) = login(app, "agent-int@test.keel", "correct horse battery").await;
        assert_eq!(
            page(app, &gc.expect("session"), "/integrations")
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
);
