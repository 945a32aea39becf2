//! The outbox and in-app notifications.
//!
//! Whatever someone should hear about (assigned to you or your group, SLA warning or breach,
//! resolved) is written to `outbox` in the same transaction as the change that caused it, so an
//! event is never announced for a change that rolled back, nor lost for one that committed.
//! In-app notifications are the outbox's fan-out to its recipients, webhook deliveries its
//! fan-out to the parts' subscribers (mail out, webhooks), all in the same transaction.
//! Events with no recipients (`item.created`, `item.state_changed`) exist for subscribers.

use crate::platform::auth::Principal;
use crate::platform::db::{DbResult, Q, Tx, now_ms};
use crate::platform::error::AppResult;
use crate::platform::extract::ApiJson;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Query, State};
use keel_core::access::Action;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event to record and announce.
#[derive(Debug, Clone)]
pub struct Event {
    /// `item.assigned`, `item.group_assigned`, `item.resolved`, `sla.warning`, `sla.breached` …
    pub event: &'static str,
    pub item_id: Option<i64>,
    /// One line a person reads, e.g. "INC-000042 assigned to you: Printer on fire".
    pub title: String,
    pub payload: Value,
    pub recipients: Vec<i64>,
}

/// Record an event and notify its recipients (each once).
pub async fn emit(tx: &mut Tx, e: Event) -> DbResult<()> {
    emit_many(tx, vec![e]).await
}

/// Record events and notify their recipients: one statement for the events, one for the
/// notifications, however many there are.
pub async fn emit_many(tx: &mut Tx, events: Vec<Event>) -> DbResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut q = Q::new("");
    let at = q.arg(now);
    // A marker per event, so each returned id is matched to its event whatever order the
    // database returns the rows in.
    let rows: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut payload = e.payload.clone();
            if let Value::Object(m) = &mut payload {
                m.insert("_n".into(), Value::from(i));
            }
            format!(
                "({}, {}, {}, {at})",
                q.arg(e.event),
                q.arg(e.item_id),
                q.arg(payload.to_string())
            )
        })
        .collect();
    q.sql = format!(
        "INSERT INTO outbox (event, item_id, payload, created_at) VALUES {} RETURNING id, payload",
        rows.join(", ")
    );
    let ids: Vec<(i64, String)> = tx.all(q).await?;
    let outbox_ids: Vec<i64> = ids.iter().map(|(i, _)| *i).collect();
    let mut batch = Notifications::new(now);
    for (id, payload) in ids {
        let n = serde_json::from_str::<Value>(&payload)
            .ok()
            .and_then(|v| v.get("_n").and_then(Value::as_u64))
            .and_then(|n| usize::try_from(n).ok());
        let Some(e) = n.and_then(|n| events.get(n)) else {
            continue;
        };
        let mut who = e.recipients.clone();
        who.sort_unstable();
        who.dedup();
        for u in who {
            batch.push(id, e, u);
            if batch.q.args.len() > MAX_ARGS {
                batch.flush(tx).await?;
                batch = Notifications::new(now);
            }
        }
    }
    batch.flush(tx).await?;
    // The other fan-outs, in the same transaction: whatever the parts subscribed (mail out,
    // webhooks).
    for subscriber in crate::platform::part::parts()
        .iter()
        .flat_map(|p| p.subscribers)
    {
        subscriber(tx, &outbox_ids).await?;
    }
    Ok(())
}

/// Bound parameters per statement, well under SQLite's and PostgreSQL's limits.
const MAX_ARGS: usize = 10_000;

/// A multi-row insert of notifications being built.
struct Notifications {
    q: Q,
    at: String,
    rows: Vec<String>,
}

impl Notifications {
    fn new(now: i64) -> Self {
        let mut q = Q::new("");
        let at = q.arg(now);
        Notifications {
            q,
            at,
            rows: vec![],
        }
    }

    fn push(&mut self, outbox_id: i64, e: &Event, user: i64) {
        let q = &mut self.q;
        let row = format!(
            "({}, {}, {}, {}, {}, {})",
            q.arg(user),
            q.arg(outbox_id),
            q.arg(e.event),
            q.arg(e.item_id),
            q.arg(e.title.as_str()),
            self.at
        );
        self.rows.push(row);
    }

    async fn flush(mut self, tx: &mut Tx) -> DbResult<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        self.q.sql = format!(
            "INSERT INTO notifications (user_id, outbox_id, event, item_id, title, created_at) VALUES {}",
            self.rows.join(", ")
        );
        tx.exec(self.q).await?;
        Ok(())
    }
}

/// Active members of each of `groups`.
pub async fn members_of(
    tx: &mut Tx,
    groups: &[i64],
) -> DbResult<std::collections::HashMap<i64, Vec<i64>>> {
    let mut out: std::collections::HashMap<i64, Vec<i64>> = Default::default();
    if groups.is_empty() {
        return Ok(out);
    }
    let mut q = Q::new("");
    let ph: Vec<String> = groups.iter().map(|g| q.arg(*g)).collect();
    q.sql = format!(
        "SELECT m.group_id, m.user_id FROM group_members m JOIN users u ON u.id = m.user_id WHERE u.disabled = 0 AND m.group_id IN ({})",
        ph.join(", ")
    );
    for (g, u) in tx.all::<(i64, i64)>(q).await? {
        out.entry(g).or_default().push(u);
    }
    Ok(out)
}

/// Active members of a support group.
pub async fn group_members(tx: &mut Tx, group_id: i64) -> DbResult<Vec<i64>> {
    let rows: Vec<(i64,)> = tx
        .all(Q::new("SELECT m.user_id FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 AND u.disabled = 0").bind(group_id))
        .await?;
    Ok(rows.into_iter().map(|(u,)| u).collect())
}

/// Who hears about an item's events: its assignee, else its group's members.
pub async fn workers(tx: &mut Tx, assignee: Option<i64>, group: Option<i64>) -> DbResult<Vec<i64>> {
    match (assignee, group) {
        (Some(a), _) => Ok(vec![a]),
        (None, Some(g)) => group_members(tx, g).await,
        (None, None) => Ok(vec![]),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: i64,
    pub event: String,
    /// The work item's number, when the event is about one.
    pub item: Option<String>,
    pub title: String,
    pub created_at: String,
    pub read: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
}

/// My notifications, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationParams), responses((status = 200, body = Vec<Notification>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    Query(params): Query<NotificationParams>,
) -> AppResult<Json<Vec<Notification>>> {
    p.require(Action::OwnNotifications)?;
    Ok(Json(mine(&st, p.user_id, params.unread).await?))
}

/// id, event, item number, title, created, read.
type NotificationRow = (i64, String, Option<String>, String, i64, Option<i64>);

pub async fn mine(st: &AppState, user: i64, unread: bool) -> AppResult<Vec<Notification>> {
    let filter = if unread { " AND n.read_at IS NULL" } else { "" };
    let rows: Vec<NotificationRow> = st
        .db
        .all(Q::new(format!("SELECT n.id, n.event, w.number, n.title, n.created_at, n.read_at FROM notifications n LEFT JOIN work_items w ON w.id = n.item_id WHERE n.user_id = $1{filter} ORDER BY n.id DESC LIMIT 100")).bind(user))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, event, item, title, at, read)| Notification {
            id,
            event,
            item,
            title,
            created_at: iso(at),
            read: read.is_some(),
        })
        .collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Notifications to mark read; omit to mark all of mine read.
    pub ids: Option<Vec<i64>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Marked {
    pub marked: u64,
}

/// Mark my notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", request_body = MarkRead, responses((status = 200, body = Marked)), security(("bearer" = [])))]
pub async fn mark_read(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<MarkRead>,
) -> AppResult<Json<Marked>> {
    p.require(Action::OwnNotifications)?;
    if b.ids.is_none() {
        return Ok(Json(Marked {
            marked: mark_all_read(&st, p.user_id).await?,
        }));
    }
    let mut q = Q::new("");
    let (now, user) = (q.arg(now_ms()), q.arg(p.user_id));
    let only = match &b.ids {
        Some(ids) if ids.is_empty() => return Ok(Json(Marked { marked: 0 })),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(|i| q.arg(*i)).collect();
            format!(" AND id IN ({})", list.join(", "))
        }
        None => String::new(),
    };
    // A person's own reading state, not a record of the SMS: not audited.
    q.sql = format!(
        "UPDATE notifications SET read_at = {now} WHERE user_id = {user} AND read_at IS NULL{only}"
    );
    let marked = st.db.exec(q).await?;
    Ok(Json(Marked { marked }))
}

/// Mark all of a user's notifications read.
pub async fn mark_all_read(st: &AppState, user: i64) -> AppResult<u64> {
    Ok(st
        .db
        .exec(
            Q::new("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
                .bind(now_ms())
                .bind(user),
        )
        .await?)
}
