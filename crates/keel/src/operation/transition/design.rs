//! Clause 8.5.2 — service design and transition: a design `SD-…` for a new or changed service
//! (from the portfolio's service plans) with its resources, capabilities, service level targets
//! and dependencies; acceptance criteria and their test results; the transition plan and its
//! tasks. Accepting the design — every criterion passed, every task done — takes a pipeline
//! service live; while a design is open, the service cannot be put live by hand.

use crate::directory::exists;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::{FieldChange, diff};
use keel_core::operation::transition::design::{LIFECYCLE, RESULTS, unmet};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    number: String,
    service_id: i64,
    service_name: String,
    service_stage: String,
    plan_id: Option<i64>,
    title: String,
    state: String,
    resources: String,
    capabilities: String,
    service_levels: String,
    dependencies: String,
    transition_plan: String,
    version: i64,
}

const SQL: &str = "SELECT d.id, d.number, d.service_id, s.name AS service_name, s.stage AS service_stage, d.plan_id, d.title, d.state, d.resources, d.capabilities, \
    d.service_levels, d.dependencies, d.transition_plan, d.version FROM service_designs d JOIN services s ON s.id = d.service_id";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Criterion {
    pub id: i64,
    pub criterion: String,
    /// pending, passed or failed.
    pub result: String,
    pub notes: Option<String>,
    pub tested_by: Option<String>,
    #[serde(skip)]
    pub tested_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TransitionTask {
    pub id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub due_date: Option<String>,
    /// open or done.
    pub state: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Design {
    pub number: String,
    pub service_id: i64,
    pub service: String,
    pub service_stage: String,
    pub plan_id: Option<i64>,
    pub title: String,
    pub state: String,
    pub next_states: Vec<String>,
    pub resources: String,
    pub capabilities: String,
    pub service_levels: String,
    pub dependencies: String,
    pub transition_plan: String,
    pub version: i64,
    pub criteria: Vec<Criterion>,
    pub tasks: Vec<TransitionTask>,
    /// What still stands between the design and acceptance.
    pub unmet: Vec<String>,
}

async fn row(db: &Db, number: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{SQL} WHERE d.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("service design {number}")))
}

pub async fn get(db: &Db, number: &str) -> AppResult<Design> {
    let r = row(db, number).await?;
    let criteria: Vec<Criterion> = db
        .all(Q::new("SELECT c.id, c.criterion, c.result, c.notes, u.name AS tested_by, c.tested_at FROM design_criteria c LEFT JOIN users u ON u.id = c.tested_by WHERE c.design_id = $1 ORDER BY c.id").bind(r.id))
        .await?;
    let tasks: Vec<TransitionTask> = db
        .all(Q::new("SELECT t.id, t.name, t.owner_id, u.name AS owner, t.due_date, t.state FROM design_tasks t LEFT JOIN users u ON u.id = t.owner_id WHERE t.design_id = $1 ORDER BY t.id").bind(r.id))
        .await?;
    let open = tasks.iter().filter(|t| t.state != "done").count();
    let mut missing = unmet(
        criteria
            .iter()
            .map(|c| (c.criterion.as_str(), c.result.as_str())),
        open,
    );
    if criteria.is_empty() {
        missing.insert(0, "no acceptance criteria yet".into());
    }
    Ok(Design {
        next_states: LIFECYCLE
            .next_states(&r.state)
            .into_iter()
            .map(String::from)
            .collect(),
        number: r.number,
        service_id: r.service_id,
        service: r.service_name,
        service_stage: r.service_stage,
        plan_id: r.plan_id,
        title: r.title,
        state: r.state,
        resources: r.resources,
        capabilities: r.capabilities,
        service_levels: r.service_levels,
        dependencies: r.dependencies,
        transition_plan: r.transition_plan,
        version: r.version,
        criteria,
        tasks,
        unmet: missing,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct DesignSummary {
    pub number: String,
    pub title: String,
    pub service: String,
    pub state: String,
    #[serde(skip)]
    pub updated_ms: i64,
    #[sqlx(skip)]
    pub updated_at: String,
}

pub async fn list(db: &Db) -> AppResult<Vec<DesignSummary>> {
    let mut rows: Vec<DesignSummary> = db
        .all(Q::new("SELECT d.number, d.title, s.name AS service, d.state, d.updated_at AS updated_ms FROM service_designs d JOIN services s ON s.id = d.service_id ORDER BY d.id DESC LIMIT 500"))
        .await?;
    for r in &mut rows {
        r.updated_at = iso(r.updated_ms);
    }
    Ok(rows)
}

/// Refuse taking a pipeline service live by hand while a design for it is open: its acceptance
/// takes it live (8.5.2).
pub async fn check_may_go_live(tx: &mut Tx, service_id: i64) -> AppResult<()> {
    let open: Option<(String,)> = tx
        .opt(Q::new("SELECT number FROM service_designs WHERE service_id = $1 AND state NOT IN ('accepted', 'cancelled') ORDER BY id LIMIT 1").bind(service_id))
        .await?;
    match open {
        Some((n,)) => Err(AppError::Conflict(format!(
            "the service goes live when its design {n} is accepted (every acceptance criterion passed)"
        ))),
        None => Ok(()),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignBody {
    pub service_id: Option<i64>,
    /// The service plan it designs (`SP-…`'s id).
    pub plan_id: Option<i64>,
    pub title: Option<String>,
    pub resources: Option<String>,
    pub capabilities: Option<String>,
    pub service_levels: Option<String>,
    pub dependencies: Option<String>,
    pub transition_plan: Option<String>,
    /// Acceptance criteria to add (each pending until tested).
    #[serde(default)]
    pub acceptance_criteria: Vec<String>,
    /// draft → approved → in_transition → accepted, or cancelled.
    pub state: Option<String>,
    pub version: Option<i64>,
}

fn long(field: &str, v: &Option<String>, current: &str) -> AppResult<String> {
    match v {
        Some(t) => Ok(bounded(t, 20_000)
            .map_err(|e| AppError::invalid(field, e))?
            .trim()
            .to_string()),
        None => Ok(current.to_string()),
    }
}

async fn add_criteria(tx: &mut Tx, id: i64, criteria: &[String]) -> AppResult<()> {
    for (i, c) in criteria.iter().enumerate() {
        let c = Line::parse(c, 500)
            .map_err(|e| AppError::invalid(&format!("acceptance_criteria[{i}]"), e))?;
        tx.exec(Q::new("INSERT INTO design_criteria (design_id, criterion, result) VALUES ($1, $2, 'pending')").bind(id).bind(c.as_str()))
            .await?;
    }
    Ok(())
}

pub async fn create(db: &Db, p: &Principal, b: DesignBody) -> AppResult<Design> {
    p.require(Action::ManageReference)?;
    let service = b
        .service_id
        .ok_or_else(|| AppError::invalid("service_id", "name the service designed"))?;
    let title = Line::parse(b.title.as_deref().unwrap_or(""), 200)
        .map_err(|e| AppError::invalid("title", e))?;
    let mut tx = db.begin().await?;
    exists(&mut tx, "services", service, "service_id").await?;
    if let Some(pl) = b.plan_id {
        let ok: Option<(i64,)> = tx
            .opt(
                Q::new("SELECT id FROM service_plans WHERE id = $1 AND service_id = $2")
                    .bind(pl)
                    .bind(service),
            )
            .await?;
        if ok.is_none() {
            return Err(AppError::invalid(
                "plan_id",
                "no plan of that service with that id",
            ));
        }
    }
    let number = next_number(&mut tx, "service_design", "SD").await?;
    let now = now_ms();
    let fields = [
        long("resources", &b.resources, "")?,
        long("capabilities", &b.capabilities, "")?,
        long("service_levels", &b.service_levels, "")?,
        long("dependencies", &b.dependencies, "")?,
        long("transition_plan", &b.transition_plan, "")?,
    ];
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO service_designs (number, service_id, plan_id, title, state, resources, capabilities, service_levels, dependencies, transition_plan, created_by, created_at, updated_at) \
                    VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id")
                .bind(number.as_str())
                .bind(service)
                .bind(b.plan_id)
                .bind(title.as_str())
                .bind(fields[0].as_str())
                .bind(fields[1].as_str())
                .bind(fields[2].as_str())
                .bind(fields[3].as_str())
                .bind(fields[4].as_str())
                .bind(p.user_id)
                .bind(now),
        )
        .await?;
    add_criteria(&mut tx, id, &b.acceptance_criteria).await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "service_design",
        &number,
        diff(
            &[],
            &[
                ("service_id", json!(service)),
                ("plan_id", json!(b.plan_id)),
                ("title", json!(title.as_str())),
                ("resources", json!(fields[0])),
                ("capabilities", json!(fields[1])),
                ("service_levels", json!(fields[2])),
                ("dependencies", json!(fields[3])),
                ("transition_plan", json!(fields[4])),
                ("acceptance_criteria", json!(b.acceptance_criteria)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &number).await
}

pub async fn update(db: &Db, p: &Principal, number: &str, b: DesignBody) -> AppResult<Design> {
    p.require(Action::ManageReference)?;
    if b.service_id.is_some() || b.plan_id.is_some() {
        return Err(AppError::invalid(
            "service_id",
            "a design stays with its service and plan",
        ));
    }
    let before = row(db, number).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let current = get(db, number).await?;
    let title = match &b.title {
        Some(t) => Line::parse(t, 200)
            .map_err(|e| AppError::invalid("title", e))?
            .into_string(),
        None => before.title.clone(),
    };
    let fields = [
        long("resources", &b.resources, &before.resources)?,
        long("capabilities", &b.capabilities, &before.capabilities)?,
        long("service_levels", &b.service_levels, &before.service_levels)?,
        long("dependencies", &b.dependencies, &before.dependencies)?,
        long(
            "transition_plan",
            &b.transition_plan,
            &before.transition_plan,
        )?,
    ];
    let has_criteria = !current.criteria.is_empty() || !b.acceptance_criteria.is_empty();
    let state = match b.state.as_deref().filter(|s| *s != before.state) {
        Some(to) => LIFECYCLE
            .check(&before.state, to, |f| {
                f == "acceptance_criteria" && has_criteria
            })?
            .to_string(),
        None => before.state.clone(),
    };
    if state == "accepted" && before.state != "accepted" && !current.unmet.is_empty() {
        return Err(AppError::Conflict(format!(
            "{number} cannot be accepted yet: {}",
            current.unmet.join("; ")
        )));
    }
    if !b.acceptance_criteria.is_empty() && !matches!(before.state.as_str(), "draft" | "approved") {
        return Err(AppError::Conflict(format!(
            "{number} is {}: its criteria are fixed",
            before.state
        )));
    }
    let mut tx = db.begin().await?;
    let going_live =
        state == "accepted" && before.state != "accepted" && before.service_stage == "pipeline";
    if going_live {
        // The CMDB revision first: portfolio writes take it before the audit (see `service`).
        crate::operation::portfolio::graph::record(&mut tx, &[], &[]).await?;
    }
    let n = tx
        .exec(
            Q::new("UPDATE service_designs SET title = $1, state = $2, resources = $3, capabilities = $4, service_levels = $5, dependencies = $6, transition_plan = $7, \
                    version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10")
                .bind(title.as_str())
                .bind(state.as_str())
                .bind(fields[0].as_str())
                .bind(fields[1].as_str())
                .bind(fields[2].as_str())
                .bind(fields[3].as_str())
                .bind(fields[4].as_str())
                .bind(now_ms())
                .bind(before.id)
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    add_criteria(&mut tx, before.id, &b.acceptance_criteria).await?;
    let mut changes = diff(
        &[
            ("title", json!(before.title)),
            ("state", json!(before.state)),
            ("resources", json!(before.resources)),
            ("capabilities", json!(before.capabilities)),
            ("service_levels", json!(before.service_levels)),
            ("dependencies", json!(before.dependencies)),
            ("transition_plan", json!(before.transition_plan)),
        ],
        &[
            ("title", json!(title)),
            ("state", json!(state)),
            ("resources", json!(fields[0])),
            ("capabilities", json!(fields[1])),
            ("service_levels", json!(fields[2])),
            ("dependencies", json!(fields[3])),
            ("transition_plan", json!(fields[4])),
        ],
    );
    if !b.acceptance_criteria.is_empty() {
        changes.push(FieldChange {
            field: "acceptance_criteria".into(),
            old: Value::Null,
            new: json!(b.acceptance_criteria),
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "service_design",
        number,
        changes,
    )
    .await?;
    if going_live {
        tx.exec(
            Q::new("UPDATE services SET stage = 'live', version = version + 1, updated_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(before.service_id),
        )
        .await?;
        append(
            &mut tx,
            &p.actor(),
            "update",
            "service",
            &before.service_id.to_string(),
            vec![
                FieldChange {
                    field: "stage".into(),
                    old: json!("pipeline"),
                    new: json!("live"),
                },
                FieldChange {
                    field: "by".into(),
                    old: Value::Null,
                    new: json!(number),
                },
            ],
        )
        .await?;
    }
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultBody {
    /// passed or failed.
    pub result: String,
    pub notes: Option<String>,
}

/// Record an acceptance test result for one criterion.
pub async fn record_result(
    db: &Db,
    p: &Principal,
    number: &str,
    criterion: i64,
    b: ResultBody,
) -> AppResult<Design> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    if !RESULTS[1..].contains(&b.result.as_str()) {
        return Err(AppError::invalid("result", "must be passed or failed"));
    }
    let r = row(db, number).await?;
    if !matches!(r.state.as_str(), "approved" | "in_transition") {
        return Err(AppError::Conflict(format!(
            "{number} is {}: acceptance tests run once it is approved",
            r.state
        )));
    }
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE design_criteria SET result = $1, notes = $2, tested_by = $3, tested_at = $4 WHERE id = $5 AND design_id = $6")
                .bind(b.result.as_str())
                .bind(b.notes.clone())
                .bind(p.user_id)
                .bind(now_ms())
                .bind(criterion)
                .bind(r.id),
        )
        .await?;
    if n == 0 {
        return Err(AppError::NotFound(format!(
            "criterion {criterion} of {number}"
        )));
    }
    append(
        &mut tx,
        &p.actor(),
        "acceptance_test",
        "service_design",
        number,
        vec![FieldChange {
            field: format!("criterion.{criterion}"),
            old: Value::Null,
            new: json!({"result": b.result, "notes": b.notes}),
        }],
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub name: String,
    pub owner_id: Option<i64>,
    /// YYYY-MM-DD.
    pub due_date: Option<String>,
}

/// Add a task to the transition plan.
pub async fn add_task(db: &Db, p: &Principal, number: &str, b: NewTask) -> AppResult<Design> {
    p.require(Action::ManageReference)?;
    let name = Line::parse(&b.name, 200).map_err(|e| AppError::invalid("name", e))?;
    if let Some(d) = &b.due_date {
        d.parse::<jiff::civil::Date>()
            .map_err(|_| AppError::invalid("due_date", "must be YYYY-MM-DD"))?;
    }
    let r = row(db, number).await?;
    if matches!(r.state.as_str(), "accepted" | "cancelled") {
        return Err(AppError::Conflict(format!("{number} is {}", r.state)));
    }
    let mut tx = db.begin().await?;
    if let Some(o) = b.owner_id {
        exists(&mut tx, "users", o, "owner_id").await?;
    }
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO design_tasks (design_id, name, owner_id, due_date, state) VALUES ($1, $2, $3, $4, 'open') RETURNING id")
                .bind(r.id)
                .bind(name.as_str())
                .bind(b.owner_id)
                .bind(b.due_date.clone()),
        )
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "task.add",
        "service_design",
        number,
        vec![FieldChange {
            field: format!("task.{id}"),
            old: Value::Null,
            new: json!({"name": name.as_str(), "owner_id": b.owner_id, "due_date": b.due_date}),
        }],
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

/// Mark a transition task done.
pub async fn complete_task(db: &Db, p: &Principal, number: &str, task: i64) -> AppResult<Design> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    let r = row(db, number).await?;
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE design_tasks SET state = 'done', done_by = $1, done_at = $2 WHERE id = $3 AND design_id = $4 AND state = 'open'")
                .bind(p.user_id)
                .bind(now_ms())
                .bind(task)
                .bind(r.id),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Conflict(format!(
            "task {task} of {number} is not open"
        )));
    }
    append(
        &mut tx,
        &p.actor(),
        "task.complete",
        "service_design",
        number,
        vec![FieldChange {
            field: format!("task.{task}"),
            old: json!("open"),
            new: json!("done"),
        }],
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

/// Service designs, newest first.
#[utoipa::path(get, path = "/api/v1/service-designs", tag = "service-designs", responses((status = 200, body = Vec<DesignSummary>)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<DesignSummary>>> {
    super::staff_read(&p)?;
    Ok(Json(list(&st.db).await?))
}

/// Design a new or changed service.
#[utoipa::path(post, path = "/api/v1/service-designs", tag = "service-designs", request_body = DesignBody,
    responses((status = 201, body = Design), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<DesignBody>,
) -> AppResult<(StatusCode, Json<Design>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One design with its criteria, tasks and what stands between it and acceptance.
#[utoipa::path(get, path = "/api/v1/service-designs/{number}", tag = "service-designs", params(("number" = String, Path)),
    responses((status = 200, body = Design), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Design>> {
    super::staff_read(&p)?;
    Ok(Json(get(&st.db, &number).await?))
}

/// Change a design, add criteria, or move it on (accepting takes a pipeline service live).
#[utoipa::path(patch, path = "/api/v1/service-designs/{number}", tag = "service-designs", params(("number" = String, Path)), request_body = DesignBody,
    responses((status = 200, body = Design), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<DesignBody>,
) -> AppResult<Json<Design>> {
    Ok(Json(update(&st.db, &p, &number, b).await?))
}

/// Record an acceptance test result.
#[utoipa::path(post, path = "/api/v1/service-designs/{number}/criteria/{id}", tag = "service-designs", params(("number" = String, Path), ("id" = i64, Path)), request_body = ResultBody,
    responses((status = 200, body = Design), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_result(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<ResultBody>,
) -> AppResult<Json<Design>> {
    Ok(Json(record_result(&st.db, &p, &number, id, b).await?))
}

/// Add a transition task.
#[utoipa::path(post, path = "/api/v1/service-designs/{number}/tasks", tag = "service-designs", params(("number" = String, Path)), request_body = NewTask,
    responses((status = 201, body = Design), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_add_task(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<NewTask>,
) -> AppResult<(StatusCode, Json<Design>)> {
    Ok((
        StatusCode::CREATED,
        Json(add_task(&st.db, &p, &number, b).await?),
    ))
}

/// Mark a transition task done.
#[utoipa::path(post, path = "/api/v1/service-designs/{number}/tasks/{id}/complete", tag = "service-designs", params(("number" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Design), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_complete_task(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
) -> AppResult<Json<Design>> {
    Ok(Json(complete_task(&st.db, &p, &number, id).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "service designs",
    api: part_api,
    pages: super::ui::design_routes,
    templates: &[
        (
            "designs.html",
            include_str!("../../../templates/designs.html"),
        ),
        (
            "design.html",
            include_str!("../../../templates/design.html"),
        ),
    ],
    tags: &[(
        "service-designs",
        "Service design and transition: designs, acceptance criteria and tests, transition tasks (8.5.2)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(Action::ManageReference, routes!(api_list, api_create)))
        .routes(gate(Action::ManageReference, routes!(api_get, api_update)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_result)))
        .routes(gate(Action::ManageReference, routes!(api_add_task)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_complete_task)))
}
