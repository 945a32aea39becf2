//! Outgoing webhooks: subscriptions to outbox events, delivered as signed JSON.
//!
//! **Invariant:** a delivery row is written in the same transaction as the event it carries (the
//! outbox's [`fan_out`]), with a `webhook.deliver` job beside it. So an event of a committed change
//! is always delivered (or ends `failed` in the log after its last retry), and nothing is sent for
//! a change that rolled back. The body is frozen at the first attempt: retries and replays send
//! the same bytes, each signed afresh with the time of sending.

use crate::platform::audit::append;
use crate::platform::auth::{Principal, random_secret};
use crate::platform::db::{Db, DbResult, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::jobs::Job;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::{FieldChange, diff};
use keel_core::integration::webhook::{self as rules, EVENTS};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Attempts before a delivery is given up (about two and a half hours of back-off).
pub const MAX_ATTEMPTS: i64 = 12;
/// How long one attempt waits for the receiver.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Event names, or `*` for every event.
    pub events: Vec<String>,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// The signing secret: only in the answer that creates the subscription or rotates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(sqlx::FromRow)]
struct HookRow {
    id: i64,
    name: String,
    url: String,
    secret: String,
    active: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl HookRow {
    fn view(self, events: Vec<String>, show_secret: bool) -> Webhook {
        Webhook {
            id: self.id,
            name: self.name,
            url: self.url,
            events,
            active: self.active == 1,
            version: self.version,
            created_at: iso(self.created_at),
            updated_at: iso(self.updated_at),
            secret: show_secret.then_some(self.secret),
        }
    }
}

const HOOK_COLS: &str = "id, name, url, secret, active, version, created_at, updated_at";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub name: String,
    /// `http://` or `https://` address that receives POSTs.
    pub url: String,
    /// Event names (see `/api/v1/webhook-events`) or `["*"]`.
    pub events: Vec<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    /// Issue a new signing secret (returned once in the answer); the old one stops at once.
    #[serde(default)]
    pub rotate_secret: bool,
}

fn parse_url(v: &str) -> AppResult<String> {
    let v = v.trim();
    let uri: axum::http::Uri = v
        .parse()
        .map_err(|e| AppError::invalid("url", format!("not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(AppError::invalid(
                "url",
                "must start with http:// or https://",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(AppError::invalid("url", "must name a host"));
    }
    if v.len() > 2000 {
        return Err(AppError::invalid("url", "must be at most 2000 characters"));
    }
    Ok(v.to_string())
}

fn parse_events(v: &[String]) -> AppResult<Vec<String>> {
    if v.is_empty() {
        return Err(AppError::invalid(
            "events",
            "name at least one event, or \"*\" for all",
        ));
    }
    let mut out = vec![];
    for e in v {
        let e = e.trim();
        if !rules::is_known(e) {
            return Err(AppError::invalid(
                "events",
                format!("unknown event `{e}`; see /api/v1/webhook-events"),
            ));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_string());
        }
    }
    out.sort();
    Ok(out)
}

async fn events_of(db: &Db, ids: &[i64]) -> DbResult<Vec<(i64, String)>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut q = Q::new("");
    let ph: Vec<String> = ids.iter().map(|i| q.arg(*i)).collect();
    q.sql = format!(
        "SELECT webhook_id, event FROM webhook_events WHERE webhook_id IN ({}) ORDER BY event",
        ph.join(", ")
    );
    db.all(q).await
}

async fn row(db: &Db, id: i64) -> AppResult<HookRow> {
    db.opt(Q::new(format!("SELECT {HOOK_COLS} FROM webhooks WHERE id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("webhook {id}")))
}

pub async fn get(db: &Db, id: i64, show_secret: bool) -> AppResult<Webhook> {
    let r = row(db, id).await?;
    let events = events_of(db, &[id])
        .await?
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    Ok(r.view(events, show_secret))
}

pub async fn list(db: &Db) -> AppResult<Vec<Webhook>> {
    let rows: Vec<HookRow> = db
        .all(Q::new(format!(
            "SELECT {HOOK_COLS} FROM webhooks ORDER BY id"
        )))
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let events = events_of(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = events
                .iter()
                .filter(|(w, _)| *w == r.id)
                .map(|(_, e)| e.clone())
                .collect();
            r.view(mine, false)
        })
        .collect())
}

async fn set_events(tx: &mut Tx, id: i64, events: &[String]) -> DbResult<()> {
    tx.exec(Q::new("DELETE FROM webhook_events WHERE webhook_id = $1").bind(id))
        .await?;
    let mut q = Q::new("");
    let hook = q.arg(id);
    let rows: Vec<String> = events
        .iter()
        .map(|e| format!("({hook}, {})", q.arg(e.as_str())))
        .collect();
    q.sql = format!(
        "INSERT INTO webhook_events (webhook_id, event) VALUES {}",
        rows.join(", ")
    );
    tx.exec(q).await?;
    Ok(())
}

pub async fn create(db: &Db, p: &Principal, b: NewWebhook) -> AppResult<Webhook> {
    p.require(Action::ManageIntegrations)?;
    let name = Line::parse(&b.name, 200).map_err(|e| AppError::invalid("name", e))?;
    let url = parse_url(&b.url)?;
    let events = parse_events(&b.events)?;
    let active = i64::from(b.active.unwrap_or(true));
    let secret = random_secret();
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id = tx
        .insert(
            Q::new("INSERT INTO webhooks (name, url, secret, active, version, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $6) RETURNING id")
                .bind(name.as_str())
                .bind(url.as_str())
                .bind(secret.as_str())
                .bind(active)
                .bind(p.user_id)
                .bind(now),
        )
        .await?;
    set_events(&mut tx, id, &events).await?;
    // The secret itself never enters the audit trail.
    append(
        &mut tx,
        &p.actor(),
        "create",
        "webhook",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("url", json!(url)),
                ("events", json!(events)),
                ("active", json!(active == 1)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id, true).await
}

pub async fn update(db: &Db, p: &Principal, id: i64, b: WebhookPatch) -> AppResult<Webhook> {
    p.require(Action::ManageIntegrations)?;
    let before = get(db, id, false).await?;
    let name = match &b.name {
        Some(n) => Line::parse(n, 200)
            .map_err(|e| AppError::invalid("name", e))?
            .into_string(),
        None => before.name.clone(),
    };
    let url = match &b.url {
        Some(u) => parse_url(u)?,
        None => before.url.clone(),
    };
    let events = match &b.events {
        Some(e) => parse_events(e)?,
        None => before.events.clone(),
    };
    let active = b.active.unwrap_or(before.active);
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE webhooks SET name = $1, url = $2, active = $3, version = version + 1, updated_at = $4 WHERE id = $5 AND version = $6")
                .bind(name.as_str())
                .bind(url.as_str())
                .bind(i64::from(active))
                .bind(now_ms())
                .bind(id)
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    if events != before.events {
        set_events(&mut tx, id, &events).await?;
    }
    let mut changes = diff(
        &[
            ("name", json!(before.name)),
            ("url", json!(before.url)),
            ("events", json!(before.events)),
            ("active", json!(before.active)),
        ],
        &[
            ("name", json!(name)),
            ("url", json!(url)),
            ("events", json!(events)),
            ("active", json!(active)),
        ],
    );
    if b.rotate_secret {
        tx.exec(
            Q::new("UPDATE webhooks SET secret = $1 WHERE id = $2")
                .bind(random_secret())
                .bind(id),
        )
        .await?;
        changes.push(FieldChange {
            field: "secret".into(),
            old: json!("(previous)"),
            new: json!("(rotated)"),
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "webhook",
        &id.to_string(),
        changes,
    )
    .await?;
    tx.commit().await?;
    get(db, id, b.rotate_secret).await
}

/// Write a delivery, and its job, for every active subscription that wants each of the given
/// outbox events; in the caller's transaction (see the module's invariant). Two statements
/// however many events and subscriptions there are, and one cheap read when there are none.
pub async fn fan_out(tx: &mut Tx, outbox_ids: &[i64]) -> DbResult<()> {
    if outbox_ids.is_empty() {
        return Ok(());
    }
    let mut q = Q::new("");
    let at = q.arg(now_ms());
    let ph: Vec<String> = outbox_ids.iter().map(|i| q.arg(*i)).collect();
    q.sql = format!(
        "INSERT INTO webhook_deliveries (webhook_id, outbox_id, event, state, attempts, created_at) \
         SELECT DISTINCT h.id, o.id, o.event, 'pending', 0, {at} FROM outbox o \
         JOIN webhook_events s ON s.event = o.event OR s.event = '*' \
         JOIN webhooks h ON h.id = s.webhook_id AND h.active = 1 \
         WHERE o.id IN ({}) RETURNING id",
        ph.join(", ")
    );
    let ids: Vec<(i64,)> = tx.all(q).await?;
    enqueue(tx, &ids.into_iter().map(|(i,)| i).collect::<Vec<_>>()).await
}

/// A `webhook.deliver` job per delivery, due now.
async fn enqueue(tx: &mut Tx, deliveries: &[i64]) -> DbResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let mut q = Q::new("");
    let now = q.arg(now_ms());
    let max = q.arg(MAX_ATTEMPTS);
    let rows: Vec<String> = deliveries
        .iter()
        .map(|d| {
            format!(
                "('webhook.deliver', {}, 'queued', {now}, 0, {max}, {now})",
                q.arg(json!({ "delivery": d }).to_string())
            )
        })
        .collect();
    q.sql = format!(
        "INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, created_at) VALUES {}",
        rows.join(", ")
    );
    tx.exec(q).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DeliveryJobRow {
    id: i64,
    event: String,
    body: Option<String>,
    state: String,
    url: String,
    secret: String,
    active: i64,
    outbox_payload: Option<String>,
    outbox_at: Option<i64>,
    item_id: Option<i64>,
}

/// The JSON a receiver gets: the event, when it happened, the item it is about as it stood when
/// first sent, and the event's own data.
async fn compose(db: &Db, d: &DeliveryJobRow) -> AppResult<String> {
    let mut data: Value = d
        .outbox_payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| json!({}));
    if let Value::Object(m) = &mut data {
        m.remove("_n");
    }
    let item = match d.item_id {
        Some(id) => {
            let i = crate::kernel::get_by_id(db, id).await?;
            json!({
                "number": i.number,
                "kind": i.kind,
                "title": i.title,
                "state": i.state,
                "priority": i.priority,
                "service": i.service_name,
                "assignment_group": i.assignment_group_name,
                "assignee": i.assignee_name,
                "updated_at": iso(i.updated_at),
            })
        }
        None => Value::Null,
    };
    Ok(json!({
        "delivery": d.id,
        "event": d.event,
        "occurred_at": iso(d.outbox_at.unwrap_or_else(now_ms)),
        "item": item,
        "data": data,
    })
    .to_string())
}

/// Run one `webhook.deliver` job: send, log the attempt, and fail the job (for a retry with
/// back-off) unless the receiver answered 2xx.
pub async fn deliver(db: &Db, job: &Job) -> Result<(), String> {
    let id = serde_json::from_str::<Value>(&job.payload)
        .ok()
        .and_then(|v| v.get("delivery").and_then(Value::as_i64))
        .ok_or("payload names no delivery")?;
    let d: Option<DeliveryJobRow> = db
        .opt(Q::new(
            "SELECT d.id, d.event, d.body, d.state, h.url, h.secret, h.active, o.payload AS outbox_payload, o.created_at AS outbox_at, o.item_id \
             FROM webhook_deliveries d JOIN webhooks h ON h.id = d.webhook_id LEFT JOIN outbox o ON o.id = d.outbox_id WHERE d.id = $1",
        ).bind(id))
        .await
        .map_err(|e| e.to_string())?;
    let Some(d) = d else {
        return Err(format!("no delivery {id}"));
    };
    if d.state == "delivered" {
        return Ok(());
    }
    if d.active == 0 {
        db.exec(Q::new("UPDATE webhook_deliveries SET state = 'cancelled', last_error = 'the subscription is inactive' WHERE id = $1").bind(id))
            .await
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    let body = match &d.body {
        Some(b) => b.clone(),
        None => {
            let b = compose(db, &d).await.map_err(|e| e.to_string())?;
            db.exec(
                Q::new("UPDATE webhook_deliveries SET body = $1 WHERE id = $2 AND body IS NULL")
                    .bind(b.as_str())
                    .bind(id),
            )
            .await
            .map_err(|e| e.to_string())?;
            b
        }
    };
    let sent = now_ms();
    let headers = [
        ("content-type", "application/json".to_string()),
        (
            "user-agent",
            format!("Keel-Webhooks/{}", env!("CARGO_PKG_VERSION")),
        ),
        ("keel-event", d.event.clone()),
        ("keel-delivery", d.id.to_string()),
        (
            "keel-signature",
            rules::sign(&d.secret, sent / 1000, body.as_bytes()),
        ),
    ];
    let result = crate::platform::http::post(&d.url, &headers, body.into_bytes(), TIMEOUT).await;
    let took = now_ms() - sent;
    let (status, error) = match &result {
        Ok(a) if (200..300).contains(&a.status) => (Some(i64::from(a.status)), None),
        Ok(a) => (
            Some(i64::from(a.status)),
            Some(format!(
                "HTTP {}: {}",
                a.status,
                a.body.chars().take(500).collect::<String>()
            )),
        ),
        Err(e) => (None, Some(e.clone())),
    };
    let last = job.attempts >= job.max_attempts;
    let state = match (&error, last) {
        (None, _) => "delivered",
        (Some(_), true) => "failed",
        (Some(_), false) => "retrying",
    };
    let mut tx = db.begin().await.map_err(|e| e.to_string())?;
    tx.exec(
        Q::new("INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(sent)
            .bind(status)
            .bind(error.clone())
            .bind(took),
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.exec(
        Q::new("UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, last_status = $2, last_error = $3, delivered_at = $4 WHERE id = $5")
            .bind(state)
            .bind(status)
            .bind(error.clone())
            .bind(if error.is_none() { Some(now_ms()) } else { None })
            .bind(id),
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    match error {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub at: String,
    /// The receiver's HTTP status; absent when it could not be reached.
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    /// pending, retrying, delivered, failed or cancelled.
    pub state: String,
    pub attempts: Vec<Attempt>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// The JSON sent (absent until the first attempt).
    pub body: Option<Value>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// id, webhook, event, state, status, error, replay of, body, created, delivered.
type DeliveryRow = (
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

/// delivery, at, status, error, duration.
type AttemptRow = (i64, i64, Option<i64>, Option<String>, i64);

const DELIVERY_COLS: &str = "id, webhook_id, event, state, last_status, last_error, replay_of, body, created_at, delivered_at";

async fn deliveries_where(db: &Db, q: Q) -> AppResult<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> = db.all(q).await?;
    let mut attempts: std::collections::HashMap<i64, Vec<Attempt>> = Default::default();
    if !rows.is_empty() {
        let mut q = Q::new("");
        let ph: Vec<String> = rows.iter().map(|r| q.arg(r.0)).collect();
        q.sql = format!(
            "SELECT delivery_id, at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id IN ({}) ORDER BY id",
            ph.join(", ")
        );
        let found: Vec<AttemptRow> = db.all(q).await?;
        for (d, at, status, error, duration_ms) in found {
            attempts.entry(d).or_default().push(Attempt {
                at: iso(at),
                status,
                error,
                duration_ms,
            });
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| Delivery {
            id: r.0,
            webhook_id: r.1,
            event: r.2,
            state: r.3,
            attempts: attempts.remove(&r.0).unwrap_or_default(),
            last_status: r.4,
            last_error: r.5,
            replay_of: r.6,
            body: r.7.and_then(|b| serde_json::from_str(&b).ok()),
            created_at: iso(r.8),
            delivered_at: r.9.map(iso),
        })
        .collect())
}

/// The newest deliveries of a subscription (at most 200).
pub async fn deliveries(db: &Db, hook: i64) -> AppResult<Vec<Delivery>> {
    row(db, hook).await?;
    deliveries_where(
        db,
        Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT 200"
        ))
        .bind(hook),
    )
    .await
}

async fn delivery(db: &Db, hook: i64, id: i64) -> AppResult<Delivery> {
    deliveries_where(
        db,
        Q::new(format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2"
        ))
        .bind(hook)
        .bind(id),
    )
    .await?
    .pop()
    .ok_or_else(|| AppError::NotFound(format!("delivery {id} of webhook {hook}")))
}

/// Send a delivery again, as a new delivery with the same body (and the same event).
pub async fn replay(db: &Db, p: &Principal, hook: i64, id: i64) -> AppResult<Delivery> {
    p.require(Action::ManageIntegrations)?;
    let h = get(db, hook, false).await?;
    if !h.active {
        return Err(AppError::Conflict(
            "the subscription is inactive; activate it before replaying".into(),
        ));
    }
    let original = delivery(db, hook, id).await?;
    let body: Option<(Option<String>, Option<i64>)> = db
        .opt(Q::new("SELECT body, outbox_id FROM webhook_deliveries WHERE id = $1").bind(id))
        .await?;
    let (body, outbox) = body.unwrap_or((None, None));
    send_now(
        db,
        p,
        hook,
        Fresh {
            outbox,
            event: &original.event,
            body,
            replay_of: Some(id),
        },
    )
    .await
}

/// A delivery made by hand (a replay, a ping).
struct Fresh<'a> {
    outbox: Option<i64>,
    event: &'a str,
    body: Option<String>,
    replay_of: Option<i64>,
}

/// Record a delivery and its job, audited on the subscription, and return it.
async fn send_now(db: &Db, p: &Principal, hook: i64, f: Fresh<'_>) -> AppResult<Delivery> {
    let mut tx = db.begin().await?;
    let new = tx
        .insert(
            Q::new("INSERT INTO webhook_deliveries (webhook_id, outbox_id, event, body, state, attempts, replay_of, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6) RETURNING id")
                .bind(hook)
                .bind(f.outbox)
                .bind(f.event)
                .bind(f.body)
                .bind(f.replay_of)
                .bind(now_ms()),
        )
        .await?;
    enqueue(&mut tx, &[new]).await?;
    append(
        &mut tx,
        &p.actor(),
        if f.replay_of.is_some() {
            "replay"
        } else {
            "ping"
        },
        "webhook",
        &hook.to_string(),
        vec![FieldChange {
            field: "delivery".into(),
            old: json!(f.replay_of),
            new: json!(new),
        }],
    )
    .await?;
    tx.commit().await?;
    delivery(db, hook, new).await
}

/// Send a `ping` event now, to check the receiver and its signature check.
pub async fn ping(db: &Db, p: &Principal, hook: i64) -> AppResult<Delivery> {
    p.require(Action::ManageIntegrations)?;
    let h = get(db, hook, false).await?;
    let body = json!({
        "event": "ping",
        "occurred_at": iso(now_ms()),
        "item": Value::Null,
        "data": {"webhook": h.id, "name": h.name},
    });
    send_now(
        db,
        p,
        hook,
        Fresh {
            outbox: None,
            event: "ping",
            body: Some(body.to_string()),
            replay_of: None,
        },
    )
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventInfo {
    pub event: String,
    pub description: String,
}

/// The events a subscription may name.
#[utoipa::path(get, path = "/api/v1/webhook-events", tag = "integrations", responses((status = 200, body = Vec<EventInfo>)), security(("bearer" = [])))]
pub async fn api_events(p: Principal) -> AppResult<Json<Vec<EventInfo>>> {
    p.require(Action::ReadIntegrations)?;
    Ok(Json(
        EVENTS
            .iter()
            .map(|(e, d)| EventInfo {
                event: e.to_string(),
                description: d.to_string(),
            })
            .collect(),
    ))
}

/// Webhook subscriptions (without their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations", responses((status = 200, body = Vec<Webhook>)), security(("bearer" = [])))]
pub async fn api_list(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Webhook>>> {
    p.require(Action::ReadIntegrations)?;
    Ok(Json(list(&st.db).await?))
}

/// Subscribe a URL to events; the answer carries the signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "integrations", request_body = NewWebhook, responses((status = 201, body = Webhook), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewWebhook>,
) -> AppResult<(StatusCode, Json<Webhook>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One subscription.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "integrations", params(("id" = i64, Path)), responses((status = 200, body = Webhook), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Webhook>> {
    p.require(Action::ReadIntegrations)?;
    Ok(Json(get(&st.db, id, false).await?))
}

/// Change a subscription, pause it (`active: false`) or rotate its secret.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "integrations", params(("id" = i64, Path)), request_body = WebhookPatch, responses((status = 200, body = Webhook), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<WebhookPatch>,
) -> AppResult<Json<Webhook>> {
    Ok(Json(update(&st.db, &p, id, b).await?))
}

/// The delivery log of a subscription, newest first, with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "integrations", params(("id" = i64, Path)), responses((status = 200, body = Vec<Delivery>)), security(("bearer" = [])))]
pub async fn api_deliveries(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Vec<Delivery>>> {
    p.require(Action::ReadIntegrations)?;
    Ok(Json(deliveries(&st.db, id).await?))
}

/// Replay a delivery: the same body again, as a new delivery.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/replay", tag = "integrations", params(("id" = i64, Path), ("delivery" = i64, Path)), responses((status = 201, body = Delivery), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_replay(
    State(st): State<AppState>,
    p: Principal,
    Path((id, delivery)): Path<(i64, i64)>,
) -> AppResult<(StatusCode, Json<Delivery>)> {
    Ok((
        StatusCode::CREATED,
        Json(replay(&st.db, &p, id, delivery).await?),
    ))
}

/// Send a `ping` to check the receiver.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/ping", tag = "integrations", params(("id" = i64, Path)), responses((status = 201, body = Delivery)), security(("bearer" = [])))]
pub async fn api_ping(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<(StatusCode, Json<Delivery>)> {
    Ok((StatusCode::CREATED, Json(ping(&st.db, &p, id).await?)))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "webhooks",
    api: part_api,
    jobs: &[crate::platform::part::JobKind {
        kind: "webhook.deliver",
        every: None,
        run: |st, job| Box::pin(deliver(&st.db, job)),
    }],
    subscribers: &[|tx, ids| Box::pin(fan_out(tx, ids))],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(api_events))
        .routes(gate(
            Action::ManageIntegrations,
            routes!(api_list, api_create),
        ))
        .routes(gate(
            Action::ManageIntegrations,
            routes!(api_get, api_update),
        ))
        .routes(routes!(api_deliveries))
        .routes(gate(Action::ManageIntegrations, routes!(api_replay)))
        .routes(gate(Action::ManageIntegrations, routes!(api_ping)))
}
