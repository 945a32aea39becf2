//! Clause 9 — performance evaluation. The internal audit programme (9.2, here): audits planned
//! by requirement and process with a checklist generated from the catalogue, their reports, and
//! graded findings; a major or minor finding becomes a nonconformity (`NC-…`) in the same
//! transaction. Management reviews (9.3) are in [`review`]. Rules in
//! `keel_core::management::evaluation`.

pub mod kpi;
pub mod measure_ui;
pub mod report;
pub mod review;
pub mod review_ui;
pub mod ui;

use crate::kernel::{self, NewItem};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery, required_day};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::compliance::catalogue::{self, Catalogue};
use keel_core::management::evaluation::{
    AUDIT_LIFECYCLE, ChecklistItem, GRADES, checklist, is_nonconformity, processes_of, scope,
    severity,
};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    number: String,
    title: String,
    edition: String,
    scope: String,
    processes: String,
    criteria: String,
    planned_start: String,
    planned_end: String,
    lead_auditor_id: Option<i64>,
    lead_auditor: Option<String>,
    auditees: String,
    state: String,
    report: Option<String>,
    reported_at: Option<i64>,
    version: i64,
}

const SQL: &str = "SELECT a.id, a.number, a.title, a.edition, a.scope, a.processes, a.criteria, a.planned_start, a.planned_end, a.lead_auditor_id, u.name AS lead_auditor, \
    a.auditees, a.state, a.report, a.reported_at, a.version FROM audits a LEFT JOIN users u ON u.id = a.lead_auditor_id";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
#[schema(as = AuditFinding)]
pub struct Finding {
    pub id: i64,
    #[serde(skip)]
    pub audit_id: i64,
    pub requirement: String,
    /// major, minor, observation or opportunity.
    pub grade: String,
    pub statement: String,
    pub evidence: String,
    /// The nonconformity recorded for a major or minor finding.
    pub nonconformity: Option<String>,
    pub nonconformity_state: Option<String>,
    pub recorded_by: String,
}

const FINDINGS: &str = "SELECT f.id, f.audit_id, f.requirement, f.grade, f.statement, f.evidence, w.number AS nonconformity, w.state AS nonconformity_state, u.name AS recorded_by \
    FROM audit_findings f JOIN users u ON u.id = f.created_by LEFT JOIN work_items w ON w.id = f.nc_id";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChecklistLine {
    pub requirement: String,
    pub title: String,
    pub process: String,
    /// What the auditor checks, from the catalogue.
    pub items: Vec<String>,
    pub evidence: Vec<String>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Audit {
    pub number: String,
    pub title: String,
    pub edition: String,
    /// Requirement ids in scope.
    pub scope: Vec<String>,
    /// Processes the scope covers.
    pub processes: Vec<String>,
    pub criteria: String,
    /// YYYY-MM-DD.
    pub planned_start: String,
    pub planned_end: String,
    pub lead_auditor_id: Option<i64>,
    pub lead_auditor: Option<String>,
    pub auditees: String,
    /// planned, in_progress, reported, closed or cancelled.
    pub state: String,
    pub next_states: Vec<String>,
    pub report: Option<String>,
    pub reported_at: Option<String>,
    pub version: i64,
    pub checklist: Vec<ChecklistLine>,
    pub findings: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditSummary {
    pub number: String,
    pub title: String,
    pub processes: Vec<String>,
    pub planned_start: String,
    pub planned_end: String,
    pub lead_auditor: Option<String>,
    pub state: String,
    pub findings: i64,
    pub nonconformities: i64,
}

fn list_of(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn cat_of(edition: &str) -> AppResult<&'static Catalogue> {
    crate::management::compliance::edition(Some(edition))
}

async fn row(db: &Db, number: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{SQL} WHERE a.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("audit {number}")))
}

async fn view(db: &Db, r: Row) -> AppResult<Audit> {
    let cat = cat_of(&r.edition)?;
    let scope = list_of(&r.scope);
    let findings: Vec<Finding> = db
        .all(Q::new(format!("{FINDINGS} WHERE f.audit_id = $1 ORDER BY f.id")).bind(r.id))
        .await?;
    let n = findings.len();
    let lines = checklist(cat, &scope)
        .into_iter()
        .map(|c: ChecklistItem| ChecklistLine {
            findings: findings
                .iter()
                .filter(|f| f.requirement == c.requirement)
                .cloned()
                .collect(),
            requirement: c.requirement,
            title: c.title,
            process: c.process,
            items: c.items,
            evidence: c.evidence,
        })
        .collect();
    Ok(Audit {
        next_states: AUDIT_LIFECYCLE
            .next_states(&r.state)
            .into_iter()
            .map(String::from)
            .collect(),
        number: r.number,
        title: r.title,
        edition: r.edition,
        processes: list_of(&r.processes),
        scope,
        criteria: r.criteria,
        planned_start: r.planned_start,
        planned_end: r.planned_end,
        lead_auditor_id: r.lead_auditor_id,
        lead_auditor: r.lead_auditor,
        auditees: r.auditees,
        state: r.state,
        report: r.report,
        reported_at: r.reported_at.map(iso),
        version: r.version,
        checklist: lines,
        findings: n,
    })
}

pub async fn get(db: &Db, number: &str) -> AppResult<Audit> {
    view(db, row(db, number).await?).await
}

type SummaryRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
);

/// The audit programme, by planned start.
pub async fn list(db: &Db) -> AppResult<Vec<AuditSummary>> {
    let rows: Vec<SummaryRow> = db
        .all(Q::new("SELECT a.number, a.title, a.processes, a.planned_start, a.planned_end, u.name, a.state, \
                (SELECT COUNT(*) FROM audit_findings f WHERE f.audit_id = a.id), \
                (SELECT COUNT(*) FROM audit_findings f WHERE f.audit_id = a.id AND f.nc_id IS NOT NULL) \
            FROM audits a LEFT JOIN users u ON u.id = a.lead_auditor_id ORDER BY a.planned_start, a.id LIMIT 1000"))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(number, title, p, s, e, lead, state, f, n)| AuditSummary {
            number,
            title,
            processes: list_of(&p),
            planned_start: s,
            planned_end: e,
            lead_auditor: lead,
            state,
            findings: f,
            nonconformities: n,
        })
        .collect())
}

async fn auditor(db: &Db, id: Option<i64>) -> AppResult<Option<i64>> {
    if let Some(id) = id {
        let ok: Option<(String,)> = db
            .opt(Q::new("SELECT role FROM users WHERE id = $1 AND disabled = 0").bind(id))
            .await?;
        match ok {
            None => {
                return Err(AppError::invalid(
                    "lead_auditor_id",
                    format!("no active user {id}"),
                ));
            }
            Some((role,)) if role == "requester" => {
                return Err(AppError::invalid(
                    "lead_auditor_id",
                    "a requester cannot lead an internal audit",
                ));
            }
            _ => {}
        }
    }
    Ok(id)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAudit {
    pub title: String,
    /// Requirement ids in scope, e.g. ["9.2", "8.6.1"].
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Processes in scope (every requirement of each), e.g. ["incident", "change"].
    #[serde(default)]
    pub processes: Vec<String>,
    /// What the audit checks against (the standard, policies, procedures).
    #[serde(default)]
    pub criteria: String,
    /// YYYY-MM-DD.
    pub planned_start: String,
    pub planned_end: String,
    pub lead_auditor_id: Option<i64>,
    /// Who is audited (people, teams).
    #[serde(default)]
    pub auditees: String,
}

pub async fn create(db: &Db, p: &Principal, b: NewAudit) -> AppResult<Audit> {
    p.require(Action::ManageCompliance)?;
    let title = Line::parse(&b.title, 200).map_err(|e| AppError::invalid("title", e))?;
    let cat = catalogue::current();
    let sc = scope(cat, &b.requirements, &b.processes).map_err(|e| {
        let field = if e.starts_with("no process") {
            "processes"
        } else {
            "requirements"
        };
        AppError::invalid(field, e)
    })?;
    if sc.is_empty() {
        return Err(AppError::invalid(
            "requirements",
            "name the requirements or processes the audit covers",
        ));
    }
    let start = required_day("planned_start", &b.planned_start)?;
    let end = required_day("planned_end", &b.planned_end)?;
    if end < start {
        return Err(AppError::invalid(
            "planned_end",
            "must not be before planned_start",
        ));
    }
    let criteria = bounded(&b.criteria, 20_000).map_err(|e| AppError::invalid("criteria", e))?;
    let auditees = bounded(&b.auditees, 2_000).map_err(|e| AppError::invalid("auditees", e))?;
    let lead = auditor(db, b.lead_auditor_id).await?;
    let procs = processes_of(cat, &sc);
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "audit", "AUD").await?;
    let scope_text = serde_json::to_string(&sc).map_err(|e| AppError::Internal(e.into()))?;
    let proc_text = serde_json::to_string(&procs).map_err(|e| AppError::Internal(e.into()))?;
    tx.exec(
        Q::new("INSERT INTO audits (number, title, edition, scope, processes, criteria, planned_start, planned_end, lead_auditor_id, auditees, state, created_by, created_at, updated_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'planned', $11, $12, $12)")
            .bind(number.as_str())
            .bind(title.as_str())
            .bind(cat.id.as_str())
            .bind(scope_text)
            .bind(proc_text)
            .bind(criteria.as_str())
            .bind(start.as_str())
            .bind(end.as_str())
            .bind(lead)
            .bind(auditees.as_str())
            .bind(p.user_id)
            .bind(now),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "audit",
        &number,
        diff(
            &[],
            &[
                ("title", json!(title.as_str())),
                ("scope", json!(sc)),
                ("planned_start", json!(start)),
                ("planned_end", json!(end)),
                ("lead_auditor_id", json!(lead)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditPatch {
    pub title: Option<String>,
    pub criteria: Option<String>,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    pub lead_auditor_id: Option<i64>,
    pub auditees: Option<String>,
    /// planned → in_progress → reported (needs `report`) → closed; cancelled.
    pub state: Option<String>,
    /// The audit report: scope covered, conclusions, strengths and findings in summary.
    pub report: Option<String>,
    /// The `version` read; a stale one gets 412.
    pub version: Option<i64>,
}

pub async fn update(db: &Db, p: &Principal, number: &str, b: AuditPatch) -> AppResult<Audit> {
    p.require(Action::ManageCompliance)?;
    let before = row(db, number).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let title = match &b.title {
        Some(t) => Line::parse(t, 200)
            .map_err(|e| AppError::invalid("title", e))?
            .into_string(),
        None => before.title.clone(),
    };
    let criteria = match &b.criteria {
        Some(c) => bounded(c, 20_000).map_err(|e| AppError::invalid("criteria", e))?,
        None => before.criteria.clone(),
    };
    let auditees = match &b.auditees {
        Some(c) => bounded(c, 2_000).map_err(|e| AppError::invalid("auditees", e))?,
        None => before.auditees.clone(),
    };
    let start = match &b.planned_start {
        Some(d) => required_day("planned_start", d)?,
        None => before.planned_start.clone(),
    };
    let end = match &b.planned_end {
        Some(d) => required_day("planned_end", d)?,
        None => before.planned_end.clone(),
    };
    if end < start {
        return Err(AppError::invalid(
            "planned_end",
            "must not be before planned_start",
        ));
    }
    let lead = match b.lead_auditor_id {
        Some(id) => auditor(db, Some(id)).await?,
        None => before.lead_auditor_id,
    };
    let report = match &b.report {
        Some(r) => Some(bounded(r, 100_000).map_err(|e| AppError::invalid("report", e))?)
            .filter(|r| !r.trim().is_empty()),
        None => before.report.clone(),
    };
    let state = match b.state.as_deref().filter(|s| *s != before.state) {
        Some(to) => AUDIT_LIFECYCLE
            .check(&before.state, to, |f| f == "report" && report.is_some())
            .map_err(|e| match e {
                keel_core::kernel::lifecycle::TransitionError::Missing { .. } => {
                    AppError::invalid("report", "write the audit report before reporting")
                }
                e => e.into(),
            })?
            .to_string(),
        None => before.state.clone(),
    };
    let now = now_ms();
    let reported_at = if state == "reported" && before.state != "reported" {
        Some(now)
    } else {
        before.reported_at
    };
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE audits SET title = $1, criteria = $2, planned_start = $3, planned_end = $4, lead_auditor_id = $5, auditees = $6, state = $7, report = $8, reported_at = $9, \
                    version = version + 1, updated_at = $10 WHERE id = $11 AND version = $12")
                .bind(title.as_str())
                .bind(criteria.as_str())
                .bind(start.as_str())
                .bind(end.as_str())
                .bind(lead)
                .bind(auditees.as_str())
                .bind(state.as_str())
                .bind(report.clone())
                .bind(reported_at)
                .bind(now)
                .bind(before.id)
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "audit",
        number,
        diff(
            &[
                ("title", json!(before.title)),
                ("criteria", json!(before.criteria)),
                ("planned_start", json!(before.planned_start)),
                ("planned_end", json!(before.planned_end)),
                ("lead_auditor_id", json!(before.lead_auditor_id)),
                ("auditees", json!(before.auditees)),
                ("state", json!(before.state)),
                ("report", json!(before.report)),
            ],
            &[
                ("title", json!(title)),
                ("criteria", json!(criteria)),
                ("planned_start", json!(start)),
                ("planned_end", json!(end)),
                ("lead_auditor_id", json!(lead)),
                ("auditees", json!(auditees)),
                ("state", json!(state)),
                ("report", json!(report)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFinding {
    /// A requirement in the audit's scope.
    pub requirement: String,
    /// major, minor, observation or opportunity.
    pub grade: String,
    /// What was found, against which criterion.
    pub statement: String,
    /// The objective evidence seen (records, interviews, observations).
    #[serde(default)]
    pub evidence: String,
}

async fn record_finding_tx(
    tx: &mut Tx,
    p: &Principal,
    a: &Row,
    b: &NewFinding,
) -> AppResult<(i64, Option<String>)> {
    let grade = GRADES
        .iter()
        .copied()
        .find(|g| *g == b.grade)
        .ok_or_else(|| {
            AppError::invalid("grade", format!("must be one of: {}", GRADES.join(", ")))
        })?;
    let scope = list_of(&a.scope);
    if !scope.contains(&b.requirement) {
        return Err(AppError::invalid(
            "requirement",
            format!("{} is not in the scope of {}", b.requirement, a.number),
        ));
    }
    let statement =
        Line::parse(&b.statement, 2_000).map_err(|e| AppError::invalid("statement", e))?;
    let evidence = bounded(&b.evidence, 20_000).map_err(|e| AppError::invalid("evidence", e))?;
    let nc = match severity(grade) {
        Some(sev) if is_nonconformity(grade) => {
            let details: Map<String, Value> = [
                ("source", "internal_audit"),
                ("severity", sev),
                ("requirement", b.requirement.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
            let title: String = format!("{} ({} {})", statement.as_str(), a.number, b.requirement)
                .chars()
                .take(200)
                .collect();
            let draft = kernel::draft(
                keel_core::management::improvement::NONCONFORMITY,
                &p.actor(),
                p,
                NewItem {
                    title,
                    description: format!(
                        "Found by internal audit {} ({grade}) against {}.\n\nEvidence: {}",
                        a.number, b.requirement, evidence
                    ),
                    details,
                    ..Default::default()
                },
            )?;
            Some(kernel::create_in(tx, draft).await?)
        }
        _ => None,
    };
    let nc_id: Option<i64> = match &nc {
        Some(n) => Some(
            tx.one::<(i64,)>(
                Q::new("SELECT id FROM work_items WHERE number = $1").bind(n.as_str()),
            )
            .await?
            .0,
        ),
        None => None,
    };
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO audit_findings (audit_id, requirement, grade, statement, evidence, nc_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                .bind(a.id)
                .bind(b.requirement.as_str())
                .bind(grade)
                .bind(statement.as_str())
                .bind(evidence.as_str())
                .bind(nc_id)
                .bind(p.user_id)
                .bind(now_ms()),
        )
        .await?;
    append(
        tx,
        &p.actor(),
        "finding",
        "audit",
        &a.number,
        diff(&[], &[(
            "finding",
            json!({"id": id, "requirement": b.requirement, "grade": grade, "statement": statement.as_str(), "nonconformity": nc}),
        )]),
    )
    .await?;
    Ok((id, nc))
}

/// Record a finding; a major or minor one becomes a nonconformity in the same transaction.
pub async fn add_finding(db: &Db, p: &Principal, number: &str, b: NewFinding) -> AppResult<Audit> {
    p.require(Action::ManageCompliance)?;
    let a = row(db, number).await?;
    if a.state != "in_progress" && a.state != "reported" {
        return Err(AppError::Conflict(format!(
            "{number} is {}: findings are recorded while the audit runs",
            a.state
        )));
    }
    let mut tx = db.begin().await?;
    record_finding_tx(&mut tx, p, &a, &b).await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingParams {
    /// Only findings of this grade.
    pub grade: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingRow {
    pub audit: String,
    #[serde(flatten)]
    pub finding: Finding,
}

pub async fn findings(db: &Db, grade: Option<&str>) -> AppResult<Vec<FindingRow>> {
    if let Some(g) = grade
        && !GRADES.contains(&g)
    {
        return Err(AppError::invalid(
            "grade",
            format!("must be one of: {}", GRADES.join(", ")),
        ));
    }
    let q = match grade {
        Some(g) => Q::new(format!(
            "{FINDINGS} WHERE f.grade = $1 ORDER BY f.id DESC LIMIT 1000"
        ))
        .bind(g),
        None => Q::new(format!("{FINDINGS} ORDER BY f.id DESC LIMIT 1000")),
    };
    let rows: Vec<Finding> = db.all(q).await?;
    let audits: Vec<(i64, String)> = db.all(Q::new("SELECT id, number FROM audits")).await?;
    Ok(rows
        .into_iter()
        .map(|f| FindingRow {
            audit: audits
                .iter()
                .find(|a| a.0 == f.audit_id)
                .map(|a| a.1.clone())
                .unwrap_or_default(),
            finding: f,
        })
        .collect())
}

fn read(p: &Principal) -> AppResult<()> {
    p.require(Action::ReadCompliance)
}

/// The audit programme.
#[utoipa::path(get, path = "/api/v1/audits", tag = "audits", responses((status = 200, body = Vec<AuditSummary>)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<AuditSummary>>> {
    read(&p)?;
    Ok(Json(list(&st.db).await?))
}

/// Plan an internal audit of requirements and processes; its checklist comes from the catalogue.
#[utoipa::path(post, path = "/api/v1/audits", tag = "audits", request_body = NewAudit,
    responses((status = 201, body = Audit), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewAudit>,
) -> AppResult<(StatusCode, Json<Audit>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One audit with its checklist and findings.
#[utoipa::path(get, path = "/api/v1/audits/{number}", tag = "audits", params(("number" = String, Path)),
    responses((status = 200, body = Audit), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Audit>> {
    read(&p)?;
    Ok(Json(get(&st.db, &number).await?))
}

/// Change an audit or move it along (reporting needs the report).
#[utoipa::path(patch, path = "/api/v1/audits/{number}", tag = "audits", params(("number" = String, Path)), request_body = AuditPatch,
    responses((status = 200, body = Audit), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<AuditPatch>,
) -> AppResult<Json<Audit>> {
    Ok(Json(update(&st.db, &p, &number, b).await?))
}

/// Record a finding (a major or minor one is recorded as a nonconformity too).
#[utoipa::path(post, path = "/api/v1/audits/{number}/findings", tag = "audits", params(("number" = String, Path)), request_body = NewFinding,
    responses((status = 201, body = Audit), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_add_finding(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<NewFinding>,
) -> AppResult<(StatusCode, Json<Audit>)> {
    Ok((
        StatusCode::CREATED,
        Json(add_finding(&st.db, &p, &number, b).await?),
    ))
}

/// Findings across audits, newest first.
#[utoipa::path(get, path = "/api/v1/findings", tag = "audits", params(FindingParams), responses((status = 200, body = Vec<FindingRow>), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_findings(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<FindingParams>,
) -> AppResult<Json<Vec<FindingRow>>> {
    read(&p)?;
    Ok(Json(findings(&st.db, q.grade.as_deref()).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "internal audits",
    api: part_api,
    pages: ui::routes,
    templates: &[
        (
            "audits.html",
            include_str!("../../../templates/audits.html"),
        ),
        ("audit.html", include_str!("../../../templates/audit.html")),
    ],
    tags: &[(
        "audits",
        "The internal audit programme: audits with checklists from the catalogue, reports, graded findings (9.2)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_list, api_create),
        ))
        .routes(gate(Action::ManageCompliance, routes!(api_get, api_update)))
        .routes(gate(Action::ManageCompliance, routes!(api_add_finding)))
        .routes(routes!(api_findings))
}
