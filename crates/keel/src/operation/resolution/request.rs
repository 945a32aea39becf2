//! Clause 8.6.2 — service request management: `/api/v1/requests` (the kernel's routes), request
//! types with their approval policy and staged fulfilment tasks, approval decisions and task
//! completion. The rules (lifecycle, "all approve", stage order) are in
//! `keel_core::operation::resolution::request`.

use crate::directory::exists;
use crate::kernel::api::{ItemView, require_read};
use crate::kernel::{self, ItemRow, Patch, Scope};
use crate::management::support::audit_trail::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::outbox::{self, Event};
use crate::platform::web::{AppState, as_bool};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::kernel::Kind;
use keel_core::management::support::audit_trail::{FieldChange, diff};
use keel_core::operation::resolution::request::{APPROVERS, Outcome, open_stage, outcome};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const K: Kind = Kind::Request;

pub mod routes_mod {
    crate::work_item_routes! {
        kind: Kind::Request,
        tag: "requests",
        list: "/api/v1/requests",
        one: "/api/v1/requests/{number}",
        history: "/api/v1/requests/{number}/history",
        sla: "/api/v1/requests/{number}/sla",
        comments: "/api/v1/requests/{number}/comments",
        links: "/api/v1/requests/{number}/links",
        attachments: "/api/v1/requests/{number}/attachments",
        attachment: "/api/v1/requests/{number}/attachments/{id}",
        cis: "/api/v1/requests/{number}/cis",
        ci: "/api/v1/requests/{number}/cis/{ci_id}",
    }
}

// ---------------------------------------------------------------------------------------------
// Request types

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    pub name: String,
    /// The group that fulfils it.
    pub group_id: Option<i64>,
    /// Tasks of one stage run in parallel; stage 2 opens when stage 1 is done.
    pub stage: i64,
}

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
    for (i, task) in t.tasks.iter().enumerate() {
        Line::parse(&task.name, 200)
            .map_err(|e| AppError::invalid(&format!("tasks[{i}].name"), e))?;
        if !(1..=20).contains(&task.stage) {
            return Err(AppError::invalid(
                &format!("tasks[{i}].stage"),
                "must be between 1 and 20",
            ));
        }
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(s) = t.service_id {
        exists(&mut tx, "services", s, "service_id").await?;
    }
    if let Some(u) = t.approver_id {
        exists(&mut tx, "users", u, "approver_id").await?;
    }
    for (i, task) in t.tasks.iter().enumerate() {
        if let Some(g) = task.group_id {
            exists(
                &mut tx,
                "support_groups",
                g,
                &format!("tasks[{i}].group_id"),
            )
            .await?;
        }
    }
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
    let now = now_ms();
    for (basis, u) in &approvers {
        tx.exec(
            Q::new("INSERT INTO approvals (item_id, basis, approver_id, decision, created_at) VALUES ($1, $2, $3, 'pending', $4)")
                .bind(item.id)
                .bind(basis.as_str())
                .bind(*u)
                .bind(now),
        )
        .await?;
    }
    if !approvers.is_empty() {
        outbox::emit(
            &mut tx,
            Event {
                event: "approval.requested",
                item_id: Some(item.id),
                title: format!("{} needs your approval: {}", item.number, item.title),
                payload: json!({"number": item.number}),
                recipients: approvers.iter().map(|(_, u)| *u).collect(),
            },
        )
        .await?;
    }
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
            let (open,): (i64,) = tx
                .one(Q::new("SELECT COUNT(*) FROM request_tasks WHERE item_id = $1 AND state <> 'done' AND state <> 'cancelled'").bind(item.id))
                .await?;
            if open > 0 {
                return Err(AppError::invalid(
                    "tasks",
                    format!("{open} fulfilment task(s) are not done yet"),
                ));
            }
        }
        "in_fulfilment" => {
            let (n,): (i64,) = tx
                .one(Q::new("SELECT COUNT(*) FROM request_tasks WHERE item_id = $1").bind(item.id))
                .await?;
            if n == 0 {
                let t = type_of(tx, item).await?;
                let templates: Vec<TaskTemplate> =
                    serde_json::from_str(&t.tasks).unwrap_or_default();
                let now = now_ms();
                for task in &templates {
                    tx.exec(
                        Q::new("INSERT INTO request_tasks (item_id, stage, name, group_id, state, created_at) VALUES ($1, $2, $3, $4, 'pending', $5)")
                            .bind(item.id)
                            .bind(task.stage)
                            .bind(task.name.as_str())
                            .bind(task.group_id)
                            .bind(now),
                    )
                    .await?;
                }
            }
            open_next_stage(tx, item).await?;
        }
        "cancelled" | "rejected" => {
            tx.exec(Q::new("UPDATE request_tasks SET state = 'cancelled' WHERE item_id = $1 AND state IN ('pending', 'open')").bind(item.id)).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Open the tasks of the lowest unfinished stage and tell their groups.
async fn open_next_stage(tx: &mut Tx, item: &ItemRow) -> AppResult<Option<i64>> {
    let tasks: Vec<(i64, String)> = tx
        .all(Q::new("SELECT stage, state FROM request_tasks WHERE item_id = $1 AND state <> 'cancelled'").bind(item.id))
        .await?;
    let stages: Vec<(i64, bool)> = tasks.iter().map(|(s, st)| (*s, st == "done")).collect();
    let Some(stage) = open_stage(&stages) else {
        return Ok(None);
    };
    let opened: Vec<(i64, String, Option<i64>)> = tx
        .all(Q::new("UPDATE request_tasks SET state = 'open' WHERE item_id = $1 AND stage = $2 AND state = 'pending' RETURNING id, name, group_id").bind(item.id).bind(stage))
        .await?;
    for (_, name, group) in opened {
        if let Some(g) = group {
            let members = outbox::group_members(tx, g).await?;
            outbox::emit(
                tx,
                Event {
                    event: "task.assigned",
                    item_id: Some(item.id),
                    title: format!("{}: task “{name}” is yours to do", item.number),
                    payload: json!({"number": item.number, "task": name}),
                    recipients: members,
                },
            )
            .await?;
        }
    }
    Ok(Some(stage))
}

// ---------------------------------------------------------------------------------------------
// Approvals

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Approval {
    pub id: i64,
    /// requester_manager, service_owner or named.
    pub basis: String,
    pub approver_id: i64,
    pub approver: String,
    /// pending, approved or rejected.
    pub decision: String,
    pub comment: Option<String>,
    #[serde(skip)]
    pub decided_at: Option<i64>,
}

pub async fn approvals(db: &Db, item: &ItemRow) -> AppResult<Vec<Approval>> {
    Ok(db
        .all(Q::new("SELECT a.id, a.basis, a.approver_id, u.name AS approver, a.decision, a.comment, a.decided_at FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.item_id = $1 ORDER BY a.id").bind(item.id))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `approve` or `reject`.
    pub decision: String,
    /// Required when rejecting.
    pub comment: Option<String>,
}

/// Decide an approval (its approver, or an administrator). When all have approved the request
/// moves to fulfilment; one rejection rejects it.
pub async fn decide(
    db: &Db,
    p: &Principal,
    number: &str,
    approval_id: i64,
    d: Decision,
) -> AppResult<ItemRow> {
    let approve = match d.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(AppError::invalid(
                "decision",
                format!("`{other}` is not approve or reject"),
            ));
        }
    };
    let comment = d
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from);
    if !approve && comment.is_none() {
        return Err(AppError::invalid(
            "comment",
            "say why the request is rejected",
        ));
    }
    let item = kernel::get(db, K, number, Scope::All).await?;
    let mut tx = db.begin().await?;
    let row: Option<(i64, String)> = tx
        .opt(
            Q::new("SELECT approver_id, decision FROM approvals WHERE id = $1 AND item_id = $2")
                .bind(approval_id)
                .bind(item.id),
        )
        .await?;
    let (approver, current) =
        row.ok_or_else(|| AppError::NotFound(format!("approval {approval_id} of {number}")))?;
    if approver != p.user_id && !p.can(Action::ManageUsers) {
        return Err(AppError::Forbidden(
            "only the named approver decides this approval".into(),
        ));
    }
    if current != "pending" || item.state != "awaiting_approval" {
        return Err(AppError::Conflict(format!(
            "approval {approval_id} is {current}; {number} is {}",
            item.state.replace('_', " ")
        )));
    }
    let decision = if approve { "approved" } else { "rejected" };
    tx.exec(
        Q::new("UPDATE approvals SET decision = $1, comment = $2, decided_at = $3 WHERE id = $4")
            .bind(decision)
            .bind(comment.clone())
            .bind(now_ms())
            .bind(approval_id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "approval.decide",
        K.as_str(),
        &item.number,
        vec![FieldChange {
            field: format!("approval.{approval_id}"),
            old: json!("pending"),
            new: json!({"decision": decision, "comment": comment}),
        }],
    )
    .await?;
    let all: Vec<(String,)> = tx
        .all(Q::new("SELECT decision FROM approvals WHERE item_id = $1").bind(item.id))
        .await?;
    let result = outcome(all.iter().map(|(d,)| d.as_str()));
    tx.commit().await?;
    let next = match result {
        Outcome::Pending => return kernel::get_by_id(db, item.id).await,
        Outcome::Approved => "in_fulfilment",
        Outcome::Rejected => "rejected",
    };
    let row = kernel::update(
        db,
        K,
        number,
        Scope::All,
        &p.actor(),
        Patch {
            state: Some(next.into()),
            ..Default::default()
        },
        None,
    )
    .await?;
    if let (Outcome::Rejected, Some(c)) = (result, comment) {
        kernel::add_comment(
            db,
            &row,
            p,
            &p.actor(),
            &format!("Request rejected: {c}"),
            false,
        )
        .await?;
    }
    Ok(row)
}

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
    Ok(Json(approvals(&st.db, &item).await?))
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
    let row = decide(&st.db, &p, &number, id, b).await?;
    Ok(kernel::api::item_response(StatusCode::OK, row))
}

// ---------------------------------------------------------------------------------------------
// Fulfilment tasks

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Task {
    pub id: i64,
    pub stage: i64,
    pub name: String,
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    /// pending (a later stage), open, done or cancelled.
    pub state: String,
    pub note: Option<String>,
    pub done_by_name: Option<String>,
    #[serde(skip)]
    pub done_at: Option<i64>,
}

pub async fn tasks(db: &Db, item: &ItemRow) -> AppResult<Vec<Task>> {
    Ok(db
        .all(Q::new("SELECT t.id, t.stage, t.name, t.group_id, g.name AS group_name, t.state, t.note, u.name AS done_by_name, t.done_at FROM request_tasks t \
                     LEFT JOIN support_groups g ON g.id = t.group_id LEFT JOIN users u ON u.id = t.done_by WHERE t.item_id = $1 ORDER BY t.stage, t.id").bind(item.id))
        .await?)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    pub note: Option<String>,
}

/// Complete an open task (a member of its group, or a manager); the next stage opens, and the
/// request is fulfilled when the last task is done.
pub async fn complete(
    db: &Db,
    p: &Principal,
    number: &str,
    task_id: i64,
    c: Completion,
) -> AppResult<ItemRow> {
    p.require(Action::UpdateWorkItems)?;
    let item = kernel::get(db, K, number, Scope::All).await?;
    let mut tx = db.begin().await?;
    let row: Option<(String, Option<i64>, String)> = tx
        .opt(
            Q::new(
                "SELECT state, group_id, name FROM request_tasks WHERE id = $1 AND item_id = $2",
            )
            .bind(task_id)
            .bind(item.id),
        )
        .await?;
    let (state, group, name) =
        row.ok_or_else(|| AppError::NotFound(format!("task {task_id} of {number}")))?;
    if state != "open" {
        return Err(AppError::Conflict(format!(
            "task {task_id} is {state}, not open"
        )));
    }
    if let Some(g) = group
        && !p.can(Action::ManageReference)
    {
        let member: Option<(i64,)> = tx
            .opt(
                Q::new("SELECT user_id FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(g)
                    .bind(p.user_id),
            )
            .await?;
        if member.is_none() {
            return Err(AppError::Forbidden(
                "only a member of the task's group completes it".into(),
            ));
        }
    }
    tx.exec(
        Q::new("UPDATE request_tasks SET state = 'done', note = $1, done_by = $2, done_at = $3 WHERE id = $4")
            .bind(c.note.clone())
            .bind(p.user_id)
            .bind(now_ms())
            .bind(task_id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "task.complete",
        K.as_str(),
        &item.number,
        vec![FieldChange {
            field: format!("task.{task_id}"),
            old: json!(name),
            new: json!({"state": "done", "note": c.note}),
        }],
    )
    .await?;
    let next = open_next_stage(&mut tx, &item).await?;
    tx.commit().await?;
    if next.is_none() {
        return kernel::update(
            db,
            K,
            number,
            Scope::All,
            &p.actor(),
            Patch {
                state: Some("fulfilled".into()),
                ..Default::default()
            },
            None,
        )
        .await;
    }
    kernel::get_by_id(db, item.id).await
}

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
    Ok(Json(tasks(&st.db, &item).await?))
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
    let row = complete(&st.db, &p, &number, id, b).await?;
    Ok(kernel::api::item_response(StatusCode::OK, row))
}
