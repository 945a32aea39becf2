//! Every API route × every role, checked against `keel_core::access::allows` through one table
//! mapping each OpenAPI operation to the action it needs. A new route without a row here fails
//! the test, so the table cannot fall behind the router.

use crate::common::{App, Backend};
use axum::http::{Method, StatusCode};
use keel_core::access::{Action, Role, allows};
use serde_json::{Value, json};

/// (method, path template) → (action needed, or None for "any signed-in user"; a request body).
fn table(method: &str, path: &str, tag: &str) -> Option<(Option<Action>, Option<Value>)> {
    use Action::*;
    // Requests have the incidents' routes, for everyone.
    if let Some(rest) = path.strip_prefix("/api/v1/requests") {
        let row = match (method, rest) {
            ("get", "/{number}/history") => (Some(ReadAudit), None),
            ("get", "/{number}/cis") => (Some(ReadConfiguration), None),
            ("get", _) => (Some(ReadWorkItems), None),
            // A request needs a type; the body has none, so allowed callers get a 422.
            ("post", "") => (
                Some(CreateIncident),
                Some(json!({"title": format!("by {tag}")})),
            ),
            ("patch", _) => (Some(UpdateWorkItems), Some(json!({"description": "x"}))),
            ("post", "/{number}/comments") => (Some(CommentPublic), Some(json!({"body": "hello"}))),
            ("post", "/{number}/links") => (
                Some(UpdateWorkItems),
                Some(json!({"kind": "relates_to", "to": "INC-000002"})),
            ),
            ("post", "/{number}/attachments") => (Some(Attach), None),
            ("post", "/{number}/approvals/{id}") => {
                (Some(ReadWorkItems), Some(json!({"decision": "approve"})))
            }
            ("post", "/{number}/tasks/{id}/complete") => (Some(UpdateWorkItems), Some(json!({}))),
            ("post", "/{number}/cis") => (Some(UpdateWorkItems), Some(json!({"ci_id": 1}))),
            ("delete", "/{number}/cis/{ci_id}") => (Some(UpdateWorkItems), None),
            _ => return None,
        };
        return Some(row);
    }
    // Problems, known errors and changes have the incidents' routes, for staff only.
    for internal in [
        "/api/v1/problems",
        "/api/v1/known-errors",
        "/api/v1/changes",
        "/api/v1/nonconformities",
        "/api/v1/improvements",
        "/api/v1/risks",
        "/api/v1/complaints",
    ] {
        if let Some(rest) = path.strip_prefix(internal) {
            let row = match (method, rest) {
                ("post", "/{number}/change") => (Some(UpdateWorkItems), Some(json!({}))),
                // Change management's own routes.
                ("get", "/calendar" | "/calendar.ics" | "/metrics" | "/calendar-feeds") => {
                    (Some(ReadInternalItems), None)
                }
                // Feeds are their owner's credentials: staff who hold tokens, i.e. agents up
                // (UpdateWorkItems has the same allow-set as ReadInternalItems ∧ OwnTokens).
                ("post", "/calendar-feeds") => (
                    Some(UpdateWorkItems),
                    Some(json!({"label": format!("feed {tag}")})),
                ),
                ("delete", "/calendar-feeds/{id}") => (Some(UpdateWorkItems), None),
                ("put", "/{number}/risk") => (Some(UpdateWorkItems), Some(json!({"answers": {}}))),
                ("put", "/{number}/schedule") => (
                    Some(UpdateWorkItems),
                    Some(
                        json!({"planned_start": "2030-01-01T00:00:00Z", "planned_end": "2030-01-01T01:00:00Z"}),
                    ),
                ),
                ("post", "/{number}/ci-updates") => (
                    Some(UpdateWorkItems),
                    Some(json!({"ci_id": 1, "status": "active"})),
                ),
                ("post", "/{number}/approvals/{id}") => (
                    Some(ReadInternalItems),
                    Some(json!({"decision": "approve"})),
                ),
                ("post", "/{number}/tasks") => (
                    Some(UpdateWorkItems),
                    Some(json!({"name": "t", "stage": 1})),
                ),
                ("post", "/{number}/tasks/{id}/complete") => {
                    (Some(UpdateWorkItems), Some(json!({})))
                }
                ("get", "/trends") => (Some(ReadInternalItems), None),
                ("get", "/{number}/cis") => (Some(ReadConfiguration), None),
                ("post", "/{number}/cis") => (Some(UpdateWorkItems), Some(json!({"ci_id": 1}))),
                ("delete", "/{number}/cis/{ci_id}") => (Some(UpdateWorkItems), None),
                ("post", "/{number}/known-error") => (Some(UpdateWorkItems), None),
                ("get", _) => (Some(ReadInternalItems), None),
                ("post", "") => (
                    Some(UpdateWorkItems),
                    Some(json!({"title": format!("by {tag}")})),
                ),
                ("patch", _) => (Some(UpdateWorkItems), Some(json!({"description": "x"}))),
                // Commenting and attaching need the incident's right and staff reading: agents up.
                ("post", "/{number}/comments") => {
                    (Some(UpdateWorkItems), Some(json!({"body": "hello"})))
                }
                ("post", "/{number}/links") => (
                    Some(UpdateWorkItems),
                    Some(json!({"kind": "relates_to", "to": "INC-000002"})),
                ),
                ("post", "/{number}/attachments") => (Some(UpdateWorkItems), None),
                _ => return None,
            };
            return Some(row);
        }
    }
    // Registers: read and write actions come from their declaration. An empty body is refused
    // with 422 by those allowed, after the 403 for those who are not.
    for r in keel::kernel::process::registers() {
        let list = format!("/api/v1/{}", r.name);
        let one = format!("{list}/{{id}}");
        if path == list || path == one {
            return Some(match method {
                "get" => (Some(r.read), None),
                _ => (Some(r.write), Some(json!({}))),
            });
        }
    }
    let row = match (method, path) {
        ("post", "/api/v1/surveys/{id}/answer") => (Some(AnswerSurveys), Some(json!({"score": 3}))),
        ("get", "/api/v1/surveys/mine") => (Some(AnswerSurveys), None),
        ("get", "/api/v1/surveys/scores") => (Some(ReadRelationships), None),
        ("get", "/api/v1/agreements/{id}/attainment") => (Some(ReadRelationships), None),
        ("get", "/api/v1/suppliers/{id}/performance") => (Some(ReadRelationships), None),
        ("get", "/api/v1/budgets/report") => (Some(ReadFinance), None),
        ("get", "/api/v1/demand") => (Some(ReadAssurance), None),
        ("get", "/api/v1/metrics") => (Some(ReadAssurance), None),
        ("post", "/api/v1/metrics") => (Some(ReportMetrics), Some(json!({"samples": []}))),
        ("get", "/api/v1/capacity-status") => (Some(ReadAssurance), None),
        ("get", "/api/v1/capacity-events") => (Some(ReadAssurance), None),
        ("get", "/api/v1/availability") => (Some(ReadAssurance), None),
        ("post", "/api/v1/incidents/{number}/outage") => (Some(ManageAssurance), Some(json!({}))),
        ("get", "/api/v1/security-incidents") => (Some(ReadAssurance), None),
        ("post", "/api/v1/integrations/alertmanager") => {
            (Some(ReceiveAlerts), Some(json!({"alerts": []})))
        }
        ("get", "/api/v1/webhook-events") => (Some(ReadIntegrations), None),
        ("post", "/api/v1/directory/sync") => (Some(ManageUsers), None),
        ("post", "/api/v1/imports/{target}") => (
            Some(ManageIntegrations),
            Some(
                json!({"csv": "E-mail,Name\n", "mapping": {"email": "E-mail", "name": "Name"}, "dry_run": true}),
            ),
        ),
        ("get", "/api/v1/webhooks") => (Some(ReadIntegrations), None),
        ("post", "/api/v1/webhooks") => (
            Some(ManageIntegrations),
            Some(json!({"name": "x", "url": "http://127.0.0.1:9/x", "events": ["*"]})),
        ),
        ("get", "/api/v1/webhooks/{id}") => (Some(ReadIntegrations), None),
        ("patch", "/api/v1/webhooks/{id}") => (Some(ManageIntegrations), Some(json!({}))),
        ("get", "/api/v1/webhooks/{id}/deliveries") => (Some(ReadIntegrations), None),
        ("post", "/api/v1/webhooks/{id}/deliveries/{delivery}/replay") => {
            (Some(ManageIntegrations), Some(json!({})))
        }
        ("post", "/api/v1/webhooks/{id}/ping") => (Some(ManageIntegrations), Some(json!({}))),
        ("get", "/api/v1/mail/quarantine") => (Some(ReadIntegrations), None),
        ("get", "/api/v1/mail/quarantine/{id}") => (Some(ReadIntegrations), None),
        ("get", "/api/v1/mail/quarantine/{id}/raw") => (Some(ReadIntegrations), None),
        ("post", "/api/v1/mail/quarantine/{id}/reprocess") => {
            (Some(ManageIntegrations), Some(json!({})))
        }
        ("post", "/api/v1/mail/quarantine/{id}/discard") => {
            (Some(ManageIntegrations), Some(json!({"reason": "spam"})))
        }
        ("get", "/api/v1/compliance/requirements") => (Some(ReadCompliance), None),
        ("get", "/api/v1/compliance/requirements/{id}") => (Some(ReadCompliance), None),
        ("put", "/api/v1/compliance/requirements/{id}/judgement") => {
            (Some(ManageCompliance), Some(json!({"rating": "met"})))
        }
        ("delete", "/api/v1/compliance/requirements/{id}/judgement") => {
            (Some(ManageCompliance), None)
        }
        ("post", "/api/v1/compliance/requirements/{id}/evidence") => (Some(ManageCompliance), None),
        ("get", "/api/v1/compliance/evidence/{id}") => (Some(ReadCompliance), None),
        ("get", "/api/v1/compliance/checks") => (Some(ReadCompliance), None),
        ("get", "/api/v1/compliance/checks/{id}") => (Some(ReadCompliance), None),
        ("get", "/api/v1/compliance/readiness") => (Some(ReadCompliance), None),
        ("put", "/api/v1/compliance/processes/{id}/capability") => {
            (Some(ManageCompliance), Some(json!({"ratings": {}})))
        }
        ("get", "/api/v1/compliance/actions") => (Some(ReadCompliance), None),
        ("post", "/api/v1/compliance/actions") => (
            Some(ManageCompliance),
            Some(json!({"requirement": "9.2", "title": format!("action {tag}")})),
        ),
        ("patch", "/api/v1/compliance/actions/{number}") => {
            (Some(ManageCompliance), Some(json!({})))
        }
        ("get", "/api/v1/assessments") => (Some(ReadCompliance), None),
        ("post", "/api/v1/assessments") => (
            Some(ManageCompliance),
            Some(json!({"title": format!("assessment {tag}")})),
        ),
        ("get", "/api/v1/assessments/{number}") => (Some(ReadCompliance), None),
        ("get", "/api/v1/assessments/{number}/comparison") => (Some(ReadCompliance), None),
        ("get", "/api/v1/audit-pack") => (Some(ReadCompliance), None),
        ("get", "/api/v1/audits") => (Some(ReadCompliance), None),
        ("post", "/api/v1/audits") => (
            Some(ManageCompliance),
            Some(
                json!({"title": format!("audit {tag}"), "processes": ["incident"], "planned_start": "2030-01-01", "planned_end": "2030-01-02"}),
            ),
        ),
        ("get", "/api/v1/audits/{number}") => (Some(ReadCompliance), None),
        ("patch", "/api/v1/audits/{number}") => (Some(ManageCompliance), Some(json!({}))),
        ("post", "/api/v1/audits/{number}/findings") => (
            Some(ManageCompliance),
            Some(json!({"requirement": "8.6.1", "grade": "observation", "statement": "x"})),
        ),
        ("get", "/api/v1/findings") => (Some(ReadCompliance), None),
        ("get", "/api/v1/scope") => (Some(ReadCompliance), None),
        ("put", "/api/v1/scope") => (
            Some(ManageCompliance),
            Some(json!({"statement": "All services", "service_ids": []})),
        ),
        ("get", "/api/v1/raci") => (Some(ReadCompliance), None),
        ("put", "/api/v1/raci/{process}") => (
            Some(ManageCompliance),
            Some(
                json!({"entries": [{"who": "desk", "letter": "A"}, {"who": "desk lead", "letter": "R"}]}),
            ),
        ),
        ("get", "/api/v1/communication-plan") => (Some(ReadCompliance), None),
        ("post", "/api/v1/communication-plan") => (
            Some(ManageCompliance),
            Some(
                json!({"topic": format!("topic {tag}"), "audience": "all", "frequency": "monthly"}),
            ),
        ),
        ("delete", "/api/v1/communication-plan/{id}") => (Some(ManageCompliance), None),
        ("get", "/api/v1/interested-parties") => (Some(ReadCompliance), None),
        ("post", "/api/v1/interested-parties") => (
            Some(ManageCompliance),
            Some(json!({"name": format!("party {tag}"), "kind": "customer"})),
        ),
        ("get", "/api/v1/interested-parties/{id}") => (Some(ReadCompliance), None),
        ("patch", "/api/v1/interested-parties/{id}") => (Some(ManageCompliance), Some(json!({}))),
        ("get", "/api/v1/competences") => (Some(ReadCompliance), None),
        ("post", "/api/v1/competences") => (
            Some(ManageCompliance),
            Some(json!({"role": "agent", "competence": format!("skill {tag}")})),
        ),
        ("get", "/api/v1/training-records") => (Some(ReadCompliance), None),
        ("post", "/api/v1/training-records") => (
            Some(ManageReference),
            Some(json!({"user_id": 1, "competence": "x", "completed_on": "2026-01-01"})),
        ),
        ("get", "/api/v1/objectives") => (Some(ReadCompliance), None),
        ("post", "/api/v1/objectives") => (
            Some(ManageCompliance),
            Some(json!({"title": format!("objective {tag}")})),
        ),
        ("get", "/api/v1/objectives/{number}") => (Some(ReadCompliance), None),
        ("patch", "/api/v1/objectives/{number}") => (Some(ManageCompliance), Some(json!({}))),
        ("get", "/api/v1/kpis") => (Some(ReadCompliance), None),
        ("post", "/api/v1/kpis") => (
            Some(ManageCompliance),
            Some(json!({"name": format!("kpi {tag}"), "metric": "incidents_opened", "target": 10})),
        ),
        ("get", "/api/v1/kpis/metrics") => (Some(ReadCompliance), None),
        ("get", "/api/v1/kpis/{number}") => (Some(ReadCompliance), None),
        ("post", "/api/v1/kpis/{number}/measure") => (Some(ManageCompliance), None),
        ("get", "/api/v1/service-reports") => (Some(ReadCompliance), None),
        ("get", "/api/v1/service-reports/{number}") => (Some(ReadCompliance), None),
        ("get", "/api/v1/service-reports/definitions") => (Some(ReadCompliance), None),
        ("post", "/api/v1/service-reports/definitions") => (
            Some(ManageCompliance),
            Some(json!({"name": format!("report {tag}"), "service_id": 1})),
        ),
        ("post", "/api/v1/service-reports/generate") => (Some(ManageCompliance), None),
        ("get", "/api/v1/management-reviews") => (Some(ReadCompliance), None),
        ("post", "/api/v1/management-reviews") => (
            Some(ManageCompliance),
            Some(json!({"title": format!("review {tag}"), "planned_on": "2030-01-01"})),
        ),
        ("get", "/api/v1/management-reviews/{number}") => (Some(ReadCompliance), None),
        ("patch", "/api/v1/management-reviews/{number}") => {
            (Some(ManageCompliance), Some(json!({})))
        }
        ("post", "/api/v1/management-reviews/{number}/inputs") => (Some(ManageCompliance), None),
        ("post", "/api/v1/management-reviews/{number}/actions") => {
            (Some(ManageCompliance), Some(json!({"title": "x"})))
        }
        ("get", "/api/v1/documents") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/documents") => (
            Some(ManageReference),
            Some(json!({"title": format!("doc {tag}"), "doc_type": "procedure", "body": "text"})),
        ),
        ("get", "/api/v1/documents/{number}") => (Some(ReadInternalItems), None),
        ("patch", "/api/v1/documents/{number}") => (Some(ManageReference), Some(json!({}))),
        ("post", "/api/v1/documents/{number}/versions") => (
            Some(ManageReference),
            Some(json!({"body": "v2", "change_summary": "x"})),
        ),
        ("post", "/api/v1/documents/{number}/versions/{version}/decision") => {
            (Some(ManageCompliance), Some(json!({"action": "approve"})))
        }
        ("post", "/api/v1/documents/{number}/review") => {
            (Some(ManageCompliance), Some(json!({"notes": "fine"})))
        }
        // Acknowledging is a write of one's own: staff who hold notifications (not auditors).
        ("post", "/api/v1/documents/{number}/acknowledge") => (Some(UpdateWorkItems), None),
        ("post", "/api/v1/incidents/{number}/problem") => (Some(UpdateWorkItems), Some(json!({}))),
        ("get", "/api/v1/incidents/{number}/major") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/incidents/{number}/major") => (
            Some(ManageMajorIncidents),
            Some(json!({"criterion": "service_outage", "manager_id": 1})),
        ),
        ("post", "/api/v1/incidents/{number}/major/communications") => (
            Some(UpdateWorkItems),
            Some(json!({"audience": "customers", "body": "update"})),
        ),
        ("post", "/api/v1/incidents/{number}/major/review") => {
            (Some(ManageMajorIncidents), Some(json!({"review": "done"})))
        }
        ("post", "/api/v1/incidents/{number}/escalate") => (
            Some(UpdateWorkItems),
            Some(json!({"kind": "hierarchical", "reason": "x"})),
        ),
        ("post", "/api/v1/incidents/{number}/confirm") => {
            (Some(ConfirmResolution), Some(json!({})))
        }
        ("post", "/api/v1/incidents/{number}/reject") => {
            (Some(ConfirmResolution), Some(json!({"reason": "no"})))
        }
        ("get", "/api/v1/incidents") => (Some(ReadWorkItems), None),
        ("post", "/api/v1/incidents") => (
            Some(CreateIncident),
            Some(json!({"title": format!("by {tag}")})),
        ),
        ("get", "/api/v1/incidents/{number}") => (Some(ReadWorkItems), None),
        ("patch", "/api/v1/incidents/{number}") => (
            Some(UpdateWorkItems),
            Some(json!({"description": format!("edited by {tag}")})),
        ),
        ("get", "/api/v1/incidents/{number}/history") => (Some(ReadAudit), None),
        ("get", "/api/v1/incidents/{number}/comments") => (Some(ReadWorkItems), None),
        ("post", "/api/v1/incidents/{number}/comments") => {
            (Some(CommentPublic), Some(json!({"body": "hello"})))
        }
        ("get", "/api/v1/incidents/{number}/links") => (Some(ReadWorkItems), None),
        ("post", "/api/v1/incidents/{number}/links") => (
            Some(UpdateWorkItems),
            Some(json!({"kind": "relates_to", "to": "INC-000002"})),
        ),
        ("get", "/api/v1/incidents/{number}/attachments") => (Some(ReadWorkItems), None),
        ("post", "/api/v1/incidents/{number}/attachments") => (Some(Attach), None),
        ("get", "/api/v1/incidents/{number}/attachments/{id}") => (Some(ReadWorkItems), None),
        ("get", "/api/v1/me") => (None, None),
        ("get", "/api/v1/approvals") => (Some(ReadWorkItems), None),
        ("get", "/api/v1/change-policy") => (Some(ReadInternalItems), None),
        ("put", "/api/v1/change-policy") => (Some(ManageReference), Some(json!({}))),
        ("get", "/api/v1/change-authorities") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/change-authorities") => (
            Some(ManageReference),
            Some(json!({"name": format!("authority {tag}"), "group_id": 1})),
        ),
        ("get", "/api/v1/change-categories") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/change-categories") => (
            Some(ManageReference),
            Some(json!({"name": format!("category {tag}"), "authority_id": 1})),
        ),
        ("get", "/api/v1/change-templates") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/change-templates") => (
            Some(ManageReference),
            Some(
                json!({"name": format!("template {tag}"), "implementation_plan": "x", "backout_plan": "y"}),
            ),
        ),
        ("get", "/api/v1/change-blackouts") => (Some(ReadInternalItems), None),
        ("patch", "/api/v1/change-authorities/{id}") => (Some(ManageReference), Some(json!({}))),
        ("patch", "/api/v1/change-categories/{id}") => (Some(ManageReference), Some(json!({}))),
        ("patch", "/api/v1/change-templates/{id}") => (Some(ManageReference), Some(json!({}))),
        ("delete", "/api/v1/change-blackouts/{id}") => (Some(ManageReference), None),
        ("post", "/api/v1/change-blackouts") => (
            Some(ManageReference),
            Some(
                json!({"name": format!("blackout {tag}"), "starts_at": "2031-01-01", "ends_at": "2031-01-02"}),
            ),
        ),
        ("get", "/api/v1/releases") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/releases") => (
            Some(UpdateWorkItems),
            Some(
                json!({"name": format!("release {tag}"), "kind": "minor", "planned_at": "2030-01-01"}),
            ),
        ),
        ("get", "/api/v1/releases/{number}") => (Some(ReadInternalItems), None),
        ("patch", "/api/v1/releases/{number}") => (Some(UpdateWorkItems), Some(json!({}))),
        ("post", "/api/v1/releases/{number}/changes") => {
            (Some(UpdateWorkItems), Some(json!({"change": "CHG-000001"})))
        }
        ("post", "/api/v1/releases/{number}/deployments") => (
            Some(UpdateWorkItems),
            Some(
                json!({"environment": "prod", "planned_start": "2030-01-01T00:00:00Z", "planned_end": "2030-01-01T01:00:00Z"}),
            ),
        ),
        ("post", "/api/v1/releases/{number}/deployments/{id}/outcome") => {
            (Some(UpdateWorkItems), Some(json!({"state": "succeeded"})))
        }
        ("get", "/api/v1/service-designs") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/service-designs") => (
            Some(ManageReference),
            Some(json!({"service_id": 1, "title": format!("design {tag}")})),
        ),
        ("get", "/api/v1/service-designs/{number}") => (Some(ReadInternalItems), None),
        ("patch", "/api/v1/service-designs/{number}") => (Some(ManageReference), Some(json!({}))),
        ("post", "/api/v1/service-designs/{number}/criteria/{id}") => {
            (Some(UpdateWorkItems), Some(json!({"result": "passed"})))
        }
        ("post", "/api/v1/service-designs/{number}/tasks") => {
            (Some(ManageReference), Some(json!({"name": "t"})))
        }
        ("post", "/api/v1/service-designs/{number}/tasks/{id}/complete") => {
            (Some(UpdateWorkItems), None)
        }
        ("get", "/api/v1/users") => (Some(ReadDirectory), None),
        ("post", "/api/v1/users") => (
            Some(ManageUsers),
            Some(json!({"email": format!("{tag}-made@test.keel"), "name": "x", "role": "agent"})),
        ),
        ("get", "/api/v1/users/{id}") => (Some(ReadDirectory), None),
        ("patch", "/api/v1/users/{id}") => (Some(ManageUsers), Some(json!({"disabled": false}))),
        ("get", "/api/v1/groups") => (Some(ReadDirectory), None),
        ("post", "/api/v1/groups") => (
            Some(ManageReference),
            Some(json!({"name": format!("group {tag}")})),
        ),
        ("post", "/api/v1/groups/{id}/members") => {
            (Some(ManageReference), Some(json!({"user_id": 1})))
        }
        ("get", "/api/v1/customers") => (Some(ReadDirectory), None),
        ("post", "/api/v1/customers") => (
            Some(ManageReference),
            Some(json!({"name": format!("customer {tag}")})),
        ),
        ("get", "/api/v1/services") => (Some(ReadDirectory), None),
        ("post", "/api/v1/services") => (
            Some(ManageReference),
            Some(json!({"name": format!("service {tag}")})),
        ),
        ("get", "/api/v1/services/{id}") => (Some(ReadDirectory), None),
        ("patch", "/api/v1/services/{id}") => (Some(ManageReference), Some(json!({}))),
        ("get", "/api/v1/service-plans") => (Some(ReadDirectory), None),
        ("post", "/api/v1/service-plans") => (
            Some(ManageReference),
            Some(json!({"kind": "new", "title": format!("plan {tag}")})),
        ),
        ("get", "/api/v1/service-plans/{number}") => (Some(ReadDirectory), None),
        ("patch", "/api/v1/service-plans/{number}") => (Some(ManageReference), Some(json!({}))),
        ("get", "/api/v1/catalogue") => (Some(ReadCatalogue), None),
        ("post", "/api/v1/catalogue") => (
            Some(ManageReference),
            Some(json!({"name": format!("offering {tag}"), "service_id": 1, "request_type_id": 1})),
        ),
        ("get", "/api/v1/catalogue/{id}") => (Some(ReadCatalogue), None),
        ("patch", "/api/v1/catalogue/{id}") => (Some(ManageReference), Some(json!({}))),
        ("post", "/api/v1/catalogue/{id}/order") => (Some(CreateIncident), Some(json!({}))),
        ("get", "/api/v1/ci-classes") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/ci-classes") => (
            Some(ManageConfiguration),
            Some(json!({"name": format!("class {tag}")})),
        ),
        ("get", "/api/v1/ci-classes/{id}") => (Some(ReadConfiguration), None),
        ("patch", "/api/v1/ci-classes/{id}") => (Some(ManageConfiguration), Some(json!({}))),
        ("get", "/api/v1/cis") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/cis") => (
            Some(ManageConfiguration),
            Some(json!({"class": "none", "name": format!("ci {tag}")})),
        ),
        ("get", "/api/v1/cis/{id}") => (Some(ReadConfiguration), None),
        ("patch", "/api/v1/cis/{id}") => (Some(ManageConfiguration), Some(json!({}))),
        ("get", "/api/v1/cis/{id}/impact") => (Some(ReadConfiguration), None),
        ("get", "/api/v1/relationships") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/relationships") => (
            Some(ManageConfiguration),
            Some(json!({"source_id": 1, "kind": "runs_on", "target_id": 2})),
        ),
        ("delete", "/api/v1/relationships/{id}") => (Some(ManageConfiguration), None),
        ("post", "/api/v1/cis/import") => (Some(ManageConfiguration), Some(json!({}))),
        ("get", "/api/v1/assets") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/assets") => (
            Some(ManageConfiguration),
            Some(json!({"name": format!("asset {tag}"), "kind": "hardware"})),
        ),
        ("get", "/api/v1/assets/{tag}") => (Some(ReadConfiguration), None),
        ("patch", "/api/v1/assets/{tag}") => (Some(ManageConfiguration), Some(json!({}))),
        ("get", "/api/v1/assets/{tag}/installations") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/assets/{tag}/installations") => {
            (Some(ManageConfiguration), Some(json!({"ci_id": 1})))
        }
        ("delete", "/api/v1/assets/{tag}/installations/{ci_id}") => {
            (Some(ManageConfiguration), None)
        }
        ("get", "/api/v1/cis/export") => (Some(ReadConfiguration), None),
        ("get", "/api/v1/baselines") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/baselines") => (
            Some(ManageConfiguration),
            Some(json!({"name": format!("baseline {tag}")})),
        ),
        ("get", "/api/v1/baselines/{id}") => (Some(ReadConfiguration), None),
        ("get", "/api/v1/baselines/{id}/compare") => (Some(ReadConfiguration), None),
        ("get", "/api/v1/configuration-audits") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/configuration-audits") => (Some(ManageConfiguration), Some(json!({}))),
        ("get", "/api/v1/configuration-audits/{number}") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/configuration-audits/{number}/accept") => {
            (Some(ManageConfiguration), Some(json!({"findings": [1]})))
        }
        ("get", "/api/v1/incidents/{number}/cis") => (Some(ReadConfiguration), None),
        ("post", "/api/v1/incidents/{number}/cis") => {
            (Some(UpdateWorkItems), Some(json!({"ci_id": 1})))
        }
        ("delete", "/api/v1/incidents/{number}/cis/{ci_id}") => (Some(UpdateWorkItems), None),
        ("get", "/api/v1/tokens") => (Some(OwnTokens), None),
        ("post", "/api/v1/tokens") => (Some(OwnTokens), Some(json!({"name": "t"}))),
        ("delete", "/api/v1/tokens/{id}") => (Some(OwnTokens), None),
        ("get", "/api/v1/audit") => (Some(ReadAudit), None),
        ("get", "/api/v1/audit/verify") => (Some(ReadAudit), None),
        ("get", "/api/v1/jobs") => (Some(ReadOperations), None),
        ("get", "/api/v1/incidents/{number}/sla") => (Some(ReadWorkItems), None),
        ("get", "/api/v1/notifications") => (Some(OwnNotifications), None),
        ("post", "/api/v1/notifications/read") => (Some(OwnNotifications), Some(json!({}))),
        ("get", "/api/v1/calendars") => (Some(ReadServiceLevels), None),
        ("post", "/api/v1/calendars") => (
            Some(ManageServiceLevels),
            Some(json!({"name": format!("cal {tag}"), "time_zone": "UTC",
                "windows": [{"weekday": "monday", "start": "09:00", "end": "17:00"}]})),
        ),
        ("get", "/api/v1/calendars/{id}") => (Some(ReadServiceLevels), None),
        ("put", "/api/v1/calendars/{id}") => (
            Some(ManageServiceLevels),
            Some(json!({"name": format!("cal {tag} v2"), "time_zone": "UTC",
                "windows": [{"weekday": "tuesday", "start": "09:00", "end": "17:00"}]})),
        ),
        ("get", "/api/v1/service-level-targets") => (Some(ReadServiceLevels), None),
        ("post", "/api/v1/service-level-targets") => (
            Some(ManageServiceLevels),
            Some(
                json!({"name": format!("t {tag}"), "metric": "response", "target_minutes": 30, "calendar_id": 1}),
            ),
        ),
        ("get", "/api/v1/service-level-targets/{id}") => (Some(ReadServiceLevels), None),
        ("patch", "/api/v1/service-level-targets/{id}") => (
            Some(ManageServiceLevels),
            Some(json!({"target_minutes": 45})),
        ),
        ("get", "/api/v1/sla/attainment") => (Some(ReadServiceLevels), None),
        ("get", "/api/v1/views") => (Some(ReadWorkItems), None),
        ("get", "/api/v1/search") => (Some(ReadWorkItems), None),
        ("get", "/api/v1/request-types") => (Some(ReadWorkItems), None),
        ("post", "/api/v1/request-types") => (
            Some(ManageReference),
            Some(json!({"name": format!("type {tag}")})),
        ),
        ("get", "/api/v1/knowledge") => (Some(ReadKnowledge), None),
        ("post", "/api/v1/knowledge") => (
            Some(WriteKnowledge),
            Some(json!({"title": format!("kb {tag}"), "body": "text"})),
        ),
        ("get", "/api/v1/knowledge/{number}") => (Some(ReadKnowledge), None),
        ("patch", "/api/v1/knowledge/{number}") => {
            (Some(WriteKnowledge), Some(json!({"body": "edited"})))
        }
        ("get", "/api/v1/knowledge/{number}/versions") => (Some(ReadInternalItems), None),
        ("post", "/api/v1/views") => (
            Some(OwnViews),
            Some(json!({"kind": "incident", "name": format!("view {tag}"), "query": "open=true"})),
        ),
        // Deleting someone else's view is refused (403) even to those who may own views; the
        // matrix checks the action gate, so the id is the caller's own view or none at all.
        ("delete", "/api/v1/views/{id}") => (Some(OwnViews), None),
        _ => return None,
    };
    Some(row)
}

async fn matrix(backend: Backend) {
    let app = App::new(backend).await;
    let number = app.incident("agent", json!({"title": "Matrix"})).await;
    app.incident("agent", json!({"title": "Link target"})).await;
    let up = app
        .send(
            axum::http::Request::post(format!(
                "/api/v1/incidents/{number}/attachments?filename=a.txt"
            ))
            .header("authorization", format!("Bearer {}", app.tokens["agent"]))
            .body(axum::body::Body::from("hello"))
            .expect("req"),
        )
        .await;
    let attachment = up.body["id"].as_i64().expect("attachment id");
    // A token nobody uses, for the revoke route.
    let spare = app
        .post("admin", "/api/v1/tokens", json!({"name": "spare"}))
        .await
        .body["id"]
        .as_i64()
        .expect("token id");
    let doc = app.get("", "/api/v1/openapi.json").await.body;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, _) in ops.as_object().expect("ops") {
            for role in Role::ALL {
                let key = match role {
                    Role::Requester => "requester",
                    Role::Agent => "agent",
                    Role::Manager => "manager",
                    Role::SmsManager => "sms-manager",
                    Role::Auditor => "auditor",
                    Role::Admin => "admin",
                };
                let (action, body) = table(method, path, key)
                    .unwrap_or_else(|| panic!("no row in the access table for {method} {path}"));
                let id = if path.contains("/attachments/") {
                    attachment
                } else if path.starts_with("/api/v1/groups") {
                    app.group
                } else if path.starts_with("/api/v1/tokens") {
                    spare
                } else {
                    app.users["admin"]
                };
                let mut url = path
                    .replace("{number}", &number)
                    .replace("{id}", &id.to_string())
                    .replace("{ci_id}", &id.to_string())
                    .replace("{delivery}", &id.to_string())
                    .replace("{target}", "users")
                    .replace("{tag}", "AST-000001")
                    .replace("{version}", "1")
                    .replace("{process}", "incident");
                if path.ends_with("/attachments") && method == "post" {
                    url.push_str("?filename=b.txt");
                }
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let expected_allowed = action.is_none_or(|a| allows(role, a));
                let r = if path.ends_with("/attachments") && method == "post" {
                    app.send(
                        axum::http::Request::post(&url)
                            .header("authorization", format!("Bearer {}", app.tokens[key]))
                            .body(axum::body::Body::from("x"))
                            .expect("req"),
                    )
                    .await
                } else {
                    app.call(key, m.clone(), &url, body.clone()).await
                };
                if expected_allowed {
                    assert!(
                        r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                        "{role} should be allowed {method} {path}: {} {}",
                        r.status,
                        r.body
                    );
                } else {
                    assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{role} should be denied {method} {path}: {}",
                        r.body
                    );
                }
                // Anonymous callers are always asked to authenticate.
                let anon = app.call("", m, &url, body).await;
                assert_eq!(
                    anon.status,
                    StatusCode::UNAUTHORIZED,
                    "anonymous {method} {path}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30 * 6, "checked {checked} route × role pairs");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_role_sqlite() {
    matrix(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_role_postgres() {
    matrix(Backend::Postgres).await;
}

/// Every `POST` of the OpenAPI document honours `Idempotency-Key`: sent twice with one key, the
/// second answer is the first one replayed (a success) or the same refusal run again (nothing
/// was kept); a key is never replayed across routes.
async fn every_post_is_idempotent(backend: Backend) {
    let app = App::new(backend).await;
    let number = app.incident("agent", json!({"title": "Keyed"})).await;
    app.incident("agent", json!({"title": "Link target"})).await;
    let doc = app.get("", "/api/v1/openapi.json").await.body;
    let paths = doc["paths"].as_object().expect("paths");
    let (mut posts, mut replayed) = (0, 0);
    for (path, ops) in paths {
        if !ops.as_object().is_some_and(|o| o.contains_key("post")) {
            continue;
        }
        let (_, body) = table("post", path, "admin")
            .unwrap_or_else(|| panic!("no row in the access table for post {path}"));
        let id = app.users["admin"].to_string();
        let mut url = path
            .replace("{number}", &number)
            .replace("{id}", &id)
            .replace("{target}", "users")
            .replace("{process}", "incident");
        let raw = path.ends_with("/attachments");
        if raw {
            url.push_str("?filename=k.txt");
        }
        let key = format!("walk {path}");
        let mut answers = vec![];
        for _ in 0..2 {
            answers.push(if raw {
                app.send(
                    axum::http::Request::post(&url)
                        .header("authorization", format!("Bearer {}", app.tokens["admin"]))
                        .header("idempotency-key", key.as_str())
                        .body(axum::body::Body::from("x"))
                        .expect("req"),
                )
                .await
            } else {
                app.call_with(
                    "admin",
                    Method::POST,
                    &url,
                    body.clone(),
                    &[("idempotency-key", key.as_str())],
                )
                .await
            });
        }
        let second = answers.pop().expect("two answers");
        let first = answers.pop().expect("two answers");
        assert_eq!(second.status, first.status, "post {path}: {}", second.body);
        if first.status.is_success() {
            let replay = second
                .headers
                .get("idempotent-replayed")
                .map(|v| v.as_bytes());
            // A success that wrote nothing (a dry run, a report) has nothing to keep: it runs
            // again and answers the same.
            if replay.is_none() {
                assert_eq!(
                    second.raw, first.raw,
                    "post {path}: neither replayed nor the same"
                );
                continue;
            }
            assert_eq!(replay, Some(&b"true"[..]), "post {path}");
            if path != "/api/v1/tokens" {
                assert_eq!(second.raw, first.raw, "post {path}");
            }
            replayed += 1;
        } else {
            assert!(
                second.headers.get("idempotent-replayed").is_none(),
                "post {path}: a refusal is not kept ({} {})",
                first.status,
                first.body
            );
        }
        posts += 1;
    }
    assert!(posts >= 100, "walked {posts} POST routes");
    assert!(
        replayed >= 40,
        "{replayed} of {posts} POST routes succeeded and replayed"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_is_idempotent_sqlite() {
    every_post_is_idempotent(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_is_idempotent_postgres() {
    every_post_is_idempotent(Backend::Postgres).await;
}

/// Every `PATCH` and `PUT` of the OpenAPI document honours `If-Match`: a stale tag is refused
/// with 412 and changes nothing, the current tag (from a `GET` of the record) is not; every
/// record read carries its `ETag`.
async fn every_update_honours_if_match(backend: Backend) {
    let app = App::new(backend).await;
    let number = app.incident("agent", json!({"title": "Tagged"})).await;
    let doc = app.get("", "/api/v1/openapi.json").await.body;
    let paths = doc["paths"].as_object().expect("paths");
    let (mut updates, mut tagged) = (0, 0);
    let mut untagged: Vec<String> = vec![];
    for (path, ops) in paths {
        let ops = ops.as_object().expect("ops");
        for method in ["patch", "put"] {
            if !ops.contains_key(method) {
                continue;
            }
            let (_, body) = table(method, path, "admin")
                .unwrap_or_else(|| panic!("no row in the access table for {method} {path}"));
            // The record to update: made through its collection's POST when it has one.
            let mut key = app.users["admin"].to_string();
            if let Some((parent, last)) = path.rsplit_once('/')
                && last.starts_with('{')
                && !parent.contains('{')
                && let Some((_, Some(made_with))) = table("post", parent, "admin")
            {
                let made = app.post("admin", parent, made_with).await;
                if let Some(k) = made.body["number"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| made.body["tag"].as_str().map(str::to_string))
                    .or_else(|| made.body["id"].as_i64().map(|i| i.to_string()))
                {
                    key = k;
                }
            }
            let url = path
                .replace(
                    "{number}",
                    if path.contains("{number}") && !path.ends_with("{number}") {
                        &number
                    } else {
                        &key
                    },
                )
                .replace("{id}", &key)
                .replace("{tag}", &key)
                .replace("{process}", "incident");
            let url = if path.ends_with("{number}") && key == app.users["admin"].to_string() {
                path.replace("{number}", &number)
            } else {
                url
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let read = app.get("admin", &url).await;
            let stale = app
                .call_with(
                    "admin",
                    m.clone(),
                    &url,
                    body.clone(),
                    &[("if-match", "\"v987654\"")],
                )
                .await;
            assert_eq!(
                stale.status,
                StatusCode::PRECONDITION_FAILED,
                "{method} {path} with a stale If-Match: {}",
                stale.body
            );
            assert_eq!(stale.headers["content-type"], "application/problem+json");
            if read.status.is_success() {
                let tag = read
                    .headers
                    .get("etag")
                    .unwrap_or_else(|| panic!("GET {path} carries no ETag"))
                    .to_str()
                    .expect("ascii")
                    .to_string();
                let after = app.get("admin", &url).await;
                assert_eq!(
                    after.headers.get("etag"),
                    read.headers.get("etag"),
                    "{method} {path}: a refused update changes nothing"
                );
                let fresh = app
                    .call_with("admin", m, &url, body, &[("if-match", tag.as_str())])
                    .await;
                assert_ne!(
                    fresh.status,
                    StatusCode::PRECONDITION_FAILED,
                    "{method} {path} with the current If-Match {tag}: {}",
                    fresh.body
                );
                tagged += 1;
            } else {
                untagged.push(format!("{method} {path} ({})", read.status));
            }
            updates += 1;
        }
    }
    assert!(updates >= 55, "walked {updates} updates");
    assert!(
        tagged >= 20,
        "{tagged} of {updates} updates had a record to read first; not: {untagged:#?}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_honours_if_match_sqlite() {
    every_update_honours_if_match(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_honours_if_match_postgres() {
    every_update_honours_if_match(Backend::Postgres).await;
}

/// Routes whose right depends on what the body asks, so only the handler can refuse (after
/// reading it): a document version is submitted by its author (`ManageReference`), approved by
/// the SMS manager (`ManageCompliance`); the table above checks the approval.
const ASKED_DECIDES: &[&str] = &["/api/v1/documents/{number}/versions/{version}/decision"];

/// The role gate runs before the body is read: a role that may not call a route gets 403
/// whatever it sends, here a body that is not even JSON.
async fn refusals_come_before_the_body(backend: Backend) {
    let app = App::new(backend).await;
    let number = app.incident("agent", json!({"title": "Gate"})).await;
    let doc = app.get("", "/api/v1/openapi.json").await.body;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, _) in ops.as_object().expect("ops") {
            if method == "get" {
                continue;
            }
            for role in Role::ALL {
                let key = match role {
                    Role::Requester => "requester",
                    Role::Agent => "agent",
                    Role::Manager => "manager",
                    Role::SmsManager => "sms-manager",
                    Role::Auditor => "auditor",
                    Role::Admin => "admin",
                };
                let (action, _) = table(method, path, key)
                    .unwrap_or_else(|| panic!("no row in the access table for {method} {path}"));
                if action.is_none_or(|a| allows(role, a)) || ASKED_DECIDES.contains(&path.as_str())
                {
                    continue;
                }
                let url = path
                    .replace("{number}", &number)
                    .replace("{id}", "1")
                    .replace("{ci_id}", "1")
                    .replace("{delivery}", "1")
                    .replace("{target}", "users")
                    .replace("{tag}", "AST-000001")
                    .replace("{version}", "1")
                    .replace("{process}", "incident");
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let r = app
                    .send(
                        axum::http::Request::builder()
                            .method(m)
                            .uri(&url)
                            .header("authorization", format!("Bearer {}", app.tokens[key]))
                            .header("content-type", "application/json")
                            .body(axum::body::Body::from("{\"__not json"))
                            .expect("req"),
                    )
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{role} sending a malformed body to {method} {path}: {}",
                    r.body
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 300,
        "checked {checked} refused route × role pairs"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_before_the_body_sqlite() {
    refusals_come_before_the_body(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_before_the_body_postgres() {
    refusals_come_before_the_body(Backend::Postgres).await;
}
