//! Tasks on a work item, in stages: a request's fulfilment tasks (8.6.2), a change's
//! implementation tasks (8.5.1). Tasks of one stage run in parallel; the next stage opens when
//! every task of the previous one is done (`keel_core::kernel::tasks::open_stage`).
//! The members of a task's group are told when it opens.

use super::ItemRow;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::outbox::{self, Event};
use crate::{directory::exists, kernel};
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::kernel::Kind;
use keel_core::kernel::tasks::open_stage;
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    pub name: String,
    /// The group that does it.
    pub group_id: Option<i64>,
    /// Tasks of one stage run in parallel; stage 2 opens when stage 1 is done.
    pub stage: i64,
}

/// Check templates: names, stages 1–20, groups that exist. `field` prefixes error fields.
pub async fn check_templates(
    tx: &mut Tx,
    templates: &[TaskTemplate],
    field: &str,
) -> AppResult<()> {
    for (i, task) in templates.iter().enumerate() {
        Line::parse(&task.name, 200)
            .map_err(|e| AppError::invalid(&format!("{field}[{i}].name"), e))?;
        if !(1..=20).contains(&task.stage) {
            return Err(AppError::invalid(
                &format!("{field}[{i}].stage"),
                "must be between 1 and 20",
            ));
        }
        if let Some(g) = task.group_id {
            exists(tx, "support_groups", g, &format!("{field}[{i}].group_id")).await?;
        }
    }
    Ok(())
}

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

pub async fn list(db: &Db, item: &ItemRow) -> AppResult<Vec<Task>> {
    Ok(db
        .all(Q::new("SELECT t.id, t.stage, t.name, t.group_id, g.name AS group_name, t.state, t.note, u.name AS done_by_name, t.done_at FROM work_item_tasks t \
                     LEFT JOIN support_groups g ON g.id = t.group_id LEFT JOIN users u ON u.id = t.done_by WHERE t.item_id = $1 ORDER BY t.stage, t.id").bind(item.id))
        .await?)
}

/// Create the item's tasks from templates, once: an item that has tasks keeps them.
pub async fn instantiate(tx: &mut Tx, item: &ItemRow, templates: &[TaskTemplate]) -> AppResult<()> {
    let (n,): (i64,) = tx
        .one(Q::new("SELECT COUNT(*) FROM work_item_tasks WHERE item_id = $1").bind(item.id))
        .await?;
    if n > 0 {
        return Ok(());
    }
    let now = now_ms();
    for task in templates {
        add_tx(tx, item, task, now).await?;
    }
    Ok(())
}

async fn add_tx(tx: &mut Tx, item: &ItemRow, task: &TaskTemplate, now: i64) -> AppResult<i64> {
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO work_item_tasks (item_id, stage, name, group_id, state, created_at) VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id")
                .bind(item.id)
                .bind(task.stage)
                .bind(task.name.as_str())
                .bind(task.group_id)
                .bind(now),
        )
        .await?;
    Ok(id)
}

/// Add one task to an item (audited); it opens at once if its stage is the open one.
pub async fn add(
    db: &Db,
    p: &Principal,
    item: &ItemRow,
    task: TaskTemplate,
    open_now: bool,
) -> AppResult<Task> {
    p.require(Action::UpdateWorkItems)?;
    let mut tx = db.begin().await?;
    check_templates(&mut tx, std::slice::from_ref(&task), "tasks").await?;
    let id = add_tx(&mut tx, item, &task, now_ms()).await?;
    append(
        &mut tx,
        &p.actor(),
        "task.add",
        &item.kind,
        &item.number,
        vec![FieldChange {
            field: format!("task.{id}"),
            old: serde_json::Value::Null,
            new: json!({"name": task.name, "stage": task.stage, "group_id": task.group_id}),
        }],
    )
    .await?;
    if open_now {
        open_next_stage(&mut tx, item).await?;
    }
    tx.commit().await?;
    list(db, item)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| AppError::NotFound(format!("task {id}")))
}

/// How many of the item's tasks are neither done nor cancelled.
pub async fn open_count(tx: &mut Tx, item: &ItemRow) -> AppResult<i64> {
    let (open,): (i64,) = tx
        .one(Q::new("SELECT COUNT(*) FROM work_item_tasks WHERE item_id = $1 AND state <> 'done' AND state <> 'cancelled'").bind(item.id))
        .await?;
    Ok(open)
}

/// Cancel every task not done (the item was cancelled, rejected or backed out).
pub async fn cancel_open(tx: &mut Tx, item: &ItemRow) -> AppResult<()> {
    tx.exec(Q::new("UPDATE work_item_tasks SET state = 'cancelled' WHERE item_id = $1 AND state IN ('pending', 'open')").bind(item.id)).await?;
    Ok(())
}

/// Open the tasks of the lowest unfinished stage and tell their groups.
pub async fn open_next_stage(tx: &mut Tx, item: &ItemRow) -> AppResult<Option<i64>> {
    let tasks: Vec<(i64, String)> = tx
        .all(Q::new("SELECT stage, state FROM work_item_tasks WHERE item_id = $1 AND state <> 'cancelled'").bind(item.id))
        .await?;
    let stages: Vec<(i64, bool)> = tasks.iter().map(|(s, st)| (*s, st == "done")).collect();
    let Some(stage) = open_stage(&stages) else {
        return Ok(None);
    };
    let opened: Vec<(i64, String, Option<i64>)> = tx
        .all(Q::new("UPDATE work_item_tasks SET state = 'open' WHERE item_id = $1 AND stage = $2 AND state = 'pending' RETURNING id, name, group_id").bind(item.id).bind(stage))
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

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    pub note: Option<String>,
}

/// Complete an open task (a member of its group, or a manager); the next stage opens. When
/// the last task is done, kinds that finish with their tasks (a request: fulfilled) move on.
pub async fn complete(
    db: &Db,
    p: &Principal,
    kind: Kind,
    number: &str,
    task_id: i64,
    c: Completion,
) -> AppResult<ItemRow> {
    p.require(Action::UpdateWorkItems)?;
    let item = kernel::get(db, kind, number, kernel::Scope::All).await?;
    let mut tx = db.begin().await?;
    let row: Option<(String, Option<i64>, String)> = tx
        .opt(
            Q::new(
                "SELECT state, group_id, name FROM work_item_tasks WHERE id = $1 AND item_id = $2",
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
        Q::new("UPDATE work_item_tasks SET state = 'done', note = $1, done_by = $2, done_at = $3 WHERE id = $4")
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
        kind.as_str(),
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
    if let (None, Some(to)) = (next, kind.when_tasks_done()) {
        return kernel::update(
            db,
            kind,
            number,
            kernel::Scope::All,
            &p.actor(),
            kernel::Patch {
                state: Some(to.into()),
                ..Default::default()
            },
            None,
        )
        .await;
    }
    kernel::get_by_id(db, item.id).await
}
