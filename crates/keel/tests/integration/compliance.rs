//! The management system and the compliance engine (clauses 4–10): the requirement catalogue,
//! live evidence checks over real records, judgements, nonconformities and improvements,
//! capability ratings, dated assessments and their comparison, the gap plan, and the audit pack.

use crate::common::App;
use crate::db_test;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Read;

async fn ok(app: &App, who: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = app.call(who, method, path, body).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

pub fn requirement<'a>(readiness: &'a Value, id: &str) -> &'a Value {
    readiness["requirements"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("requirement {id}"))
}

pub fn check<'a>(readiness: &'a Value, req: &str, check: &str) -> &'a Value {
    requirement(readiness, req)["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == check))
        .unwrap_or_else(|| panic!("check {check}"))
}

async fn close_incident(app: &App, number: &str, category: Option<&str>) {
    let path = format!("/api/v1/incidents/{number}");
    let mut body =
        json!({"state": "resolved", "resolution_code": "fixed", "resolution_notes": "done"});
    if let Some(c) = category {
        body["category"] = json!(c);
    }
    ok(app, "agent", Method::PATCH, &path, Some(body)).await;
    ok(
        app,
        "agent",
        Method::PATCH,
        &path,
        Some(json!({"state": "closed"})),
    )
    .await;
}

db_test!(catalogue_and_live_evidence, |app| {
    let cat = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/requirements",
        None,
    )
    .await;
    let reqs = cat["requirements"].as_array().expect("requirements");
    assert_eq!(reqs.len(), 57);
    assert_eq!(reqs[0]["id"], "4.1");
    assert_eq!(reqs[56]["id"], "10.2");
    let inc = reqs.iter().find(|r| r["id"] == "8.6.1").expect("8.6.1");
    assert!(!inc["items"].as_array().expect("items").is_empty());
    assert!(
        inc["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|c| c == "incidents-closed-complete")
    );

    // One incident closed properly, one without a category: the check names the second.
    let good = app
        .incident("agent", json!({"title": "Complete", "category": "network"}))
        .await;
    let bad = app.incident("agent", json!({"title": "No category"})).await;
    close_incident(app, &good, None).await;
    close_incident(app, &bad, None).await;
    let r = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    let c = check(&r, "8.6.1", "incidents-closed-complete");
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(
        (c["examined"].as_i64(), c["failed"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(c["failures"][0]["reference"], json!(bad));
    assert_eq!(c["failures"][0]["reasons"], json!(["no category"]));
    assert_eq!(c["failures"][0]["href"], json!(format!("/incidents/{bad}")));
    assert_eq!(requirement(&r, "8.6.1")["rating"], "partially_met");
    // Requirements with nothing to go on wait for the assessor.
    assert_eq!(requirement(&r, "4.1")["rating"], Value::Null);
    let o = &r["overall"];
    let total: i64 = [
        "met",
        "partially_met",
        "not_met",
        "not_applicable",
        "unassessed",
    ]
    .iter()
    .map(|k| o[k].as_i64().expect("count"))
    .sum();
    assert_eq!(total, 57);
    assert_eq!(r["clauses"].as_array().map(Vec::len), Some(7));
    // The audit trail verifies.
    assert_eq!(check(&r, "7.5.3", "audit-trail-intact")["status"], "pass");
    // A period before anything happened exercises nothing about incidents.
    let old = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/checks/incidents-closed-complete?from=2001-01-01&to=2001-12-31",
        None,
    )
    .await;
    assert_eq!(old["status"], "not_exercised");
    let all = ok(
        app,
        "manager",
        Method::GET,
        "/api/v1/compliance/checks",
        None,
    )
    .await;
    assert!(all.as_array().expect("checks").len() >= 18);

    // Bad input is named; unknown things are 404; requesters and agents see none of it.
    let r = app
        .get(
            "auditor",
            "/api/v1/compliance/readiness?from=2026-05-01&to=2026-04-01",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "to");
    let r = app
        .get("auditor", "/api/v1/compliance/readiness?from=yesterday")
        .await;
    assert_eq!(r.body["field"], "from", "{}", r.body);
    assert_eq!(
        app.get("auditor", "/api/v1/compliance/requirements?edition=iso9001")
            .await
            .body["field"],
        "edition"
    );
    assert_eq!(
        app.get("auditor", "/api/v1/compliance/requirements/11.1")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("auditor", "/api/v1/compliance/checks/made-up")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    for who in ["requester", "agent"] {
        assert_eq!(
            app.get(who, "/api/v1/compliance/readiness").await.status,
            StatusCode::FORBIDDEN
        );
    }
});

db_test!(judgements_explain_themselves_and_are_audited, |app| {
    let put = |who: &'static str, id: &'static str, body: Value| async move {
        app.call(
            who,
            Method::PUT,
            &format!("/api/v1/compliance/requirements/{id}/judgement"),
            Some(body),
        )
        .await
    };
    // Auditors and managers read but do not judge.
    for who in ["auditor", "manager"] {
        assert_eq!(
            put(who, "4.1", json!({"rating": "met"})).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let r = put(
        "sms-manager",
        "8.3.4.2",
        json!({"rating": "not_applicable"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "notes");
    let r = put("sms-manager", "4.1", json!({"rating": "superb"})).await;
    assert_eq!(r.body["field"], "rating");
    let r = put(
        "sms-manager",
        "8.3.4.2",
        json!({"rating": "not_applicable", "notes": "No internal suppliers."}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rating"], "not_applicable");
    assert_eq!(r.body["judgement"]["judged_by"], "sms-manager");

    // Overriding failing evidence needs reasoning.
    let bad = app.incident("agent", json!({"title": "No category"})).await;
    close_incident(app, &bad, None).await;
    let r = put("sms-manager", "8.6.1", json!({"rating": "met"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "notes");
    let r = put(
        "sms-manager",
        "8.6.1",
        json!({"rating": "met", "notes": "The gap was a one-off, corrected."}),
    )
    .await;
    assert_eq!(
        (r.body["automatic"].as_str(), r.body["rating"].as_str()),
        (Some("not_met"), Some("met"))
    );
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(requirement(&live, "8.6.1")["rating"], "met");
    assert_eq!(live["overall"]["not_applicable"], 1);

    // Withdrawing returns the rating to the checks; both writes are in the audit trail.
    let r = app
        .call(
            "sms-manager",
            Method::DELETE,
            "/api/v1/compliance/requirements/8.6.1/judgement",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .call(
            "sms-manager",
            Method::DELETE,
            "/api/v1/compliance/requirements/8.6.1/judgement",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let d = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/requirements/8.6.1",
        None,
    )
    .await;
    assert_eq!(d["status"]["rating"], "not_met");
    assert_eq!(d["status"]["judgement"], Value::Null);
    assert!(d["summary"].as_str().is_some_and(|s| !s.is_empty()));
    let audit = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/audit?entity_type=requirement&entity_id=iso20000-1:2018/8.6.1",
        None,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"judge") && actions.contains(&"unjudge"),
        "{audit}"
    );
});

db_test!(nonconformities_close_only_when_effective, |app| {
    let nc = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/nonconformities",
        Some(json!({
            "title": "Major incident closed without review",
            "details": {"source": "internal_audit", "severity": "major", "requirement": "8.6.1"}
        })),
    )
    .await;
    let n = nc["number"].as_str().expect("number").to_string();
    assert!(n.starts_with("NC-"), "{n}");
    assert_eq!(nc["state"], "open");
    let path = format!("/api/v1/nonconformities/{n}");
    let patch = |body: Value| {
        let path = path.clone();
        async move { app.patch("agent", &path, body).await }
    };
    let r = patch(json!({"state": "closed"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = patch(json!({"state": "corrective_action"})).await;
    assert_eq!(r.body["field"], "details.correction", "{}", r.body);
    let r = patch(json!({"details": {"severity": "catastrophic"}})).await;
    assert_eq!(r.body["field"], "details.severity");
    assert_eq!(
        patch(json!({"state": "corrective_action", "details": {"correction": "Review held."}}))
            .await
            .status,
        StatusCode::OK
    );
    let r = patch(json!({"state": "verifying", "details": {"root_cause": "No reminder."}})).await;
    assert_eq!(r.body["field"], "details.corrective_action");
    assert_eq!(
        patch(
            json!({"state": "verifying", "details": {"root_cause": "No reminder.", "corrective_action": "Keel blocks closure."}})
        )
        .await
        .status,
        StatusCode::OK
    );
    let r = patch(json!({"state": "closed", "details": {"effectiveness": "not_effective", "effectiveness_notes": "Happened again."}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "details.effectiveness");
    assert_eq!(
        patch(json!({"state": "corrective_action"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        patch(json!({"state": "verifying"})).await.status,
        StatusCode::OK
    );
    let r = patch(json!({"state": "closed", "details": {"effectiveness": "effective", "effectiveness_notes": "No recurrence in 90 days."}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Improvements: measured before closing.
    let imp = ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/improvements",
        Some(json!({"title": "Password self-service"})),
    )
    .await;
    let i = imp["number"].as_str().expect("number").to_string();
    assert!(i.starts_with("IMP-"));
    let ip = format!("/api/v1/improvements/{i}");
    let r = app
        .patch("manager", &ip, json!({"state": "evaluated"}))
        .await;
    assert_eq!(r.body["field"], "details.evaluation");
    for body in [
        json!({"state": "evaluated", "details": {"evaluation": "Worth it"}}),
        json!({"state": "approved"}),
        json!({"state": "implementing", "details": {"expected_benefit": "Half the resets"}}),
        json!({"state": "measuring"}),
    ] {
        assert_eq!(
            app.patch("manager", &ip, body.clone()).await.status,
            StatusCode::OK,
            "{body}"
        );
    }
    assert_eq!(
        app.patch("manager", &ip, json!({"state": "closed"}))
            .await
            .body["field"],
        "details.measured_benefit"
    );
    assert_eq!(
        app.patch(
            "manager",
            &ip,
            json!({"state": "closed", "details": {"measured_benefit": "Resets down 58 %"}})
        )
        .await
        .status,
        StatusCode::OK
    );

    // Both are evidence for clause 10; requesters see neither.
    let r = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    let nc_check = check(&r, "10.1", "nonconformities-corrected");
    assert_eq!(
        (nc_check["status"].as_str(), nc_check["examined"].as_i64()),
        (Some("pass"), Some(1))
    );
    assert_eq!(check(&r, "10.2", "improvements-measured")["status"], "pass");
    assert_eq!(requirement(&r, "10.1")["rating"], "met");
    assert_eq!(
        app.get("requester", "/api/v1/nonconformities").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("requester", "/api/v1/improvements", json!({"title": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.patch("auditor", &ip, json!({"title": "y"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let h = ok(
        app,
        "auditor",
        Method::GET,
        &format!("{path}/history"),
        None,
    )
    .await;
    assert!(h.to_string().contains("effective"), "{h}");
});

db_test!(assessments_capability_and_the_gap_plan, |app| {
    let first = ok(
        app,
        "sms-manager",
        Method::POST,
        "/api/v1/assessments",
        Some(json!({"title": "Baseline"})),
    )
    .await;
    let a1 = first["number"].as_str().expect("number").to_string();
    assert!(a1.starts_with("ASM-"));
    assert_eq!(first["requirements"].as_array().map(Vec::len), Some(57));
    ok(
        app,
        "sms-manager",
        Method::PUT,
        "/api/v1/compliance/requirements/4.1/judgement",
        Some(json!({"rating": "met", "notes": "Context register reviewed in March."})),
    )
    .await;
    ok(
        app,
        "sms-manager",
        Method::PUT,
        "/api/v1/compliance/requirements/4.4/judgement",
        Some(json!({"rating": "partially_met"})),
    )
    .await;
    let second = ok(
        app,
        "sms-manager",
        Method::POST,
        "/api/v1/assessments",
        Some(json!({"title": "After the workshop", "from": "2026-01-01", "to": "2026-12-31"})),
    )
    .await;
    let a2 = second["number"].as_str().expect("number").to_string();
    assert!(second["overall"]["percent"].as_f64() > first["overall"]["percent"].as_f64());
    assert!(
        second["period_from"]
            .as_str()
            .is_some_and(|s| s.starts_with("2026-01-01"))
    );
    let cmp = ok(
        app,
        "auditor",
        Method::GET,
        &format!("/api/v1/assessments/{a1}/comparison?with={a2}"),
        None,
    )
    .await;
    let moves = cmp["movements"].as_array().expect("movements");
    assert_eq!(moves.len(), 2, "{cmp}");
    assert_eq!(
        (
            moves[0]["requirement"].as_str(),
            moves[0]["direction"].as_str()
        ),
        (Some("4.1"), Some("improved"))
    );
    assert_eq!(moves[0]["after"], "met");
    assert!(cmp["overall"]["delta"].as_f64().is_some_and(|d| d > 0.0));
    // Snapshots do not move when the live view does.
    ok(
        app,
        "sms-manager",
        Method::DELETE,
        "/api/v1/compliance/requirements/4.1/judgement",
        None,
    )
    .await;
    let again = ok(
        app,
        "auditor",
        Method::GET,
        &format!("/api/v1/assessments/{a2}"),
        None,
    )
    .await;
    assert_eq!(
        again["requirements"]
            .as_array()
            .and_then(|r| r.iter().find(|q| q["id"] == "4.1"))
            .map(|q| q["rating"].clone()),
        Some(json!("met"))
    );
    let now = ok(
        app,
        "auditor",
        Method::GET,
        &format!("/api/v1/assessments/{a2}/comparison?with=now"),
        None,
    )
    .await;
    assert_eq!(now["movements"][0]["direction"], "worsened");
    assert_eq!(
        app.get(
            "auditor",
            &format!("/api/v1/assessments/{a1}/comparison?with=ASM-999999")
        )
        .await
        .body["field"],
        "with"
    );
    let list = ok(app, "auditor", Method::GET, "/api/v1/assessments", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.post("auditor", "/api/v1/assessments", json!({"title": "x"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("sms-manager", "/api/v1/assessments", json!({"title": " "}))
            .await
            .body["field"],
        "title"
    );

    // Capability: level 2 needs PA1.1 fully and PA2.x at least largely achieved.
    let r = app
        .call(
            "sms-manager",
            Method::PUT,
            "/api/v1/compliance/processes/incident/capability",
            Some(json!({"ratings": {"PA1.1": "F", "PA2.1": "L", "PA2.2": "L"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["level"].as_i64(), r.body["level_name"].as_str()),
        (Some(2), Some("Managed"))
    );
    let r = app
        .call(
            "sms-manager",
            Method::PUT,
            "/api/v1/compliance/processes/incident/capability",
            Some(json!({"ratings": {"PA2.1": "X"}})),
        )
        .await;
    assert_eq!(r.body["field"], "ratings.PA2.1");
    let r = app
        .call(
            "sms-manager",
            Method::PUT,
            "/api/v1/compliance/processes/incident/capability",
            Some(json!({"ratings": {"PA9.9": "F"}})),
        )
        .await;
    assert_eq!(r.body["field"], "ratings.PA9.9");
    assert_eq!(
        app.call(
            "sms-manager",
            Method::PUT,
            "/api/v1/compliance/processes/juggling/capability",
            Some(json!({"ratings": {}}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    let proc = live["processes"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["id"] == "incident"))
        .expect("incident");
    assert_eq!(proc["level"], 2);
    assert_eq!(proc["ratings"]["PA1.1"], "F");

    // The gap plan.
    let owner = app.users["manager"];
    let r = app.post("sms-manager", "/api/v1/compliance/actions", json!({"requirement": "9.2", "title": "Plan the audit programme", "owner_id": owner, "due_on": "2020-01-31", "assessment": a2})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let act = r.body;
    assert_eq!(act["overdue"], true);
    assert_eq!(act["owner"], "manager");
    let n = act["number"].as_str().expect("number").to_string();
    for (body, field) in [
        (json!({"requirement": "99.1", "title": "x"}), "requirement"),
        (
            json!({"requirement": "9.2", "title": "x", "due_on": "soon"}),
            "due_on",
        ),
        (
            json!({"requirement": "9.2", "title": "x", "owner_id": 999_999}),
            "owner_id",
        ),
        (
            json!({"requirement": "9.2", "title": "x", "assessment": "ASM-424242"}),
            "assessment",
        ),
    ] {
        assert_eq!(
            app.post("sms-manager", "/api/v1/compliance/actions", body)
                .await
                .body["field"],
            field
        );
    }
    let p = format!("/api/v1/compliance/actions/{n}");
    assert_eq!(
        app.patch("sms-manager", &p, json!({"progress": 140}))
            .await
            .body["field"],
        "progress"
    );
    let r = app
        .patch(
            "sms-manager",
            &p,
            json!({"progress": 40, "state": "in_progress", "version": 1}),
        )
        .await;
    assert_eq!(r.body["progress"], 40, "{}", r.body);
    assert_eq!(
        app.patch("sms-manager", &p, json!({"progress": 50, "version": 1}))
            .await
            .status,
        StatusCode::PRECONDITION_FAILED
    );
    let r = app.patch("sms-manager", &p, json!({"state": "done"})).await;
    assert_eq!(
        (r.body["progress"].as_i64(), r.body["overdue"].as_bool()),
        (Some(100), Some(false))
    );
    let plan = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/actions?requirement=9.2",
        None,
    )
    .await;
    assert_eq!(plan.as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.patch("manager", &p, json!({"progress": 1}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
});

db_test!(the_audit_pack_is_self_contained_and_verifiable, |app| {
    let nc = ok(
        app,
        "agent",
        Method::POST,
        "/api/v1/nonconformities",
        Some(json!({"title": "Policy not reviewed", "details": {"severity": "minor"}})),
    )
    .await;
    ok(
        app,
        "sms-manager",
        Method::PUT,
        "/api/v1/compliance/requirements/5.2.1/judgement",
        Some(json!({"rating": "partially_met", "notes": "Policy signed; review overdue."})),
    )
    .await;
    ok(
        app,
        "sms-manager",
        Method::POST,
        "/api/v1/assessments",
        Some(json!({"title": "Pre-audit"})),
    )
    .await;
    let up = app
        .send(
            axum::http::Request::post(
                "/api/v1/compliance/requirements/5.2.1/evidence?filename=policy%20v3.pdf",
            )
            .header(
                "authorization",
                format!("Bearer {}", app.tokens["sms-manager"]),
            )
            .header("content-type", "application/pdf")
            .body(axum::body::Body::from("%PDF-1.4 the policy"))
            .expect("req"),
        )
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let fid = up.body["id"].as_i64().expect("id");
    assert_eq!(
        up.body["sha256"],
        json!(hex::encode(Sha256::digest(b"%PDF-1.4 the policy")))
    );
    let r = app
        .send(
            axum::http::Request::post("/api/v1/compliance/requirements/5.2.1/evidence")
                .header(
                    "authorization",
                    format!("Bearer {}", app.tokens["sms-manager"]),
                )
                .body(axum::body::Body::from("x"))
                .expect("req"),
        )
        .await;
    assert_eq!(r.body["field"], "filename");
    let d = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/requirements/5.2.1",
        None,
    )
    .await;
    assert_eq!(d["evidence"][0]["filename"], "policy v3.pdf");
    assert_eq!(d["status"]["evidence_files"], 1);
    let dl = app
        .get("auditor", &format!("/api/v1/compliance/evidence/{fid}"))
        .await;
    assert_eq!(dl.status, StatusCode::OK);

    let pack = app.get("auditor", "/api/v1/audit-pack").await;
    assert_eq!(pack.status, StatusCode::OK);
    assert_eq!(pack.headers["content-type"], "application/zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(pack.raw)).expect("a zip");
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).expect("entry");
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("read");
        files.insert(f.name().expect("name").to_string(), bytes);
    }
    for name in [
        "index.html",
        "MANIFEST.sha256",
        "catalogue.json",
        "checks.csv",
        "checks/incidents-closed-complete.json",
        "assessment/readiness.json",
        "assessment/requirements.csv",
        "assessments/ASM-000001.json",
        "registers/nonconformities.csv",
        "registers/improvements.json",
        "registers/gap-plan.csv",
    ] {
        assert!(
            files.contains_key(name),
            "{name} missing: {:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
    // Every file but the manifest is in the manifest with its true hash.
    let manifest = String::from_utf8(files["MANIFEST.sha256"].clone()).expect("utf-8");
    assert_eq!(manifest.lines().count(), files.len() - 1);
    for line in manifest.lines() {
        let (hash, path) = line.split_once("  ").expect("sha256sum format");
        assert_eq!(hash, hex::encode(Sha256::digest(&files[path])), "{path}");
    }
    let index = String::from_utf8(files["index.html"].clone()).expect("utf-8");
    assert!(
        index.contains("Audit pack")
            && index.contains("5.2.1")
            && index.contains("Policy signed; review overdue.")
    );
    assert!(
        files
            .keys()
            .any(|k| k.starts_with("evidence/5.2.1/") && k.ends_with("policy_v3.pdf"))
    );
    let ncs = String::from_utf8(files["registers/nonconformities.csv"].clone()).expect("utf-8");
    assert!(
        ncs.starts_with("number,title,state,created_at,closed_at"),
        "{ncs}"
    );
    assert!(ncs.contains(nc["number"].as_str().expect("n")));
    let readiness: Value =
        serde_json::from_slice(&files["assessment/readiness.json"]).expect("json");
    assert_eq!(requirement(&readiness, "5.2.1")["rating"], "partially_met");

    assert_eq!(
        app.get("requester", "/api/v1/audit-pack").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("auditor", "/api/v1/audit-pack?from=2026-02-30")
            .await
            .body["field"],
        "from"
    );
});

db_test!(the_risk_register_is_evidence_for_planning, |app| {
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    let c = check(&live, "6.1", "risks-owned-rated-reviewed");
    assert_eq!(c["status"], "fail", "an empty register is no evidence");
    assert_eq!(c["shortfall"], "needs at least 1 record, found 0");

    let owner = app.users["manager"];
    let risk = ok(app, "sms-manager", Method::POST, "/api/v1/risks", Some(json!({
        "title": "Single database server for payroll",
        "assignee_id": owner,
        "details": {"nature": "risk", "source": "service_requirements", "likelihood": "2", "impact": "5"}
    }))).await;
    let n = risk["number"].as_str().expect("number").to_string();
    assert!(n.starts_with("RSK-"), "{n}");
    let p = format!("/api/v1/risks/{n}");
    assert_eq!(
        app.patch("sms-manager", &p, json!({"details": {"likelihood": "9"}}))
            .await
            .body["field"],
        "details.likelihood"
    );
    assert_eq!(
        app.patch("sms-manager", &p, json!({"state": "treating"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.patch("sms-manager", &p, json!({"state": "assessed"}))
            .await
            .status,
        StatusCode::OK
    );
    let r = app.patch("sms-manager", &p, json!({"state": "treating", "details": {"treatment": "reduce", "treatment_plan": "Add a replica", "review_date": "next spring"}})).await;
    assert_eq!(r.body["field"], "details.review_date", "{}", r.body);
    // A review date already passed fails the check, naming the risk.
    let r = app.patch("sms-manager", &p, json!({"state": "treating", "details": {"treatment": "reduce", "treatment_plan": "Add a replica", "review_date": "2020-03-01"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    let c = check(&live, "6.1", "risks-owned-rated-reviewed");
    assert_eq!(c["failures"][0]["reference"], json!(n));
    assert_eq!(
        c["failures"][0]["reasons"],
        json!(["review date has passed"])
    );
    app.patch(
        "sms-manager",
        &p,
        json!({"details": {"review_date": "2099-03-01"}}),
    )
    .await;
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(
        check(&live, "6.1", "risks-owned-rated-reviewed")["status"],
        "pass"
    );
    assert_eq!(requirement(&live, "6.1")["rating"], "met");
    assert_eq!(
        app.get("requester", "/api/v1/risks").await.status,
        StatusCode::FORBIDDEN
    );
});

db_test!(
    internal_audits_with_findings_and_programme_coverage,
    |app| {
        let plan =
            |body: Value| async move { app.post("sms-manager", "/api/v1/audits", body).await };
        let lead = app.users["manager"];
        let r = plan(json!({"title": "Resolution", "processes": ["incident"], "requirements": ["9.2"],
        "planned_start": "2026-01-10", "planned_end": "2026-01-12", "lead_auditor_id": lead, "criteria": "ISO/IEC 20000-1 and the incident procedure"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let n = r.body["number"].as_str().expect("number").to_string();
        assert!(n.starts_with("AUD-"));
        assert_eq!(r.body["scope"], json!(["8.6.1", "9.2"]));
        assert_eq!(r.body["processes"], json!(["incident", "internal-audit"]));
        let checklist = r.body["checklist"].as_array().expect("checklist");
        assert_eq!(checklist.len(), 2);
        assert!(
            checklist[0]["items"]
                .as_array()
                .is_some_and(|i| i.len() >= 3)
        );
        for (body, field) in [
            (
                json!({"title": "x", "processes": ["astrology"], "planned_start": "2026-01-01", "planned_end": "2026-01-02"}),
                "processes",
            ),
            (
                json!({"title": "x", "requirements": ["11.4"], "planned_start": "2026-01-01", "planned_end": "2026-01-02"}),
                "requirements",
            ),
            (
                json!({"title": "x", "planned_start": "2026-01-01", "planned_end": "2026-01-02"}),
                "requirements",
            ),
            (
                json!({"title": "x", "processes": ["change"], "planned_start": "2026-01-05", "planned_end": "2026-01-02"}),
                "planned_end",
            ),
            (
                json!({"title": "x", "processes": ["change"], "planned_start": "soon", "planned_end": "2026-01-02"}),
                "planned_start",
            ),
            (
                json!({"title": "x", "processes": ["change"], "planned_start": "2026-01-01", "planned_end": "2026-01-02", "lead_auditor_id": app.users["requester"]}),
                "lead_auditor_id",
            ),
        ] {
            assert_eq!(plan(body).await.body["field"], field);
        }
        assert_eq!(
            app.post("auditor", "/api/v1/audits", json!({"title": "x", "processes": ["change"], "planned_start": "2026-01-01", "planned_end": "2026-01-02"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );

        let finding = |body: Value| {
            let path = format!("/api/v1/audits/{n}/findings");
            async move { app.post("sms-manager", &path, body).await }
        };
        let minor = json!({"requirement": "8.6.1", "grade": "minor", "statement": "Three incidents closed without a category", "evidence": "INC sample of 20"});
        assert_eq!(
            finding(minor.clone()).await.status,
            StatusCode::CONFLICT,
            "not while planned"
        );
        let p = format!("/api/v1/audits/{n}");
        assert_eq!(
            app.patch("sms-manager", &p, json!({"state": "in_progress"}))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            finding(json!({"requirement": "8.5.1.3", "grade": "minor", "statement": "x"}))
                .await
                .body["field"],
            "requirement"
        );
        assert_eq!(
            finding(json!({"requirement": "8.6.1", "grade": "severe", "statement": "x"}))
                .await
                .body["field"],
            "grade"
        );
        let r = finding(minor).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let f = &r.body["checklist"][0]["findings"][0];
        let nc = f["nonconformity"]
            .as_str()
            .expect("a nonconformity")
            .to_string();
        assert_eq!(f["nonconformity_state"], "open");
        let ncv = ok(
            app,
            "auditor",
            Method::GET,
            &format!("/api/v1/nonconformities/{nc}"),
            None,
        )
        .await;
        assert_eq!(
            ncv["details"],
            json!({"source": "internal_audit", "severity": "minor", "requirement": "8.6.1"})
        );
        let r = finding(json!({"requirement": "9.2", "grade": "opportunity", "statement": "Sample sizes could follow risk"})).await;
        assert_eq!(
            r.body["checklist"][1]["findings"][0]["nonconformity"],
            Value::Null
        );

        let r = app
            .patch("sms-manager", &p, json!({"state": "reported"}))
            .await;
        assert_eq!(r.body["field"], "report", "{}", r.body);
        let r = app.patch("sms-manager", &p, json!({"state": "reported", "report": "Incident management is effective; one minor nonconformity."})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["reported_at"].is_string());
        assert_eq!(
            app.patch("sms-manager", &p, json!({"title": "y", "version": 1}))
                .await
                .status,
            StatusCode::PRECONDITION_FAILED
        );

        // A second audit ended without a report.
        let r = plan(json!({"title": "Change", "processes": ["change"], "planned_start": "2026-02-01", "planned_end": "2026-02-02"})).await;
        let late = r.body["number"].as_str().expect("number").to_string();

        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        let cov = check(&live, "9.2", "audit-programme-covers-processes");
        assert_eq!(cov["status"], "fail");
        assert_eq!(
            (cov["passed"].as_i64(), cov["examined"].as_i64()),
            (Some(2), Some(29))
        );
        let reported = check(&live, "9.2", "audits-reported");
        assert_eq!(reported["failures"][0]["reference"], json!(late));
        assert_eq!(reported["failures"][0]["reasons"], json!(["no report"]));
        assert_eq!(
            check(&live, "10.1", "findings-recorded-as-nonconformities")["status"],
            "pass"
        );

        let fs = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/findings?grade=minor",
            None,
        )
        .await;
        assert_eq!(fs.as_array().map(Vec::len), Some(1));
        assert_eq!(fs[0]["audit"], json!(n));
        assert_eq!(
            app.get("auditor", "/api/v1/findings?grade=awful")
                .await
                .body["field"],
            "grade"
        );
        let list = ok(app, "auditor", Method::GET, "/api/v1/audits", None).await;
        assert_eq!(list[0]["findings"], 2);
        assert_eq!(list[0]["nonconformities"], 1);
    }
);

db_test!(
    controlled_documents_are_approved_reviewed_and_acknowledged,
    |app| {
        let r = app.post("manager", "/api/v1/documents", json!({
        "title": "Service management policy", "doc_type": "policy", "distribution": ["agent", "manager"],
        "body": "We commit to meeting service requirements and to continual improvement."
    })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let n = r.body["number"].as_str().expect("number").to_string();
        assert!(n.starts_with("DOC-"));
        assert_eq!(r.body["current_version"], Value::Null);
        assert_eq!(r.body["versions"][0]["state"], "draft");
        for (body, field) in [
            (
                json!({"title": "x", "doc_type": "poem", "body": "x"}),
                "doc_type",
            ),
            (
                json!({"title": "x", "doc_type": "policy", "body": "x", "distribution": ["wizard"]}),
                "distribution",
            ),
            (
                json!({"title": "x", "doc_type": "policy", "body": "x", "review_months": 0}),
                "review_months",
            ),
            (
                json!({"title": "x", "doc_type": "policy", "body": " "}),
                "body",
            ),
        ] {
            assert_eq!(
                app.post("manager", "/api/v1/documents", body).await.body["field"],
                field
            );
        }
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        let c = check(&live, "5.2.1", "policy-approved-and-reviewed");
        assert_eq!(c["failures"][0]["reasons"][0], "no approved at");

        let decide = |who: &'static str, v: i64, body: Value| {
            let path = format!("/api/v1/documents/{n}/versions/{v}/decision");
            async move { app.post(who, &path, body).await }
        };
        assert_eq!(
            decide("manager", 1, json!({"action": "approve"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            decide("sms-manager", 1, json!({"action": "approve"}))
                .await
                .status,
            StatusCode::CONFLICT,
            "a draft is not in review"
        );
        assert_eq!(
            decide("manager", 1, json!({"action": "submit"}))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            decide("sms-manager", 1, json!({"action": "reject"}))
                .await
                .body["field"],
            "note"
        );
        assert_eq!(
            decide("sms-manager", 1, json!({"action": "publish"}))
                .await
                .body["field"],
            "action"
        );
        let r = decide(
            "sms-manager",
            1,
            json!({"action": "approve", "note": "Signed off by the board"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["current_version"], 1);
        assert!(
            r.body["next_review"]
                .as_str()
                .is_some_and(|d| d.len() == 10)
        );
        assert_eq!(r.body["pending"], json!(["agent", "manager"]));

        // The author may not approve their own version.
        let scope = ok(app, "sms-manager", Method::POST, "/api/v1/documents", Some(json!({"title": "SMS scope", "doc_type": "scope", "body": "All services to Northwind", "distribution": ["sms-manager"]}))).await;
        let s = scope["number"].as_str().expect("number").to_string();
        ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("/api/v1/documents/{s}/versions/1/decision"),
            Some(json!({"action": "submit"})),
        )
        .await;
        let r = app
            .post(
                "sms-manager",
                &format!("/api/v1/documents/{s}/versions/1/decision"),
                json!({"action": "approve"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("someone else")),
            "{}",
            r.body
        );
        ok(
            app,
            "admin",
            Method::POST,
            &format!("/api/v1/documents/{s}/versions/1/decision"),
            Some(json!({"action": "approve"})),
        )
        .await;

        // Read-acknowledgements of the version in force; a new version needs them again.
        let ack = |who: &'static str| {
            let path = format!("/api/v1/documents/{n}/acknowledge");
            async move { app.call(who, Method::POST, &path, None).await }
        };
        assert_eq!(ack("agent").await.body["acknowledged_percent"], 50.0);
        assert_eq!(
            ack("agent").await.body["acknowledged_percent"],
            50.0,
            "acknowledging twice counts once"
        );
        assert_eq!(ack("auditor").await.status, StatusCode::FORBIDDEN);
        assert_eq!(ack("manager").await.body["acknowledged_percent"], 100.0);
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "5.2.1", "policy-approved-and-reviewed")["status"],
            "pass"
        );
        assert_eq!(check(&live, "4.3", "scope-documented")["status"], "pass");
        assert_eq!(
            check(&live, "7.3", "documents-acknowledged")["failures"][0]["reference"],
            json!(s),
            "nobody acknowledged the scope"
        );

        let v = format!("/api/v1/documents/{n}/versions");
        let r = app.post("manager", &v, json!({"body": "Policy, second edition", "change_summary": "Adds the commitment to security"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            app.post(
                "manager",
                &v,
                json!({"body": "again", "change_summary": "x"})
            )
            .await
            .status,
            StatusCode::CONFLICT
        );
        ok(
            app,
            "manager",
            Method::POST,
            &format!("{v}/2/decision"),
            Some(json!({"action": "submit"})),
        )
        .await;
        let r = ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("{v}/2/decision"),
            Some(json!({"action": "approve"})),
        )
        .await;
        let states: Vec<&str> = r["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(|v| v["state"].as_str())
            .collect();
        assert_eq!(states, vec!["approved", "obsolete"]);
        assert_eq!(r["acknowledged_percent"], 0.0);

        // A review without change moves the next review; withdrawing takes it out of force.
        let r = ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("/api/v1/documents/{n}/review"),
            Some(json!({"notes": "Still right"})),
        )
        .await;
        assert!(r["reviewed_at"].is_string());
        assert_eq!(
            app.post(
                "agent",
                &format!("/api/v1/documents/{n}/review"),
                json!({"notes": "x"})
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        let r = app
            .patch(
                "manager",
                &format!("/api/v1/documents/{n}"),
                json!({"state": "withdrawn"}),
            )
            .await;
        assert_eq!(r.body["state"], "withdrawn");
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "5.2.1", "policy-approved-and-reviewed")["shortfall"],
            "needs at least 1 record, found 0"
        );
        let history = ok(
            app,
            "auditor",
            Method::GET,
            &format!("/api/v1/audit?entity_type=document&entity_id={n}"),
            None,
        )
        .await;
        let actions: Vec<&str> = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for a in [
            "create",
            "submit",
            "approve",
            "acknowledge",
            "draft",
            "review",
            "update",
        ] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
        assert_eq!(
            app.get("requester", "/api/v1/documents").await.status,
            StatusCode::FORBIDDEN
        );
    }
);

db_test!(
    management_reviews_compile_their_inputs_and_track_actions,
    |app| {
        let r = app.post("sms-manager", "/api/v1/management-reviews", json!({"title": "Annual review", "planned_on": "2026-06-30", "attendees": "CEO, SMS manager"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let n = r.body["number"].as_str().expect("number").to_string();
        assert!(n.starts_with("MR-"));
        assert_eq!(
            app.post(
                "sms-manager",
                "/api/v1/management-reviews",
                json!({"title": "x", "planned_on": "June"})
            )
            .await
            .body["field"],
            "planned_on"
        );
        let p = format!("/api/v1/management-reviews/{n}");
        let r = app
            .patch(
                "sms-manager",
                &p,
                json!({"state": "held", "minutes": "Discussed"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "inputs first: {}", r.body);

        // Inputs come from the records: a nonconformity and a closed incident are in them.
        ok(
            app,
            "agent",
            Method::POST,
            "/api/v1/nonconformities",
            Some(json!({"title": "Late SLA report", "details": {"severity": "minor"}})),
        )
        .await;
        let r = ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("{p}/inputs"),
            None,
        )
        .await;
        let inputs = r["inputs"].as_array().expect("inputs");
        assert_eq!(inputs.len(), 8);
        let keys: Vec<&str> = inputs.iter().filter_map(|i| i["key"].as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "previous_actions",
                "readiness",
                "service_performance",
                "nonconformities",
                "audits",
                "risks",
                "changes",
                "improvements"
            ]
        );
        let nc = inputs
            .iter()
            .find(|i| i["key"] == "nonconformities")
            .expect("ncs");
        assert!(
            nc["lines"][0]
                .as_str()
                .is_some_and(|l| l.contains("1 open")),
            "{nc}"
        );
        assert!(r["compiled_at"].is_string());

        assert_eq!(
            app.post(
                "sms-manager",
                &format!("{p}/actions"),
                json!({"title": "x"})
            )
            .await
            .status,
            StatusCode::CONFLICT,
            "not before it is held"
        );
        let r = app.patch("sms-manager", &p, json!({"state": "held"})).await;
        assert_eq!(r.body["field"], "minutes");
        let r = app
            .patch(
                "sms-manager",
                &p,
                json!({"state": "held", "minutes": "Readiness discussed; audit programme behind."}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["held_on"].is_string());
        let owner = app.users["manager"];
        let r = app.post("sms-manager", &format!("{p}/actions"), json!({"title": "Catch up the audit programme", "owner_id": owner, "due_on": "2026-09-30"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["actions"][0]["requirement"], "9.3");
        assert_eq!(
            app.patch("sms-manager", &p, json!({"state": "closed"}))
                .await
                .body["field"],
            "decisions"
        );
        let r = app
            .patch(
                "sms-manager",
                &p,
                json!({"state": "closed", "decisions": "Fund a second internal auditor."}),
            )
            .await;
        assert_eq!(r.body["state"], "closed");
        assert_eq!(
            app.post("sms-manager", &format!("{p}/inputs"), json!({}))
                .await
                .status,
            StatusCode::CONFLICT,
            "closed inputs are final"
        );

        // The next review sees the action's status; the check counts the held review.
        let next = ok(
            app,
            "sms-manager",
            Method::POST,
            "/api/v1/management-reviews",
            Some(json!({"title": "Next", "planned_on": "2027-06-30"})),
        )
        .await;
        let nn = next["number"].as_str().expect("number");
        let r = ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("/api/v1/management-reviews/{nn}/inputs"),
            None,
        )
        .await;
        assert!(
            r["inputs"][0]["lines"][0]
                .as_str()
                .is_some_and(|l| l.starts_with("1 actions from earlier reviews: 0 done, 1 open")),
            "{}",
            r["inputs"][0]
        );
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "9.3", "management-review-held")["status"],
            "pass"
        );
        assert_eq!(
            app.patch("auditor", &p, json!({"title": "y"})).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get("agent", "/api/v1/management-reviews").await.status,
            StatusCode::FORBIDDEN
        );
    }
);

/// Move a work item's creation (and its SLA clocks' start) into last month, as if it were older.
async fn backdate(app: &App, number: &str) {
    use keel::platform::db::Q;
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    let mid_last_month = today
        .first_of_month()
        .saturating_sub(jiff::ToSpan::days(15));
    let ms = jiff::tz::TimeZone::UTC
        .to_timestamp(mid_last_month.to_datetime(jiff::civil::Time::midnight()))
        .expect("instant")
        .as_millisecond();
    app.db
        .exec(
            Q::new("UPDATE work_items SET created_at = $1 WHERE number = $2")
                .bind(ms)
                .bind(number),
        )
        .await
        .expect("backdate");
}

db_test!(
    objectives_kpis_and_service_reports_are_measured_from_the_records,
    |app| {
        let owner = app.users["manager"];
        let o = ok(
            app,
            "sms-manager",
            Method::POST,
            "/api/v1/objectives",
            Some(json!({"title": "Fewer incidents", "owner_id": owner, "due_on": "2027-06-30"})),
        )
        .await;
        let on = o["number"].as_str().expect("number").to_string();
        assert!(on.starts_with("OBJ-"));
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "6.2.1", "objectives-measurable")["failures"][0]["reasons"],
            json!(["kpis is 0, needs at least 1"])
        );

        for (body, field) in [
            (
                json!({"name": "x", "metric": "happiness", "target": 1}),
                "metric",
            ),
            (
                json!({"name": "x", "metric": "change_success_rate", "target": 90, "service_id": 1}),
                "service_id",
            ),
            (
                json!({"name": "x", "metric": "change_success_rate", "target": 190}),
                "target",
            ),
            (
                json!({"name": "x", "metric": "incidents_opened", "target": 5, "frequency": "daily"}),
                "frequency",
            ),
            (
                json!({"name": "x", "metric": "incidents_opened", "target": 5, "objective": "OBJ-999999"}),
                "objective",
            ),
        ] {
            assert_eq!(
                app.post("sms-manager", "/api/v1/kpis", body).await.body["field"],
                field
            );
        }
        let k = ok(app, "sms-manager", Method::POST, "/api/v1/kpis", Some(json!({"name": "Incidents a month", "metric": "incidents_opened", "target": 5, "objective": on}))).await;
        let kn = k["number"].as_str().expect("number").to_string();
        assert_eq!(
            (k["better"].as_str(), k["frequency"].as_str()),
            (Some("lower"), Some("monthly"))
        );

        // Two incidents last month, one this month: last month is measured, this month is not yet.
        let service = ok(
            app,
            "manager",
            Method::POST,
            "/api/v1/services",
            Some(json!({"name": "Payroll", "customer_ids": [app.customers[0]]})),
        )
        .await["id"]
            .as_i64()
            .expect("service");
        for title in ["Old one", "Old two"] {
            let n = app
                .incident("agent", json!({"title": title, "service_id": service}))
                .await;
            backdate(app, &n).await;
        }
        app.incident("agent", json!({"title": "This month"})).await;
        let k = ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("/api/v1/kpis/{kn}/measure"),
            None,
        )
        .await;
        let m = &k["measurements"][0];
        assert_eq!(
            (m["value"].as_f64(), m["met"].as_bool()),
            (Some(2.0), Some(true)),
            "{k}"
        );
        let again = ok(
            app,
            "sms-manager",
            Method::POST,
            &format!("/api/v1/kpis/{kn}/measure"),
            None,
        )
        .await;
        assert_eq!(
            again["measurements"].as_array().map(Vec::len),
            Some(1),
            "a period is measured once"
        );
        let o = ok(
            app,
            "auditor",
            Method::GET,
            &format!("/api/v1/objectives/{on}"),
            None,
        )
        .await;
        assert_eq!(o["on_track"], true);
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "6.2.1", "objectives-measurable")["status"],
            "pass"
        );
        assert_eq!(check(&live, "9.1", "kpis-measured")["status"], "pass");
        let metrics = ok(app, "auditor", Method::GET, "/api/v1/kpis/metrics", None).await;
        assert!(metrics.as_array().is_some_and(|m| m.len() >= 9));

        // Service reports: defined per service, generated for the last complete month, once.
        assert_eq!(
            app.post(
                "sms-manager",
                "/api/v1/service-reports/definitions",
                json!({"name": "x"})
            )
            .await
            .body["field"],
            "service_id"
        );
        assert_eq!(
            app.post(
                "sms-manager",
                "/api/v1/service-reports/definitions",
                json!({"name": "x", "service_id": service, "frequency": "hourly"})
            )
            .await
            .body["field"],
            "frequency"
        );
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "9.4", "customers-reported-monthly")["failures"][0]["reasons"],
            json!(["no last report at"])
        );
        ok(
            app,
            "sms-manager",
            Method::POST,
            "/api/v1/service-reports/definitions",
            Some(json!({"name": "Payroll monthly", "service_id": service})),
        )
        .await;
        let g = ok(
            app,
            "sms-manager",
            Method::POST,
            "/api/v1/service-reports/generate",
            None,
        )
        .await;
        assert_eq!(g["generated"], 1);
        assert_eq!(
            ok(
                app,
                "sms-manager",
                Method::POST,
                "/api/v1/service-reports/generate",
                None
            )
            .await["generated"],
            0
        );
        let reports = ok(app, "auditor", Method::GET, "/api/v1/service-reports", None).await;
        let rn = reports[0]["number"].as_str().expect("number").to_string();
        assert!(rn.starts_with("RPT-"));
        let r = ok(
            app,
            "auditor",
            Method::GET,
            &format!("/api/v1/service-reports/{rn}"),
            None,
        )
        .await;
        assert_eq!(r["content"]["incidents"]["opened"], 2);
        assert_eq!(r["service"], "Payroll");
        let live = ok(
            app,
            "auditor",
            Method::GET,
            "/api/v1/compliance/readiness",
            None,
        )
        .await;
        assert_eq!(
            check(&live, "9.4", "customers-reported-monthly")["status"],
            "pass"
        );
        assert_eq!(
            app.post("auditor", "/api/v1/service-reports/generate", json!({}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
);

db_test!(interested_parties_and_competence_are_evidence, |app| {
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(
        check(&live, "4.2", "interested-parties-registered")["status"],
        "fail"
    );
    assert_eq!(
        app.post(
            "sms-manager",
            "/api/v1/interested-parties",
            json!({"name": "x", "kind": "alien"})
        )
        .await
        .body["field"],
        "kind"
    );
    assert_eq!(
        app.post(
            "sms-manager",
            "/api/v1/interested-parties",
            json!({"name": "x", "kind": "customer", "review_date": "soon"})
        )
        .await
        .body["field"],
        "review_date"
    );
    let r = app.post("sms-manager", "/api/v1/interested-parties", json!({"name": "Northwind", "kind": "customer", "requirements": "ERP available in month-end close", "review_date": "2099-01-01"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().expect("id");
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(
        check(&live, "4.2", "interested-parties-registered")["failures"][0]["reasons"],
        json!(["no how addressed"])
    );
    let r = app
        .patch(
            "sms-manager",
            &format!("/api/v1/interested-parties/{id}"),
            json!({"how_addressed": "SLA NW-1, 99.5 % in close week"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(
        check(&live, "4.2", "interested-parties-registered")["status"],
        "pass"
    );

    // Competence: agents must hold "Incident handling"; the agent has none until trained.
    assert_eq!(
        app.post(
            "sms-manager",
            "/api/v1/competences",
            json!({"role": "wizard", "competence": "x"})
        )
        .await
        .body["field"],
        "role"
    );
    ok(
        app,
        "sms-manager",
        Method::POST,
        "/api/v1/competences",
        Some(json!({"role": "agent", "competence": "Incident handling"})),
    )
    .await;
    assert_eq!(
        app.post(
            "sms-manager",
            "/api/v1/competences",
            json!({"role": "agent", "competence": "Incident handling"})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    let m = ok(app, "auditor", Method::GET, "/api/v1/competences", None).await;
    let agent = m["matrix"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["user"] == "agent"))
        .expect("agent");
    assert_eq!(agent["missing"], json!(["Incident handling"]));
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    let c = check(&live, "7.2", "staff-competent");
    assert_eq!(
        c["failures"][0]["reasons"],
        json!(["missing competences: Incident handling"])
    );
    let agent_id = app.users["agent"];
    for (body, field) in [
        (
            json!({"user_id": agent_id, "competence": "Incident handling", "completed_on": "yesterday"}),
            "completed_on",
        ),
        (
            json!({"user_id": agent_id, "competence": "Incident handling", "completed_on": "2026-01-10", "expires_on": "2025-01-01"}),
            "expires_on",
        ),
        (
            json!({"user_id": 999_999, "competence": "Incident handling", "completed_on": "2026-01-10"}),
            "user_id",
        ),
    ] {
        assert_eq!(
            app.post("manager", "/api/v1/training-records", body)
                .await
                .body["field"],
            field
        );
    }
    // An expired record does not count; a current one does.
    ok(app, "manager", Method::POST, "/api/v1/training-records", Some(json!({"user_id": agent_id, "competence": "Incident handling", "completed_on": "2020-01-10", "expires_on": "2021-01-10"}))).await;
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(check(&live, "7.2", "staff-competent")["failed"], 1);
    ok(app, "manager", Method::POST, "/api/v1/training-records", Some(json!({"user_id": agent_id, "competence": "Incident handling", "completed_on": "2026-01-10", "evidence": "Course certificate"}))).await;
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(check(&live, "7.2", "staff-competent")["status"], "pass");
    let recs = ok(
        app,
        "auditor",
        Method::GET,
        &format!("/api/v1/training-records?user_id={agent_id}"),
        None,
    )
    .await;
    assert_eq!(recs.as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.post(
            "agent",
            "/api/v1/training-records",
            json!({"user_id": agent_id, "competence": "x", "completed_on": "2026-01-10"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
});

db_test!(scope_raci_and_communication_plan, |app| {
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(
        check(&live, "4.3", "scope-covers-live-services")["shortfall"],
        "needs at least 1 record, found 0"
    );
    assert_eq!(
        app.get("auditor", "/api/v1/scope").await.status,
        StatusCode::NOT_FOUND
    );
    let svc = ok(
        app,
        "manager",
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": "Payroll"})),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let services = ok(app, "auditor", Method::GET, "/api/v1/services", None).await;
    let live_ids: Vec<i64> = services
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["stage"] == "live")
        .filter_map(|s| s["id"].as_i64())
        .collect();
    assert_eq!(
        app.call(
            "sms-manager",
            Method::PUT,
            "/api/v1/scope",
            Some(json!({"statement": "x", "service_ids": [999_999]}))
        )
        .await
        .body["field"],
        "service_ids[0]"
    );
    assert_eq!(app.call("sms-manager", Method::PUT, "/api/v1/scope", Some(json!({"statement": "x", "service_ids": [], "exclusions": [{"what": "Payroll", "reason": " "}]}))).await.body["field"], "exclusions[0].reason");
    let r = app
        .call(
            "sms-manager",
            Method::PUT,
            "/api/v1/scope",
            Some(json!({"statement": "IT services to the group's companies", "service_ids": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    if live_ids.contains(&svc) {
        assert!(
            r.body["unscoped"]
                .as_array()
                .is_some_and(|u| u.iter().any(|n| n == "Payroll")),
            "{}",
            r.body
        );
    }
    let r = app.call("sms-manager", Method::PUT, "/api/v1/scope", Some(json!({"statement": "IT services to the group's companies", "service_ids": live_ids, "locations": "Head office", "version": 1}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["unscoped"], json!([]));
    assert_eq!(
        app.call(
            "sms-manager",
            Method::PUT,
            "/api/v1/scope",
            Some(json!({"statement": "y", "service_ids": [], "version": 1}))
        )
        .await
        .status,
        StatusCode::PRECONDITION_FAILED
    );

    // RACI: exactly one accountable and someone responsible, per process.
    let put = |process: &'static str, entries: Value| async move {
        app.call(
            "sms-manager",
            Method::PUT,
            &format!("/api/v1/raci/{process}"),
            Some(json!({"entries": entries})),
        )
        .await
    };
    assert_eq!(put("incident", json!([{"who": "Head of service desk", "letter": "A"}, {"who": "IT director", "letter": "A"}, {"who": "Agents", "letter": "R"}])).await.body["field"], "entries");
    assert_eq!(
        put("incident", json!([{"who": "Agents", "letter": "X"}]))
            .await
            .body["field"],
        "entries[0].letter"
    );
    assert_eq!(
        put("juggling", json!([])).await.status,
        StatusCode::NOT_FOUND
    );
    let r = put("incident", json!([{"who": "Head of service desk", "letter": "A"}, {"who": "Agents", "letter": "R"}, {"who": "Problem manager", "letter": "I"}])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["problem"], Value::Null);

    // The communication plan.
    assert_eq!(
        app.post(
            "sms-manager",
            "/api/v1/communication-plan",
            json!({"topic": "x", "audience": "y", "frequency": "fortnightly"})
        )
        .await
        .body["field"],
        "frequency"
    );
    let owner = app.users["manager"];
    let c = ok(app, "sms-manager", Method::POST, "/api/v1/communication-plan", Some(json!({"topic": "Service report", "audience": "Customers", "frequency": "monthly", "channel": "E-mail", "owner_id": owner}))).await;

    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(
        check(&live, "4.3", "scope-covers-live-services")["status"],
        "pass"
    );
    let raci = check(&live, "5.3", "raci-per-process");
    assert_eq!(
        (raci["examined"].as_i64(), raci["passed"].as_i64()),
        (Some(29), Some(1))
    );
    assert_eq!(check(&live, "7.4", "communication-plan")["status"], "pass");
    let r = app
        .call(
            "sms-manager",
            Method::DELETE,
            &format!("/api/v1/communication-plan/{}", c["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let live = ok(
        app,
        "auditor",
        Method::GET,
        "/api/v1/compliance/readiness",
        None,
    )
    .await;
    assert_eq!(check(&live, "7.4", "communication-plan")["status"], "fail");
    assert_eq!(
        app.call(
            "auditor",
            Method::PUT,
            "/api/v1/raci/incident",
            Some(json!({"entries": []}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
});
