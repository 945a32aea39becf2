//! Loading the record sets evidence checks examine (one query per
//! [`Population`](keel_core::management::compliance::evidence::Population)) and running the
//! checks. The rules live in `keel_core::management::compliance`; this is only the SQL.

use crate::platform::db::{Db, Q};
use crate::platform::error::AppResult;
use keel_core::management::compliance::checks::CHECKS;
use keel_core::management::compliance::evidence::{Check, Outcome, Population, Record, evaluate};
use keel_core::operation::transition::change::{RiskLevel, needs_review};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// At most this many failing records are kept per check outcome (the counts stay exact).
pub const MAX_FAILURES: usize = 200;

/// The period evidence is gathered over, epoch milliseconds, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

fn record(
    kind: &str,
    reference: String,
    label: String,
    href: Option<String>,
    fields: Vec<(&str, Value)>,
) -> Record {
    Record {
        kind: kind.to_string(),
        reference,
        label,
        href,
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn details(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

fn detail(d: &Map<String, Value>, k: &str) -> Value {
    d.get(k).cloned().unwrap_or(Value::Null)
}

type ItemRow = (String, String, String);
/// number, title, minutes, decisions, inputs.
type ReviewRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);
/// number, title, owner, due, KPI count.
type ObjectiveRow = (String, String, Option<i64>, Option<String>, i64);
type IncidentRow = (String, String, i64, Option<String>, Option<String>, String);
type ChangeRow = (
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// Work items of a kind closed in the period, with their details: (number, title, details).
async fn closed_items(db: &Db, kind: &str, p: Period) -> AppResult<Vec<ItemRow>> {
    Ok(db
        .all(
            Q::new("SELECT number, title, details FROM work_items WHERE kind = $1 AND closed_at >= $2 AND closed_at < $3 ORDER BY number")
                .bind(kind)
                .bind(p.from)
                .bind(p.to),
        )
        .await?)
}

fn item(
    kind: &str,
    collection: &str,
    number: String,
    title: String,
    fields: Vec<(&str, Value)>,
) -> Record {
    let href = Some(format!("/{collection}/{number}"));
    record(kind, number, title, href, fields)
}

/// Load one population for the period.
pub async fn load(db: &Db, pop: Population, p: Period) -> AppResult<Vec<Record>> {
    Ok(match pop {
        Population::ClosedIncidents => {
            let rows: Vec<IncidentRow> = db
                .all(Q::new("SELECT number, title, priority, category, resolution_code, details FROM work_items WHERE kind = 'incident' AND closed_at >= $1 AND closed_at < $2 ORDER BY number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(n, t, prio, cat, code, d)| {
                    let d = details(&d);
                    item(
                        "incident",
                        "incidents",
                        n,
                        t,
                        vec![
                            ("priority", json!(prio)),
                            ("category", json!(cat)),
                            ("resolution_code", json!(code)),
                            ("security_type", detail(&d, "security_type")),
                        ],
                    )
                })
                .collect()
        }
        Population::ClosedMajorIncidents => {
            let rows: Vec<(String, String, Option<String>)> = db
                .all(Q::new("SELECT w.number, w.title, m.review FROM major_incidents m JOIN work_items w ON w.id = m.item_id WHERE w.closed_at >= $1 AND w.closed_at < $2 ORDER BY w.number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(n, t, review)| {
                    item(
                        "incident",
                        "incidents",
                        n,
                        t,
                        vec![("review", json!(review))],
                    )
                })
                .collect()
        }
        Population::ClosedRequests => {
            let rows: Vec<(String, String, Option<i64>, String)> = db
                .all(Q::new("SELECT w.number, w.title, w.service_id, w.details FROM work_items w WHERE w.kind = 'request' AND w.state IN ('fulfilled', 'closed') \
                    AND (SELECT MIN(t.at) FROM work_item_transitions t WHERE t.item_id = w.id AND t.to_state IN ('fulfilled', 'closed')) >= $1 \
                    AND (SELECT MIN(t.at) FROM work_item_transitions t WHERE t.item_id = w.id AND t.to_state IN ('fulfilled', 'closed')) < $2 ORDER BY w.number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(n, t, service, d)| {
                    let d = details(&d);
                    item(
                        "request",
                        "requests",
                        n,
                        t,
                        vec![
                            ("service", json!(service)),
                            ("request_type", detail(&d, "request_type")),
                        ],
                    )
                })
                .collect()
        }
        Population::ClosedProblems => closed_items(db, "problem", p)
            .await?
            .into_iter()
            .map(|(n, t, d)| {
                let d = details(&d);
                item(
                    "problem",
                    "problems",
                    n,
                    t,
                    vec![
                        ("root_cause", detail(&d, "root_cause")),
                        ("closure_review", detail(&d, "closure_review")),
                    ],
                )
            })
            .collect(),
        Population::ImplementedChanges => {
            let rows: Vec<ChangeRow> = db
                .all(Q::new("SELECT w.number, w.title, w.details, \
                        (SELECT MIN(t.at) FROM work_item_transitions t WHERE t.item_id = w.id AND t.to_state = 'implement') AS implementing_at, \
                        (SELECT MIN(t.at) FROM work_item_transitions t WHERE t.item_id = w.id AND t.from_state = 'authorize' AND t.to_state = 'scheduled') AS authorized_at, \
                        cp.risk_level \
                    FROM work_items w LEFT JOIN change_plans cp ON cp.item_id = w.id \
                    WHERE w.kind = 'change' AND EXISTS (SELECT 1 FROM work_item_transitions t WHERE t.item_id = w.id AND t.to_state = 'implement' AND t.at >= $1 AND t.at < $2) \
                    ORDER BY w.number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .filter_map(|(n, t, d, implementing, authorized, risk)| {
                    let d = details(&d);
                    // Standard changes are pre-authorized by their template.
                    if d.get("change_type").and_then(Value::as_str) == Some("standard") {
                        return None;
                    }
                    Some(item(
                        "change",
                        "changes",
                        n,
                        t,
                        vec![
                            ("implementing_at", json!(implementing)),
                            ("authorized_at", json!(authorized)),
                            ("implementation_plan", detail(&d, "implementation_plan")),
                            ("backout_plan", detail(&d, "backout_plan")),
                            ("risk", json!(risk)),
                        ],
                    ))
                })
                .collect()
        }
        Population::ClosedChanges => {
            let rows: Vec<(String, String, String, Option<String>)> = db
                .all(Q::new("SELECT w.number, w.title, w.details, cp.risk_level FROM work_items w LEFT JOIN change_plans cp ON cp.item_id = w.id WHERE w.kind = 'change' AND w.closed_at >= $1 AND w.closed_at < $2 ORDER BY w.number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(n, t, d, risk)| {
                    let d = details(&d);
                    let ty = d
                        .get("change_type")
                        .and_then(Value::as_str)
                        .unwrap_or("normal");
                    let outcome = d.get("outcome").and_then(Value::as_str).unwrap_or("failed");
                    let risk = risk.as_deref().and_then(RiskLevel::parse);
                    let required = if needs_review(ty, outcome, risk) {
                        "yes"
                    } else {
                        "no"
                    };
                    item(
                        "change",
                        "changes",
                        n,
                        t,
                        vec![
                            ("review_required", json!(required)),
                            ("review", detail(&d, "review_notes")),
                            ("outcome", json!(outcome)),
                        ],
                    )
                })
                .collect()
        }
        Population::DeployedReleases => {
            let rows: Vec<(String, String, Option<String>, String)> = db
                .all(Q::new("SELECT r.number, r.name, r.acceptance_notes, r.state FROM releases r WHERE EXISTS (SELECT 1 FROM deployments d WHERE d.release_id = r.id AND d.done_at >= $1 AND d.done_at < $2) ORDER BY r.number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(n, name, acceptance, state)| {
                    let outcome = matches!(
                        state.as_str(),
                        "deployed" | "closed" | "failed" | "rolled_back"
                    )
                    .then_some(state);
                    let href = Some(format!("/releases/{n}"));
                    record(
                        "release",
                        n,
                        name,
                        href,
                        vec![
                            ("acceptance", json!(acceptance)),
                            ("outcome", json!(outcome)),
                        ],
                    )
                })
                .collect()
        }
        Population::LiveServices => {
            let year = crate::platform::web::iso(p.from)[..4].to_string();
            let (m_from, m_to) = (
                crate::platform::web::iso(p.from)[..7].to_string(),
                crate::platform::web::iso(p.to - 1)[..7].to_string(),
            );
            let rows: Vec<LiveRow> = db
                .all(Q::new("SELECT s.id, s.name, s.owner_id, \
                        (SELECT COUNT(*) FROM catalogue_offerings o WHERE o.service_id = s.id AND o.active = 1), \
                        (SELECT COUNT(*) FROM service_level_targets t WHERE t.active = 1 AND (t.service_id = s.id OR t.service_id IS NULL)), \
                        (SELECT COUNT(*) FROM record_refs x JOIN agreements a ON a.id = x.record_id WHERE x.register = 'agreements' AND x.field = 'services' AND x.target = CAST(s.id AS TEXT) AND a.status = 'active'), \
                        (SELECT COUNT(*) FROM budgets b WHERE b.service_id = s.id AND b.period LIKE $1), \
                        (SELECT COUNT(*) FROM demand_forecasts f WHERE f.service_id = s.id AND f.month >= $2 AND f.month <= $3), \
                        (SELECT COUNT(*) FROM availability_targets v WHERE v.service_id = s.id), \
                        (SELECT COUNT(*) FROM continuity_requirements c WHERE c.service_id = s.id) \
                    FROM services s WHERE s.stage = 'live' ORDER BY s.name")
                    .bind(format!("{year}%"))
                    .bind(m_from)
                    .bind(m_to))
                .await?;
            rows.into_iter()
                .map(
                    |(
                        id,
                        name,
                        owner,
                        offerings,
                        targets,
                        agreements,
                        budgets,
                        forecasts,
                        avail,
                        cont,
                    )| {
                        record(
                            "service",
                            id.to_string(),
                            name,
                            Some(format!("/services/{id}")),
                            vec![
                                ("owner", json!(owner)),
                                ("offerings", json!(offerings)),
                                ("targets", json!(targets)),
                                ("agreements", json!(agreements)),
                                ("budgets", json!(budgets)),
                                ("forecasts", json!(forecasts)),
                                ("availability_targets", json!(avail)),
                                ("continuity_requirements", json!(cont)),
                            ],
                        )
                    },
                )
                .collect()
        }
        Population::Register(name) => register_records(db, name).await?,
        Population::ClosedComplaints => closed_items(db, "complaint", p)
            .await?
            .into_iter()
            .map(|(n, t, d)| {
                let d = details(&d);
                item(
                    "complaint",
                    "complaints",
                    n,
                    t,
                    vec![
                        ("findings", detail(&d, "findings")),
                        ("response", detail(&d, "response")),
                        ("customer_informed_on", detail(&d, "customer_informed_on")),
                    ],
                )
            })
            .collect(),
        Population::SentSurveys => {
            let (from, to) = (
                crate::platform::web::iso(p.from)[..10].to_string(),
                crate::platform::web::iso(p.to - 1)[..10].to_string(),
            );
            let rows: Vec<(i64, String, Option<String>, Option<i64>)> = db
                .all(Q::new("SELECT id, sent_on, status, score FROM surveys WHERE sent_on >= $1 AND sent_on <= $2 ORDER BY id").bind(from).bind(to))
                .await?;
            rows.into_iter()
                .map(|(id, sent, status, score)| {
                    record(
                        "survey",
                        id.to_string(),
                        format!("Survey sent {sent}"),
                        Some(format!("/registers/surveys/{id}")),
                        vec![("status", json!(status)), ("score", json!(score))],
                    )
                })
                .collect()
        }
        Population::CustomerAccounts => {
            let rows: Vec<(i64, String, Option<i64>, Option<String>)> = db
                .all(Q::new("SELECT a.id, c.name, a.relationship_manager_id, \
                        (SELECT MAX(r.held_on) FROM service_reviews r WHERE r.customer_id = a.customer_id AND r.status = 'held') \
                    FROM customer_accounts a JOIN customers c ON c.id = a.customer_id WHERE COALESCE(a.status, 'active') = 'active' ORDER BY c.name"))
                .await?;
            rows.into_iter()
                .map(|(id, name, manager, last)| {
                    record(
                        "customer_account",
                        id.to_string(),
                        name,
                        Some(format!("/registers/customer-accounts/{id}")),
                        vec![
                            ("relationship_manager", json!(manager)),
                            ("last_review", json!(date_ms(last.as_deref()))),
                        ],
                    )
                })
                .collect()
        }
        Population::ActiveSuppliers => {
            let rows: Vec<SupplierRow> = db
                .all(Q::new("SELECT s.id, s.name, s.kind, s.owner_id, \
                        (SELECT COUNT(*) FROM contracts c WHERE c.supplier_id = s.id AND c.status = 'active'), \
                        (SELECT MAX(r.held_on) FROM supplier_reviews r WHERE r.supplier_id = s.id) \
                    FROM suppliers s WHERE COALESCE(s.status, 'active') = 'active' ORDER BY s.name"))
                .await?;
            rows.into_iter()
                .map(|(id, name, kind, owner, contracts, last)| {
                    record(
                        "supplier",
                        id.to_string(),
                        name,
                        Some(format!("/registers/suppliers/{id}")),
                        vec![
                            ("kind", json!(kind)),
                            ("owner", json!(owner)),
                            ("active_contracts", json!(contracts)),
                            ("last_review", json!(date_ms(last.as_deref()))),
                        ],
                    )
                })
                .collect()
        }
        Population::ContinuityPlans => {
            let rows: Vec<PlanRow> = db
                .all(Q::new("SELECT p.id, p.title, p.status, \
                        (SELECT MAX(t.tested_on) FROM continuity_tests t WHERE t.plan_id = p.id), p.next_test_due \
                    FROM continuity_plans p WHERE COALESCE(p.status, 'draft') <> 'retired' ORDER BY p.id"))
                .await?;
            rows.into_iter()
                .map(|(id, title, status, last, due)| {
                    record(
                        "continuity_plan",
                        id.to_string(),
                        title,
                        Some(format!("/registers/continuity-plans/{id}")),
                        vec![
                            ("status", json!(status)),
                            ("last_test", json!(date_ms(last.as_deref()))),
                            ("next_test_due", json!(date_ms(due.as_deref()))),
                        ],
                    )
                })
                .collect()
        }
        Population::ConfigurationItems => {
            let rows: Vec<(i64, String, String, Option<i64>, String)> = db
                .all(Q::new("SELECT c.id, c.name, k.name, c.owner_group_id, c.status FROM cis c JOIN ci_classes k ON k.id = c.class_id WHERE c.status <> 'retired' ORDER BY c.id"))
                .await?;
            rows.into_iter()
                .map(|(id, name, class, owner, status)| {
                    record(
                        "ci",
                        id.to_string(),
                        name,
                        Some(format!("/cis/{id}")),
                        vec![
                            ("class", json!(class)),
                            ("owner", json!(owner)),
                            ("status", json!(status)),
                        ],
                    )
                })
                .collect()
        }
        Population::ConfigurationAudits => {
            let rows: Vec<(String, String)> = db
                .all(Q::new("SELECT number, source FROM configuration_audits WHERE created_at >= $1 AND created_at < $2 ORDER BY number").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(n, source)| {
                    let href = Some(format!("/configuration-audits/{n}"));
                    record("configuration_audit", n, source, href, vec![])
                })
                .collect()
        }
        Population::AssetsInUse => {
            let rows: Vec<(String, String, Option<i64>, String)> = db
                .all(Q::new("SELECT tag, name, owner_id, location FROM assets WHERE state = 'in_use' ORDER BY tag"))
                .await?;
            rows.into_iter()
                .map(|(tag, name, owner, location)| {
                    record(
                        "asset",
                        tag,
                        name,
                        Some("/assets".into()),
                        vec![("owner", json!(owner)), ("location", json!(location))],
                    )
                })
                .collect()
        }
        Population::PublishedArticles => {
            let rows: Vec<(String, String, i64)> = db
                .all(Q::new("SELECT a.number, v.title, a.updated_at FROM knowledge_articles a JOIN knowledge_versions v ON v.article_id = a.id AND v.version = a.published_version WHERE a.state = 'published' ORDER BY a.number"))
                .await?;
            rows.into_iter()
                .map(|(n, title, at)| {
                    let href = Some(format!("/knowledge/{n}"));
                    record("article", n, title, href, vec![("reviewed_at", json!(at))])
                })
                .collect()
        }
        Population::ClosedNonconformities => closed_items(db, "nonconformity", p)
            .await?
            .into_iter()
            .map(|(n, t, d)| {
                let d = details(&d);
                item(
                    "nonconformity",
                    "nonconformities",
                    n,
                    t,
                    [
                        "severity",
                        "root_cause",
                        "corrective_action",
                        "effectiveness",
                    ]
                    .into_iter()
                    .map(|k| (k, detail(&d, k)))
                    .collect(),
                )
            })
            .collect(),
        Population::ClosedImprovements => closed_items(db, "improvement", p)
            .await?
            .into_iter()
            .map(|(n, t, d)| {
                let d = details(&d);
                item(
                    "improvement",
                    "improvements",
                    n,
                    t,
                    vec![("measured_benefit", detail(&d, "measured_benefit"))],
                )
            })
            .collect(),
        Population::OpenRisks => {
            let rows: Vec<(String, String, String, Option<i64>, String)> = db
                .all(Q::new("SELECT number, title, state, assignee_id, details FROM work_items WHERE kind = 'risk' AND state <> 'closed' ORDER BY number"))
                .await?;
            rows.into_iter()
                .map(|(n, t, state, owner, d)| {
                    let d = details(&d);
                    let treatment = if state == "accepted" {
                        json!("accept")
                    } else {
                        detail(&d, "treatment")
                    };
                    let review = date_ms(d.get("review_date").and_then(Value::as_str));
                    item(
                        "risk",
                        "risks",
                        n,
                        t,
                        vec![
                            ("owner", json!(owner)),
                            ("likelihood", detail(&d, "likelihood")),
                            ("impact", detail(&d, "impact")),
                            ("treatment", treatment),
                            ("review_date", json!(review)),
                        ],
                    )
                })
                .collect()
        }
        Population::AuditedProcesses => {
            let rows: Vec<(String, i64)> = db
                .all(Q::new("SELECT processes, reported_at FROM audits WHERE state IN ('reported', 'closed') AND reported_at IS NOT NULL"))
                .await?;
            let audits: Vec<(Vec<String>, i64)> = rows
                .into_iter()
                .map(|(ps, at)| (serde_json::from_str(&ps).unwrap_or_default(), at))
                .collect();
            let cat = keel_core::management::compliance::catalogue::current();
            keel_core::management::evaluation::last_audited(cat, &audits)
                .into_iter()
                .map(|(id, at)| {
                    let name = cat.process(id).map(|p| p.name.clone()).unwrap_or_default();
                    record(
                        "process",
                        id.to_string(),
                        name,
                        Some(format!("/compliance/processes/{id}")),
                        vec![("last_audited_at", json!(at))],
                    )
                })
                .collect()
        }
        Population::DueAudits => {
            let day = |ms: i64| {
                crate::platform::web::iso(ms)
                    .get(..10)
                    .unwrap_or("")
                    .to_string()
            };
            let until = day(p.to.min(crate::platform::db::now_ms()));
            let rows: Vec<(String, String, Option<String>, String)> = db
                .all(Q::new("SELECT number, title, report, state FROM audits WHERE state <> 'cancelled' AND planned_end >= $1 AND planned_end < $2 ORDER BY number").bind(day(p.from)).bind(until))
                .await?;
            rows.into_iter()
                .map(|(n, t, report, state)| {
                    let href = Some(format!("/audits/{n}"));
                    record(
                        "audit",
                        n,
                        t,
                        href,
                        vec![("report", json!(report)), ("state", json!(state))],
                    )
                })
                .collect()
        }
        Population::NonconformingFindings => {
            let rows: Vec<(i64, String, String, String, Option<String>)> = db
                .all(Q::new("SELECT f.id, a.number, f.requirement, f.statement, w.number FROM audit_findings f JOIN audits a ON a.id = f.audit_id LEFT JOIN work_items w ON w.id = f.nc_id \
                    WHERE f.grade IN ('major', 'minor') AND f.created_at >= $1 AND f.created_at < $2 ORDER BY f.id").bind(p.from).bind(p.to))
                .await?;
            rows.into_iter()
                .map(|(id, audit, req, statement, nc)| {
                    let href = Some(format!("/audits/{audit}"));
                    record(
                        "finding",
                        format!("{audit}/{id}"),
                        format!("{req}: {statement}"),
                        href,
                        vec![("nonconformity", json!(nc))],
                    )
                })
                .collect()
        }
        Population::DocumentsOfType(ty) => documents(db, Some(ty)).await?,
        Population::ControlledDocuments => documents(db, None).await?,
        Population::HeldReviews => {
            let day = |ms: i64| {
                crate::platform::web::iso(ms)
                    .get(..10)
                    .unwrap_or("")
                    .to_string()
            };
            let rows: Vec<ReviewRow> = db
                .all(Q::new("SELECT number, title, minutes, decisions, inputs FROM management_reviews WHERE state IN ('held', 'closed') AND held_on >= $1 AND held_on < $2 ORDER BY number").bind(day(p.from)).bind(day(p.to + 86_400_000)))
                .await?;
            rows.into_iter()
                .map(|(n, t, minutes, decisions, inputs)| {
                    let count = inputs
                        .and_then(|i| serde_json::from_str::<Vec<Value>>(&i).ok())
                        .map(|v| v.len())
                        .unwrap_or(0);
                    let href = Some(format!("/management-reviews/{n}"));
                    record(
                        "management_review",
                        n,
                        t,
                        href,
                        vec![
                            ("minutes", json!(minutes)),
                            ("decisions", json!(decisions)),
                            ("inputs", json!(count)),
                        ],
                    )
                })
                .collect()
        }
        Population::ActiveObjectives => {
            let rows: Vec<ObjectiveRow> = db
                .all(Q::new("SELECT o.number, o.title, o.owner_id, o.due_on, (SELECT COUNT(*) FROM kpis k WHERE k.objective_id = o.id AND k.active = 1) FROM objectives o WHERE o.state = 'active' ORDER BY o.id"))
                .await?;
            rows.into_iter()
                .map(|(n, t, owner, due, kpis)| {
                    record(
                        "objective",
                        n,
                        t,
                        Some("/objectives".into()),
                        vec![
                            ("owner", json!(owner)),
                            ("due_on", json!(due)),
                            ("kpis", json!(kpis)),
                        ],
                    )
                })
                .collect()
        }
        Population::ActiveKpis => {
            let rows: Vec<(String, String, String, Option<String>)> = db
                .all(Q::new("SELECT k.number, k.name, k.frequency, (SELECT MAX(m.period_to) FROM kpi_measurements m WHERE m.kpi_id = k.id) FROM kpis k WHERE k.active = 1 ORDER BY k.id"))
                .await?;
            let today = crate::management::evaluation::kpi::today();
            rows.into_iter()
                .map(|(n, name, freq, last)| {
                    let last = last.and_then(|l| l.parse::<jiff::civil::Date>().ok());
                    let current =
                        keel_core::management::measurement::due_periods(&freq, last, today, 1)
                            .is_empty()
                            && last.is_some();
                    record(
                        "kpi",
                        n,
                        name,
                        Some("/objectives".into()),
                        vec![(
                            "measured_current",
                            json!(if current { "yes" } else { "no" }),
                        )],
                    )
                })
                .collect()
        }
        Population::ReportedCustomers => {
            let rows: Vec<(i64, String, Option<i64>)> = db
                .all(Q::new("SELECT c.id, c.name, (SELECT MAX(r.generated_at) FROM service_reports r JOIN report_definitions d ON d.id = r.definition_id \
                        WHERE d.customer_id = c.id OR d.service_id IN (SELECT sc.service_id FROM service_customers sc WHERE sc.customer_id = c.id)) \
                    FROM customers c WHERE EXISTS (SELECT 1 FROM service_customers sc WHERE sc.customer_id = c.id) ORDER BY c.name"))
                .await?;
            rows.into_iter()
                .map(|(id, name, last)| {
                    record(
                        "customer",
                        id.to_string(),
                        name,
                        Some("/service-reports".into()),
                        vec![("last_report_at", json!(last))],
                    )
                })
                .collect()
        }
        Population::InterestedParties => crate::management::context::list(db)
            .await?
            .into_iter()
            .map(|pty| {
                let review = date_ms(pty.review_date.as_deref());
                record(
                    "interested_party",
                    pty.id.to_string(),
                    pty.name,
                    Some("/interested-parties".into()),
                    vec![
                        ("requirements", json!(pty.requirements)),
                        ("how_addressed", json!(pty.how_addressed)),
                        ("review_date", json!(review)),
                    ],
                )
            })
            .collect(),
        Population::StaffCompetence => crate::management::support::competence::matrix(db)
            .await?
            .into_iter()
            .map(|m| {
                record(
                    "user",
                    m.user_id.to_string(),
                    format!("{} ({})", m.user, m.role),
                    Some("/competence".into()),
                    vec![("missing_competences", json!(m.missing.join(", ")))],
                )
            })
            .collect(),
        Population::Scope => match crate::management::leadership::scope(db).await? {
            None => vec![],
            Some(sc) => vec![record(
                "scope",
                "sms".into(),
                "The SMS scope".into(),
                Some("/sms".into()),
                vec![
                    ("statement", json!(sc.statement)),
                    ("services", json!(sc.service_ids.len())),
                    ("unscoped", json!(sc.unscoped.join(", "))),
                ],
            )],
        },
        Population::ProcessRaci => crate::management::leadership::raci(db)
            .await?
            .into_iter()
            .map(|r| {
                record(
                    "process",
                    r.process.clone(),
                    r.name,
                    Some("/sms#raci".into()),
                    vec![("raci_problem", json!(r.problem))],
                )
            })
            .collect(),
        Population::CommunicationPlan => crate::management::leadership::plan(db)
            .await?
            .into_iter()
            .map(|c| {
                record(
                    "communication",
                    c.id.to_string(),
                    c.topic,
                    Some("/sms#communication".into()),
                    vec![
                        ("audience", json!(c.audience)),
                        ("frequency", json!(c.frequency)),
                        ("owner", json!(c.owner_id)),
                    ],
                )
            })
            .collect(),
        Population::AuditTrail => {
            let verdict = crate::platform::audit::verify(db).await?;
            let (intact, entries) = match verdict {
                Ok(n) => ("yes", n),
                Err(_) => ("no", 0),
            };
            vec![record(
                "audit_trail",
                "audit-trail".into(),
                "The audit trail".into(),
                None,
                vec![("intact", json!(intact)), ("entries", json!(entries))],
            )]
        }
    })
}

fn date_ms(d: Option<&str>) -> Option<i64> {
    d?.parse::<jiff::civil::Date>()
        .ok()
        .map(crate::platform::db::day_start_ms)
}

/// id, name, kind, owner, active contracts, last review.
type SupplierRow = (
    i64,
    String,
    Option<String>,
    Option<i64>,
    i64,
    Option<String>,
);
/// id, title, status, last test, next test due.
type PlanRow = (i64, String, Option<String>, Option<String>, Option<String>);

/// id, name, owner, offerings, targets, agreements, budgets, forecasts, availability targets,
/// continuity requirements.
type LiveRow = (i64, String, Option<i64>, i64, i64, i64, i64, i64, i64, i64);

/// Every record of a register; days and instants become epoch ms so time conditions apply.
async fn register_records(db: &Db, name: &str) -> AppResult<Vec<Record>> {
    use keel_core::register::{Type, V};
    let Some(r) = crate::kernel::process::register(name) else {
        return Ok(vec![]);
    };
    let recs = crate::kernel::register::all(db, r, &vec![]).await?;
    Ok(recs
        .into_iter()
        .map(|rec| {
            let fields: Vec<(&str, Value)> = r
                .fields
                .iter()
                .map(|f| {
                    let v = rec.vals.get(f.name).unwrap_or(&V::Null);
                    let j = match (f.ty, v) {
                        (Type::Day, V::Text(d)) => json!(date_ms(Some(d))),
                        (Type::Instant, V::Int(ms)) => json!(ms),
                        _ => keel_core::register::to_json(f, v),
                    };
                    (f.name, j)
                })
                .collect();
            let label = match rec.labels.get(r.label) {
                Some(Value::String(s)) => s.clone(),
                _ => rec
                    .vals
                    .get(r.label)
                    .map(|v| {
                        keel_core::register::to_text(r.field(r.label).unwrap_or(&r.fields[0]), v)
                    })
                    .unwrap_or_default(),
            };
            record(
                r.entity,
                rec.id.to_string(),
                label,
                Some(format!("/registers/{}/{}", r.name, rec.id)),
                fields,
            )
        })
        .collect())
}

/// Active documents (of one type, or all with a version in force).
async fn documents(db: &Db, ty: Option<&str>) -> AppResult<Vec<Record>> {
    let docs = crate::management::support::documents::list(db).await?;
    let approved: Vec<(String, Option<i64>, Option<i64>)> = db
        .all(Q::new("SELECT d.number, v.decided_at, d.reviewed_at FROM documents d LEFT JOIN document_versions v ON v.document_id = d.id AND v.version_no = d.current_version"))
        .await?;
    Ok(docs
        .into_iter()
        .filter(|d| d.state == "active")
        .filter(|d| match ty {
            Some(t) => d.doc_type == t,
            None => d.current_version.is_some(),
        })
        .map(|d| {
            let (approved_at, reviewed_at) = approved
                .iter()
                .find(|a| a.0 == d.number)
                .map(|a| (a.1, a.2))
                .unwrap_or_default();
            let href = Some(format!("/documents/{}", d.number));
            record(
                "document",
                d.number,
                d.title,
                href,
                vec![
                    ("approved_at", json!(approved_at)),
                    ("reviewed_at", json!(reviewed_at)),
                    ("next_review", json!(date_ms(d.next_review.as_deref()))),
                    ("acknowledged_percent", json!(d.acknowledged_percent)),
                ],
            )
        })
        .collect())
}

/// Run checks, loading each population they need once.
pub async fn run<'a>(
    db: &Db,
    checks: impl IntoIterator<Item = &'a Check>,
    p: Period,
    now: i64,
) -> AppResult<Vec<(&'a Check, Outcome)>> {
    let mut cache: HashMap<Population, Vec<Record>> = HashMap::new();
    let mut out = Vec::new();
    for c in checks {
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(c.population) {
            e.insert(load(db, c.population, p).await?);
        }
        let records = cache.get(&c.population).map(Vec::as_slice).unwrap_or(&[]);
        let mut o = evaluate(c, records, now);
        o.failures.truncate(MAX_FAILURES);
        out.push((c, o));
    }
    Ok(out)
}

/// Every check.
pub async fn run_all(db: &Db, p: Period, now: i64) -> AppResult<Vec<(&'static Check, Outcome)>> {
    run(db, CHECKS.iter(), p, now).await
}
