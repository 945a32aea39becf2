//! The work-item kernel's storage and use cases: what every process built on work items shares
//! (numbering, lifecycle enforcement, assignment, priority, links, comments, attachments,
//! state-entry timestamps, history). Rules come from `keel_core::kernel`; a process passes its
//! [`Kind`] and gets all of this without copying it.
//!
//! **Invariants:** numbers come from a per-kind counter row incremented inside the creating
//! transaction, so no number is issued twice across nodes; every change bumps `version` (the
//! ETag) and appends an audit entry in the same transaction.

pub mod api;
pub mod approvals;
pub mod batch;
pub mod process;
pub mod register;
pub mod register_ui;
pub mod routes;
pub mod search;
pub mod steps_ui;
pub mod tasks;
pub mod ui;
pub mod views;

use crate::directory::exists;
use crate::platform::audit::{Actor, Pending, append, append_many};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use keel_core::access::Action;
use keel_core::audit::{FieldChange, diff};
use keel_core::kernel::lifecycle::TransitionError;
use keel_core::kernel::priority::{Level, Matrix};
use keel_core::kernel::{Kind, LinkKind, Vocabulary, details, format_number, query};
use keel_core::page::Cursor;
use keel_core::text::{Line, bounded};
pub use process::parse_number;
use serde::Serialize;
use serde_json::{Map, Value, json};

pub const MAX_TITLE: usize = 200;
pub const MAX_TEXT: usize = 100_000;

/// A work item row with the names of what it references.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub kind: String,
    pub number: String,
    pub title: String,
    pub description: String,
    pub state: String,
    pub impact: i64,
    pub urgency: i64,
    pub priority: i64,
    pub category: Option<String>,
    pub requester_id: Option<i64>,
    pub requester_name: Option<String>,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub service_id: Option<i64>,
    pub service_name: Option<String>,
    pub assignment_group_id: Option<i64>,
    pub assignment_group_name: Option<String>,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub hold_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    pub channel: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The kind's own fields, a JSON object (`keel_core::kernel::details`).
    pub details: String,
    /// How often the item moved from one assignment group to another.
    pub reassignment_count: i64,
    /// Why the priority differs from the matrix, when someone overrode it.
    pub priority_reason: Option<String>,
}

pub const SELECT_ITEM: &str = "SELECT w.id, w.kind, w.number, w.title, w.description, w.state, w.impact, w.urgency, w.priority, w.category, \
    w.requester_id, r.name AS requester_name, w.customer_id, c.name AS customer_name, w.service_id, s.name AS service_name, \
    w.assignment_group_id, g.name AS assignment_group_name, w.assignee_id, a.name AS assignee_name, \
    w.hold_reason, w.resolution_code, w.resolution_notes, w.channel, w.version, w.created_at, w.updated_at, w.resolved_at, w.closed_at, w.details, \
    w.reassignment_count, w.priority_reason \
    FROM work_items w \
    LEFT JOIN users r ON r.id = w.requester_id \
    LEFT JOIN customers c ON c.id = w.customer_id \
    LEFT JOIN services s ON s.id = w.service_id \
    LEFT JOIN support_groups g ON g.id = w.assignment_group_id \
    LEFT JOIN users a ON a.id = w.assignee_id";

impl crate::platform::point_reads::SyncRow for ItemRow {
    fn from_sync(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(ItemRow {
            id: r.get("id")?,
            kind: r.get("kind")?,
            number: r.get("number")?,
            title: r.get("title")?,
            description: r.get("description")?,
            state: r.get("state")?,
            impact: r.get("impact")?,
            urgency: r.get("urgency")?,
            priority: r.get("priority")?,
            category: r.get("category")?,
            requester_id: r.get("requester_id")?,
            requester_name: r.get("requester_name")?,
            customer_id: r.get("customer_id")?,
            customer_name: r.get("customer_name")?,
            service_id: r.get("service_id")?,
            service_name: r.get("service_name")?,
            assignment_group_id: r.get("assignment_group_id")?,
            assignment_group_name: r.get("assignment_group_name")?,
            assignee_id: r.get("assignee_id")?,
            assignee_name: r.get("assignee_name")?,
            hold_reason: r.get("hold_reason")?,
            resolution_code: r.get("resolution_code")?,
            resolution_notes: r.get("resolution_notes")?,
            channel: r.get("channel")?,
            version: r.get("version")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            resolved_at: r.get("resolved_at")?,
            closed_at: r.get("closed_at")?,
            details: r.get("details")?,
            reassignment_count: r.get("reassignment_count")?,
            priority_reason: r.get("priority_reason")?,
        })
    }
}

impl ItemRow {
    /// The audited fields and their values, for diffs.
    fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("title", json!(self.title)),
            ("description", json!(self.description)),
            ("state", json!(self.state)),
            ("impact", json!(self.impact)),
            ("urgency", json!(self.urgency)),
            ("priority", json!(self.priority)),
            ("priority_reason", json!(self.priority_reason)),
            ("category", json!(self.category)),
            ("requester_id", json!(self.requester_id)),
            ("customer_id", json!(self.customer_id)),
            ("service_id", json!(self.service_id)),
            ("assignment_group_id", json!(self.assignment_group_id)),
            ("assignee_id", json!(self.assignee_id)),
            ("hold_reason", json!(self.hold_reason)),
            ("resolution_code", json!(self.resolution_code)),
            ("resolution_notes", json!(self.resolution_notes)),
        ]
    }

    /// What a change to this item is audited against: the shared fields and each declared
    /// detail as `details.<name>`.
    fn changes_to(&self, after: &ItemRow) -> Vec<FieldChange> {
        let mut changes = diff(&self.fields(), &after.fields());
        let fields = process::kind(&self.kind).map(Kind::details).unwrap_or(&[]);
        let (b, a) = (self.details_map(), after.details_map());
        for f in fields {
            let (old, new) = (
                b.get(f.name).cloned().unwrap_or(Value::Null),
                a.get(f.name).cloned().unwrap_or(Value::Null),
            );
            if old != new {
                changes.push(FieldChange {
                    field: format!("details.{}", f.name),
                    old,
                    new,
                });
            }
        }
        changes
    }

    /// The details as an object (an unreadable value reads as empty).
    pub fn details_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.details).unwrap_or_default()
    }

    fn has(&self, field: &str) -> bool {
        if process::kind(&self.kind).is_some_and(|k| k.details().iter().any(|f| f.name == field)) {
            return keel_core::kernel::details::has(&self.details_map(), field);
        }
        let non_empty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match field {
            "hold_reason" => non_empty(&self.hold_reason),
            "resolution_code" => non_empty(&self.resolution_code),
            "resolution_notes" => non_empty(&self.resolution_notes),
            "assignee_id" => self.assignee_id.is_some(),
            "assignment_group_id" => self.assignment_group_id.is_some(),
            _ => false,
        }
    }
}

/// Which records a principal may see.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    All,
    /// A requester: their own records and their organisation's.
    Requester {
        user_id: i64,
        customer_id: Option<i64>,
    },
}

impl Scope {
    pub fn of(p: &Principal) -> Scope {
        if p.role.is_scoped_to_own_records() {
            Scope::Requester {
                user_id: p.user_id,
                customer_id: p.customer_id,
            }
        } else {
            Scope::All
        }
    }

    /// Append the scope condition to a WHERE clause.
    pub fn restrict(&self, q: &mut Q, conds: &mut Vec<String>) {
        if let Scope::Requester {
            user_id,
            customer_id,
        } = *self
        {
            let u = q.arg(user_id);
            match customer_id {
                Some(c) => {
                    let c = q.arg(c);
                    conds.push(format!("(w.requester_id = {u} OR w.customer_id = {c})"));
                }
                None => conds.push(format!("w.requester_id = {u}")),
            }
        }
    }
}

/// A validated request to create a work item.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    pub title: String,
    pub description: String,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub category: Option<String>,
    pub requester_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub service_id: Option<i64>,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// The kind's own fields (`keel_core::kernel::details`).
    pub details: Map<String, Value>,
}

/// A change to a work item; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub category: Option<Option<String>>,
    pub service_id: Option<Option<i64>>,
    pub assignment_group_id: Option<Option<i64>>,
    pub assignee_id: Option<Option<i64>>,
    pub state: Option<String>,
    pub hold_reason: Option<Option<String>>,
    pub resolution_code: Option<Option<String>>,
    pub resolution_notes: Option<Option<String>>,
    /// Detail fields to set (a string) or clear (`null`); others stay.
    pub details: Option<Map<String, Value>>,
    /// Override the matrix priority (with `priority_reason`), or `Some(None)` to return to it.
    pub priority: Option<Option<i64>>,
    pub priority_reason: Option<String>,
}

fn level(field: &str, v: Option<i64>, default: Level) -> AppResult<Level> {
    match v {
        None => Ok(default),
        Some(n) => Level::new(n)
            .ok_or_else(|| AppError::invalid(field, "must be 1 (high), 2 (medium) or 3 (low)")),
    }
}

fn one_of(field: &str, v: &Option<String>, allowed: &[&str]) -> AppResult<()> {
    match v {
        Some(s) if !allowed.contains(&s.as_str()) => Err(AppError::invalid(
            field,
            format!("must be one of: {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

pub fn vocabulary(kind: Kind) -> Vocabulary {
    kind.vocabulary()
}

/// Check that an assignee belongs to the assignment group, when both are set.
async fn check_assignment(tx: &mut Tx, group: Option<i64>, assignee: Option<i64>) -> AppResult<()> {
    if let Some(g) = group {
        exists(tx, "support_groups", g, "assignment_group_id").await?;
    }
    if let Some(a) = assignee {
        let role: Option<(String,)> = tx
            .opt(Q::new("SELECT role FROM users WHERE id = $1 AND disabled = 0").bind(a))
            .await?;
        match role {
            None => {
                return Err(AppError::invalid(
                    "assignee_id",
                    format!("no active user with id {a}"),
                ));
            }
            Some((r,)) if r == "requester" || r == "auditor" => {
                return Err(AppError::invalid(
                    "assignee_id",
                    format!("a user with role {r} cannot be assigned work"),
                ));
            }
            _ => {}
        }
        if let Some(g) = group {
            let member: Option<(i64,)> = tx
                .opt(
                    Q::new(
                        "SELECT user_id FROM group_members WHERE group_id = $1 AND user_id = $2",
                    )
                    .bind(g)
                    .bind(a),
                )
                .await?;
            if member.is_none() {
                return Err(AppError::invalid(
                    "assignee_id",
                    "the assignee is not a member of the assignment group",
                ));
            }
        }
    }
    Ok(())
}

/// Create a work item of `kind` on behalf of `actor`, in its own transaction.
pub async fn create(
    db: &Db,
    kind: Kind,
    actor: &Actor,
    requester: &Principal,
    input: NewItem,
) -> AppResult<ItemRow> {
    let d = draft(kind, actor, requester, input)?;
    let mut tx = db.begin().await?;
    let number = create_in(&mut tx, d).await?;
    tx.commit().await?;
    get(db, kind, &number, Scope::All).await
}

/// Raise an item as a person does: its process's checks, the create in its own transaction,
/// then its process's first steps (a request's approvals, a change's template).
pub async fn raise(db: &Db, kind: Kind, p: &Principal, input: NewItem) -> AppResult<ItemRow> {
    process::check(db, kind, &input.details).await?;
    let row = create(db, kind, &p.actor(), p, input).await?;
    process::start(db, kind, row, &p.actor()).await
}

/// Create inside the caller's transaction (used with idempotency keys); returns the number.
pub async fn create_in(tx: &mut Tx, mut d: Draft) -> AppResult<String> {
    resolve(tx, &mut d).await?;
    let mut numbers = insert_drafts(tx, vec![d]).await?;
    numbers
        .pop()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no number issued")))
}

/// A create request that passed every rule needing no database: parsed title and text,
/// impact, urgency and the derived priority, vocabulary, and who raises it for whom.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: Kind,
    pub actor: Actor,
    title: String,
    description: String,
    impact: Level,
    urgency: Level,
    category: Option<String>,
    requester_id: Option<i64>,
    customer_id: Option<i64>,
    service_id: Option<i64>,
    group: Option<i64>,
    assignee: Option<i64>,
    /// Agents may name another requester; whose customer applies is resolved from the database.
    requester_given: bool,
    details: Map<String, Value>,
}

impl Draft {
    /// The kind's own fields as submitted.
    pub fn details(&self) -> Map<String, Value> {
        self.details.clone()
    }
}

/// Check a create request against the rules that need no database.
pub fn draft(kind: Kind, actor: &Actor, requester: &Principal, input: NewItem) -> AppResult<Draft> {
    let title = Line::parse(&input.title, MAX_TITLE).map_err(|e| AppError::invalid("title", e))?;
    let description =
        bounded(&input.description, MAX_TEXT).map_err(|e| AppError::invalid("description", e))?;
    let impact = level("impact", input.impact, Level::LOW)?;
    let urgency = level("urgency", input.urgency, Level::LOW)?;
    one_of("category", &input.category, vocabulary(kind).categories)?;
    let details = details::apply(kind.details(), &Map::new(), &input.details)
        .map_err(|e| AppError::invalid(&e.field, e.detail))?;
    // A requester raises tickets for themselves, unassigned; agents may raise them for anyone.
    let scoped = requester.role.is_scoped_to_own_records();
    Ok(Draft {
        kind,
        actor: actor.clone(),
        title: title.into_string(),
        description,
        impact,
        urgency,
        category: input.category,
        requester_id: if scoped {
            Some(requester.user_id)
        } else {
            input.requester_id.or(Some(requester.user_id))
        },
        customer_id: if scoped {
            requester.customer_id
        } else {
            input.customer_id
        },
        service_id: input.service_id,
        group: if scoped {
            None
        } else {
            input.assignment_group_id
        },
        assignee: if scoped { None } else { input.assignee_id },
        requester_given: !scoped && input.requester_id.is_some(),
        details,
    })
}

/// A create request from a system channel (mail, monitoring): the requester is whoever the
/// input names, possibly no one (an unknown sender), and the assignment is the channel's.
pub fn system_draft(kind: Kind, actor: &Actor, input: NewItem) -> AppResult<Draft> {
    let requester = input.requester_id;
    let system = Principal {
        user_id: requester.unwrap_or_default(),
        email: String::new(),
        name: actor.label.clone(),
        role: keel_core::access::Role::Agent,
        customer_id: None,
        channel: actor.channel,
        csrf: None,
    };
    let mut d = draft(kind, actor, &system, input)?;
    d.requester_id = requester;
    d.requester_given = requester.is_some();
    Ok(d)
}

/// The checks that read the database: referenced records exist, the requester's organisation,
/// the assignee belongs to the group. Reads only, so a failing draft leaves the transaction
/// usable for others.
pub async fn resolve(tx: &mut Tx, d: &mut Draft) -> AppResult<()> {
    if d.requester_given
        && let Some(r) = d.requester_id
    {
        let row: Option<(Option<i64>,)> = tx
            .opt(Q::new("SELECT customer_id FROM users WHERE id = $1").bind(r))
            .await?;
        let (rc,) =
            row.ok_or_else(|| AppError::invalid("requester_id", format!("no user with id {r}")))?;
        d.customer_id = d.customer_id.or(rc);
    }
    if let Some(c) = d.customer_id {
        exists(tx, "customers", c, "customer_id").await?;
    }
    if let Some(s) = d.service_id {
        exists(tx, "services", s, "service_id").await?;
    }
    check_assignment(tx, d.group, d.assignee).await
}

/// Insert resolved drafts of one kind, in order, with one statement each for the numbers, the
/// rows and the audit entries, however many there are. Returns their numbers.
pub async fn insert_drafts(tx: &mut Tx, drafts: Vec<Draft>) -> AppResult<Vec<String>> {
    let Some(kind) = drafts.first().map(|d| d.kind) else {
        return Ok(vec![]);
    };
    if drafts.iter().any(|d| d.kind != kind) {
        return Err(AppError::Internal(anyhow::anyhow!(
            "insert_drafts takes one kind at a time"
        )));
    }
    let n = drafts.len() as i64;
    let (last,): (i64,) = tx
        .one(
            Q::new("INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = counters.value + $2 RETURNING value")
                .bind(kind.as_str())
                .bind(n),
        )
        .await?;
    let now = now_ms();
    let state = kind.lifecycle().initial();
    let mut q = Q::new("");
    let mut rows = Vec::with_capacity(drafts.len());
    let mut numbers = Vec::with_capacity(drafts.len());
    let mut entries = Vec::with_capacity(drafts.len());
    let mut assigned = vec![];
    for (i, d) in drafts.into_iter().enumerate() {
        let seq = last - n + 1 + i as i64;
        let number = format_number(kind, seq);
        if d.group.is_some() || d.assignee.is_some() {
            assigned.push((number.clone(), d.actor.clone()));
        }
        let priority = Matrix::default().priority(d.impact, d.urgency);
        let values = [
            q.arg(kind.as_str()),
            q.arg(seq),
            q.arg(number.as_str()),
            q.arg(d.title.as_str()),
            q.arg(d.description.as_str()),
            q.arg(state),
            q.arg(i64::from(d.impact.get())),
            q.arg(i64::from(d.urgency.get())),
            q.arg(i64::from(priority.get())),
            q.arg(d.category.clone()),
            q.arg(d.requester_id),
            q.arg(d.customer_id),
            q.arg(d.service_id),
            q.arg(d.group),
            q.arg(d.assignee),
            q.arg(d.actor.channel.as_str()),
            q.arg(now),
            q.arg(d.actor.user_id),
            q.arg(Value::Object(d.details.clone()).to_string()),
        ];
        rows.push(format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 1, {}, {}, {}, {})",
            values[0],
            values[1],
            values[2],
            values[3],
            values[4],
            values[5],
            values[6],
            values[7],
            values[8],
            values[9],
            values[10],
            values[11],
            values[12],
            values[13],
            values[14],
            values[15],
            values[16],
            values[16],
            values[17],
            values[18]
        ));
        let mut changes = diff(
            &[],
            &[
                ("title", json!(d.title)),
                ("description", json!(d.description)),
                ("state", json!(state)),
                ("impact", json!(d.impact.get())),
                ("urgency", json!(d.urgency.get())),
                ("priority", json!(priority.get())),
                ("category", json!(d.category)),
                ("requester_id", json!(d.requester_id)),
                ("customer_id", json!(d.customer_id)),
                ("service_id", json!(d.service_id)),
                ("assignment_group_id", json!(d.group)),
                ("assignee_id", json!(d.assignee)),
            ],
        );
        for (name, v) in &d.details {
            changes.push(FieldChange {
                field: format!("details.{name}"),
                old: Value::Null,
                new: v.clone(),
            });
        }
        entries.push(Pending {
            actor: d.actor,
            action: "create",
            entity_type: kind.as_str().to_string(),
            entity_id: number.clone(),
            changes,
        });
        numbers.push(number);
    }
    q.sql = format!(
        "INSERT INTO work_items (kind, seq, number, title, description, state, impact, urgency, priority, category, requester_id, customer_id, \
         service_id, assignment_group_id, assignee_id, channel, version, created_at, updated_at, created_by, details) VALUES {} \
         RETURNING id, number, state",
        rows.join(", ")
    );
    // The first state entry of each is recorded by the `work_items_first_state` trigger.
    let mut created: Vec<(i64, String, String)> = tx.all(q).await?;
    created.sort_unstable_by_key(|(id, _, _)| *id);
    append_many(tx, entries).await?;
    // The processes' part of a create (SLA clocks start …), in the same transaction.
    process::created(tx, kind, last - n + 1, last).await?;
    // `item.created` for subscribers (no one is notified in-app of a mere creation).
    crate::platform::outbox::emit_many(
        tx,
        created
            .into_iter()
            .map(|(id, number, state)| crate::platform::outbox::Event {
                event: "item.created",
                item_id: Some(id),
                title: format!("{number} created"),
                payload: json!({"number": number, "state": state}),
                recipients: vec![],
            })
            .collect(),
    )
    .await?;
    if !assigned.is_empty() {
        // One read for every assigned item of the batch, then their announcements.
        let mut q = Q::new("");
        let ph: Vec<String> = assigned.iter().map(|(n, _)| q.arg(n.as_str())).collect();
        q.sql = format!("{SELECT_ITEM} WHERE w.number IN ({})", ph.join(", "));
        let items: Vec<ItemRow> = tx.all(q).await?;
        for (number, actor) in &assigned {
            if let Some(item) = items.iter().find(|i| &i.number == number) {
                announce(tx, None, item, actor).await?;
            }
        }
    }
    Ok(numbers)
}

/// Tell people about a created or changed item: a new assignee, a newly assigned group (when no
/// one in it is named), a resolution (its requester). Nobody is told about their own action.
pub async fn announce(
    tx: &mut Tx,
    before: Option<&ItemRow>,
    after: &ItemRow,
    actor: &Actor,
) -> AppResult<()> {
    use crate::platform::outbox::{Event, emit, group_members};
    let mut events = vec![];
    let changed = |f: fn(&ItemRow) -> Option<i64>| before.map(f) != Some(f(after));
    if let Some(a) = after.assignee_id.filter(|_| changed(|i| i.assignee_id)) {
        events.push((
            "item.assigned",
            format!("{} assigned to you: {}", after.number, after.title),
            vec![a],
        ));
    } else if let Some(g) = after
        .assignment_group_id
        .filter(|_| after.assignee_id.is_none() && changed(|i| i.assignment_group_id))
    {
        let group = after.assignment_group_name.clone().unwrap_or_default();
        events.push((
            "item.group_assigned",
            format!("{} assigned to {group}: {}", after.number, after.title),
            group_members(tx, g).await?,
        ));
    }
    if let Some(b) = before.filter(|b| b.state != after.state) {
        events.push((
            "item.state_changed",
            format!("{} moved from {} to {}", after.number, b.state, after.state),
            vec![],
        ));
    }
    if after.state == "resolved"
        && before.is_some_and(|b| b.state != "resolved")
        && let Some(r) = after.requester_id
    {
        events.push((
            "item.resolved",
            format!("{} was resolved: {}", after.number, after.title),
            vec![r],
        ));
    }
    for (event, title, mut recipients) in events {
        recipients.retain(|u| Some(*u) != actor.user_id);
        emit(
            tx,
            Event {
                event,
                item_id: Some(after.id),
                title,
                payload: match before {
                    Some(b) if event == "item.state_changed" => {
                        json!({"number": after.number, "state": after.state, "from": b.state})
                    }
                    _ => json!({"number": after.number, "state": after.state}),
                },
                recipients,
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn get_by_id_tx(tx: &mut Tx, id: i64) -> AppResult<ItemRow> {
    tx.opt(Q::new(format!("{SELECT_ITEM} WHERE w.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("work item {id}")))
}

pub async fn get_by_id(db: &Db, id: i64) -> AppResult<ItemRow> {
    db.opt(Q::new(format!("{SELECT_ITEM} WHERE w.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("work item {id}")))
}

/// Find by human number within the principal's scope; out of scope reads as not found, so a
/// requester cannot even learn that another customer's ticket exists.
pub async fn get(db: &Db, kind: Kind, number: &str, scope: Scope) -> AppResult<ItemRow> {
    let not_found = || AppError::NotFound(format!("{kind} {number}"));
    let (k, seq) = parse_number(number).ok_or_else(not_found)?;
    if k != kind {
        return Err(not_found());
    }
    let mut q = Q::new("");
    let k = q.arg(kind.as_str());
    let s = q.arg(seq);
    let mut conds = vec![format!("w.kind = {k}"), format!("w.seq = {s}")];
    scope.restrict(&mut q, &mut conds);
    q.sql = format!("{SELECT_ITEM} WHERE {}", conds.join(" AND "));
    db.opt_point(q).await?.ok_or_else(not_found)
}

/// Compile a filter expression into a condition on `work_items w`, every value a placeholder.
/// Comparisons read as people mean them: `assignee != me` includes unassigned items, and `not`
/// of a condition on an empty field is true.
fn compile(e: &query::Expr, q: &mut Q, me: i64, now: i64) -> String {
    use query::{Expr, Field, Op, Value as V};
    let col = |f: Field| match f {
        Field::State => "w.state",
        Field::Priority => "w.priority",
        Field::Impact => "w.impact",
        Field::Urgency => "w.urgency",
        Field::Category => "w.category",
        Field::HoldReason => "w.hold_reason",
        Field::AssignmentGroup => "w.assignment_group_id",
        Field::Assignee => "w.assignee_id",
        Field::Requester => "w.requester_id",
        Field::Service => "w.service_id",
        Field::Customer => "w.customer_id",
        Field::Title => "LOWER(w.title)",
        Field::Number => "UPPER(w.number)",
        Field::Created => "w.created_at",
        Field::Updated => "w.updated_at",
        Field::Resolved => "w.resolved_at",
    };
    // The right-hand side of `col = …` for one value.
    let rhs = |f: Field, v: &V, q: &mut Q| -> String {
        match v {
            V::Int(i) | V::Id(i) | V::At(i) => q.arg(*i),
            V::Ago(d) => q.arg(now + d),
            V::Me => q.arg(me),
            V::Text(t) => match f {
                Field::Title => q.arg(t.to_lowercase()),
                Field::Number => q.arg(t.to_uppercase()),
                _ => q.arg(t.as_str()),
            },
            V::Name(n) => {
                let p = q.arg(n.to_lowercase());
                // Groups, services and customers have unique names: one id, so the planner can
                // treat the condition as an equality and walk an index in sort order.
                match f {
                    Field::AssignmentGroup => {
                        format!(
                            "COALESCE((SELECT id FROM support_groups WHERE LOWER(name) = {p} LIMIT 1), -1)"
                        )
                    }
                    Field::Service => {
                        format!(
                            "COALESCE((SELECT id FROM services WHERE LOWER(name) = {p} LIMIT 1), -1)"
                        )
                    }
                    Field::Customer => {
                        format!(
                            "COALESCE((SELECT id FROM customers WHERE LOWER(name) = {p} LIMIT 1), -1)"
                        )
                    }
                    _ => format!(
                        "(SELECT id FROM users WHERE LOWER(name) = {p} OR LOWER(email) = {p})"
                    ),
                }
            }
        }
    };
    // A person's name may match several users (`IN`); other names are unique (`=`).
    let is_sub = |f: Field, v: &V| {
        matches!(v, V::Name(_)) && matches!(f, Field::Assignee | Field::Requester)
    };
    match e {
        Expr::And(v) => format!(
            "({})",
            v.iter()
                .map(|e| compile(e, q, me, now))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
        Expr::Or(v) => format!(
            "({})",
            v.iter()
                .map(|e| compile(e, q, me, now))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
        Expr::Not(inner) => format!(
            "(CASE WHEN {} THEN 0 ELSE 1 END = 1)",
            compile(inner, q, me, now)
        ),
        Expr::Empty { field, negated } => {
            let c = col(*field);
            let empty = if matches!(field.ty(), query::FieldType::Text) {
                format!("({c} IS NULL OR {c} = '')")
            } else {
                format!("{c} IS NULL")
            };
            if *negated {
                format!("(CASE WHEN {empty} THEN 0 ELSE 1 END = 1)")
            } else {
                empty
            }
        }
        Expr::Cmp { field, op, value } => {
            let c = col(*field);
            match op {
                Op::Contains => {
                    let V::Text(t) = value else {
                        return "1 = 0".into();
                    };
                    let like = format!(
                        "%{}%",
                        t.to_lowercase()
                            .replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    );
                    let p = q.arg(like);
                    format!("LOWER(COALESCE({c}, '')) LIKE {p} ESCAPE '\\'")
                }
                Op::Eq if is_sub(*field, value) => format!("{c} IN {}", rhs(*field, value, q)),
                Op::Ne if is_sub(*field, value) => {
                    format!("({c} IS NULL OR {c} NOT IN {})", rhs(*field, value, q))
                }
                Op::Ne => format!("({c} IS NULL OR {c} <> {})", rhs(*field, value, q)),
                _ => format!("{c} {} {}", op.sql(), rhs(*field, value, q)),
            }
        }
        Expr::In {
            field,
            values,
            negated,
        } => {
            let c = col(*field);
            let parts: Vec<String> = values
                .iter()
                .map(|v| {
                    if is_sub(*field, v) {
                        format!("{c} IN {}", rhs(*field, v, q))
                    } else {
                        format!("{c} = {}", rhs(*field, v, q))
                    }
                })
                .collect();
            let any = format!("({})", parts.join(" OR "));
            if *negated {
                format!("(CASE WHEN {any} THEN 0 ELSE 1 END = 1)")
            } else {
                any
            }
        }
    }
}

/// Columns a list may be sorted by, and how each renders into a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Updated,
    Priority,
    Number,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<(SortKey, bool)> {
        let (desc, name) = match s.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, s),
        };
        let k = match name {
            "created_at" => SortKey::Created,
            "updated_at" => SortKey::Updated,
            "priority" => SortKey::Priority,
            "number" => SortKey::Number,
            _ => return None,
        };
        Some((k, desc))
    }
    fn column(self) -> &'static str {
        match self {
            SortKey::Created => "w.created_at",
            SortKey::Updated => "w.updated_at",
            SortKey::Priority => "w.priority",
            SortKey::Number => "w.seq",
        }
    }
    fn value(self, r: &ItemRow) -> i64 {
        match self {
            SortKey::Created => r.created_at,
            SortKey::Updated => r.updated_at,
            SortKey::Priority => r.priority,
            SortKey::Number => r.id,
        }
    }
}

/// List filters; every value is bound, never spliced into SQL.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub states: Vec<String>,
    pub open: Option<bool>,
    pub priority_max: Option<i64>,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub unassigned: bool,
    pub requester_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub service_id: Option<i64>,
    pub text: Option<String>,
    pub sla: Option<SlaFilter>,
    /// A parsed filter expression (`keel_core::kernel::query`), and who "me" is in it.
    pub expr: Option<(query::Expr, i64)>,
    /// Only items of this user's groups (the "my groups" queue).
    pub my_groups: Option<i64>,
}

/// Queues by SLA state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaFilter {
    /// A running clock will breach before this instant (and has not yet).
    DueBefore(i64),
    /// A clock that has not stopped has breached by this instant.
    BreachedBy(i64),
}

#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<ItemRow>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    db: &Db,
    kind: Kind,
    scope: Scope,
    f: &Filter,
    sort: (SortKey, bool),
    cursor: Option<Cursor>,
    limit: u32,
) -> AppResult<Page> {
    let mut q = Q::new("");
    let k = q.arg(kind.as_str());
    let mut conds = vec![format!("w.kind = {k}")];
    scope.restrict(&mut q, &mut conds);
    if !f.states.is_empty() {
        let ph: Vec<String> = f.states.iter().map(|s| q.arg(s.as_str())).collect();
        conds.push(format!("w.state IN ({})", ph.join(", ")));
    }
    if let Some(open) = f.open {
        let terminal = kind.lifecycle().terminal;
        let ph: Vec<String> = terminal.iter().map(|s| q.arg(*s)).collect();
        conds.push(format!(
            "w.state {} IN ({})",
            if open { "NOT" } else { "" },
            ph.join(", ")
        ));
    }
    if let Some(p) = f.priority_max {
        conds.push(format!("w.priority <= {}", q.arg(p)));
    }
    if let Some(g) = f.assignment_group_id {
        conds.push(format!("w.assignment_group_id = {}", q.arg(g)));
    }
    if let Some(a) = f.assignee_id {
        conds.push(format!("w.assignee_id = {}", q.arg(a)));
    }
    if let Some(u) = f.my_groups {
        conds.push(format!(
            "w.assignment_group_id IN (SELECT group_id FROM group_members WHERE user_id = {})",
            q.arg(u)
        ));
    }
    if f.unassigned {
        conds.push("w.assignee_id IS NULL".into());
    }
    if let Some(r) = f.requester_id {
        conds.push(format!("w.requester_id = {}", q.arg(r)));
    }
    if let Some(c) = f.customer_id {
        conds.push(format!("w.customer_id = {}", q.arg(c)));
    }
    if let Some(s) = f.service_id {
        conds.push(format!("w.service_id = {}", q.arg(s)));
    }
    if let Some((e, me)) = &f.expr {
        conds.push(compile(e, &mut q, *me, now_ms()));
    }
    match f.sla {
        Some(SlaFilter::DueBefore(t)) => conds.push(format!(
            "EXISTS (SELECT 1 FROM sla_clocks c WHERE c.item_id = w.id AND c.due_at IS NOT NULL AND c.due_at <= {})",
            q.arg(t)
        )),
        Some(SlaFilter::BreachedBy(t)) => conds.push(format!(
            "EXISTS (SELECT 1 FROM sla_clocks c WHERE c.item_id = w.id AND c.status <> 'stopped' AND (c.breached_at IS NOT NULL OR c.due_at <= {}))",
            q.arg(t)
        )),
        None => {}
    }
    if let Some(t) = f.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let like = format!(
            "%{}%",
            t.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let p = q.arg(like);
        conds.push(format!(
            "(LOWER(w.title) LIKE {p} ESCAPE '\\' OR LOWER(w.number) LIKE {p} ESCAPE '\\')"
        ));
    }
    let (key, desc) = sort;
    let col = key.column();
    if let Some(c) = cursor {
        let v: i64 = c
            .key
            .parse()
            .map_err(|_| AppError::invalid("cursor", "is not a cursor issued by this list"))?;
        let vp = q.arg(v);
        let ip = q.arg(c.id);
        let op = if desc { "<" } else { ">" };
        conds.push(format!(
            "({col} {op} {vp} OR ({col} = {vp} AND w.id {op} {ip}))"
        ));
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let lim = q.arg(i64::from(limit) + 1);
    q.sql = format!(
        "{SELECT_ITEM} WHERE {} ORDER BY {col} {dir}, w.id {dir} LIMIT {lim}",
        conds.join(" AND ")
    );
    let mut items: Vec<ItemRow> = db.all(q).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|r| {
            Cursor {
                key: key.value(r).to_string(),
                id: r.id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Apply a patch: validate, enforce the lifecycle, bump the version, record the transition and
/// audit the diff. `expected_version` (from `If-Match`) makes a stale update fail with 412.
pub async fn update(
    db: &Db,
    kind: Kind,
    number: &str,
    scope: Scope,
    actor: &Actor,
    patch: Patch,
    expected_version: Option<i64>,
) -> AppResult<ItemRow> {
    let before = get(db, kind, number, scope).await?;
    if let Some(v) = expected_version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let mut after = before.clone();
    if let Some(t) = &patch.title {
        after.title = Line::parse(t, MAX_TITLE)
            .map_err(|e| AppError::invalid("title", e))?
            .into_string();
    }
    if let Some(d) = &patch.description {
        after.description =
            bounded(d, MAX_TEXT).map_err(|e| AppError::invalid("description", e))?;
    }
    let impact = level("impact", patch.impact.or(Some(before.impact)), Level::LOW)?;
    let urgency = level(
        "urgency",
        patch.urgency.or(Some(before.urgency)),
        Level::LOW,
    )?;
    after.impact = i64::from(impact.get());
    after.urgency = i64::from(urgency.get());
    match patch.priority {
        Some(Some(p)) => {
            let level = level("priority", Some(p), Level::LOW)?;
            let reason = patch
                .priority_reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    AppError::invalid(
                        "priority_reason",
                        "say why the priority differs from the impact × urgency matrix",
                    )
                })?;
            after.priority = i64::from(level.get());
            after.priority_reason =
                Some(bounded(reason, 2_000).map_err(|e| AppError::invalid("priority_reason", e))?);
        }
        Some(None) => {
            after.priority = i64::from(Matrix::default().priority(impact, urgency).get());
            after.priority_reason = None;
        }
        // An override stands until someone returns the item to the matrix.
        None if after.priority_reason.is_some() => {}
        None => after.priority = i64::from(Matrix::default().priority(impact, urgency).get()),
    }
    let vocab = vocabulary(kind);
    if let Some(c) = patch.category {
        one_of("category", &c, vocab.categories)?;
        after.category = c;
    }
    if let Some(s) = patch.service_id {
        after.service_id = s;
    }
    if let Some(g) = patch.assignment_group_id {
        after.assignment_group_id = g;
        // Functional escalation and every later move between groups count (8.6.1).
        if before.assignment_group_id.is_some() && g.is_some() && g != before.assignment_group_id {
            after.reassignment_count += 1;
        }
    }
    if let Some(a) = patch.assignee_id {
        after.assignee_id = a;
    }
    if let Some(h) = patch.hold_reason {
        one_of("hold_reason", &h, vocab.hold_reasons)?;
        after.hold_reason = h;
    }
    if let Some(r) = patch.resolution_code {
        one_of("resolution_code", &r, vocab.resolution_codes)?;
        after.resolution_code = r;
    }
    if let Some(n) = patch.resolution_notes {
        after.resolution_notes = match n {
            Some(n) => {
                Some(bounded(&n, MAX_TEXT).map_err(|e| AppError::invalid("resolution_notes", e))?)
            }
            None => None,
        };
    }
    if let Some(changes) = &patch.details {
        let old = before.details_map();
        let d = details::apply(kind.details(), &old, changes)
            .map_err(|e| AppError::invalid(&e.field, e.detail))?;
        // What the item was raised as (a request's type, a change's type and template) stays.
        if let Some(f) = kind
            .fixed_details()
            .iter()
            .find(|f| d.get(**f) != old.get(**f))
        {
            return Err(AppError::invalid(
                &format!("details.{f}"),
                "fixed once the item is raised; raise a new one instead",
            ));
        }
        after.details = Value::Object(d).to_string();
    }
    let now = now_ms();
    let mut state_changed = false;
    if let Some(to) = patch.state.as_deref().filter(|s| *s != before.state) {
        let lc = kind.lifecycle();
        let to = lc
            .check(&before.state, to, |f| after.has(f))
            .map_err(|e| match e {
                // A missing detail is named as the request names it: `details.<name>`.
                TransitionError::Missing { field, .. }
                    if kind.details().iter().any(|d| d.name == field) =>
                {
                    AppError::invalid(&format!("details.{field}"), e)
                }
                e => e.into(),
            })?;
        after.state = to.to_string();
        state_changed = true;
        match to {
            "resolved" => after.resolved_at = Some(now),
            "closed" => after.closed_at = Some(now),
            _ => {}
        }
        // Leaving hold clears its reason; reopening clears the resolution.
        if before.state == "on_hold" && to != "on_hold" {
            after.hold_reason = None;
        }
        if before.state == "resolved" && to != "closed" {
            after.resolution_code = None;
            after.resolution_notes = None;
            after.resolved_at = None;
        }
    }
    let changes = before.changes_to(&after);
    if changes.is_empty() {
        return Ok(before);
    }
    let mut tx = db.begin().await?;
    if state_changed {
        process::moving(&mut tx, kind, &before, &after, actor).await?;
    }
    if let Some(s) = after.service_id.filter(|s| Some(*s) != before.service_id) {
        exists(&mut tx, "services", s, "service_id").await?;
    }
    if after.assignment_group_id != before.assignment_group_id
        || after.assignee_id != before.assignee_id
    {
        check_assignment(&mut tx, after.assignment_group_id, after.assignee_id).await?;
    }
    let n = tx
        .exec(
            Q::new(
                "UPDATE work_items SET title = $1, description = $2, state = $3, impact = $4, urgency = $5, priority = $6, category = $7, \
                 service_id = $8, assignment_group_id = $9, assignee_id = $10, hold_reason = $11, resolution_code = $12, resolution_notes = $13, \
                 resolved_at = $14, closed_at = $15, updated_at = $16, details = $19, reassignment_count = $20, priority_reason = $21, \
                 version = version + 1 WHERE id = $17 AND version = $18",
            )
            .bind(&after.title)
            .bind(&after.description)
            .bind(&after.state)
            .bind(after.impact)
            .bind(after.urgency)
            .bind(after.priority)
            .bind(after.category.clone())
            .bind(after.service_id)
            .bind(after.assignment_group_id)
            .bind(after.assignee_id)
            .bind(after.hold_reason.clone())
            .bind(after.resolution_code.clone())
            .bind(after.resolution_notes.clone())
            .bind(after.resolved_at)
            .bind(after.closed_at)
            .bind(now)
            .bind(before.id)
            .bind(before.version)
            .bind(after.details.as_str())
            .bind(after.reassignment_count)
            .bind(after.priority_reason.clone()),
        )
        .await?;
    if n == 0 {
        // Someone else committed between our read and write.
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    if state_changed {
        tx.exec(
            Q::new("INSERT INTO work_item_transitions (item_id, from_state, to_state, at, actor_id) VALUES ($1, $2, $3, $4, $5)")
                .bind(before.id)
                .bind(&before.state)
                .bind(&after.state)
                .bind(now)
                .bind(actor.user_id),
        )
        .await?;
    }
    append(
        &mut tx,
        actor,
        "update",
        kind.as_str(),
        &before.number,
        changes,
    )
    .await?;
    process::changed(&mut tx, kind, &before, &after, actor, now).await?;
    announce(&mut tx, Some(&before), &after, actor).await?;
    tx.commit().await?;
    get_by_id(db, before.id).await
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Comment {
    pub id: i64,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub body: String,
    #[serde(serialize_with = "crate::platform::web::as_bool")]
    #[schema(value_type = bool)]
    pub internal: i64,
    pub created_at: i64,
}

pub async fn add_comment(
    db: &Db,
    item: &ItemRow,
    p: &Principal,
    actor: &Actor,
    body: &str,
    internal: bool,
) -> AppResult<Comment> {
    if body.trim().is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    let body = bounded(body, MAX_TEXT).map_err(|e| AppError::invalid("body", e))?;
    if internal {
        p.require(Action::InternalNotes)?;
        if !p.can(Action::UpdateWorkItems) {
            return Err(AppError::Forbidden(format!(
                "the {} role may not write internal notes",
                p.role
            )));
        }
    }
    let mut tx = db.begin().await?;
    let id = insert_comment(&mut tx, item, Some(p.user_id), actor, &body, internal).await?;
    tx.commit().await?;
    Ok(db
        .one(Q::new(format!("{COMMENT_SELECT} WHERE c.id = $1")).bind(id))
        .await?)
}

/// Write a checked comment in the caller's transaction: the row, the item's `updated_at`, the
/// audit entry. `author` is absent for comments from outside Keel (mail from unknown senders).
pub async fn insert_comment(
    tx: &mut Tx,
    item: &ItemRow,
    author: Option<i64>,
    actor: &Actor,
    body: &str,
    internal: bool,
) -> AppResult<i64> {
    let now = now_ms();
    let id = tx
        .insert(
            Q::new("INSERT INTO comments (item_id, author_id, body, internal, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(item.id)
                .bind(author)
                .bind(body)
                .bind(internal)
                .bind(now),
        )
        .await?;
    tx.exec(
        Q::new("UPDATE work_items SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(item.id),
    )
    .await?;
    append(
        tx,
        actor,
        if internal {
            "comment.internal"
        } else {
            "comment.public"
        },
        &item.kind,
        &item.number,
        vec![FieldChange {
            field: "comment".into(),
            old: Value::Null,
            new: json!(body),
        }],
    )
    .await?;
    if !internal {
        // A public answer is news: to the requester when someone else wrote it, to whoever
        // works the item when the requester (or an outside correspondent) did.
        let from_requester = author.is_none() || author == item.requester_id;
        let mut recipients = if from_requester {
            crate::platform::outbox::workers(tx, item.assignee_id, item.assignment_group_id).await?
        } else {
            item.requester_id.into_iter().collect()
        };
        recipients.retain(|u| Some(*u) != author);
        let excerpt: String = body.chars().take(4000).collect();
        crate::platform::outbox::emit(
            tx,
            crate::platform::outbox::Event {
                event: "item.commented",
                item_id: Some(item.id),
                title: format!("New comment on {}: {}", item.number, item.title),
                payload: json!({"number": item.number, "state": item.state, "comment": excerpt, "by": actor.label}),
                recipients,
            },
        )
        .await?;
    }
    Ok(id)
}

const COMMENT_SELECT: &str = "SELECT c.id, c.author_id, u.name AS author_name, c.body, c.internal, c.created_at FROM comments c LEFT JOIN users u ON u.id = c.author_id";

pub async fn comments(db: &Db, item: &ItemRow, include_internal: bool) -> AppResult<Vec<Comment>> {
    let extra = if include_internal {
        ""
    } else {
        " AND c.internal = 0"
    };
    Ok(db
        .all(
            Q::new(format!(
                "{COMMENT_SELECT} WHERE c.item_id = $1{extra} ORDER BY c.created_at, c.id"
            ))
            .bind(item.id),
        )
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Link {
    pub id: i64,
    pub kind: String,
    /// `outgoing` when this item is the link's subject.
    pub direction: String,
    pub number: String,
    pub title: String,
    pub state: String,
}

pub async fn add_link(
    db: &Db,
    item: &ItemRow,
    actor: &Actor,
    kind: &str,
    to_number: &str,
    scope: Scope,
) -> AppResult<()> {
    let lk = LinkKind::parse(kind).ok_or_else(|| {
        AppError::invalid(
            "kind",
            format!(
                "must be one of: {}",
                LinkKind::ALL.map(|k| k.as_str()).join(", ")
            ),
        )
    })?;
    let (to_kind, _) = parse_number(to_number)
        .ok_or_else(|| AppError::invalid("to", "is not a work item number"))?;
    let target = get(db, to_kind, to_number, scope)
        .await
        .map_err(|_| AppError::invalid("to", format!("no work item {to_number}")))?;
    if target.id == item.id {
        return Err(AppError::invalid("to", "an item cannot link to itself"));
    }
    let mut tx = db.begin().await?;
    link_in(&mut tx, item, &target, lk, actor).await?;
    tx.commit().await?;
    Ok(())
}

/// Record a link inside the caller's transaction, audited on the subject item.
pub async fn link_in(
    tx: &mut Tx,
    from: &ItemRow,
    to: &ItemRow,
    lk: LinkKind,
    actor: &Actor,
) -> AppResult<()> {
    tx.exec(
        Q::new("INSERT INTO work_item_links (from_id, to_id, kind, created_at, created_by) VALUES ($1, $2, $3, $4, $5)")
            .bind(from.id)
            .bind(to.id)
            .bind(lk.as_str())
            .bind(now_ms())
            .bind(actor.user_id),
    )
    .await
    .map_err(|e| match e {
        crate::platform::db::DbError::Unique(_) => AppError::Conflict("that link exists already".into()),
        e => e.into(),
    })?;
    append(
        tx,
        actor,
        "link.add",
        &from.kind,
        &from.number,
        vec![FieldChange {
            field: lk.as_str().into(),
            old: Value::Null,
            new: json!(to.number),
        }],
    )
    .await?;
    Ok(())
}

/// The links `p` may see: a requester sees that their incident is linked to other incidents,
/// not to the provider's problems and known errors.
pub async fn visible_links(db: &Db, item: &ItemRow, p: &Principal) -> AppResult<Vec<Link>> {
    let mut links = links(db, item).await?;
    if !p.can(Action::ReadInternalItems) {
        links.retain(|l| parse_number(&l.number).is_some_and(|(k, _)| !k.is_internal()));
    }
    Ok(links)
}

pub async fn links(db: &Db, item: &ItemRow) -> AppResult<Vec<Link>> {
    Ok(db
        .all(
            Q::new(
                "SELECT l.id AS id, l.kind AS kind, 'outgoing' AS direction, w.number, w.title, w.state FROM work_item_links l JOIN work_items w ON w.id = l.to_id WHERE l.from_id = $1 \
                 UNION ALL \
                 SELECT l.id AS id, l.kind AS kind, 'incoming' AS direction, w.number, w.title, w.state FROM work_item_links l JOIN work_items w ON w.id = l.from_id WHERE l.to_id = $1 \
                 ORDER BY id",
            )
            .bind(item.id),
        )
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct StateEntry {
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: i64,
    pub actor_id: Option<i64>,
}

/// When each state was entered.
pub async fn transitions(db: &Db, item: &ItemRow) -> AppResult<Vec<StateEntry>> {
    Ok(db
        .all(Q::new("SELECT from_state, to_state, at, actor_id FROM work_item_transitions WHERE item_id = $1 ORDER BY at, id").bind(item.id))
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: i64,
}

/// Store an attachment, in the database or in the configured directory (named by its hash, so
/// identical files are stored once).
pub async fn add_attachment(
    db: &Db,
    dir: Option<&std::path::Path>,
    item: &ItemRow,
    actor: &Actor,
    filename: &str,
    content_type: &str,
    data: Vec<u8>,
) -> AppResult<Attachment> {
    let filename = sanitize_filename(filename)
        .ok_or_else(|| AppError::invalid("filename", "must be a plain file name"))?;
    let blob = store_blob(dir, data).await?;
    let mut tx = db.begin().await?;
    let id = insert_attachment(&mut tx, item, actor, &filename, content_type, blob).await?;
    tx.commit().await?;
    Ok(db.one(Q::new("SELECT id, filename, content_type, size, sha256, created_at FROM attachments WHERE id = $1").bind(id)).await?)
}

/// Attachment bytes ready to be recorded: kept in the row, or already written (content-addressed,
/// synced) to the attachments directory, so a transaction that rolls back leaves at most an
/// unreferenced file, never a row without its bytes.
pub struct Blob {
    sha: String,
    size: i64,
    data: Option<Vec<u8>>,
    path: Option<String>,
}

pub async fn store_blob(dir: Option<&std::path::Path>, data: Vec<u8>) -> AppResult<Blob> {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    let size = data.len() as i64;
    let (blob, path) = match dir {
        Some(d) => {
            let p = d.join(&sha);
            if !p.exists() {
                let tmp = d.join(format!("{sha}.tmp{}", std::process::id()));
                tokio::fs::create_dir_all(d)
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
                tokio::fs::write(&tmp, &data)
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
                let f = tokio::fs::File::open(&tmp)
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
                f.sync_all()
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
                tokio::fs::rename(&tmp, &p)
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
            }
            (None, Some(sha.clone()))
        }
        None => (Some(data), None),
    };
    Ok(Blob {
        sha,
        size,
        data: blob,
        path,
    })
}

/// Record an attachment (its file name already sanitized) in the caller's transaction, audited.
pub async fn insert_attachment(
    tx: &mut Tx,
    item: &ItemRow,
    actor: &Actor,
    filename: &str,
    content_type: &str,
    blob: Blob,
) -> AppResult<i64> {
    let id = tx
        .insert(
            Q::new("INSERT INTO attachments (item_id, filename, content_type, size, sha256, data, path, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                .bind(item.id)
                .bind(filename)
                .bind(content_type)
                .bind(blob.size)
                .bind(blob.sha.as_str())
                .bind(crate::platform::db::Arg::Bytes(blob.data))
                .bind(blob.path)
                .bind(actor.user_id)
                .bind(now_ms()),
        )
        .await?;
    append(
        tx,
        actor,
        "attachment.add",
        &item.kind,
        &item.number,
        vec![FieldChange {
            field: "attachment".into(),
            old: Value::Null,
            new: json!({"filename": filename, "size": blob.size, "sha256": blob.sha}),
        }],
    )
    .await?;
    Ok(id)
}

pub async fn attachments(db: &Db, item: &ItemRow) -> AppResult<Vec<Attachment>> {
    Ok(db.all(Q::new("SELECT id, filename, content_type, size, sha256, created_at FROM attachments WHERE item_id = $1 ORDER BY id").bind(item.id)).await?)
}

/// An attachment's metadata and bytes.
pub async fn attachment_data(
    db: &Db,
    dir: Option<&std::path::Path>,
    item: &ItemRow,
    id: i64,
) -> AppResult<(Attachment, Vec<u8>)> {
    let meta: Attachment = db
        .opt(Q::new("SELECT id, filename, content_type, size, sha256, created_at FROM attachments WHERE id = $1 AND item_id = $2").bind(id).bind(item.id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("attachment {id}")))?;
    let (data, path): (Option<Vec<u8>>, Option<String>) = db
        .one(Q::new("SELECT data, path FROM attachments WHERE id = $1").bind(id))
        .await?;
    let bytes = match (data, path, dir) {
        (Some(d), _, _) => d,
        (None, Some(p), Some(dir)) => tokio::fs::read(dir.join(p))
            .await
            .map_err(|e| AppError::Internal(e.into()))?,
        _ => {
            return Err(AppError::Internal(anyhow::anyhow!(
                "attachment {id} has no stored content (attachments directory not configured?)"
            )));
        }
    };
    Ok((meta, bytes))
}

/// Keep only the last path component and refuse names that could escape or hide.
pub fn sanitize_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next()?.trim();
    if base.is_empty()
        || base == "."
        || base == ".."
        || base.len() > 255
        || base.chars().any(char::is_control)
    {
        return None;
    }
    Some(base.to_string())
}

/// The kernel's pages: every kind's list, item and new-item pages and their forms, the shared
/// steps (approvals, tasks), search, saved views, every register's pages.
fn pages() -> axum::Router<crate::platform::web::AppState> {
    ui::routes()
        .merge(steps_ui::routes())
        .merge(approvals::pages())
        .merge(search::pages())
        .merge(views::pages())
        .merge(register_ui::routes())
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "kernel",
    api: part_api,
    pages,
    templates: &[
        ("items.html", include_str!("../../templates/items.html")),
        ("item.html", include_str!("../../templates/item.html")),
        (
            "item_new.html",
            include_str!("../../templates/item_new.html"),
        ),
        ("search.html", include_str!("../../templates/search.html")),
        (
            "register.html",
            include_str!("../../templates/register.html"),
        ),
        (
            "register_record.html",
            include_str!("../../templates/register_record.html"),
        ),
        (
            "register_form.html",
            include_str!("../../templates/register_form.html"),
        ),
        (
            "approvals.html",
            include_str!("../../templates/approvals.html"),
        ),
    ],
    tags: &[
        (
            "approvals",
            "Approvals waiting for you, across requests and changes",
        ),
        (
            "views",
            "Saved list views (filters, filter expression, sort)",
        ),
        ("search", "Full-text search over work items and comments"),
    ],
    sweeps: &[|db| {
        Box::pin(async move {
            // Idempotency keys answer retries for a day.
            db.exec(
                Q::new("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(now_ms() - 86_400_000),
            )
            .await?;
            Ok(())
        })
    }],
    state: Some(|db, ext| {
        ext.insert(batch::Creator::start(db.clone()));
    }),
    nav: &[crate::platform::part::Nav {
        order: 60,
        label: "Approvals",
        requester_label: None,
        href: "/approvals",
        shown: |p| !p.role.is_scoped_to_own_records(),
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(approvals::api_inbox))
        .routes(gate(
            Action::OwnViews,
            routes!(views::list_views, views::create_view),
        ))
        .routes(gate(Action::OwnViews, routes!(views::delete_view)))
        .routes(routes!(search::api_search))
        .merge(register::api())
}
