//! Clause 8.6.2 — service request management: `/api/v1/requests` (the kernel's routes), request
//! types with their approval policy and staged fulfilment tasks, approval decisions and task
//! completion. The rules (lifecycle, "all approve", stage order) are in
//! `keel_core::operation::resolution::request`.

use crate::directory::exists;
use crate::kernel::api::{ItemView, require_read};
use crate::kernel::approvals::{self, Approval, Ask, Decision};
use crate::kernel::tasks::{self, Completion, Task};
use crate::kernel::{self, ItemRow, Patch, Scope};
use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::web::{AppState, as_bool};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::{FieldChange, diff};
use keel_core::kernel::Kind;
use keel_core::kernel::approval::Rule;
use keel_core::operation::resolution::request::APPROVERS;
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const K: Kind = keel_core::operation::resolution::request::KIND;

pub mod routes_mod {
    crate::work_item_routes! {
        kind: keel_core::operation::resolution::request::KIND,
        tag: "requests",
        list: "/api/v1/requests",
        one: "/api/v1/requests/{number}",
        history: "/api/v1/requests/{number}/history",
        comments: "/api/v1/requests/{number}/comments",
        links: "/api/v1/requests/{number}/links",
        attachments: "/api/v1/requests/{number}/attachments",
        attachment: "/api/v1/requests/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::operation::resolution::request::KIND,
        tag: "requests",
        sla: "/api/v1/requests/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::operation::resolution::request::KIND,
        tag: "requests",
        cis: "/api/v1/requests/{number}/cis",
        ci: "/api/v1/requests/{number}/cis/{ci_id}",
    }
}

// ---------------------------------------------------------------------------------------------
// Request types

pub use crate::kernel::tasks::TaskTemplate;

#[derive(Debug, Clone, sqlx::FromRow)]
struct TypeRow {
    id: i64,
    name: String,
    description: String,
    service_id: Option<i64>,
    approvers: String,
    approver_id: Option<i64>,
    tasks: String,
    active: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestType {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub service_id: Option<i64>,
    /// Who must approve: requester_manager, service_owner, named.
    pub approvers: Vec<String>,
    /// The approver for `named`.
    pub approver_id: Option<i64>,
    pub tasks: Vec<TaskTemplate>,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub active: i64,
}

impl From<TypeRow> for RequestType {
    fn from(r: TypeRow) -> Self {
        RequestType {
            id: r.id,
            name: r.name,
            description: r.description,
            service_id: r.service_id,
            approvers: r
                .approvers
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            approver_id: r.approver_id,
            tasks: serde_json::from_str(&r.tasks).unwrap_or_default(),
            active: r.active,
        }
    }
}

const TYPE_SQL: &str = "SELECT id, name, description, service_id, approvers, approver_id, tasks, active FROM request_types";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestType {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub service_id: Option<i64>,
    #[serde(default)]
    pub approvers: Vec<String>,
    pub approver_id: Option<i64>,
    #[serde(default)]
    pub tasks: Vec<TaskTemplate>,
}

pub async fn list_types(db: &Db) -> AppResult<Vec<RequestType>> {
    let rows: Vec<TypeRow> = db
        .all(Q::new(format!("{TYPE_SQL} WHERE active = 1 ORDER BY name")))
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn create_type(db: &Db, actor: &Actor, t: NewRequestType) -> AppResult<RequestType> {
    let name = Line::parse(&t.name, 100).map_err(|e| AppError::invalid("name", e))?;
    for a in &t.approvers {
        if !APPROVERS.contains(&a.as_str()) {
            return Err(AppError::invalid(
                "approvers",
                format!("`{a}` is not one of {}", APPROVERS.join(", ")),
            ));
        }
    }
    if t.approvers.iter().any(|a| a == "named") && t.approver_id.is_none() {
        return Err(AppError::invalid(
            "approver_id",
            "a named approval needs the approver",
        ));
    }
    if t.approvers.iter().any(|a| a == "service_owner") && t.service_id.is_none() {
        return Err(AppError::invalid(
            "service_id",
            "a service-owner approval needs the service",
        ));
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(s) = t.service_id {
        exists(&mut tx, "services", s, "service_id").await?;
    }
    if let Some(u) = t.approver_id {
        exists(&mut tx, "users", u, "approver_id").await?;
    }
    crate::kernel::tasks::check_templates(&mut tx, &t.tasks, "tasks").await?;
    let tasks = serde_json::to_string(&t.tasks).map_err(|e| AppError::Internal(e.into()))?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO request_types (name, description, service_id, approvers, approver_id, tasks, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING id")
                .bind(name.as_str())
                .bind(t.description.as_str())
                .bind(t.service_id)
                .bind(t.approvers.join(","))
                .bind(t.approver_id)
                .bind(tasks.as_str())
                .bind(now),
        )
        .await
        .map_err(|e| match e {
            crate::platform::db::DbError::Unique(_) => AppError::Conflict("a request type with that name exists".into()),
            e => e.into(),
        })?;
    append(
        &mut tx,
        actor,
        "create",
        "request_type",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("service_id", json!(t.service_id)),
                ("approvers", json!(t.approvers)),
                ("approver_id", json!(t.approver_id)),
                ("tasks", json!(t.tasks)),
            ],
        ),
    )
    .await?;
    let row: TypeRow = tx
        .one(Q::new(format!("{TYPE_SQL} WHERE id = $1")).bind(id))
        .await?;
    tx.commit().await?;
    Ok(row.into())
}

/// Request types on offer.
#[utoipa::path(get, path = "/api/v1/request-types", tag = "requests", responses((status = 200, body = Vec<RequestType>)), security(("bearer" = [])))]
pub async fn api_list_types(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<RequestType>>> {
    p.require(Action::ReadWorkItems)?;
    Ok(Json(list_types(&st.db).await?))
}

/// Define a request type: its approvals and its staged fulfilment tasks.
#[utoipa::path(post, path = "/api/v1/request-types", tag = "requests", request_body = NewRequestType,
    responses((status = 201, body = RequestType), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_type(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewRequestType>,
) -> AppResult<(StatusCode, Json<RequestType>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(create_type(&st.db, &p.actor(), b).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Raising a request

/// Before a request is created: its `details.request_type` names an active type.
pub async fn check_draft(db: &Db, details: &serde_json::Map<String, Value>) -> AppResult<()> {
    let bad = |d: &str| AppError::invalid("details.request_type", d.to_string());
    let raw = details
        .get("request_type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("choose the request type (its id, from /api/v1/request-types)"))?;
    let id: i64 = raw
        .parse()
        .map_err(|_| bad("must be a request type's id"))?;
    let row: Option<(i64,)> = db
        .opt(Q::new("SELECT id FROM request_types WHERE id = $1 AND active = 1").bind(id))
        .await?;
    row.map(|_| ())
        .ok_or_else(|| bad("no active request type with that id"))
}

async fn type_of(tx: &mut Tx, item: &ItemRow) -> AppResult<TypeRow> {
    let id: i64 = item
        .details_map()
        .get("request_type")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| AppError::Conflict(format!("{} has no request type", item.number)))?;
    Ok(tx
        .one(Q::new(format!("{TYPE_SQL} WHERE id = $1")).bind(id))
        .await?)
}

/// Raise a request outside the API's create (the web form): check, create, start.
pub async fn raise(db: &Db, p: &Principal, input: kernel::NewItem) -> AppResult<ItemRow> {
    check_draft(db, &input.details).await?;
    let row = kernel::create(db, K, &p.actor(), p, input).await?;
    start(db, &row.number, &p.actor()).await
}

/// After a request is created: ask for its approvals, or go straight to fulfilment.
pub async fn start(db: &Db, number: &str, actor: &Actor) -> AppResult<ItemRow> {
    let item = kernel::get(db, K, number, Scope::All).await?;
    let mut tx = db.begin().await?;
    let t = type_of(&mut tx, &item).await?;
    let mut approvers: Vec<(String, i64)> = vec![];
    for basis in t.approvers.split(',').filter(|s| !s.is_empty()) {
        let who: Option<i64> = match basis {
            "requester_manager" => match item.requester_id {
                Some(r) => {
                    tx.one::<(Option<i64>,)>(
                        Q::new("SELECT manager_id FROM users WHERE id = $1").bind(r),
                    )
                    .await?
                    .0
                }
                None => None,
            },
            "service_owner" => match t.service_id {
                Some(s) => {
                    tx.one::<(Option<i64>,)>(
                        Q::new("SELECT owner_id FROM services WHERE id = $1").bind(s),
                    )
                    .await?
                    .0
                }
                None => None,
            },
            _ => t.approver_id,
        };
        // Nobody to ask (no manager on record): the step is skipped, and said so in the audit.
        match who {
            Some(u) => approvers.push((basis.to_string(), u)),
            None => {
                append(
                    &mut tx,
                    actor,
                    "approval.skipped",
                    K.as_str(),
                    &item.number,
                    vec![FieldChange {
                        field: basis.into(),
                        old: Value::Null,
                        new: json!("no approver on record"),
                    }],
                )
                .await?;
            }
        }
    }
    let asks: Vec<Ask> = approvers
        .iter()
        .map(|(basis, u)| Ask {
            basis: basis.clone(),
            rule: Rule::All,
            approvers: vec![*u],
        })
        .collect();
    approvals::ask(&mut tx, &item, &asks).await?;
    tx.commit().await?;
    let to = if approvers.is_empty() {
        "in_fulfilment"
    } else {
        "awaiting_approval"
    };
    kernel::update(
        db,
        K,
        number,
        Scope::All,
        actor,
        Patch {
            state: Some(to.into()),
            ..Default::default()
        },
        None,
    )
    .await
}

/// Rules of a request's state changes, inside the change's transaction: fulfilled only when
/// every task is done; entering fulfilment opens the first stage's tasks.
pub async fn on_move(tx: &mut Tx, item: &ItemRow, to: &str) -> AppResult<()> {
    match to {
        "fulfilled" => {
            let open = tasks::open_count(tx, item).await?;
            if open > 0 {
                return Err(AppError::invalid(
                    "tasks",
                    format!("{open} fulfilment task(s) are not done yet"),
                ));
            }
        }
        "in_fulfilment" => {
            let t = type_of(tx, item).await?;
            let templates: Vec<TaskTemplate> = serde_json::from_str(&t.tasks).unwrap_or_default();
            tasks::instantiate(tx, item, &templates).await?;
            tasks::open_next_stage(tx, item).await?;
        }
        "cancelled" | "rejected" => tasks::cancel_open(tx, item).await?,
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Approvals

/// A request's approvals.
#[utoipa::path(get, path = "/api/v1/requests/{number}/approvals", tag = "requests", params(("number" = String, Path)),
    responses((status = 200, body = Vec<Approval>)), security(("bearer" = [])))]
pub async fn api_approvals(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Vec<Approval>>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(approvals::list(&st.db, &item).await?))
}

/// Approve or reject (the approver).
#[utoipa::path(post, path = "/api/v1/requests/{number}/approvals/{id}", tag = "requests", params(("number" = String, Path), ("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = ItemView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_decide(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<Decision>,
) -> AppResult<axum::response::Response> {
    p.require(Action::ReadWorkItems)?;
    let row = approvals::decide(&st.db, &p, K, &number, id, b).await?;
    Ok(kernel::api::item_response(StatusCode::OK, row))
}

// ---------------------------------------------------------------------------------------------
// Fulfilment tasks

/// A request's fulfilment tasks, by stage.
#[utoipa::path(get, path = "/api/v1/requests/{number}/tasks", tag = "requests", params(("number" = String, Path)),
    responses((status = 200, body = Vec<Task>)), security(("bearer" = [])))]
pub async fn api_tasks(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Vec<Task>>> {
    require_read(&p, K)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(tasks::list(&st.db, &item).await?))
}

/// Complete a task.
#[utoipa::path(post, path = "/api/v1/requests/{number}/tasks/{id}/complete", tag = "requests", params(("number" = String, Path), ("id" = i64, Path)), request_body = Completion,
    responses((status = 200, body = ItemView), (status = 403, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_complete(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<Completion>,
) -> AppResult<axum::response::Response> {
    let row = tasks::complete(&st.db, &p, K, &number, id, b).await?;
    Ok(kernel::api::item_response(StatusCode::OK, row))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "requests",
    api: part_api,
    pages: super::request_ui::pages,
    templates: &[(
        "request_types.html",
        include_str!("../../../templates/request_types.html"),
    )],
    tags: &[(
        "requests",
        "Service request management (ISO/IEC 20000-1 8.6.2)",
    )],
    nav: &[
        crate::platform::part::Nav {
            order: 20,
            label: "Requests",
            requester_label: Some("My requests"),
            href: "/requests",
            shown: |_| true,
        },
        crate::platform::part::Nav {
            order: 190,
            label: "New request",
            requester_label: Some("Ask for something"),
            href: "/requests/new",
            shown: |p| p.can(keel_core::access::Action::CreateIncident),
        },
    ],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .merge(routes_mod::routes::router())
        .routes(gate(
            Action::ManageReference,
            routes!(api_list_types, api_create_type),
        ))
        .routes(routes!(api_approvals))
        .routes(gate(Action::ReadWorkItems, routes!(api_decide)))
        .routes(routes!(api_tasks))
        .routes(gate(Action::UpdateWorkItems, routes!(api_complete)))
        .merge(routes_mod::clock_routes::router())
        .merge(routes_mod::ci_routes::router())
}

/// Service requests as a kind of work item: checked against their type when raised, approvals
/// asked or tasks opened after, fulfilled only when every task is done.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(K),
    check: Some(|db, details| Box::pin(check_draft(db, details))),
    start: Some(|db, number, actor| Box::pin(start(db, number, actor))),
    moving: Some(|tx, _, before, after, _| Box::pin(on_move(tx, before, &after.state))),
    choices: Some(|st| Box::pin(type_choices(st))),
    pages: crate::kernel::process::Pages {
        for_requesters: Some(("Requests", "Ask for something")),
        list_links: &[("Request types", "/request-types")],
        ..crate::kernel::process::Pages::PLAIN
    },
    ..crate::kernel::process::Process::NONE
};

/// The active request types, as the raising page offers them.
async fn type_choices(
    st: &crate::platform::web::AppState,
) -> AppResult<Vec<(&'static str, Vec<(String, String)>)>> {
    let types = list_types(&st.db).await?;
    Ok(vec![(
        "request_type",
        types
            .into_iter()
            .map(|t| (t.id.to_string(), t.name))
            .collect(),
    )])
}
