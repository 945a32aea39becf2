//! The service portfolio (8.2): services and plans, the catalogue and ordering, the CMDB with
//! impact analysis, and affected CIs on work items.

use crate::common::App;
use crate::db_test;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

async fn class(app: &App, body: Value) -> i64 {
    let r = app.post("manager", "/api/v1/ci-classes", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().expect("id")
}

async fn ci(app: &App, body: Value) -> i64 {
    let r = app.post("manager", "/api/v1/cis", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().expect("id")
}

async fn relate(app: &App, s: i64, kind: &str, t: i64) -> i64 {
    let r = app
        .post(
            "manager",
            "/api/v1/relationships",
            json!({"source_id": s, "kind": kind, "target_id": t}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().expect("id")
}

async fn service(app: &App, body: Value) -> i64 {
    let r = app.post("manager", "/api/v1/services", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_i64().expect("id")
}

fn ids(v: &Value, key: &str) -> Vec<i64> {
    let mut out: Vec<i64> = v[key]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x["id"].as_i64().expect("id"))
        .collect();
    out.sort();
    out
}

/// A small estate: the Payroll service's CI depends on an app, which runs on a server, which
/// connects to a switch; a disk is part of the server.
struct Estate {
    payroll: i64,
    payroll_ci: i64,
    app_ci: i64,
    server: i64,
    switch: i64,
    disk: i64,
    rel_app_server: i64,
}

async fn estate(app: &App) -> Estate {
    let payroll = service(
        app,
        json!({"name": "Payroll", "customer_ids": [app.customers[0]]}),
    )
    .await;
    class(app, json!({"name": "service"})).await;
    class(
        app,
        json!({"name": "application", "attributes": [{"name": "version", "type": "text"}]}),
    )
    .await;
    class(
        app,
        json!({"name": "server", "identity": ["serial"], "attributes": [
            {"name": "serial", "type": "text", "required": true},
            {"name": "ram_gb", "type": "number", "min": 1},
            {"name": "env", "type": "choice", "options": ["prod", "test"]}
        ]}),
    )
    .await;
    class(app, json!({"name": "network device"})).await;
    let payroll_ci = ci(
        app,
        json!({"class": "service", "name": "Payroll", "service_id": payroll}),
    )
    .await;
    let app_ci = ci(
        app,
        json!({"class": "application", "name": "payroll-app", "attributes": {"version": "4.2"}}),
    )
    .await;
    let server = ci(app, json!({"class": "server", "name": "srv-01", "attributes": {"serial": "SN-1", "ram_gb": 64, "env": "prod"}})).await;
    let switch = ci(app, json!({"class": "network device", "name": "core-sw"})).await;
    let disk = ci(app, json!({"class": "application", "name": "disk-array"})).await;
    relate(app, payroll_ci, "depends_on", app_ci).await;
    let rel_app_server = relate(app, app_ci, "runs_on", server).await;
    relate(app, server, "connects_to", switch).await;
    relate(app, disk, "part_of", server).await;
    Estate {
        payroll,
        payroll_ci,
        app_ci,
        server,
        switch,
        disk,
        rel_app_server,
    }
}

db_test!(cmdb_classes_cis_relationships_and_impact, |app| {
    // Impact is read first so this node's graph is loaded, then must follow every later write.
    assert_eq!(
        app.get("manager", "/api/v1/cis/1/impact").await.status,
        StatusCode::NOT_FOUND
    );
    let e = estate(app).await;
    // Attributes are typed and checked on the server; errors name the field.
    let bad = app
        .post("manager", "/api/v1/cis", json!({"class": "server", "name": "srv-02", "attributes": {"serial": "SN-2", "ram_gb": "lots"}}))
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("attributes.ram_gb"))
    );
    let bad = app
        .post(
            "manager",
            "/api/v1/cis",
            json!({"class": "server", "name": "srv-02"}),
        )
        .await;
    assert_eq!(bad.body["field"], "attributes.serial");
    let bad = app
        .post(
            "manager",
            "/api/v1/cis",
            json!({"class": "router", "name": "r"}),
        )
        .await;
    assert_eq!(bad.body["field"], "class");
    // The identity key is unique per class.
    let dup = app
        .post(
            "manager",
            "/api/v1/cis",
            json!({"class": "server", "name": "other-name", "attributes": {"serial": "sn-1"}}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.body);
    let bad = app
        .post(
            "manager",
            "/api/v1/relationships",
            json!({"source_id": e.server, "kind": "hosts", "target_id": e.disk}),
        )
        .await;
    assert_eq!(bad.body["field"], "kind");
    let bad = app
        .post(
            "manager",
            "/api/v1/relationships",
            json!({"source_id": e.server, "kind": "runs_on", "target_id": e.server}),
        )
        .await;
    assert_eq!(bad.body["field"], "target_id");
    let dup = app
        .post(
            "manager",
            "/api/v1/relationships",
            json!({"source_id": e.app_ci, "kind": "runs_on", "target_id": e.server}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    // Only configuration managers write; agents and auditors read; requesters see nothing.
    assert_eq!(
        app.post(
            "agent",
            "/api/v1/cis",
            json!({"class": "service", "name": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("auditor", &format!("/api/v1/cis/{}", e.server))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("requester", "/api/v1/cis").await.status,
        StatusCode::FORBIDDEN
    );

    // A failing switch reaches the server, the app, the service CI, the service and its customer.
    let r = app
        .get("agent", &format!("/api/v1/cis/{}/impact", e.switch))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body, "cis"), {
        let mut v = vec![e.switch, e.server, e.app_ci, e.payroll_ci];
        v.sort();
        v
    });
    let payroll_ci = r.body["cis"]
        .as_array()
        .expect("cis")
        .iter()
        .find(|c| c["id"] == e.payroll_ci)
        .expect("reached")
        .clone();
    assert_eq!(payroll_ci["depth"], 3);
    let path: Vec<(String, i64)> = payroll_ci["path"]
        .as_array()
        .expect("path")
        .iter()
        .map(|h| {
            (
                h["kind"].as_str().unwrap_or_default().to_string(),
                h["ci_id"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        path,
        vec![
            ("connects_to".into(), e.server),
            ("runs_on".into(), e.app_ci),
            ("depends_on".into(), e.payroll_ci)
        ]
    );
    assert_eq!(r.body["services"][0]["id"], e.payroll);
    assert_eq!(r.body["services"][0]["through_ci"], e.payroll_ci);
    assert_eq!(r.body["customers"][0]["id"], app.customers[0]);
    // The disk is part of the server: its failure reaches the server, not the other way round.
    let r = app
        .get("agent", &format!("/api/v1/cis/{}/impact", e.server))
        .await;
    assert!(!ids(&r.body, "cis").contains(&e.disk));
    let r = app
        .get(
            "agent",
            &format!("/api/v1/cis/{}/impact?direction=upstream", e.app_ci),
        )
        .await;
    assert_eq!(ids(&r.body, "cis"), {
        let mut v = vec![e.app_ci, e.server, e.switch, e.disk];
        v.sort();
        v
    });
    let r = app
        .get("agent", &format!("/api/v1/cis/{}/impact?depth=1", e.switch))
        .await;
    assert_eq!(
        (r.body["total"].as_i64(), r.body["depth_limited"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(
        app.get(
            "agent",
            &format!("/api/v1/cis/{}/impact?direction=sideways", e.switch)
        )
        .await
        .body["field"],
        "direction"
    );
    assert_eq!(
        app.get("agent", &format!("/api/v1/cis/{}/impact?depth=0", e.switch))
            .await
            .body["field"],
        "depth"
    );

    // A second node on the same database has its own graph, loaded now...
    let node2 = keel::app::state(app.db.clone(), keel::platform::config::Config::default());
    let down = || keel::operation::portfolio::configuration::ImpactParams {
        direction: None,
        depth: None,
        limit: None,
    };
    let before = keel::operation::portfolio::configuration::impact(&node2, e.switch, &down())
        .await
        .expect("impact");
    assert_eq!(before.total, 4);
    // Removing the app → server relationship cuts the service off from the switch.
    let d = app
        .call(
            "manager",
            Method::DELETE,
            &format!("/api/v1/relationships/{}", e.rel_app_server),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let r = app
        .get("agent", &format!("/api/v1/cis/{}/impact", e.switch))
        .await;
    assert_eq!(ids(&r.body, "cis"), {
        let mut v = vec![e.switch, e.server];
        v.sort();
        v
    });
    assert_eq!(r.body["services"], json!([]));
    // ...and catches up from the change log on its next query.
    let after = keel::operation::portfolio::configuration::impact(&node2, e.switch, &down())
        .await
        .expect("impact");
    assert_eq!((after.total, after.services.len()), (2, 0));

    // Updates merge attributes, recompute the identity key and are audited field by field.
    let path = format!("/api/v1/cis/{}", e.server);
    let r = app.patch("manager", &path, json!({"attributes": {"ram_gb": 128, "env": null}, "status": "maintenance", "version": 1})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["attributes"],
        json!({"serial": "SN-1", "ram_gb": 128})
    );
    assert_eq!(r.body["version"], 2);
    assert_eq!(
        app.patch("manager", &path, json!({"name": "x", "version": 1}))
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.patch("manager", &path, json!({"status": "lost"}))
            .await
            .body["field"],
        "status"
    );
    let audit = app
        .get(
            "auditor",
            &format!("/api/v1/audit?entity_type=ci&entity_id={}", e.server),
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let text = audit.body.to_string();
    assert!(
        text.contains("attributes.ram_gb") && text.contains("attributes.env"),
        "{text}"
    );

    // Lists filter by class, name and status, page by id.
    let r = app.get("agent", "/api/v1/cis?class=server").await;
    assert_eq!(ids(&r.body, "items"), vec![e.server]);
    let r = app.get("agent", "/api/v1/cis?q=PAY&limit=1").await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let next = r.body["next_after"].as_i64().expect("more");
    let r = app
        .get("agent", &format!("/api/v1/cis?q=pay&after={next}"))
        .await;
    assert_eq!(r.body["next_after"], Value::Null);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let r = app
        .get("agent", &format!("/api/v1/relationships?ci={}", e.server))
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(2));

    // A class's identity cannot change once it has CIs; attributes can.
    let classes = app.get("agent", "/api/v1/ci-classes").await.body;
    let server_class = classes
        .as_array()
        .expect("classes")
        .iter()
        .find(|c| c["name"] == "server")
        .expect("server")["id"]
        .as_i64()
        .expect("id");
    let r = app
        .call(
            "manager",
            Method::PATCH,
            &format!("/api/v1/ci-classes/{server_class}"),
            Some(json!({"identity": ["name"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let bad = app
        .post(
            "manager",
            "/api/v1/ci-classes",
            json!({"name": "x", "identity": ["serial"]}),
        )
        .await;
    assert_eq!(bad.body["field"], "identity");
    let bad = app
        .post(
            "manager",
            "/api/v1/ci-classes",
            json!({"name": "x", "attributes": [{"name": "a", "type": "choice"}]}),
        )
        .await;
    assert_eq!(bad.body["field"], "attributes.a");
});

db_test!(
    services_have_a_lifecycle_customers_dependencies_and_plans,
    |app| {
        let network = service(app, json!({"name": "Network"})).await;
        let r = app
        .post(
            "manager",
            "/api/v1/services",
            json!({"name": "Email", "owner_id": app.users["manager"], "stage": "pipeline", "requirements": "99.9% available in office hours",
                   "customer_ids": [app.customers[0], app.customers[1]], "depends_on_ids": [network],
                   "parties": [{"name": "MailCo", "kind": "supplier", "stages": ["delivery"], "role": "hosting"}]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let email = r.body["id"].as_i64().expect("id");
        assert_eq!(r.body["stage"], "pipeline");
        assert_eq!(r.body["depends_on"][0]["name"], "Network");
        assert_eq!(r.body["customers"].as_array().map(Vec::len), Some(2));
        assert_eq!(r.body["parties"][0]["kind"], "supplier");
        // No cycles, no unknown stages or party kinds.
        let r = app
            .patch(
                "manager",
                &format!("/api/v1/services/{network}"),
                json!({"depends_on_ids": [email]}),
            )
            .await;
        assert_eq!(r.body["field"], "depends_on_ids");
        let r = app
            .patch(
                "manager",
                &format!("/api/v1/services/{email}"),
                json!({"parties": [{"name": "x", "kind": "friend", "stages": ["design"]}]}),
            )
            .await;
        assert_eq!(r.body["field"], "parties[0].kind");
        // pipeline → live → retiring → retired; retired is final.
        let path = format!("/api/v1/services/{email}");
        assert_eq!(
            app.patch("manager", &path, json!({"stage": "retiring"}))
                .await
                .status,
            StatusCode::CONFLICT
        );
        for s in ["live", "retiring", "retired"] {
            let r = app.patch("manager", &path, json!({"stage": s})).await;
            assert_eq!(r.status, StatusCode::OK, "{s}: {}", r.body);
        }
        assert_eq!(
            app.patch("manager", &path, json!({"stage": "live"}))
                .await
                .status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            app.patch("agent", &path, json!({"requirements": "x"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let audit = app
            .get(
                "auditor",
                &format!("/api/v1/audit?entity_type=service&entity_id={email}"),
            )
            .await
            .body
            .to_string();
        assert!(
            audit.contains("customer_ids") && audit.contains("retired"),
            "{audit}"
        );

        // Plans for new services: approved only with acceptance criteria, then done.
        let r = app
            .post(
                "manager",
                "/api/v1/service-plans",
                json!({"kind": "change", "title": "Bigger mailboxes"}),
            )
            .await;
        assert_eq!(r.body["field"], "service_id");
        let r = app.post("manager", "/api/v1/service-plans", json!({"kind": "new", "title": "Video calls", "requirements": "HD calls for 500 people"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["number"], "SP-000001");
        let plan = "/api/v1/service-plans/SP-000001";
        assert_eq!(
            app.patch("manager", plan, json!({"state": "approved"}))
                .await
                .body["field"],
            "acceptance_criteria"
        );
        let r = app
            .patch(
                "manager",
                plan,
                json!({"state": "approved", "acceptance_criteria": "Pilot with 50 users passes"}),
            )
            .await;
        assert_eq!(r.body["state"], "approved", "{}", r.body);
        assert_eq!(
            app.patch("manager", plan, json!({"state": "draft"}))
                .await
                .status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            app.patch("manager", plan, json!({"state": "done"}))
                .await
                .body["state"],
            "done"
        );
        assert_eq!(
            app.get("agent", "/api/v1/service-plans")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
);

db_test!(catalogue_orders_become_requests_with_their_answers, |app| {
    let svc = service(app, json!({"name": "Workplace"})).await;
    class(app, json!({"name": "laptop"})).await;
    let laptop = ci(app, json!({"class": "laptop", "name": "LT-0042"})).await;
    let t = app
        .post(
            "manager",
            "/api/v1/request-types",
            json!({"name": "Hardware", "service_id": svc}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let type_id = t.body["id"].as_i64().expect("id");
    let r = app
        .post(
            "manager",
            "/api/v1/catalogue",
            json!({"name": "New laptop", "summary": "A standard laptop", "category": "Hardware", "service_id": svc, "request_type_id": type_id,
                   "customer_ids": [app.customers[0]],
                   "form": [
                       {"name": "model", "label": "Model", "type": "choice", "options": ["13 inch", "15 inch"], "required": true},
                       {"name": "needed_by", "label": "Needed by", "type": "date"},
                       {"name": "ram_gb", "label": "Memory", "type": "number", "min": 8, "max": 64},
                       {"name": "for_user", "label": "For", "type": "user"},
                       {"name": "replaces", "label": "Replaces", "type": "ci"},
                       {"name": "reason", "label": "Reason", "type": "text", "max_length": 200}
                   ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let offering = r.body["id"].as_i64().expect("id");
    let bad = app
        .post("manager", "/api/v1/catalogue", json!({"name": "x", "service_id": svc, "request_type_id": type_id, "form": [{"name": "a", "type": "colour"}]}))
        .await;
    assert_eq!(bad.body["field"], "form", "{}", bad.body);
    // Visible to the first customer's people, not the second's.
    assert_eq!(
        ids(
            &json!({"x": app.get("requester", "/api/v1/catalogue").await.body}),
            "x"
        ),
        vec![offering]
    );
    assert_eq!(
        app.get("requester2", "/api/v1/catalogue").await.body,
        json!([])
    );
    let order = format!("/api/v1/catalogue/{offering}/order");
    assert_eq!(
        app.post(
            "requester2",
            &order,
            json!({"answers": {"model": "13 inch"}})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // Answers are validated on the server, naming the field.
    for (answers, field) in [
        (json!({}), "answers.model"),
        (json!({"model": "17 inch"}), "answers.model"),
        (
            json!({"model": "13 inch", "needed_by": "next week"}),
            "answers.needed_by",
        ),
        (json!({"model": "13 inch", "ram_gb": 4}), "answers.ram_gb"),
        (
            json!({"model": "13 inch", "for_user": 99999}),
            "answers.for_user",
        ),
        (
            json!({"model": "13 inch", "replaces": 99999}),
            "answers.replaces",
        ),
        (
            json!({"model": "13 inch", "colour": "red"}),
            "answers.colour",
        ),
    ] {
        let r = app
            .post("requester", &order, json!({"answers": answers}))
            .await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{}",
            r.body
        );
    }
    let r = app
        .post(
            "requester",
            &order,
            json!({"answers": {"model": "15 inch", "needed_by": "2026-12-01", "ram_gb": "32", "for_user": app.users["colleague"], "replaces": laptop},
                   "notes": "Please hurry"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.body["number"].as_str().expect("number").to_string();
    assert!(number.starts_with("REQ-"));
    // A requester names people of their own organisation only.
    let x = app
        .post(
            "requester",
            &order,
            json!({"answers": {"model": "13 inch", "for_user": app.users["requester2"]}}),
        )
        .await;
    assert_eq!(
        (x.status, x.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("answers.for_user")),
        "{}",
        x.body
    );
    // Staff ordering for someone check that person's organisation.
    let x = app
        .post(
            "agent",
            &order,
            json!({"answers": {"model": "13 inch"}, "requester_id": app.users["requester2"]}),
        )
        .await;
    assert_eq!(x.body["field"], "requester_id", "{}", x.body);
    // An offering limited to managers is refused to agents, even though staff see it.
    let x = app
        .patch(
            "manager",
            &format!("/api/v1/catalogue/{offering}"),
            json!({"roles": ["manager"]}),
        )
        .await;
    assert_eq!(x.body["roles"], json!(["manager"]), "{}", x.body);
    assert_eq!(
        app.post("agent", &order, json!({"answers": {"model": "13 inch"}}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("requester", "/api/v1/catalogue").await.body,
        json!([])
    );
    app.patch(
        "manager",
        &format!("/api/v1/catalogue/{offering}"),
        json!({"roles": []}),
    )
    .await;
    let desc = r.body["description"].as_str().expect("description");
    assert!(
        desc.contains("- Model: 15 inch")
            && desc.contains("- Memory: 32")
            && desc.contains("Please hurry"),
        "{desc}"
    );
    assert_eq!(r.body["service"]["id"], svc);
    // The requester follows it like any request; its state moved on from submitted.
    let got = app
        .get("requester", &format!("/api/v1/requests/{number}"))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    // Withdrawn offerings disappear for requesters and cannot be ordered.
    let r = app
        .patch(
            "manager",
            &format!("/api/v1/catalogue/{offering}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.body["active"], false, "{}", r.body);
    assert_eq!(
        app.get("requester", "/api/v1/catalogue").await.body,
        json!([])
    );
    assert_eq!(
        app.post("manager", &order, json!({"answers": {"model": "13 inch"}}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    // Offerings show the service levels of their service.
    let one = app
        .get("manager", &format!("/api/v1/catalogue/{offering}"))
        .await;
    assert_eq!(one.body["service_levels"], json!([]));
    let audit = app
        .get(
            "auditor",
            &format!("/api/v1/audit?entity_type=catalogue_offering&entity_id={offering}"),
        )
        .await
        .body
        .to_string();
    assert!(audit.contains(&number), "{audit}");
});

db_test!(incidents_record_affected_cis_and_their_services, |app| {
    let e = estate(app).await;
    let inc = app
        .incident("agent", json!({"title": "Payroll is slow"}))
        .await;
    let path = format!("/api/v1/incidents/{inc}/cis");
    let r = app.post("agent", &path, json!({"ci_id": e.server})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(ids(&r.body, "cis"), vec![e.server]);
    assert_eq!(r.body["services"][0]["name"], "Payroll");
    assert_eq!(r.body["customers"][0]["name"], "Alpha Corp");
    assert_eq!(
        app.post("agent", &path, json!({"ci_id": e.server}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.post("agent", &path, json!({"ci_id": 424242}))
            .await
            .body["field"],
        "ci_id"
    );
    assert_eq!(
        app.post("auditor", &path, json!({"ci_id": e.switch}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let hist = app
        .get("agent", &format!("/api/v1/incidents/{inc}/history"))
        .await
        .body
        .to_string();
    assert!(hist.contains("ci.add"), "{hist}");
    let d = app
        .call(
            "agent",
            Method::DELETE,
            &format!("{path}/{}", e.server),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("agent", &path).await.body["cis"], json!([]));
    assert_eq!(
        app.call(
            "agent",
            Method::DELETE,
            &format!("{path}/{}", e.server),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let _ = (e.payroll, e.disk);
});

async fn send_csv(app: &App, path: &str, body: &str) -> crate::common::Resp {
    app.send(
        axum::http::Request::post(path)
            .header("authorization", format!("Bearer {}", app.tokens["manager"]))
            .header("content-type", "text/csv")
            .body(axum::body::Body::from(body.to_string()))
            .expect("req"),
    )
    .await
}

db_test!(cmdb_bulk_import_upserts_by_identity_with_a_dry_run, |app| {
    let e = estate(app).await;
    let doc = json!({
        "cis": [
            {"class": "server", "name": "srv-01", "attributes": {"serial": "SN-1", "ram_gb": 96}},
            {"class": "server", "name": "srv-09", "attributes": {"serial": "SN-9", "env": "test"}},
            {"class": "application", "name": "payroll-app", "attributes": {"version": "4.2"}}
        ],
        "relationships": [
            {"source": "server/sn-9", "kind": "connects_to", "target": "network device/core-sw"},
            {"source": "application/payroll-app", "kind": "runs_on", "target": "server/sn-9"}
        ]
    });
    // A dry run reports each row and changes nothing.
    let r = app
        .post("manager", "/api/v1/cis/import?dry_run=true", doc.clone())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["created"].as_i64(),
            r.body["updated"].as_i64(),
            r.body["unchanged"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(r.body["relationships_created"], 2);
    assert_eq!(r.body["applied"], false);
    assert_eq!(
        app.get("agent", "/api/v1/cis?class=server").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // A file with a bad row is refused whole, every error named by row and field.
    let mut bad = doc.clone();
    bad["cis"].as_array_mut().expect("cis").push(json!({"class": "server", "name": "srv-x", "attributes": {"serial": "SN-X", "ram_gb": "lots"}}));
    bad["relationships"]
        .as_array_mut()
        .expect("rels")
        .push(json!({"source": "server/nope", "kind": "runs_on", "target": "server/sn-1"}));
    let r = app.post("manager", "/api/v1/cis/import", bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["errors"], 2);
    let errors: Vec<(String, i64, String)> = r.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|x| x["action"] == "error")
        .map(|x| {
            (
                x["section"].as_str().unwrap_or_default().into(),
                x["row"].as_i64().unwrap_or_default(),
                x["field"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("cis".into(), 4, "attributes.ram_gb".into()),
            ("relationships".into(), 3, "source".into())
        ]
    );
    assert_eq!(
        app.get("agent", "/api/v1/cis?class=server").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // The real run applies everything, audited; impact sees the new relationships.
    let r = app.post("manager", "/api/v1/cis/import", doc.clone()).await;
    assert_eq!(
        (r.status, r.body["applied"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{}",
        r.body
    );
    let server = app
        .get("agent", &format!("/api/v1/cis/{}", e.server))
        .await
        .body;
    assert_eq!(server["attributes"]["ram_gb"], 96);
    assert_eq!(
        server["attributes"]["env"], "prod",
        "attributes not in the file are kept"
    );
    let r = app
        .get(
            "agent",
            &format!("/api/v1/cis/{}/impact?direction=upstream", e.app_ci),
        )
        .await;
    assert!(
        r.body["cis"]
            .as_array()
            .expect("cis")
            .iter()
            .any(|c| c["name"] == "srv-09"),
        "{}",
        r.body
    );
    // Importing the same file again changes nothing.
    let r = app.post("manager", "/api/v1/cis/import", doc).await;
    assert_eq!(
        (
            r.body["created"].as_i64(),
            r.body["updated"].as_i64(),
            r.body["relationships_unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(2))
    );
    // CSV in and out, one class at a time; an export re-imports unchanged.
    let r = send_csv(
        app,
        "/api/v1/cis/import?class=server",
        "name,serial,ram_gb,env\nsrv-10,SN-10,32,prod\nsrv-11,SN-11,,bogus\n",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["rows"][1]["field"], "attributes.env");
    let r = send_csv(
        app,
        "/api/v1/cis/import?class=server",
        "name,serial,ram_gb,env\nsrv-10,SN-10,32,prod\n",
    )
    .await;
    assert_eq!(r.body["created"], 1, "{}", r.body);
    let csv = app
        .get("agent", "/api/v1/cis/export?format=csv&class=server")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&csv.raw).into_owned();
    assert!(
        text.starts_with("name,status,service_id,owner_group_id,serial,ram_gb,env\n"),
        "{text}"
    );
    assert!(text.contains("srv-10,active,,,SN-10,32,prod"), "{text}");
    let r = send_csv(app, "/api/v1/cis/import?class=server", &text).await;
    assert_eq!(
        (
            r.body["created"].as_i64(),
            r.body["updated"].as_i64(),
            r.body["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(3)),
        "{}",
        r.body
    );
    let rels = app
        .get(
            "agent",
            "/api/v1/cis/export?format=csv&section=relationships",
        )
        .await;
    let text = String::from_utf8_lossy(&rels.raw).into_owned();
    assert!(
        text.contains("server/sn-9,connects_to,network device/core-sw"),
        "{text}"
    );
    let json_export = app.get("agent", "/api/v1/cis/export").await.body;
    let r = app
        .post("manager", "/api/v1/cis/import?dry_run=true", json_export)
        .await;
    assert_eq!(
        (
            r.body["created"].as_i64(),
            r.body["updated"].as_i64(),
            r.body["errors"].as_i64()
        ),
        (Some(0), Some(0), Some(0)),
        "{}",
        r.body
    );
    assert_eq!(
        app.post("agent", "/api/v1/cis/import?dry_run=true", json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("agent", "/api/v1/cis/export?format=xml").await.body["field"],
        "format"
    );
});

db_test!(
    baselines_compare_and_discovery_is_verified_then_accepted,
    |app| {
        let e = estate(app).await;
        let r = app
            .post(
                "manager",
                "/api/v1/baselines",
                json!({"name": "Before upgrade"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let b1 = r.body["id"].as_i64().expect("id");
        assert_eq!(
            (r.body["ci_count"].as_i64(), r.body["rel_count"].as_i64()),
            (Some(5), Some(4))
        );
        assert_eq!(
            app.post(
                "manager",
                "/api/v1/baselines",
                json!({"name": "Before upgrade"})
            )
            .await
            .body["field"],
            "name"
        );
        let r = app
            .get("agent", &format!("/api/v1/baselines/{b1}/compare"))
            .await;
        assert_eq!(
            (
                r.body["added"].clone(),
                r.body["removed"].clone(),
                r.body["changed"].clone()
            ),
            (json!([]), json!([]), json!([])),
            "{}",
            r.body
        );
        // Change the estate: an attribute, a new CI, a removed relationship.
        app.patch(
            "manager",
            &format!("/api/v1/cis/{}", e.server),
            json!({"attributes": {"ram_gb": 128}}),
        )
        .await;
        ci(
            app,
            json!({"class": "server", "name": "srv-02", "attributes": {"serial": "SN-2"}}),
        )
        .await;
        app.call(
            "manager",
            Method::DELETE,
            &format!("/api/v1/relationships/{}", e.rel_app_server),
            None,
        )
        .await;
        let r = app
            .get(
                "auditor",
                &format!("/api/v1/baselines/{b1}/compare?with=now"),
            )
            .await;
        assert_eq!(r.body["added"], json!(["server/sn-2"]), "{}", r.body);
        assert_eq!(r.body["changed"][0]["key"], "server/sn-1");
        assert_eq!(
            r.body["changed"][0]["changes"][0],
            json!({"field": "attributes.ram_gb", "before": 64, "after": 128})
        );
        assert_eq!(
            r.body["relationships_removed"],
            json!([{"source": "application/payroll-app", "kind": "runs_on", "target": "server/sn-1"}])
        );
        let b2 = app
            .post(
                "manager",
                "/api/v1/baselines",
                json!({"name": "After", "class": "server"}),
            )
            .await
            .body["id"]
            .as_i64()
            .expect("id");
        let r = app
            .get(
                "agent",
                &format!("/api/v1/baselines/{b1}/compare?with={b2}"),
            )
            .await;
        assert_eq!(r.body["with"], "After");
        assert_eq!(
            app.get(
                "agent",
                &format!("/api/v1/baselines/{b1}/compare?with=yesterday")
            )
            .await
            .body["field"],
            "with"
        );

        // Discovery finds srv-01 with different memory, a server not in the CMDB, and not srv-02.
        let r = app
        .post(
            "manager",
            "/api/v1/configuration-audits?source=scanner",
            json!({"cis": [
                {"class": "server", "name": "srv-01", "attributes": {"serial": "SN-1", "ram_gb": 256}},
                {"class": "server", "name": "srv-03", "attributes": {"serial": "SN-3", "env": "test"}},
                {"class": "server", "name": "srv-04", "attributes": {"serial": "SN-4", "env": "staging"}},
                {"class": "server", "name": "srv-05", "status": "lost", "attributes": {"serial": "SN-5"}}
            ]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["number"], "CA-000001");
        assert_eq!(r.body["state"], "open");
        assert_eq!(r.body["errors"][0]["row"], 3);
        assert_eq!(r.body["errors"][0]["field"], "attributes.env");
        let findings: Vec<(String, String)> = r.body["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap_or_default().into(),
                    f["key"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        assert_eq!(
            findings,
            vec![
                ("missing".into(), "server/sn-2".into()),
                ("unexpected".into(), "server/sn-3".into()),
                ("changed".into(), "server/sn-1".into())
            ]
        );
        // env was not reported for srv-01, so it is not a difference.
        assert_eq!(
            r.body["findings"][2]["changes"],
            json!([{"field": "attributes.ram_gb", "before": 128, "after": 256}])
        );
        // Accept the unexpected and the changed; the missing one stays open.
        let path = "/api/v1/configuration-audits/CA-000001/accept";
        assert_eq!(
            app.post("agent", path, json!({"findings": [2]}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post("manager", path, json!({"findings": [9]}))
                .await
                .body["field"],
            "findings"
        );
        let r = app.post("manager", path, json!({"findings": [2, 3]})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["accepted"], json!([2, 3]));
        assert_eq!(r.body["state"], "open");
        assert_eq!(
            app.get("agent", &format!("/api/v1/cis/{}", e.server))
                .await
                .body["attributes"]["ram_gb"],
            256
        );
        assert_eq!(
            app.get("agent", "/api/v1/cis?q=srv-03").await.body["items"][0]["attributes"]["env"],
            "test"
        );
        assert_eq!(
            app.post("manager", path, json!({"findings": [2]}))
                .await
                .status,
            StatusCode::CONFLICT
        );
        let r = app.post("manager", path, json!({"findings": [1]})).await;
        assert_eq!(r.body["state"], "reconciled", "{}", r.body);
        assert_eq!(
            app.get("agent", "/api/v1/cis?q=srv-02").await.body["items"][0]["status"],
            "retired"
        );
        let audit = app
            .get(
                "auditor",
                "/api/v1/audit?entity_type=configuration_audit&entity_id=CA-000001",
            )
            .await
            .body
            .to_string();
        assert!(audit.contains("\"accept\""), "{audit}");
        let ci_audit = app
            .get(
                "auditor",
                &format!("/api/v1/audit?entity_type=ci&entity_id={}", e.server),
            )
            .await
            .body
            .to_string();
        assert!(ci_audit.contains("CA-000001 #3"), "{ci_audit}");
        assert_eq!(
            app.get("auditor", "/api/v1/configuration-audits")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        // A CSV discovery file of one class.
        let r = send_csv(
            app,
            "/api/v1/configuration-audits?class=server&source=csv",
            "name,serial\nsrv-01,SN-1\n",
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["number"], "CA-000002");
    }
);

db_test!(
    assets_have_a_lifecycle_licences_flag_over_use_and_expiries_warn,
    |app| {
        let e = estate(app).await;
        let soon = jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()
            .checked_add(jiff::Span::new().days(10))
            .expect("date")
            .to_string();
        let r = app
        .post(
            "manager",
            "/api/v1/assets",
            json!({"name": "Server srv-01", "kind": "hardware", "state": "in_use", "owner_id": app.users["agent"], "location": "DC1 rack 4",
                   "cost": "12999.5", "supplier": "Dell", "purchase_date": "2024-01-10", "warranty_end": soon, "ci_id": e.server}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            (r.body["tag"].as_str(), r.body["cost"].as_str()),
            (Some("AST-000001"), Some("12999.50"))
        );
        assert_eq!(r.body["days_to_expiry"], 10);
        assert_eq!(r.body["ci"], "srv-01");
        for (body, field) in [
            (json!({"name": "x", "kind": "car"}), "kind"),
            (
                json!({"name": "x", "kind": "hardware", "cost": "12,50"}),
                "cost",
            ),
            (
                json!({"name": "x", "kind": "hardware", "warranty_end": "soon"}),
                "warranty_end",
            ),
            (
                json!({"name": "x", "kind": "hardware", "entitlements": 5}),
                "entitlements",
            ),
            (
                json!({"name": "x", "kind": "hardware", "currency": "euro"}),
                "currency",
            ),
            (
                json!({"name": "x", "kind": "hardware", "ci_id": 999999}),
                "ci_id",
            ),
        ] {
            let r = app.post("manager", "/api/v1/assets", body).await;
            assert_eq!(
                (r.status, r.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{}",
                r.body
            );
        }
        assert_eq!(
            app.post(
                "agent",
                "/api/v1/assets",
                json!({"name": "x", "kind": "hardware"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        // The lifecycle: no jumping from in use to disposed; disposal is final.
        let path = "/api/v1/assets/AST-000001";
        assert_eq!(
            app.patch("manager", path, json!({"state": "disposed"}))
                .await
                .status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            app.patch(
                "manager",
                path,
                json!({"state": "maintenance", "version": 1})
            )
            .await
            .body["state"],
            "maintenance"
        );
        assert_eq!(
            app.patch("manager", path, json!({"state": "in_use", "version": 1}))
                .await
                .status,
            StatusCode::PRECONDITION_FAILED
        );
        // A licence for two installations, installed three times: over-use is recorded and flagged.
        let r = app
        .post("manager", "/api/v1/assets", json!({"name": "DB licence", "kind": "licence", "entitlements": 2, "expiry_date": "2020-01-01", "owner_id": app.users["agent"]}))
        .await;
        let lic = format!("/api/v1/assets/{}", r.body["tag"].as_str().expect("tag"));
        for ci in [e.server, e.app_ci, e.switch] {
            let r = app
                .post(
                    "manager",
                    &format!("{lic}/installations"),
                    json!({"ci_id": ci}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        let r = app.get("agent", &lic).await;
        assert_eq!(
            (r.body["installed"].as_i64(), r.body["over_use"].as_i64()),
            (Some(3), Some(1))
        );
        assert_eq!(
            app.post(
                "manager",
                &format!("{lic}/installations"),
                json!({"ci_id": e.server})
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            app.post(
                "manager",
                "/api/v1/assets/AST-000001/installations",
                json!({"ci_id": e.server})
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
        let over = app
            .get("auditor", "/api/v1/assets?over_use=true")
            .await
            .body;
        assert_eq!(over.as_array().map(Vec::len), Some(1));
        let r = app
            .call(
                "manager",
                Method::DELETE,
                &format!("{lic}/installations/{}", e.switch),
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.body["over_use"].clone()),
            (StatusCode::OK, Value::Null)
        );
        assert_eq!(
            app.get("agent", &format!("{lic}/installations"))
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        // Expiries within 30 days (or passed) warn the owner once a week, through the outbox.
        assert_eq!(
            app.get("agent", "/api/v1/assets?expiring_within_days=30")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert_eq!(
            keel::operation::portfolio::asset::warn_expiring(&app.db)
                .await
                .expect("warn"),
            2
        );
        assert_eq!(
            keel::operation::portfolio::asset::warn_expiring(&app.db)
                .await
                .expect("warn"),
            0
        );
        let notes = app
            .get("agent", "/api/v1/notifications")
            .await
            .body
            .to_string();
        assert!(
            notes.contains("AST-000001 Server srv-01: warranty ends in 10 days")
                && notes.contains("expiry ended"),
            "{notes}"
        );
        let audit = app
            .get(
                "auditor",
                "/api/v1/audit?entity_type=asset&entity_id=AST-000002",
            )
            .await
            .body
            .to_string();
        assert!(
            audit.contains("\"install\"") && audit.contains("\"uninstall\""),
            "{audit}"
        );
    }
);
