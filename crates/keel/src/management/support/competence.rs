//! Clause 7.2 — competence: the competences each role requires (`/api/v1/competences`) and
//! people's training records (`/api/v1/training-records`); the matrix shows who lacks a current
//! record for a competence their role requires.

use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery, day, required_day};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_core::access::{Action, Role};
use keel_core::audit::diff;
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Requirement {
    pub id: i64,
    pub role: String,
    pub competence: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TrainingRecord {
    pub id: i64,
    pub user_id: i64,
    pub user: String,
    pub competence: String,
    pub completed_on: String,
    pub expires_on: Option<String>,
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MatrixRow {
    pub user_id: i64,
    pub user: String,
    pub role: String,
    pub required: Vec<String>,
    /// Required competences with no current (unexpired) training record.
    pub missing: Vec<String>,
}

pub async fn requirements(db: &Db) -> AppResult<Vec<Requirement>> {
    Ok(db.all(Q::new("SELECT id, role, competence, description FROM competence_requirements ORDER BY role, competence")).await?)
}

pub async fn records(db: &Db, user: Option<i64>) -> AppResult<Vec<TrainingRecord>> {
    const SQL: &str = "SELECT t.id, t.user_id, u.name AS \"user\", t.competence, t.completed_on, t.expires_on, t.evidence FROM training_records t JOIN users u ON u.id = t.user_id";
    Ok(match user {
        Some(u) => {
            db.all(
                Q::new(format!(
                    "{SQL} WHERE t.user_id = $1 ORDER BY t.completed_on DESC"
                ))
                .bind(u),
            )
            .await?
        }
        None => {
            db.all(Q::new(format!(
                "{SQL} ORDER BY t.completed_on DESC, t.id DESC LIMIT 1000"
            )))
            .await?
        }
    })
}

/// Every active member of staff with the competences their role requires and those they lack.
pub async fn matrix(db: &Db) -> AppResult<Vec<MatrixRow>> {
    let reqs = requirements(db).await?;
    let staff: Vec<(i64, String, String)> = db
        .all(Q::new("SELECT id, name, role FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name"))
        .await?;
    let today = crate::management::evaluation::kpi::today().to_string();
    let held: Vec<(i64, String, Option<String>)> = db
        .all(Q::new(
            "SELECT user_id, competence, expires_on FROM training_records",
        ))
        .await?;
    Ok(staff
        .into_iter()
        .map(|(id, name, role)| {
            let required: Vec<String> = reqs
                .iter()
                .filter(|r| r.role == role)
                .map(|r| r.competence.clone())
                .collect();
            let missing = required
                .iter()
                .filter(|c| {
                    !held.iter().any(|h| {
                        h.0 == id
                            && &h.1 == *c
                            && h.2.as_deref().is_none_or(|e| e >= today.as_str())
                    })
                })
                .cloned()
                .collect();
            MatrixRow {
                user_id: id,
                user: name,
                role,
                required,
                missing,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequirement {
    /// A role: agent, manager, sms-manager, auditor or admin.
    pub role: String,
    pub competence: String,
    #[serde(default)]
    pub description: String,
}

pub async fn require_competence(
    db: &Db,
    p: &Principal,
    b: NewRequirement,
) -> AppResult<Requirement> {
    p.require(Action::ManageCompliance)?;
    let role = b
        .role
        .parse::<Role>()
        .map_err(|e| AppError::invalid("role", e.to_string()))?;
    let comp = Line::parse(&b.competence, 200).map_err(|e| AppError::invalid("competence", e))?;
    let desc = bounded(&b.description, 2_000).map_err(|e| AppError::invalid("description", e))?;
    let mut tx = db.begin().await?;
    let dup: Option<(i64,)> = tx
        .opt(
            Q::new("SELECT id FROM competence_requirements WHERE role = $1 AND competence = $2")
                .bind(role.as_str())
                .bind(comp.as_str()),
        )
        .await?;
    if dup.is_some() {
        return Err(AppError::Conflict(format!(
            "{role} already requires {}",
            comp.as_str()
        )));
    }
    let (id,): (i64,) = tx
        .one(Q::new("INSERT INTO competence_requirements (role, competence, description, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(role.as_str()).bind(comp.as_str()).bind(desc.as_str()).bind(now_ms()))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "competence_requirement",
        &id.to_string(),
        diff(
            &[],
            &[
                ("role", json!(role.as_str())),
                ("competence", json!(comp.as_str())),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Requirement {
        id,
        role: role.as_str().to_string(),
        competence: comp.into_string(),
        description: desc,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    pub user_id: i64,
    pub competence: String,
    /// YYYY-MM-DD.
    pub completed_on: String,
    /// YYYY-MM-DD, for competences that must be renewed.
    pub expires_on: Option<String>,
    /// The certificate, course or assessment that shows it.
    #[serde(default)]
    pub evidence: String,
}

pub async fn record(db: &Db, p: &Principal, b: NewRecord) -> AppResult<TrainingRecord> {
    p.require(Action::ManageReference)?;
    let user = crate::directory::active_user(db, "user_id", Some(b.user_id))
        .await?
        .unwrap_or(b.user_id);
    let comp = Line::parse(&b.competence, 200).map_err(|e| AppError::invalid("competence", e))?;
    let done = required_day("completed_on", &b.completed_on)?;
    let expires = day("expires_on", b.expires_on.as_deref().unwrap_or(""))?;
    if expires.as_deref().is_some_and(|e| e <= done.as_str()) {
        return Err(AppError::invalid(
            "expires_on",
            "must be after completed_on",
        ));
    }
    let evidence = bounded(&b.evidence, 2_000).map_err(|e| AppError::invalid("evidence", e))?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(Q::new("INSERT INTO training_records (user_id, competence, completed_on, expires_on, evidence, recorded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
            .bind(user).bind(comp.as_str()).bind(done.as_str()).bind(expires.clone()).bind(evidence.as_str()).bind(p.user_id).bind(now_ms()))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "training_record",
        &id.to_string(),
        diff(
            &[],
            &[
                ("user_id", json!(user)),
                ("competence", json!(comp.as_str())),
                ("completed_on", json!(done)),
                ("expires_on", json!(expires)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    records(db, Some(user))
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| AppError::NotFound(format!("training record {id}")))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Competences {
    pub requirements: Vec<Requirement>,
    pub matrix: Vec<MatrixRow>,
}

/// The competences each role requires, and who lacks a current record for one.
#[utoipa::path(get, path = "/api/v1/competences", tag = "competence", responses((status = 200, body = Competences)), security(("bearer" = [])))]
pub async fn api_list(State(st): State<AppState>, p: Principal) -> AppResult<Json<Competences>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(Competences {
        requirements: requirements(&st.db).await?,
        matrix: matrix(&st.db).await?,
    }))
}

/// Require a competence of a role.
#[utoipa::path(post, path = "/api/v1/competences", tag = "competence", request_body = NewRequirement, responses((status = 201, body = Requirement), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_require(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewRequirement>,
) -> AppResult<(StatusCode, Json<Requirement>)> {
    Ok((
        StatusCode::CREATED,
        Json(require_competence(&st.db, &p, b).await?),
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordParams {
    /// Only this person's records.
    pub user_id: Option<i64>,
}

/// Training records, newest first.
#[utoipa::path(get, path = "/api/v1/training-records", tag = "competence", params(RecordParams), responses((status = 200, body = Vec<TrainingRecord>)), security(("bearer" = [])))]
pub async fn api_records(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> AppResult<Json<Vec<TrainingRecord>>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(records(&st.db, q.user_id).await?))
}

/// Record that someone completed training for a competence.
#[utoipa::path(post, path = "/api/v1/training-records", tag = "competence", request_body = NewRecord, responses((status = 201, body = TrainingRecord), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_record(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewRecord>,
) -> AppResult<(StatusCode, Json<TrainingRecord>)> {
    Ok((StatusCode::CREATED, Json(record(&st.db, &p, b).await?)))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "competence",
    api: part_api,
    pages: super::competence_ui::competence_routes,
    templates: &[(
        "competence.html",
        include_str!("../../../templates/competence.html"),
    )],
    tags: &[(
        "competence",
        "Competences each role requires and training records (7.2)",
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
            routes!(api_list, api_require),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(api_records, api_record),
        ))
}
