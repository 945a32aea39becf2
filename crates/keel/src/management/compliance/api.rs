//! `/api/v1/compliance/*`, `/api/v1/assessments` and `/api/v1/audit-pack`: thin wrappers over
//! the compliance engine. Reading needs `ReadCompliance` (managers, the SMS manager, auditors);
//! judging, rating, assessing and the gap plan need `ManageCompliance` (the SMS manager).

use super::assessment::{
    self, ActionPatch, Assessment, AssessmentSummary, Comparison, GapAction, NewAction,
    NewAssessment,
};
use super::{CheckResult, Readiness, RequirementStatus, check_result, evidence, period};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::compliance::catalogue::{Catalogue, Requirement};
use keel_core::management::compliance::checks;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// Evidence period start (RFC 3339 or YYYY-MM-DD); default twelve months ago.
    pub from: Option<String>,
    /// Evidence period end (a YYYY-MM-DD day is included); default now.
    pub to: Option<String>,
    /// Catalogue edition; default `iso20000-1:2018`.
    pub edition: Option<String>,
}

fn read(p: &Principal) -> AppResult<()> {
    p.require(Action::ReadCompliance)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogueView {
    pub id: String,
    pub standard: String,
    pub edition: String,
    pub title: String,
    #[schema(value_type = Vec<Object>)]
    pub processes: Vec<keel_core::management::compliance::catalogue::Process>,
    #[schema(value_type = Vec<Object>)]
    pub clauses: Vec<keel_core::management::compliance::catalogue::Heading>,
    /// Every leaf requirement with its summary, checklist items, documented information and
    /// the ids of the evidence checks on it.
    pub requirements: Vec<RequirementView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequirementView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub requirement: Requirement,
    pub checks: Vec<String>,
}

fn requirement_view(r: &Requirement) -> RequirementView {
    RequirementView {
        requirement: r.clone(),
        checks: checks::for_requirement(&r.id)
            .map(|c| c.id.to_string())
            .collect(),
    }
}

/// The requirement catalogue: every requirement of the standard, in our own words.
#[utoipa::path(get, path = "/api/v1/compliance/requirements", tag = "compliance", params(PeriodParams),
    responses((status = 200, body = CatalogueView)), security(("bearer" = [])))]
pub async fn list_requirements(
    p: Principal,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<CatalogueView>> {
    read(&p)?;
    let c: &Catalogue = super::edition(q.edition.as_deref())?;
    Ok(Json(CatalogueView {
        id: c.id.clone(),
        standard: c.standard.clone(),
        edition: c.edition.clone(),
        title: c.title.clone(),
        processes: c.processes.clone(),
        clauses: c.clauses.clone(),
        requirements: c.requirements.iter().map(requirement_view).collect(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequirementDetail {
    #[serde(flatten)]
    pub requirement: RequirementView,
    pub status: RequirementStatus,
    pub actions: Vec<GapAction>,
    pub evidence: Vec<EvidenceFile>,
}

/// One requirement: its text, live evidence, judgement, gap actions and evidence files.
#[utoipa::path(get, path = "/api/v1/compliance/requirements/{id}", tag = "compliance", params(("id" = String, Path), PeriodParams),
    responses((status = 200, body = RequirementDetail), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_requirement(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<RequirementDetail>> {
    read(&p)?;
    Ok(Json(requirement_detail(&st, &id, &q).await?))
}

pub async fn requirement_detail(
    st: &AppState,
    id: &str,
    q: &PeriodParams,
) -> AppResult<RequirementDetail> {
    let c = super::edition(q.edition.as_deref())?;
    let r = super::requirement(c, id)?;
    let per = period(q.from.as_deref(), q.to.as_deref(), now_ms())?;
    Ok(RequirementDetail {
        requirement: requirement_view(r),
        status: super::requirement_status(&st.db, c, id, per).await?,
        actions: assessment::actions(&st.db, Some(id)).await?,
        evidence: evidence_files(st, c, id).await?,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JudgementBody {
    /// met, partially_met, not_met or not_applicable.
    pub rating: String,
    /// The reasoning; required for not_applicable and for a rating that differs from the checks.
    #[serde(default)]
    pub notes: String,
}

/// Record the assessor's judgement of a requirement.
#[utoipa::path(put, path = "/api/v1/compliance/requirements/{id}/judgement", tag = "compliance", params(("id" = String, Path)), request_body = JudgementBody,
    responses((status = 200, body = RequirementStatus), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn put_judgement(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<JudgementBody>,
) -> AppResult<Json<RequirementStatus>> {
    let c = super::edition(None)?;
    Ok(Json(
        super::judge(&st.db, &p, c, &id, &b.rating, &b.notes).await?,
    ))
}

/// Withdraw the assessor's judgement; the checks rate the requirement again.
#[utoipa::path(delete, path = "/api/v1/compliance/requirements/{id}/judgement", tag = "compliance", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_judgement(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let c = super::edition(None)?;
    super::unjudge(&st.db, &p, c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every evidence check, run now over the period.
#[utoipa::path(get, path = "/api/v1/compliance/checks", tag = "compliance", params(PeriodParams),
    responses((status = 200, body = Vec<CheckResult>)), security(("bearer" = [])))]
pub async fn list_checks(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<Vec<CheckResult>>> {
    read(&p)?;
    let now = now_ms();
    let per = period(q.from.as_deref(), q.to.as_deref(), now)?;
    let out = evidence::run_all(&st.db, per, now).await?;
    Ok(Json(out.iter().map(|(c, o)| check_result(c, o)).collect()))
}

/// One evidence check, run now, with the records that fail it.
#[utoipa::path(get, path = "/api/v1/compliance/checks/{id}", tag = "compliance", params(("id" = String, Path), PeriodParams),
    responses((status = 200, body = CheckResult), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_check(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<CheckResult>> {
    read(&p)?;
    let c = checks::check(&id).ok_or_else(|| AppError::NotFound(format!("check {id}")))?;
    let now = now_ms();
    let per = period(q.from.as_deref(), q.to.as_deref(), now)?;
    let out = evidence::run(&st.db, [c], per, now).await?;
    let (c, o) = out
        .first()
        .ok_or_else(|| AppError::NotFound(format!("check {id}")))?;
    Ok(Json(check_result(c, o)))
}

/// Live readiness: every requirement rated, scores by clause and process, capability levels.
#[utoipa::path(get, path = "/api/v1/compliance/readiness", tag = "compliance", params(PeriodParams),
    responses((status = 200, body = Readiness)), security(("bearer" = [])))]
pub async fn get_readiness(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<Readiness>> {
    read(&p)?;
    let c = super::edition(q.edition.as_deref())?;
    let per = period(q.from.as_deref(), q.to.as_deref(), now_ms())?;
    Ok(Json(super::readiness(&st.db, c, per).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityBody {
    /// Attribute ratings, e.g. {"PA1.1": "F", "PA2.1": "L", "PA2.2": "L"}; unrated counts as N.
    pub ratings: BTreeMap<String, String>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CapabilityView {
    pub process: String,
    pub ratings: BTreeMap<String, String>,
    pub level: u8,
    pub level_name: String,
}

/// Rate a process's attributes (ISO/IEC 33020); the capability level follows.
#[utoipa::path(put, path = "/api/v1/compliance/processes/{id}/capability", tag = "compliance", params(("id" = String, Path)), request_body = CapabilityBody,
    responses((status = 200, body = CapabilityView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn put_capability(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CapabilityBody>,
) -> AppResult<Json<CapabilityView>> {
    let c = super::edition(None)?;
    let (ratings, level) = super::rate_process(&st.db, &p, c, &id, &b.ratings, &b.notes).await?;
    Ok(Json(CapabilityView {
        process: id,
        ratings,
        level,
        level_name: keel_core::management::compliance::capability::LEVEL_NAMES
            [usize::from(level.min(5))]
        .to_string(),
    }))
}

/// Assessments taken, newest first.
#[utoipa::path(get, path = "/api/v1/assessments", tag = "compliance", responses((status = 200, body = Vec<AssessmentSummary>)), security(("bearer" = [])))]
pub async fn list_assessments(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<AssessmentSummary>>> {
    read(&p)?;
    Ok(Json(assessment::list(&st.db).await?))
}

/// Take an assessment: freeze the live readiness for the period as a dated snapshot.
#[utoipa::path(post, path = "/api/v1/assessments", tag = "compliance", request_body = NewAssessment,
    responses((status = 201, body = Assessment), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_assessment(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewAssessment>,
) -> AppResult<(StatusCode, Json<Assessment>)> {
    Ok((
        StatusCode::CREATED,
        Json(assessment::take(&st.db, &p, b).await?),
    ))
}

/// One assessment as it was taken.
#[utoipa::path(get, path = "/api/v1/assessments/{number}", tag = "compliance", params(("number" = String, Path)),
    responses((status = 200, body = Assessment), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_assessment(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Assessment>> {
    read(&p)?;
    Ok(Json(assessment::get(&st.db, &number).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    /// A later assessment's number, or `now` (the default) for the live readiness.
    pub with: Option<String>,
}

/// What moved between an assessment and a later one (or now).
#[utoipa::path(get, path = "/api/v1/assessments/{number}/comparison", tag = "compliance", params(("number" = String, Path), CompareParams),
    responses((status = 200, body = Comparison), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn compare_assessment(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiQuery(q): ApiQuery<CompareParams>,
) -> AppResult<Json<Comparison>> {
    read(&p)?;
    Ok(Json(
        assessment::compare(&st.db, &number, q.with.as_deref().unwrap_or("now")).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionParams {
    /// Only the actions on this requirement.
    pub requirement: Option<String>,
}

/// The gap plan: actions closing gaps, open first by due date.
#[utoipa::path(get, path = "/api/v1/compliance/actions", tag = "compliance", params(ActionParams),
    responses((status = 200, body = Vec<GapAction>)), security(("bearer" = [])))]
pub async fn list_actions(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ActionParams>,
) -> AppResult<Json<Vec<GapAction>>> {
    read(&p)?;
    Ok(Json(
        assessment::actions(&st.db, q.requirement.as_deref()).await?,
    ))
}

/// Add an action to the gap plan.
#[utoipa::path(post, path = "/api/v1/compliance/actions", tag = "compliance", request_body = NewAction,
    responses((status = 201, body = GapAction), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_action(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewAction>,
) -> AppResult<(StatusCode, Json<GapAction>)> {
    Ok((
        StatusCode::CREATED,
        Json(assessment::add_action(&st.db, &p, b).await?),
    ))
}

/// Update an action: owner, due date, progress, state.
#[utoipa::path(patch, path = "/api/v1/compliance/actions/{number}", tag = "compliance", params(("number" = String, Path)), request_body = ActionPatch,
    responses((status = 200, body = GapAction), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn patch_action(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ActionPatch>,
) -> AppResult<Json<GapAction>> {
    Ok(Json(
        assessment::update_action(&st.db, &p, &number, b).await?,
    ))
}

// ---- Evidence files ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct EvidenceFile {
    pub id: i64,
    pub requirement: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: String,
    #[serde(skip)]
    pub created_ms: i64,
    #[sqlx(skip)]
    pub uploaded_at: String,
}

pub async fn evidence_files(
    st: &AppState,
    c: &Catalogue,
    id: &str,
) -> AppResult<Vec<EvidenceFile>> {
    let rows: Vec<EvidenceFile> = st
        .db
        .all(Q::new("SELECT e.id, e.requirement, e.filename, e.content_type, e.size, e.sha256, u.name AS uploaded_by, e.created_at AS created_ms FROM requirement_evidence e JOIN users u ON u.id = e.uploaded_by WHERE e.edition = $1 AND e.requirement = $2 ORDER BY e.id").bind(c.id.as_str()).bind(id))
        .await?;
    Ok(rows
        .into_iter()
        .map(|mut e| {
            e.uploaded_at = iso(e.created_ms);
            e
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileParams {
    /// The file's name (required).
    pub filename: Option<String>,
}

/// Store a file the assessor keeps as evidence for a requirement.
pub async fn add_evidence(
    st: &AppState,
    p: &Principal,
    id: &str,
    filename: &str,
    content_type: &str,
    body: &[u8],
) -> AppResult<EvidenceFile> {
    p.require(Action::ManageCompliance)?;
    let c = super::edition(None)?;
    let r = super::requirement(c, id)?;
    let name = keel_core::text::Line::parse(filename, 255)
        .map_err(|e| AppError::invalid("filename", e))?;
    if name.as_str().contains(['/', '\\']) {
        return Err(AppError::invalid("filename", "a file name, not a path"));
    }
    if body.len() > st.cfg.max_attachment_bytes {
        return Err(AppError::TooLarge {
            limit: st.cfg.max_attachment_bytes,
        });
    }
    if body.is_empty() {
        return Err(AppError::invalid("body", "the file is empty"));
    }
    let sha = hex::encode(Sha256::digest(body));
    let now = now_ms();
    let mut tx = st.db.begin().await?;
    let (fid,): (i64,) = tx
        .one(
            Q::new("INSERT INTO requirement_evidence (edition, requirement, filename, content_type, size, sha256, data, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                .bind(c.id.as_str())
                .bind(r.id.as_str())
                .bind(name.as_str())
                .bind(content_type)
                .bind(i64::try_from(body.len()).unwrap_or(i64::MAX))
                .bind(sha.as_str())
                .bind(body.to_vec())
                .bind(p.user_id)
                .bind(now),
        )
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "attach",
        "requirement",
        &format!("{}/{}", c.id, r.id),
        diff(
            &[],
            &[(
                "evidence",
                json!({"id": fid, "filename": name.as_str(), "sha256": sha}),
            )],
        ),
    )
    .await?;
    tx.commit().await?;
    let files = evidence_files(st, c, &r.id).await?;
    files
        .into_iter()
        .find(|f| f.id == fid)
        .ok_or_else(|| AppError::NotFound(format!("evidence {fid}")))
}

/// Attach an evidence file to a requirement (the body is the file).
#[utoipa::path(post, path = "/api/v1/compliance/requirements/{id}/evidence", tag = "compliance", params(("id" = String, Path), FileParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = EvidenceFile), (status = 413, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn upload_evidence(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<FileParams>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<(StatusCode, Json<EvidenceFile>)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    p.require(Action::ManageCompliance)?;
    let name = q
        .filename
        .ok_or_else(|| AppError::invalid("filename", "name the file: ?filename=…"))?;
    Ok((
        StatusCode::CREATED,
        Json(add_evidence(&st, &p, &id, &name, ct, &body).await?),
    ))
}

/// Download an evidence file.
#[utoipa::path(get, path = "/api/v1/compliance/evidence/{id}", tag = "compliance", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn download_evidence(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    read(&p)?;
    evidence_download(&st, id).await
}

pub async fn evidence_download(st: &AppState, id: i64) -> AppResult<Response> {
    let row: Option<(String, String, Vec<u8>)> = st
        .db
        .opt(
            Q::new("SELECT filename, content_type, data FROM requirement_evidence WHERE id = $1")
                .bind(id),
        )
        .await?;
    let (name, ct, data) = row.ok_or_else(|| AppError::NotFound(format!("evidence {id}")))?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\r', '\n'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        data,
    )
        .into_response())
}

// ---- The audit pack ----

/// The audit pack for a period: a zip with an HTML index, the assessment, every check with its
/// records, the registers as CSV and JSON, and a SHA-256 manifest.
#[utoipa::path(get, path = "/api/v1/audit-pack", tag = "compliance", params(PeriodParams),
    responses((status = 200, content_type = "application/zip"), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn audit_pack(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Response> {
    read(&p)?;
    let c = super::edition(q.edition.as_deref())?;
    let now = now_ms();
    let per = period(q.from.as_deref(), q.to.as_deref(), now)?;
    let bytes = super::pack::build(&st.db, c, per, &p.name).await?;
    let name = super::pack::file_name(per);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
