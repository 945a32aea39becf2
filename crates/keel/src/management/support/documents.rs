//! Clause 7.5 — documented information: `/api/v1/documents`. Controlled documents with versions
//! drafted, submitted and approved by someone other than the author (approving one withdraws the
//! version before it), review dates, distribution by role and read-acknowledgements. Rules in
//! `keel_core::management::support::documents`.

use crate::directory::active_user;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::{Action, Role};
use keel_core::audit::diff;
use keel_core::management::support::documents::{
    DocumentError, TYPES, may_approve, may_reject, may_submit, next_review,
};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::json;

impl From<DocumentError> for AppError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::NoReason => AppError::invalid("note", e.to_string()),
            e => AppError::Conflict(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    number: String,
    title: String,
    doc_type: String,
    owner_id: Option<i64>,
    owner: Option<String>,
    review_months: i64,
    distribution: String,
    state: String,
    current_version: Option<i64>,
    reviewed_at: Option<i64>,
    next_review: Option<String>,
    version: i64,
}

const SQL: &str = "SELECT d.id, d.number, d.title, d.doc_type, d.owner_id, u.name AS owner, d.review_months, d.distribution, d.state, d.current_version, d.reviewed_at, d.next_review, d.version \
    FROM documents d LEFT JOIN users u ON u.id = d.owner_id";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
#[schema(as = DocumentVersion)]
pub struct Version {
    pub version_no: i64,
    pub body: String,
    pub change_summary: String,
    /// draft, in_review, approved, rejected or obsolete.
    pub state: String,
    pub author: Option<String>,
    #[serde(skip)]
    pub author_id: Option<i64>,
    pub decided_by: Option<String>,
    #[serde(skip)]
    pub decided_ms: Option<i64>,
    #[sqlx(skip)]
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub number: String,
    pub title: String,
    pub doc_type: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub review_months: i64,
    /// Roles it is distributed to.
    pub distribution: Vec<String>,
    /// active or withdrawn.
    pub state: String,
    /// The version in force.
    pub current_version: Option<i64>,
    pub reviewed_at: Option<String>,
    /// YYYY-MM-DD.
    pub next_review: Option<String>,
    pub review_due: bool,
    pub version: i64,
    pub versions: Vec<Version>,
    /// Of the people it is distributed to: who acknowledged the version in force, who not yet.
    pub acknowledged: Vec<String>,
    pub pending: Vec<String>,
    pub acknowledged_percent: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentSummary {
    pub number: String,
    pub title: String,
    pub doc_type: String,
    pub owner: Option<String>,
    pub state: String,
    pub current_version: Option<i64>,
    pub next_review: Option<String>,
    pub review_due: bool,
    /// A version waiting for approval.
    pub in_review: bool,
    pub acknowledged_percent: f64,
}

fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

fn roles(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn due(next: Option<&str>) -> bool {
    next.is_some_and(|n| n <= today().to_string().as_str())
}

/// Active users as (id, name, role), for distribution.
async fn people(db: &Db) -> AppResult<Vec<(i64, String, String)>> {
    Ok(db
        .all(Q::new(
            "SELECT id, name, role FROM users WHERE disabled = 0 ORDER BY name",
        ))
        .await?)
}

/// (acknowledged names, pending names, percent) of the people a document is distributed to,
/// given who acknowledged its version in force.
fn tally(
    r: &Row,
    people: &[(i64, String, String)],
    done: &[i64],
) -> (Vec<String>, Vec<String>, f64) {
    let dist = roles(&r.distribution);
    let (yes, no): (Vec<_>, Vec<_>) = people
        .iter()
        .filter(|p| dist.contains(&p.2))
        .partition(|p| r.current_version.is_some() && done.contains(&p.0));
    let total = yes.len() + no.len();
    let pct = match (total, r.current_version) {
        (0, _) => 100.0,
        (_, None) => 0.0,
        _ => (yes.len() as f64 * 1000.0 / total as f64).round() / 10.0,
    };
    (
        yes.into_iter().map(|p| p.1.clone()).collect(),
        no.into_iter().map(|p| p.1.clone()).collect(),
        pct,
    )
}

/// Who acknowledged the version in force, per document: (document id, user id).
async fn acknowledgements(db: &Db, document: Option<i64>) -> AppResult<Vec<(i64, i64)>> {
    const SQL: &str = "SELECT a.document_id, a.user_id FROM document_acks a JOIN documents d ON d.id = a.document_id AND a.version_no = d.current_version";
    Ok(match document {
        Some(id) => {
            db.all(Q::new(format!("{SQL} WHERE d.id = $1")).bind(id))
                .await?
        }
        None => db.all(Q::new(SQL)).await?,
    })
}

fn done_for(acks: &[(i64, i64)], document: i64) -> Vec<i64> {
    acks.iter()
        .filter(|a| a.0 == document)
        .map(|a| a.1)
        .collect()
}

async fn row(db: &Db, number: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{SQL} WHERE d.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("document {number}")))
}

pub async fn get(db: &Db, number: &str) -> AppResult<Document> {
    let r = row(db, number).await?;
    let mut versions: Vec<Version> = db
        .all(Q::new("SELECT v.version_no, v.body, v.change_summary, v.state, a.name AS author, v.author_id, d.name AS decided_by, v.decided_at AS decided_ms, v.decision_note \
            FROM document_versions v LEFT JOIN users a ON a.id = v.author_id LEFT JOIN users d ON d.id = v.decided_by WHERE v.document_id = $1 ORDER BY v.version_no DESC").bind(r.id))
        .await?;
    for v in &mut versions {
        v.decided_at = v.decided_ms.map(iso);
    }
    let acks = acknowledgements(db, Some(r.id)).await?;
    let (acknowledged, pending, pct) = tally(&r, &people(db).await?, &done_for(&acks, r.id));
    Ok(Document {
        review_due: r.state == "active" && due(r.next_review.as_deref()),
        number: r.number,
        title: r.title,
        doc_type: r.doc_type,
        owner_id: r.owner_id,
        owner: r.owner,
        review_months: r.review_months,
        distribution: roles(&r.distribution),
        state: r.state,
        current_version: r.current_version,
        reviewed_at: r.reviewed_at.map(iso),
        next_review: r.next_review,
        version: r.version,
        versions,
        acknowledged,
        pending,
        acknowledged_percent: pct,
    })
}

pub async fn list(db: &Db) -> AppResult<Vec<DocumentSummary>> {
    let rows: Vec<Row> = db
        .all(Q::new(format!("{SQL} ORDER BY d.doc_type, d.title")))
        .await?;
    let open: Vec<(i64,)> = db
        .all(Q::new(
            "SELECT DISTINCT document_id FROM document_versions WHERE state = 'in_review'",
        ))
        .await?;
    let people = people(db).await?;
    let acks = acknowledgements(db, None).await?;
    let mut out = Vec::new();
    for r in rows {
        let (_, _, pct) = tally(&r, &people, &done_for(&acks, r.id));
        out.push(DocumentSummary {
            in_review: open.iter().any(|o| o.0 == r.id),
            review_due: r.state == "active" && due(r.next_review.as_deref()),
            number: r.number,
            title: r.title,
            doc_type: r.doc_type,
            owner: r.owner,
            state: r.state,
            current_version: r.current_version,
            next_review: r.next_review,
            acknowledged_percent: pct,
        });
    }
    Ok(out)
}

fn parse_type(t: &str) -> AppResult<&'static str> {
    TYPES.iter().copied().find(|x| *x == t).ok_or_else(|| {
        AppError::invalid("doc_type", format!("must be one of: {}", TYPES.join(", ")))
    })
}

fn parse_roles(list: &[String]) -> AppResult<String> {
    for r in list {
        r.parse::<Role>()
            .map_err(|e| AppError::invalid("distribution", e.to_string()))?;
    }
    Ok(list.join(","))
}

fn parse_months(m: i64) -> AppResult<i64> {
    if (1..=60).contains(&m) {
        Ok(m)
    } else {
        Err(AppError::invalid("review_months", "between 1 and 60"))
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDocument {
    pub title: String,
    /// scope, policy, plan, change_policy, security_policy, continuity_plan,
    /// major_incident_procedure, process, procedure, work_instruction, record_template, other.
    pub doc_type: String,
    pub owner_id: Option<i64>,
    /// Months between reviews (default 12).
    pub review_months: Option<i64>,
    /// Roles it is distributed to, e.g. ["agent", "manager"].
    #[serde(default)]
    pub distribution: Vec<String>,
    /// The first draft's text (Markdown or plain text).
    pub body: String,
    #[serde(default)]
    pub change_summary: String,
}

pub async fn create(db: &Db, p: &Principal, b: NewDocument) -> AppResult<Document> {
    p.require(Action::ManageReference)?;
    let title = Line::parse(&b.title, 200).map_err(|e| AppError::invalid("title", e))?;
    let ty = parse_type(&b.doc_type)?;
    let months = parse_months(b.review_months.unwrap_or(12))?;
    let dist = parse_roles(&b.distribution)?;
    let body = bounded(&b.body, 200_000).map_err(|e| AppError::invalid("body", e))?;
    if body.trim().is_empty() {
        return Err(AppError::invalid("body", "write the document's text"));
    }
    let summary =
        bounded(&b.change_summary, 2_000).map_err(|e| AppError::invalid("change_summary", e))?;
    let owner_id = active_user(db, "owner_id", b.owner_id.or(Some(p.user_id))).await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "document", "DOC").await?;
    let (id,): (i64,) = tx
        .one(Q::new("INSERT INTO documents (number, title, doc_type, owner_id, review_months, distribution, state, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8) RETURNING id")
            .bind(number.as_str()).bind(title.as_str()).bind(ty).bind(owner_id).bind(months).bind(dist.as_str()).bind(p.user_id).bind(now))
        .await?;
    tx.exec(Q::new("INSERT INTO document_versions (document_id, version_no, body, change_summary, state, author_id, created_at) VALUES ($1, 1, $2, $3, 'draft', $4, $5)")
        .bind(id).bind(body.as_str()).bind(summary.as_str()).bind(p.user_id).bind(now))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "document",
        &number,
        diff(
            &[],
            &[
                ("title", json!(title.as_str())),
                ("doc_type", json!(ty)),
                ("owner_id", json!(owner_id)),
                ("review_months", json!(months)),
                ("distribution", json!(dist)),
                ("draft", json!(1)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentPatch {
    pub title: Option<String>,
    pub owner_id: Option<i64>,
    pub review_months: Option<i64>,
    pub distribution: Option<Vec<String>>,
    /// active or withdrawn (a withdrawn document is no longer in force).
    pub state: Option<String>,
    pub version: Option<i64>,
}

pub async fn update(db: &Db, p: &Principal, number: &str, b: DocumentPatch) -> AppResult<Document> {
    p.require(Action::ManageReference)?;
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
    let owner_id = match b.owner_id {
        Some(id) => active_user(db, "owner_id", Some(id)).await?,
        None => before.owner_id,
    };
    let months = match b.review_months {
        Some(m) => parse_months(m)?,
        None => before.review_months,
    };
    let dist = match &b.distribution {
        Some(d) => parse_roles(d)?,
        None => before.distribution.clone(),
    };
    let state = match b.state.as_deref() {
        Some(s @ ("active" | "withdrawn")) => s.to_string(),
        Some(_) => return Err(AppError::invalid("state", "must be active or withdrawn")),
        None => before.state.clone(),
    };
    let next = match (before.reviewed_at, months != before.review_months) {
        (Some(at), true) => Some(
            next_review(
                jiff::tz::TimeZone::UTC
                    .to_datetime(
                        jiff::Timestamp::from_millisecond(at)
                            .map_err(|e| AppError::Internal(e.into()))?,
                    )
                    .date(),
                months,
            )
            .to_string(),
        ),
        _ => before.next_review.clone(),
    };
    let mut tx = db.begin().await?;
    let n = tx
        .exec(Q::new("UPDATE documents SET title = $1, owner_id = $2, review_months = $3, distribution = $4, state = $5, next_review = $6, version = version + 1, updated_at = $7 WHERE id = $8 AND version = $9")
            .bind(title.as_str()).bind(owner_id).bind(months).bind(dist.as_str()).bind(state.as_str()).bind(next.clone()).bind(now_ms()).bind(before.id).bind(before.version))
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
        "document",
        number,
        diff(
            &[
                ("title", json!(before.title)),
                ("owner_id", json!(before.owner_id)),
                ("review_months", json!(before.review_months)),
                ("distribution", json!(before.distribution)),
                ("state", json!(before.state)),
            ],
            &[
                ("title", json!(title)),
                ("owner_id", json!(owner_id)),
                ("review_months", json!(months)),
                ("distribution", json!(dist)),
                ("state", json!(state)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    pub body: String,
    /// What changed and why.
    pub change_summary: String,
}

/// Draft the next version (one draft or review at a time).
pub async fn draft(db: &Db, p: &Principal, number: &str, b: NewVersion) -> AppResult<Document> {
    p.require(Action::ManageReference)?;
    let d = row(db, number).await?;
    if d.state != "active" {
        return Err(AppError::Conflict(format!("{number} is withdrawn")));
    }
    let body = bounded(&b.body, 200_000).map_err(|e| AppError::invalid("body", e))?;
    if body.trim().is_empty() {
        return Err(AppError::invalid("body", "write the document's text"));
    }
    let summary = Line::parse(&b.change_summary, 2_000)
        .map_err(|e| AppError::invalid("change_summary", e))?;
    let mut tx = db.begin().await?;
    let open: Option<(i64, String)> = tx
        .opt(Q::new("SELECT version_no, state FROM document_versions WHERE document_id = $1 AND state IN ('draft', 'in_review')").bind(d.id))
        .await?;
    if let Some((v, s)) = open {
        return Err(AppError::Conflict(format!(
            "version {v} is still {s}; decide it first"
        )));
    }
    let (next,): (i64,) = tx.one(Q::new("SELECT COALESCE(MAX(version_no), 0) + 1 FROM document_versions WHERE document_id = $1").bind(d.id)).await?;
    tx.exec(Q::new("INSERT INTO document_versions (document_id, version_no, body, change_summary, state, author_id, created_at) VALUES ($1, $2, $3, $4, 'draft', $5, $6)")
        .bind(d.id).bind(next).bind(body.as_str()).bind(summary.as_str()).bind(p.user_id).bind(now_ms()))
        .await?;
    tx.exec(
        Q::new("UPDATE documents SET version = version + 1, updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(d.id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "draft",
        "document",
        number,
        diff(
            &[],
            &[
                ("draft", json!(next)),
                ("change_summary", json!(summary.as_str())),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DocumentDecision)]
pub struct Decision {
    /// submit, approve or reject.
    pub action: String,
    /// Why (required to reject).
    #[serde(default)]
    pub note: String,
}

/// Submit a draft for approval, approve it (it comes into force; the previous version becomes
/// obsolete; the next review is scheduled) or reject it with a reason.
pub async fn decide(
    db: &Db,
    p: &Principal,
    number: &str,
    version_no: i64,
    b: Decision,
) -> AppResult<Document> {
    match b.action.as_str() {
        "submit" => p.require(Action::ManageReference)?,
        "approve" | "reject" => p.require(Action::ManageCompliance)?,
        _ => {
            return Err(AppError::invalid(
                "action",
                "must be submit, approve or reject",
            ));
        }
    }
    let d = row(db, number).await?;
    let note = bounded(&b.note, 2_000).map_err(|e| AppError::invalid("note", e))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let v: (String, Option<i64>) = tx
        .opt(Q::new("SELECT state, author_id FROM document_versions WHERE document_id = $1 AND version_no = $2").bind(d.id).bind(version_no))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {version_no} of {number}")))?;
    let (from, to) = match b.action.as_str() {
        "submit" => {
            may_submit(version_no, &v.0)?;
            tx.exec(Q::new("UPDATE document_versions SET state = 'in_review', submitted_at = $1 WHERE document_id = $2 AND version_no = $3").bind(now).bind(d.id).bind(version_no)).await?;
            (v.0, "in_review")
        }
        "approve" => {
            may_approve(version_no, &v.0, v.1, p.user_id)?;
            tx.exec(Q::new("UPDATE document_versions SET state = 'obsolete' WHERE document_id = $1 AND state = 'approved'").bind(d.id)).await?;
            tx.exec(Q::new("UPDATE document_versions SET state = 'approved', decided_by = $1, decided_at = $2, decision_note = $3 WHERE document_id = $4 AND version_no = $5")
                .bind(p.user_id).bind(now).bind(Some(note.clone()).filter(|n| !n.is_empty())).bind(d.id).bind(version_no)).await?;
            let next = next_review(today(), d.review_months).to_string();
            tx.exec(Q::new("UPDATE documents SET current_version = $1, reviewed_at = $2, next_review = $3, version = version + 1, updated_at = $2 WHERE id = $4")
                .bind(version_no).bind(now).bind(next.as_str()).bind(d.id)).await?;
            (v.0, "approved")
        }
        _ => {
            may_reject(version_no, &v.0, &note)?;
            tx.exec(Q::new("UPDATE document_versions SET state = 'rejected', decided_by = $1, decided_at = $2, decision_note = $3 WHERE document_id = $4 AND version_no = $5")
                .bind(p.user_id).bind(now).bind(note.as_str()).bind(d.id).bind(version_no)).await?;
            (v.0, "rejected")
        }
    };
    append(
        &mut tx,
        &p.actor(),
        match b.action.as_str() {
            "submit" => "submit",
            "approve" => "approve",
            _ => "reject",
        },
        "document",
        number,
        diff(
            &[
                ("version", json!(version_no)),
                ("version_state", json!(from)),
            ],
            &[
                ("version", json!(version_no)),
                ("version_state", json!(to)),
                ("note", json!(note)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// What the review found (e.g. "still accurate; no change").
    pub notes: String,
}

/// Record a review of the version in force that changes nothing: the next review moves on.
pub async fn review(db: &Db, p: &Principal, number: &str, b: ReviewBody) -> AppResult<Document> {
    p.require(Action::ManageCompliance)?;
    let d = row(db, number).await?;
    let notes = Line::parse(&b.notes, 2_000).map_err(|e| AppError::invalid("notes", e))?;
    if d.current_version.is_none() || d.state != "active" {
        return Err(AppError::Conflict(format!(
            "{number} has no version in force to review"
        )));
    }
    let now = now_ms();
    let next = next_review(today(), d.review_months).to_string();
    let mut tx = db.begin().await?;
    tx.exec(Q::new("UPDATE documents SET reviewed_at = $1, next_review = $2, version = version + 1, updated_at = $1 WHERE id = $3").bind(now).bind(next.as_str()).bind(d.id)).await?;
    append(
        &mut tx,
        &p.actor(),
        "review",
        "document",
        number,
        diff(
            &[("next_review", json!(d.next_review))],
            &[
                ("next_review", json!(next)),
                ("review_notes", json!(notes.as_str())),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

/// The caller confirms having read the version in force.
pub async fn acknowledge(db: &Db, p: &Principal, number: &str) -> AppResult<Document> {
    p.require(Action::ReadInternalItems)?;
    p.require(Action::OwnNotifications)?;
    let d = row(db, number).await?;
    let Some(v) = d.current_version.filter(|_| d.state == "active") else {
        return Err(AppError::Conflict(format!(
            "{number} has no version in force"
        )));
    };
    let mut tx = db.begin().await?;
    let already: Option<(i64,)> = tx
        .opt(Q::new("SELECT user_id FROM document_acks WHERE document_id = $1 AND version_no = $2 AND user_id = $3").bind(d.id).bind(v).bind(p.user_id))
        .await?;
    if already.is_none() {
        tx.exec(Q::new("INSERT INTO document_acks (document_id, version_no, user_id, at) VALUES ($1, $2, $3, $4)").bind(d.id).bind(v).bind(p.user_id).bind(now_ms())).await?;
        append(
            &mut tx,
            &p.actor(),
            "acknowledge",
            "document",
            number,
            diff(&[], &[("acknowledged_version", json!(v))]),
        )
        .await?;
    }
    tx.commit().await?;
    get(db, number).await
}

fn read(p: &Principal) -> AppResult<()> {
    p.require(Action::ReadInternalItems)
}

/// Controlled documents.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", responses((status = 200, body = Vec<DocumentSummary>)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<DocumentSummary>>> {
    read(&p)?;
    Ok(Json(list(&st.db).await?))
}

/// Create a controlled document with its first draft.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", request_body = NewDocument,
    responses((status = 201, body = Document), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewDocument>,
) -> AppResult<(StatusCode, Json<Document>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One document with its versions and acknowledgements.
#[utoipa::path(get, path = "/api/v1/documents/{number}", tag = "documents", params(("number" = String, Path)),
    responses((status = 200, body = Document), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Document>> {
    read(&p)?;
    Ok(Json(get(&st.db, &number).await?))
}

/// Change a document's title, owner, review interval or distribution, or withdraw it.
#[utoipa::path(patch, path = "/api/v1/documents/{number}", tag = "documents", params(("number" = String, Path)), request_body = DocumentPatch,
    responses((status = 200, body = Document), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<DocumentPatch>,
) -> AppResult<Json<Document>> {
    Ok(Json(update(&st.db, &p, &number, b).await?))
}

/// Draft the next version.
#[utoipa::path(post, path = "/api/v1/documents/{number}/versions", tag = "documents", params(("number" = String, Path)), request_body = NewVersion,
    responses((status = 201, body = Document), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_draft(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<NewVersion>,
) -> AppResult<(StatusCode, Json<Document>)> {
    Ok((
        StatusCode::CREATED,
        Json(draft(&st.db, &p, &number, b).await?),
    ))
}

/// Submit, approve or reject a version.
#[utoipa::path(post, path = "/api/v1/documents/{number}/versions/{version}/decision", tag = "documents", params(("number" = String, Path), ("version" = i64, Path)), request_body = Decision,
    responses((status = 200, body = Document), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_decide(
    State(st): State<AppState>,
    p: Principal,
    Path((number, version)): Path<(String, i64)>,
    ApiJson(b): ApiJson<Decision>,
) -> AppResult<Json<Document>> {
    Ok(Json(decide(&st.db, &p, &number, version, b).await?))
}

/// Record a review of the version in force (no change needed).
#[utoipa::path(post, path = "/api/v1/documents/{number}/review", tag = "documents", params(("number" = String, Path)), request_body = ReviewBody,
    responses((status = 200, body = Document), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_review(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ReviewBody>,
) -> AppResult<Json<Document>> {
    Ok(Json(review(&st.db, &p, &number, b).await?))
}

/// Acknowledge having read the version in force.
#[utoipa::path(post, path = "/api/v1/documents/{number}/acknowledge", tag = "documents", params(("number" = String, Path)),
    responses((status = 200, body = Document), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_acknowledge(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Document>> {
    Ok(Json(acknowledge(&st.db, &p, &number).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "documents",
    api: part_api,
    pages: super::documents_ui::routes,
    templates: &[
        (
            "documents.html",
            include_str!("../../../templates/documents.html"),
        ),
        (
            "document.html",
            include_str!("../../../templates/document.html"),
        ),
    ],
    tags: &[(
        "documents",
        "Controlled documents: versions, approval, review dates, distribution and acknowledgements (7.5)",
    )],
    nav: &[crate::platform::part::Nav {
        order: 110,
        label: "Documents",
        requester_label: None,
        href: "/documents",
        shown: |p| p.can(keel_core::access::Action::ReadInternalItems),
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(Action::ManageReference, routes!(api_list, api_create)))
        .routes(gate(Action::ManageReference, routes!(api_get, api_update)))
        .routes(gate(Action::ManageReference, routes!(api_draft)))
        .routes(crate::platform::gate::gate_any(
            &[Action::ManageReference, Action::ManageCompliance],
            routes!(api_decide),
        ))
        .routes(gate(Action::ManageCompliance, routes!(api_review)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_acknowledge)))
}
