//! Clauses 4.3, 5.3 and 7.4 — the SMS scope as a record (`/api/v1/scope`), who is responsible,
//! accountable, consulted and informed for each process (`/api/v1/raci`), and the communication
//! plan (`/api/v1/communication-plan`). Rules in `keel_core::management::leadership`.

use crate::directory::active_user;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::compliance::catalogue;
use keel_core::management::leadership::{FREQUENCIES, LETTERS, raci_problem};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Exclusion {
    /// What is left out (a service, a location …).
    pub what: String,
    /// Why; an auditor reads it.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Scope {
    pub statement: String,
    pub service_ids: Vec<i64>,
    pub services: Vec<String>,
    pub locations: String,
    pub units: String,
    pub parties: String,
    pub exclusions: Vec<Exclusion>,
    /// Live services neither in scope nor excluded.
    pub unscoped: Vec<String>,
    pub version: i64,
}

type ScopeRow = (String, String, String, String, String, String, i64);

pub async fn scope(db: &Db) -> AppResult<Option<Scope>> {
    let row: Option<ScopeRow> = db
        .opt(Q::new("SELECT statement, services, locations, units, parties, exclusions, version FROM sms_scope WHERE id = 1"))
        .await?;
    let Some((statement, services, locations, units, parties, exclusions, version)) = row else {
        return Ok(None);
    };
    let ids: Vec<i64> = serde_json::from_str(&services).unwrap_or_default();
    let exclusions: Vec<Exclusion> = serde_json::from_str(&exclusions).unwrap_or_default();
    let all: Vec<(i64, String, String)> = db
        .all(Q::new("SELECT id, name, stage FROM services ORDER BY name"))
        .await?;
    let live: Vec<(i64, String)> = all
        .iter()
        .filter(|s| s.2 == "live")
        .map(|s| (s.0, s.1.clone()))
        .collect();
    let excluded: Vec<String> = exclusions.iter().map(|e| e.what.clone()).collect();
    let unscoped = keel_core::management::leadership::unscoped(&live, &ids, &excluded)
        .into_iter()
        .map(String::from)
        .collect();
    Ok(Some(Scope {
        services: all
            .iter()
            .filter(|s| ids.contains(&s.0))
            .map(|s| s.1.clone())
            .collect(),
        service_ids: ids,
        statement,
        locations,
        units,
        parties,
        exclusions,
        unscoped,
        version,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// The services and the organisation that delivers them, as the certificate would say it.
    pub statement: String,
    pub service_ids: Vec<i64>,
    #[serde(default)]
    pub locations: String,
    #[serde(default)]
    pub units: String,
    #[serde(default)]
    pub parties: String,
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
    pub version: Option<i64>,
}

pub async fn set_scope(db: &Db, p: &Principal, b: ScopeBody) -> AppResult<Scope> {
    p.require(Action::ManageCompliance)?;
    let statement = bounded(&b.statement, 20_000).map_err(|e| AppError::invalid("statement", e))?;
    if statement.trim().is_empty() {
        return Err(AppError::invalid("statement", "state the scope"));
    }
    for (i, id) in b.service_ids.iter().enumerate() {
        if db
            .opt::<(i64,)>(Q::new("SELECT id FROM services WHERE id = $1").bind(*id))
            .await?
            .is_none()
        {
            return Err(AppError::invalid(
                &format!("service_ids[{i}]"),
                format!("no service {id}"),
            ));
        }
    }
    for (i, e) in b.exclusions.iter().enumerate() {
        if e.what.trim().is_empty() {
            return Err(AppError::invalid(
                &format!("exclusions[{i}].what"),
                "say what is excluded",
            ));
        }
        if e.reason.trim().is_empty() {
            return Err(AppError::invalid(
                &format!("exclusions[{i}].reason"),
                "an exclusion needs its reason",
            ));
        }
    }
    let text = |f: &str, v: &str| bounded(v, 2_000).map_err(|e| AppError::invalid(f, e));
    let (locations, units, parties) = (
        text("locations", &b.locations)?,
        text("units", &b.units)?,
        text("parties", &b.parties)?,
    );
    let before = scope(db).await?;
    if let (Some(v), Some(bf)) = (b.version, &before)
        && v != bf.version
    {
        return Err(AppError::Stale {
            current: bf.version,
        });
    }
    let services =
        serde_json::to_string(&b.service_ids).map_err(|e| AppError::Internal(e.into()))?;
    let exclusions =
        serde_json::to_string(&b.exclusions).map_err(|e| AppError::Internal(e.into()))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    tx.exec(Q::new("INSERT INTO sms_scope (id, statement, services, locations, units, parties, exclusions, version, updated_by, updated_at) VALUES (1, $1, $2, $3, $4, $5, $6, 1, $7, $8) \
            ON CONFLICT (id) DO UPDATE SET statement = excluded.statement, services = excluded.services, locations = excluded.locations, units = excluded.units, parties = excluded.parties, \
            exclusions = excluded.exclusions, version = sms_scope.version + 1, updated_by = excluded.updated_by, updated_at = excluded.updated_at")
        .bind(statement.as_str()).bind(services.as_str()).bind(locations.as_str()).bind(units.as_str()).bind(parties.as_str()).bind(exclusions.as_str()).bind(p.user_id).bind(now))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "update",
        "scope",
        "sms",
        diff(
            &[
                (
                    "statement",
                    json!(before.as_ref().map(|s| s.statement.clone())),
                ),
                (
                    "service_ids",
                    json!(before.as_ref().map(|s| s.service_ids.clone())),
                ),
                (
                    "exclusions",
                    json!(before.as_ref().map(|s| s.exclusions.clone())),
                ),
            ],
            &[
                ("statement", json!(statement)),
                ("service_ids", json!(b.service_ids)),
                ("exclusions", json!(b.exclusions)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    scope(db)
        .await?
        .ok_or_else(|| AppError::NotFound("scope".into()))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RaciEntry {
    /// A role, group or person.
    pub who: String,
    /// R, A, C or I.
    pub letter: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcessRaci {
    pub process: String,
    pub name: String,
    pub entries: Vec<RaciEntry>,
    /// What is wrong, if anything.
    pub problem: Option<String>,
}

pub async fn raci(db: &Db) -> AppResult<Vec<ProcessRaci>> {
    let rows: Vec<(String, String, String)> = db
        .all(Q::new(
            "SELECT process, who, letter FROM raci ORDER BY process, letter, who",
        ))
        .await?;
    let cat = catalogue::current();
    Ok(cat
        .processes
        .iter()
        .map(|p| {
            let entries: Vec<RaciEntry> = rows
                .iter()
                .filter(|r| r.0 == p.id)
                .map(|r| RaciEntry {
                    who: r.1.clone(),
                    letter: r.2.clone(),
                })
                .collect();
            ProcessRaci {
                problem: raci_problem(entries.iter().map(|e| e.letter.as_str())),
                process: p.id.clone(),
                name: p.name.clone(),
                entries,
            }
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaciBody {
    pub entries: Vec<RaciEntry>,
}

/// Replace a process's RACI; it must have exactly one accountable and someone responsible.
pub async fn set_raci(
    db: &Db,
    p: &Principal,
    process: &str,
    b: RaciBody,
) -> AppResult<ProcessRaci> {
    p.require(Action::ManageCompliance)?;
    let cat = catalogue::current();
    if cat.process(process).is_none() {
        return Err(AppError::NotFound(format!("process {process}")));
    }
    let mut seen = Vec::new();
    for (i, e) in b.entries.iter().enumerate() {
        let who = Line::parse(&e.who, 200)
            .map_err(|err| AppError::invalid(&format!("entries[{i}].who"), err))?;
        if !LETTERS.contains(&e.letter.as_str()) {
            return Err(AppError::invalid(
                &format!("entries[{i}].letter"),
                "must be R, A, C or I",
            ));
        }
        if seen.contains(&who.as_str().to_string()) {
            return Err(AppError::invalid(
                &format!("entries[{i}].who"),
                "listed twice",
            ));
        }
        seen.push(who.into_string());
    }
    if let Some(problem) = raci_problem(b.entries.iter().map(|e| e.letter.as_str())) {
        return Err(AppError::invalid("entries", problem));
    }
    let before: Vec<(String, String)> = db
        .all(Q::new("SELECT who, letter FROM raci WHERE process = $1 ORDER BY who").bind(process))
        .await?;
    let mut tx = db.begin().await?;
    tx.exec(Q::new("DELETE FROM raci WHERE process = $1").bind(process))
        .await?;
    for e in &b.entries {
        tx.exec(
            Q::new("INSERT INTO raci (process, who, letter) VALUES ($1, $2, $3)")
                .bind(process)
                .bind(e.who.trim())
                .bind(e.letter.as_str()),
        )
        .await?;
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "raci",
        process,
        diff(
            &[("entries", json!(before))],
            &[("entries", json!(b.entries))],
        ),
    )
    .await?;
    tx.commit().await?;
    raci(db)
        .await?
        .into_iter()
        .find(|r| r.process == process)
        .ok_or_else(|| AppError::NotFound(format!("process {process}")))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
#[schema(as = PlannedCommunication)]
pub struct Communication {
    pub id: i64,
    pub topic: String,
    pub audience: String,
    pub frequency: String,
    pub channel: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
}

pub async fn plan(db: &Db) -> AppResult<Vec<Communication>> {
    Ok(db
        .all(Q::new("SELECT c.id, c.topic, c.audience, c.frequency, c.channel, c.owner_id, u.name AS owner FROM communication_plan c LEFT JOIN users u ON u.id = c.owner_id WHERE c.active = 1 ORDER BY c.id"))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPlannedCommunication)]
pub struct NewCommunication {
    /// What is communicated.
    pub topic: String,
    pub audience: String,
    /// as_needed, daily, weekly, monthly, quarterly or yearly.
    pub frequency: String,
    #[serde(default)]
    pub channel: String,
    pub owner_id: Option<i64>,
}

pub async fn add_communication(
    db: &Db,
    p: &Principal,
    b: NewCommunication,
) -> AppResult<Communication> {
    p.require(Action::ManageCompliance)?;
    let topic = Line::parse(&b.topic, 200).map_err(|e| AppError::invalid("topic", e))?;
    let audience = Line::parse(&b.audience, 200).map_err(|e| AppError::invalid("audience", e))?;
    if !FREQUENCIES.contains(&b.frequency.as_str()) {
        return Err(AppError::invalid(
            "frequency",
            format!("must be one of: {}", FREQUENCIES.join(", ")),
        ));
    }
    let channel = bounded(&b.channel, 200).map_err(|e| AppError::invalid("channel", e))?;
    let owner = active_user(db, "owner_id", b.owner_id).await?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(Q::new("INSERT INTO communication_plan (topic, audience, frequency, channel, owner_id, active, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id")
            .bind(topic.as_str()).bind(audience.as_str()).bind(b.frequency.as_str()).bind(channel.as_str()).bind(owner).bind(now_ms()))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "communication",
        &id.to_string(),
        diff(
            &[],
            &[
                ("topic", json!(topic.as_str())),
                ("audience", json!(audience.as_str())),
                ("frequency", json!(b.frequency)),
                ("owner_id", json!(owner)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    plan(db)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::NotFound(format!("communication {id}")))
}

pub async fn remove_communication(db: &Db, p: &Principal, id: i64) -> AppResult<()> {
    p.require(Action::ManageCompliance)?;
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE communication_plan SET active = 0 WHERE id = $1 AND active = 1")
                .bind(id),
        )
        .await?;
    if n == 0 {
        return Err(AppError::NotFound(format!("communication {id}")));
    }
    append(
        &mut tx,
        &p.actor(),
        "retire",
        "communication",
        &id.to_string(),
        diff(&[("active", json!(true))], &[("active", json!(false))]),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The SMS scope (404 until it is stated).
#[utoipa::path(get, path = "/api/v1/scope", tag = "context", responses((status = 200, body = Scope), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_scope(State(st): State<AppState>, p: Principal) -> AppResult<Json<Scope>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(scope(&st.db).await?.ok_or_else(|| {
        AppError::NotFound("the scope (not stated yet)".into())
    })?))
}

/// State or restate the SMS scope.
#[utoipa::path(put, path = "/api/v1/scope", tag = "context", request_body = ScopeBody, responses((status = 200, body = Scope), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_set_scope(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<ScopeBody>,
) -> AppResult<Json<Scope>> {
    Ok(Json(set_scope(&st.db, &p, b).await?))
}

/// RACI per process.
#[utoipa::path(get, path = "/api/v1/raci", tag = "context", responses((status = 200, body = Vec<ProcessRaci>)), security(("bearer" = [])))]
pub async fn api_raci(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<ProcessRaci>>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(raci(&st.db).await?))
}

/// Replace one process's RACI.
#[utoipa::path(put, path = "/api/v1/raci/{process}", tag = "context", params(("process" = String, Path)), request_body = RaciBody, responses((status = 200, body = ProcessRaci), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_set_raci(
    State(st): State<AppState>,
    p: Principal,
    Path(process): Path<String>,
    ApiJson(b): ApiJson<RaciBody>,
) -> AppResult<Json<ProcessRaci>> {
    Ok(Json(set_raci(&st.db, &p, &process, b).await?))
}

/// The communication plan.
#[utoipa::path(get, path = "/api/v1/communication-plan", tag = "context", responses((status = 200, body = Vec<Communication>)), security(("bearer" = [])))]
pub async fn api_plan(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Communication>>> {
    p.require(Action::ReadCompliance)?;
    Ok(Json(plan(&st.db).await?))
}

/// Add a planned communication.
#[utoipa::path(post, path = "/api/v1/communication-plan", tag = "context", request_body = NewCommunication, responses((status = 201, body = Communication), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_add(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewCommunication>,
) -> AppResult<(StatusCode, Json<Communication>)> {
    Ok((
        StatusCode::CREATED,
        Json(add_communication(&st.db, &p, b).await?),
    ))
}

/// Take a communication off the plan.
#[utoipa::path(delete, path = "/api/v1/communication-plan/{id}", tag = "context", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_remove(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    remove_communication(&st.db, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "leadership",
    api: part_api,
    pages: super::leadership_ui::routes,
    templates: &[("sms.html", include_str!("../../templates/sms.html"))],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageCompliance,
            routes!(api_scope, api_set_scope),
        ))
        .routes(routes!(api_raci))
        .routes(gate(Action::ManageCompliance, routes!(api_set_raci)))
        .routes(gate(Action::ManageCompliance, routes!(api_plan, api_add)))
        .routes(gate(Action::ManageCompliance, routes!(api_remove)))
}
