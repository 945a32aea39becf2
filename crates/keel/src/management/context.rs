//! Clause 4 — context of the organisation: the register of interested parties and their
//! requirements (4.2), `/api/v1/interested-parties`. (The scope, 4.3, is a controlled document
//! of type `scope`.)

use crate::directory::active_user;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, day};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Who may have requirements of the SMS and the services.
pub const KINDS: &[&str] = &[
    "customer",
    "user",
    "supplier",
    "regulator",
    "staff",
    "owner",
    "partner",
    "other",
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
#[schema(as = InterestedParty)]
pub struct Party {
    pub id: i64,
    pub name: String,
    /// customer, user, supplier, regulator, staff, owner, partner or other.
    pub kind: String,
    /// Their requirements relevant to the SMS and the services (legal, contractual, service).
    pub requirements: String,
    /// How each is met: an SLA, a contract, a policy, a process.
    pub how_addressed: String,
    /// YYYY-MM-DD.
    pub review_date: Option<String>,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    #[serde(skip)]
    pub active_flag: i64,
    pub version: i64,
}

const SQL: &str = "SELECT p.id, p.name, p.kind, p.requirements, p.how_addressed, p.review_date, p.owner_id, u.name AS owner, p.active AS active_flag, p.version \
    FROM interested_parties p LEFT JOIN users u ON u.id = p.owner_id";

pub async fn list(db: &Db) -> AppResult<Vec<Party>> {
    Ok(db
        .all(Q::new(format!(
            "{SQL} WHERE p.active = 1 ORDER BY p.kind, p.name"
        )))
        .await?)
}

pub async fn get(db: &Db, id: i64) -> AppResult<Party> {
    db.opt(Q::new(format!("{SQL} WHERE p.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("interested party {id}")))
}

fn kind(k: &str) -> AppResult<&'static str> {
    KINDS
        .iter()
        .copied()
        .find(|x| *x == k)
        .ok_or_else(|| AppError::invalid("kind", format!("must be one of: {}", KINDS.join(", "))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParty {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub requirements: String,
    #[serde(default)]
    pub how_addressed: String,
    pub review_date: Option<String>,
    pub owner_id: Option<i64>,
}

pub async fn create(db: &Db, p: &Principal, b: NewParty) -> AppResult<Party> {
    p.require(Action::ManageCompliance)?;
    let name = Line::parse(&b.name, 200).map_err(|e| AppError::invalid("name", e))?;
    let k = kind(&b.kind)?;
    let req = bounded(&b.requirements, 20_000).map_err(|e| AppError::invalid("requirements", e))?;
    let how =
        bounded(&b.how_addressed, 20_000).map_err(|e| AppError::invalid("how_addressed", e))?;
    let review = day("review_date", b.review_date.as_deref().unwrap_or(""))?;
    let owner = active_user(db, "owner_id", b.owner_id).await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(Q::new("INSERT INTO interested_parties (name, kind, requirements, how_addressed, review_date, owner_id, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING id")
            .bind(name.as_str()).bind(k).bind(req.as_str()).bind(how.as_str()).bind(review.clone()).bind(owner).bind(now))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "interested_party",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("kind", json!(k)),
                ("requirements", json!(req)),
                ("how_addressed", json!(how)),
                ("review_date", json!(review)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyPatch {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub requirements: Option<String>,
    pub how_addressed: Option<String>,
    pub review_date: Option<String>,
    pub owner_id: Option<i64>,
    /// false removes the party from the register (kept in history).
    pub active: Option<bool>,
    pub version: Option<i64>,
}

pub async fn update(db: &Db, p: &Principal, id: i64, b: PartyPatch) -> AppResult<Party> {
    p.require(Action::ManageCompliance)?;
    let before = get(db, id).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let name = match &b.name {
        Some(n) => Line::parse(n, 200)
            .map_err(|e| AppError::invalid("name", e))?
            .into_string(),
        None => before.name.clone(),
    };
    let k = match &b.kind {
        Some(k) => kind(k)?.to_string(),
        None => before.kind.clone(),
    };
    let req = match &b.requirements {
        Some(r) => bounded(r, 20_000).map_err(|e| AppError::invalid("requirements", e))?,
        None => before.requirements.clone(),
    };
    let how = match &b.how_addressed {
        Some(h) => bounded(h, 20_000).map_err(|e| AppError::invalid("how_addressed", e))?,
        None => before.how_addressed.clone(),
    };
    let review = match &b.review_date {
        Some(d) => day("review_date", d)?,
        None => before.review_date.clone(),
    };
    let owner = match b.owner_id {
        Some(o) => active_user(db, "owner_id", Some(o)).await?,
        None => before.owner_id,
    };
    let active = b.active.map(i64::from).unwrap_or(before.active_flag);
    let mut tx = db.begin().await?;
    let n = tx
        .exec(Q::new("UPDATE interested_parties SET name = $1, kind = $2, requirements = $3, how_addressed = $4, review_date = $5, owner_id = $6, active = $7, version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10")
            .bind(name.as_str()).bind(k.as_str()).bind(req.as_str()).bind(how.as_str()).bind(review.clone()).bind(owner).bind(active).bind(now_ms()).bind(id).bind(before.version))
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
        "interested_party",
        &id.to_string(),
        diff(
            &[
                ("name", json!(before.name)),
                ("kind", json!(before.kind)),
                ("requirements", json!(before.requirements)),
                ("how_addressed", json!(before.how_addressed)),
                ("review_date", json!(before.review_date)),
                ("active", json!(before.active_flag == 1)),
            ],
            &[
                ("name", json!(name)),
                ("kind", json!(k)),
                ("requirements", json!(req)),
                ("how_addressed", json!(how)),
                ("review_date", json!(review)),
                ("active", json!(active == 1)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// The register of interested parties.
#[utoipa::path(get, path = "/api/v1/interested-parties", tag = "context", responses((status = 200, body = Vec<Party>)), security(("bearer" = [])))]
pub async fn api_list(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Party>>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(list(&st.db).await?))
}

/// Add an interested party with its requirements.
#[utoipa::path(post, path = "/api/v1/interested-parties", tag = "context", request_body = NewParty, responses((status = 201, body = Party), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewParty>,
) -> AppResult<(StatusCode, Json<Party>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One interested party.
#[utoipa::path(get, path = "/api/v1/interested-parties/{id}", tag = "context", params(("id" = i64, Path)), responses((status = 200, body = Party), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Party>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(get(&st.db, id).await?))
}

/// Change an interested party, or take it off the register.
#[utoipa::path(patch, path = "/api/v1/interested-parties/{id}", tag = "context", params(("id" = i64, Path)), request_body = PartyPatch, responses((status = 200, body = Party), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<PartyPatch>,
) -> AppResult<Json<Party>> {
    Ok(Json(update(&st.db, &p, id, b).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "interested parties",
    api: part_api,
    pages: super::support::competence_ui::parties_routes,
    templates: &[(
        "interested_parties.html",
        include_str!("../../templates/interested_parties.html"),
    )],
    tags: &[(
        "context",
        "Interested parties (4.2), the SMS scope (4.3), RACI per process (5.3), the communication plan (7.4)",
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
}
