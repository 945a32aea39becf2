//! Clauses 8.6.1 and 8.6.2 — incidents and requests by mail.
//!
//! A message arrives in a queue (from `keel mail-in --queue …` behind an MTA, or from a mailbox
//! read over IMAP) and is **first stored as received**, raw, in `mail_messages`; only then is it
//! processed. Processing parses it with a real MIME parser (mail-parser) and either
//! - opens an incident or request (new mail), with its attachments, or
//! - adds a public comment to the item it answers (matched by In-Reply-To/References against
//!   `mail_threads`, else by the number in the subject), or
//! - ignores it, recording why (auto-replies, bulk and list mail, bounces, Keel's own mail), or
//! - quarantines it with a reason and a log line (unparseable, no sender, a sender who may not
//!   write to the item, too large, a failure while recording), for an administrator to inspect,
//!   reprocess or discard.
//!
//! **Invariant:** nothing received is dropped. The raw message stays in `mail_messages` whatever
//! became of it, and an item, its comment, attachments and thread records commit together with
//! the message's new state.

use crate::kernel::{self, ItemRow, NewItem};
use crate::platform::audit::{Actor, Channel, append};
use crate::platform::auth::Principal;
use crate::platform::config::{Config, MailQueue};
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiQuery;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keel_core::access::{Action, Role};
use keel_core::audit::FieldChange;
use keel_core::integration::mail::{self as rules, Signals};
use keel_core::kernel::Kind;
use mail_parser::{HeaderName, HeaderValue, Message, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest description or comment taken from a body; the rest stays in the raw message.
const MAX_BODY: usize = 60_000;

/// What became of a message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Handled {
    /// The message's id in Keel's mail log.
    pub id: i64,
    /// processed, ignored, quarantined, discarded.
    pub state: String,
    pub reason: Option<String>,
    /// The item opened or commented on.
    pub item: Option<String>,
    /// `created` or `commented` when processed.
    pub action: Option<String>,
}

fn queue<'a>(queues: &'a [MailQueue], name: &str) -> Option<&'a MailQueue> {
    queues.iter().find(|q| q.name == name)
}

/// Store a message as received, then process it. Receiving the same bytes again in the same
/// queue (an IMAP fetch repeated after a crash, an MTA retry) returns what became of the first.
pub async fn ingest(
    db: &Db,
    cfg: &Config,
    queue_name: &str,
    source: &str,
    raw: Vec<u8>,
) -> AppResult<Handled> {
    let queues = cfg.mail.queues();
    if queue(&queues, queue_name).is_none() {
        let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
        return Err(AppError::invalid(
            "queue",
            format!(
                "no mail queue `{queue_name}` (configured: {})",
                names.join(", ")
            ),
        ));
    }
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&raw));
    let seen: Option<(i64, String)> = db
        .opt(
            Q::new("SELECT id, state FROM mail_messages WHERE queue = $1 AND sha256 = $2 ORDER BY id LIMIT 1")
                .bind(queue_name)
                .bind(sha.as_str()),
        )
        .await?;
    if let Some((id, ref state)) = seen
        && state != "received"
    {
        return handled(db, id).await;
    }
    let id = match seen {
        Some((id, _)) => id,
        None => {
            let (message_id, sender, subject) = peek(&raw);
            db.one::<(i64,)>(
                Q::new("INSERT INTO mail_messages (queue, source, message_id, sender, subject, size, sha256, raw, state, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $9) RETURNING id")
                    .bind(queue_name)
                    .bind(source)
                    .bind(message_id)
                    .bind(sender)
                    .bind(subject)
                    .bind(raw.len() as i64)
                    .bind(sha.as_str())
                    .bind(crate::platform::db::Arg::Bytes(Some(raw)))
                    .bind(now_ms()),
            )
            .await?
            .0
        }
    };
    process(db, cfg, id, None).await
}

/// The headers worth listing before a message is processed (for the quarantine's list).
fn peek(raw: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    match MessageParser::default().parse_headers(raw) {
        Some(m) => (
            m.message_id().map(|s| s.chars().take(500).collect()),
            m.from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(|s| s.chars().take(320).collect()),
            m.subject().map(|s| s.chars().take(500).collect()),
        ),
        None => (None, None, None),
    }
}

async fn handled(db: &Db, id: i64) -> AppResult<Handled> {
    let (state, reason, item, action): (String, Option<String>, Option<String>, Option<String>) = db
        .one(
            Q::new("SELECT m.state, m.reason, w.number, CASE WHEN m.item_id IS NULL THEN NULL ELSE 'recorded' END FROM mail_messages m LEFT JOIN work_items w ON w.id = m.item_id WHERE m.id = $1")
                .bind(id),
        )
        .await?;
    Ok(Handled {
        id,
        state,
        reason,
        item,
        action,
    })
}

/// Why a message could not be processed.
enum Outcome {
    Created(String),
    Commented(String),
    Ignored(String),
    Quarantined(String),
}

/// Process a stored message (a new one, or a quarantined one an administrator reprocesses).
pub async fn process(db: &Db, cfg: &Config, id: i64, by: Option<&Principal>) -> AppResult<Handled> {
    let row: Option<(String, Vec<u8>, i64)> = db
        .opt(Q::new("SELECT queue, raw, size FROM mail_messages WHERE id = $1").bind(id))
        .await?;
    let (queue_name, raw, size) =
        row.ok_or_else(|| AppError::NotFound(format!("mail message {id}")))?;
    let queues = cfg.mail.queues();
    let outcome = match queue(&queues, &queue_name) {
        None => Outcome::Quarantined(format!("the queue `{queue_name}` is no longer configured")),
        Some(_) if size as usize > cfg.mail.max_message_bytes() => Outcome::Quarantined(format!(
            "{size} bytes is larger than the limit of {} bytes ([mail] max_message_mb)",
            cfg.mail.max_message_bytes()
        )),
        Some(q) => match handle(db, cfg, q, id, &raw, by).await {
            Ok(o) => o,
            // Whatever failed while recording is rolled back; the message waits in the quarantine.
            Err(e) => Outcome::Quarantined(format!("could not be recorded: {e}")),
        },
    };
    let (state, reason, item) = match &outcome {
        Outcome::Created(n) | Outcome::Commented(n) => ("processed", None, Some(n.clone())),
        Outcome::Ignored(r) => ("ignored", Some(r.clone()), None),
        Outcome::Quarantined(r) => ("quarantined", Some(r.clone()), None),
    };
    match &outcome {
        Outcome::Quarantined(r) => {
            tracing::warn!(message = id, queue = %queue_name, reason = %r, "mail quarantined");
            db.exec(
                Q::new("UPDATE mail_messages SET state = 'quarantined', reason = $1, handled_at = $2 WHERE id = $3")
                    .bind(r.as_str())
                    .bind(now_ms())
                    .bind(id),
            )
            .await?;
        }
        Outcome::Ignored(r) => {
            tracing::info!(message = id, queue = %queue_name, reason = %r, "automatic mail ignored");
            db.exec(
                Q::new("UPDATE mail_messages SET state = 'ignored', reason = $1, handled_at = $2 WHERE id = $3")
                    .bind(r.as_str())
                    .bind(now_ms())
                    .bind(id),
            )
            .await?;
        }
        // Processed: the state was written in the transaction that recorded the item.
        _ => {}
    }
    Ok(Handled {
        id,
        state: state.into(),
        reason,
        item,
        action: match outcome {
            Outcome::Created(_) => Some("created".into()),
            Outcome::Commented(_) => Some("commented".into()),
            _ => None,
        },
    })
}

/// A header's text (first value of a list).
fn text<'a>(m: &'a Message<'a>, name: &'a str) -> Option<&'a str> {
    match m.header(HeaderName::parse(name)?)? {
        HeaderValue::Text(t) => Some(t.as_ref()),
        HeaderValue::TextList(l) => l.first().map(|t| t.as_ref()),
        _ => m.header_raw(HeaderName::parse(name)?).map(str::trim),
    }
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![rules::bare_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| rules::bare_id(t)).collect(),
        _ => vec![],
    }
}

/// The person behind a sender address.
struct Sender {
    email: String,
    name: String,
    user: Option<Principal>,
    /// The organisation of a contact without an account.
    customer_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    customer_id: Option<i64>,
}

async fn sender(tx: &mut Tx, email: &str, name: &str) -> AppResult<Sender> {
    let lower = email.to_lowercase();
    let mut user: Option<UserRow> = tx
        .opt(Q::new("SELECT id, email, name, role, customer_id FROM users WHERE LOWER(email) = $1 AND disabled = 0").bind(lower.as_str()))
        .await?;
    let mut customer_id = None;
    if user.is_none() {
        let contact: Option<(i64, Option<i64>)> = tx
            .opt(Q::new("SELECT customer_id, user_id FROM contacts WHERE LOWER(email) = $1 AND (active IS NULL OR active = 1) ORDER BY id LIMIT 1").bind(lower.as_str()))
            .await?;
        if let Some((c, u)) = contact {
            customer_id = Some(c);
            if let Some(u) = u {
                user = tx
                    .opt(Q::new("SELECT id, email, name, role, customer_id FROM users WHERE id = $1 AND disabled = 0").bind(u))
                    .await?;
            }
        }
    }
    let user = user.and_then(|u| {
        Some(Principal {
            user_id: u.id,
            email: u.email,
            name: u.name,
            role: u.role.parse().ok()?,
            customer_id: u.customer_id,
            channel: Channel::Mail,
            csrf: None,
        })
    });
    Ok(Sender {
        email: lower,
        name: name.to_string(),
        user,
        customer_id,
    })
}

/// Whether a sender may write to an item: staff who change work items, the item's requester or
/// a colleague of their organisation, or an outside correspondent of the item.
async fn may_write(tx: &mut Tx, s: &Sender, item: &ItemRow) -> AppResult<bool> {
    if let Some(u) = &s.user {
        if u.can(Action::UpdateWorkItems) {
            return Ok(true);
        }
        if u.role == Role::Requester {
            return Ok(item.requester_id == Some(u.user_id)
                || (u.customer_id.is_some() && item.customer_id == u.customer_id));
        }
        return Ok(false);
    }
    let known: Option<(String,)> = tx
        .opt(
            Q::new("SELECT email FROM item_correspondents WHERE item_id = $1 AND email = $2")
                .bind(item.id)
                .bind(s.email.as_str()),
        )
        .await?;
    Ok(known.is_some())
}

fn kind_of(q: &MailQueue) -> AppResult<Kind> {
    match q.kind.as_str() {
        "incident" => Ok(keel_core::operation::resolution::incident::KIND),
        "request" => Ok(keel_core::operation::resolution::request::KIND),
        other => Err(AppError::invalid(
            "kind",
            format!(
                "mail queue `{}` has kind `{other}`; use incident or request",
                q.name
            ),
        )),
    }
}

/// One line, no control characters, bounded: a subject made fit for a title.
fn title_of(subject: Option<&str>) -> String {
    let s: String = subject
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s: String = s.chars().take(200).collect();
    if s.is_empty() {
        "(no subject)".into()
    } else {
        s
    }
}

fn bounded_body(text: &str, id: i64) -> String {
    if text.chars().count() <= MAX_BODY {
        return text.to_string();
    }
    let mut t: String = text.chars().take(MAX_BODY).collect();
    t.push_str(&format!(
        "\n\n[… shortened; the whole text is in mail message {id}]"
    ));
    t
}

/// The attachments worth keeping: every non-body part with content, named from its
/// Content-Disposition/Content-Type parameters (RFC 2231 decoded by the parser) or made up.
fn attachments<'a>(m: &'a Message<'a>) -> Vec<(String, String, &'a [u8])> {
    let mut out = vec![];
    for (i, part) in m.attachments().enumerate() {
        let data = part.contents();
        if data.is_empty() {
            continue;
        }
        let ctype = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(s) => format!("{}/{}", c.ctype(), s),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let name = part
            .attachment_name()
            .and_then(kernel::sanitize_filename)
            .unwrap_or_else(|| {
                if part.is_message() {
                    format!("message-{}.eml", i + 1)
                } else {
                    format!("attachment-{}", i + 1)
                }
            });
        out.push((name, ctype, data));
    }
    out
}

async fn handle(
    db: &Db,
    cfg: &Config,
    q: &MailQueue,
    id: i64,
    raw: &[u8],
    by: Option<&Principal>,
) -> AppResult<Outcome> {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Ok(Outcome::Quarantined(
            "not a MIME message: no headers could be parsed".into(),
        ));
    };
    let Some(from) = m.from().and_then(|a| a.first()) else {
        return Ok(Outcome::Quarantined("no From address".into()));
    };
    let Some(email) = from
        .address()
        .map(str::trim)
        .filter(|a| a.contains('@') && !a.contains(char::is_whitespace))
    else {
        return Ok(Outcome::Quarantined(format!(
            "the From header has no usable address ({:?})",
            m.header_raw(HeaderName::From).unwrap_or_default().trim()
        )));
    };
    let email_lower = email.to_lowercase();
    let return_path = m.header_raw(HeaderName::ReturnPath).map(str::trim);
    let signals = Signals {
        auto_submitted: text(&m, "Auto-Submitted"),
        precedence: text(&m, "Precedence"),
        list_id: m.header(HeaderName::ListId).is_some(),
        list_unsubscribe: m.header(HeaderName::ListUnsubscribe).is_some(),
        auto_response_suppress: text(&m, "X-Auto-Response-Suppress"),
        autoreply_header: ["X-Autoreply", "X-Autorespond", "X-Auto-Response"]
            .iter()
            .any(|h| text(&m, h).is_some()),
        null_return_path: return_path == Some("<>"),
        from: Some(&email_lower),
        our_loop_marker: text(&m, "X-Keel-Loop").is_some(),
    };
    if let Some(reason) = rules::automatic(&signals, &cfg.mail.addresses) {
        return Ok(Outcome::Ignored(reason.into()));
    }
    let kind = kind_of(q)?;
    let message_id = m.message_id().map(rules::bare_id).filter(|s| !s.is_empty());
    let mut thread_ids = ids(m.in_reply_to());
    thread_ids.extend(ids(m.references()));
    let body = m.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    let files = attachments(&m);
    let mut blobs = vec![];
    for (name, ctype, data) in &files {
        blobs.push((
            name.clone(),
            ctype.clone(),
            kernel::store_blob(cfg.attachments_dir.as_deref(), data.to_vec()).await?,
        ));
    }

    let mut tx = db.begin().await?;
    let s = sender(&mut tx, email, from.name().unwrap_or_default()).await?;
    let actor = Actor {
        user_id: s.user.as_ref().map(|u| u.user_id),
        label: format!("mail:{}", s.email),
        channel: Channel::Mail,
    };

    // The item it answers: a thread we know, else a number in the subject.
    let mut target: Option<ItemRow> = None;
    if !thread_ids.is_empty() {
        let mut qq = Q::new("");
        let ph: Vec<String> = thread_ids.iter().map(|t| qq.arg(t.as_str())).collect();
        qq.sql = format!(
            "SELECT item_id FROM mail_threads WHERE message_id IN ({}) ORDER BY created_at DESC LIMIT 1",
            ph.join(", ")
        );
        if let Some((item,)) = tx.opt::<(i64,)>(qq).await? {
            target = Some(kernel::get_by_id_tx(&mut tx, item).await?);
        }
    }
    if target.is_none()
        && let Some(number) = m
            .subject()
            .and_then(|s| rules::number_in_subject(&kernel::process::kinds(), s))
    {
        let found: Option<(i64,)> = tx
            .opt(Q::new("SELECT id FROM work_items WHERE number = $1").bind(number.as_str()))
            .await?;
        match found {
            Some((item,)) => target = Some(kernel::get_by_id_tx(&mut tx, item).await?),
            None => {
                return Ok(Outcome::Quarantined(format!(
                    "the subject names {number}, which does not exist"
                )));
            }
        }
    }

    let (outcome, item) = match target {
        Some(item) => {
            if !may_write(&mut tx, &s, &item).await? {
                return Ok(Outcome::Quarantined(format!(
                    "{} may not write to {}",
                    s.email, item.number
                )));
            }
            let mut text = rules::reply_text(&body);
            if s.user.is_none() {
                text = format!("(by mail from {} <{}>)\n\n{text}", s.name, s.email);
            }
            if text.trim().is_empty() && blobs.is_empty() {
                return Ok(Outcome::Quarantined(
                    "the reply has no text and no attachments".into(),
                ));
            }
            if !text.trim().is_empty() {
                kernel::insert_comment(
                    &mut tx,
                    &item,
                    s.user.as_ref().map(|u| u.user_id),
                    &actor,
                    &bounded_body(&text, id),
                    false,
                )
                .await?;
            }
            (Outcome::Commented(item.number.clone()), item)
        }
        None => {
            let group = match &q.group {
                Some(g) => Some(by_name(&mut tx, "support_groups", g).await?),
                None => None,
            };
            let service = match &q.service {
                Some(sv) => Some(by_name(&mut tx, "services", sv).await?),
                None => None,
            };
            let mut description = bounded_body(body.trim(), id);
            if s.user.is_none() {
                description = format!(
                    "Reported by mail from {} <{}>.\n\n{description}",
                    s.name, s.email
                );
            }
            let d = kernel::system_draft(
                kind,
                &actor,
                NewItem {
                    title: title_of(m.subject()),
                    description,
                    requester_id: s.user.as_ref().map(|u| u.user_id),
                    customer_id: s
                        .user
                        .as_ref()
                        .and_then(|u| u.customer_id)
                        .or(s.customer_id),
                    service_id: service,
                    assignment_group_id: group,
                    ..Default::default()
                },
            )?;
            let number = kernel::create_in(&mut tx, d).await?;
            let (item_id,): (i64,) = tx
                .one(Q::new("SELECT id FROM work_items WHERE number = $1").bind(number.as_str()))
                .await?;
            let item = kernel::get_by_id_tx(&mut tx, item_id).await?;
            (Outcome::Created(number), item)
        }
    };
    if s.user.is_none() {
        tx.exec(
            Q::new("INSERT INTO item_correspondents (item_id, email, name) VALUES ($1, $2, $3) ON CONFLICT (item_id, email) DO NOTHING")
                .bind(item.id)
                .bind(s.email.as_str())
                .bind(s.name.chars().take(200).collect::<String>()),
        )
        .await?;
    }
    for (name, ctype, blob) in blobs {
        kernel::insert_attachment(&mut tx, &item, &actor, &name, &ctype, blob).await?;
    }
    if let Some(mid) = &message_id {
        tx.exec(
            Q::new("INSERT INTO mail_threads (message_id, item_id, direction, created_at) VALUES ($1, $2, 'in', $3) ON CONFLICT (message_id) DO NOTHING")
                .bind(mid.chars().take(500).collect::<String>())
                .bind(item.id)
                .bind(now_ms()),
        )
        .await?;
    }
    tx.exec(
        Q::new("UPDATE mail_messages SET state = 'processed', reason = NULL, item_id = $1, handled_at = $2, handled_by = $3 WHERE id = $4")
            .bind(item.id)
            .bind(now_ms())
            .bind(by.map(|p| p.user_id))
            .bind(id),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn by_name(tx: &mut Tx, table: &str, name: &str) -> AppResult<i64> {
    let row: Option<(i64,)> = tx
        .opt(
            Q::new(format!("SELECT id FROM {table} WHERE LOWER(name) = $1"))
                .bind(name.to_lowercase()),
        )
        .await?;
    row.map(|(i,)| i).ok_or_else(|| {
        AppError::invalid(
            "queue",
            format!("the queue names `{name}`, which is not in {table}"),
        )
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct MailMessage {
    pub id: i64,
    pub queue: String,
    /// stdin, imap:<mailbox> …
    pub source: String,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub size: i64,
    pub sha256: String,
    /// received, processed, ignored, quarantined or discarded.
    pub state: String,
    pub reason: Option<String>,
    /// The item it opened or commented on.
    pub item: Option<String>,
    #[serde(serialize_with = "ser_iso")]
    #[schema(value_type = String)]
    pub received_at: i64,
    #[serde(serialize_with = "ser_opt_iso")]
    #[schema(value_type = Option<String>)]
    pub handled_at: Option<i64>,
}

fn ser_iso<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso(*v))
}
fn ser_opt_iso<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&iso(*v)),
        None => s.serialize_none(),
    }
}

const MESSAGE_SELECT: &str = "SELECT m.id, m.queue, m.source, m.message_id, m.sender, m.subject, m.size, m.sha256, m.state, m.reason, w.number AS item, m.received_at, m.handled_at FROM mail_messages m LEFT JOIN work_items w ON w.id = m.item_id";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// One state, or `all` (default: quarantined).
    pub state: Option<String>,
}

pub async fn messages(db: &Db, state: &str) -> AppResult<Vec<MailMessage>> {
    const STATES: &[&str] = &[
        "received",
        "processed",
        "ignored",
        "quarantined",
        "discarded",
        "all",
    ];
    if !STATES.contains(&state) {
        return Err(AppError::invalid(
            "state",
            format!("must be one of: {}", STATES.join(", ")),
        ));
    }
    let q = if state == "all" {
        Q::new(format!("{MESSAGE_SELECT} ORDER BY m.id DESC LIMIT 500"))
    } else {
        Q::new(format!(
            "{MESSAGE_SELECT} WHERE m.state = $1 ORDER BY m.id DESC LIMIT 500"
        ))
        .bind(state)
    };
    Ok(db.all(q).await?)
}

pub async fn message(db: &Db, id: i64) -> AppResult<MailMessage> {
    db.opt(Q::new(format!("{MESSAGE_SELECT} WHERE m.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("mail message {id}")))
}

/// Process a quarantined message again (after fixing what stopped it: a user created, a queue
/// configured, the item's correspondents extended).
pub async fn reprocess(st: &AppState, p: &Principal, id: i64) -> AppResult<Handled> {
    p.require(Action::ManageIntegrations)?;
    let m = message(&st.db, id).await?;
    if m.state != "quarantined" {
        return Err(AppError::Conflict(format!(
            "mail message {id} is {}, not quarantined",
            m.state
        )));
    }
    let mut tx = st.db.begin().await?;
    append(
        &mut tx,
        &p.actor(),
        "reprocess",
        "mail_message",
        &id.to_string(),
        vec![],
    )
    .await?;
    tx.commit().await?;
    process(&st.db, &st.cfg, id, Some(p)).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Discard {
    /// Why it is not processed (kept with the message).
    pub reason: String,
}

/// Set a quarantined message aside for good; it stays in the log with the reason.
pub async fn discard(db: &Db, p: &Principal, id: i64, b: Discard) -> AppResult<MailMessage> {
    p.require(Action::ManageIntegrations)?;
    let reason =
        keel_core::text::Line::parse(&b.reason, 500).map_err(|e| AppError::invalid("reason", e))?;
    let m = message(db, id).await?;
    if m.state != "quarantined" {
        return Err(AppError::Conflict(format!(
            "mail message {id} is {}, not quarantined",
            m.state
        )));
    }
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("UPDATE mail_messages SET state = 'discarded', reason = $1, handled_at = $2, handled_by = $3 WHERE id = $4 AND state = 'quarantined'")
            .bind(reason.as_str())
            .bind(now_ms())
            .bind(p.user_id)
            .bind(id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "discard",
        "mail_message",
        &id.to_string(),
        vec![FieldChange {
            field: "state".into(),
            old: json!("quarantined"),
            new: json!({"state": "discarded", "reason": reason.as_str()}),
        }],
    )
    .await?;
    tx.commit().await?;
    message(db, id).await
}

/// Received mail: the quarantine by default, or any state.
#[utoipa::path(get, path = "/api/v1/mail/quarantine", tag = "integrations", params(MessageFilter), responses((status = 200, body = Vec<MailMessage>)), security(("bearer" = [])))]
pub async fn api_quarantine(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(f): ApiQuery<MessageFilter>,
) -> AppResult<Json<Vec<MailMessage>>> {
    p.require(Action::ReadIntegrations)?;
    Ok(Json(
        messages(&st.db, f.state.as_deref().unwrap_or("quarantined")).await?,
    ))
}

/// One received message.
#[utoipa::path(get, path = "/api/v1/mail/quarantine/{id}", tag = "integrations", params(("id" = i64, Path)), responses((status = 200, body = MailMessage), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_message(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<MailMessage>> {
    p.require(Action::ReadIntegrations)?;
    Ok(Json(message(&st.db, id).await?))
}

/// The message exactly as received (`message/rfc822`).
#[utoipa::path(get, path = "/api/v1/mail/quarantine/{id}/raw", tag = "integrations", params(("id" = i64, Path)), responses((status = 200, content_type = "message/rfc822", body = Vec<u8>), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_raw(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    p.require(Action::ReadIntegrations)?;
    let (raw,): (Vec<u8>,) = st
        .db
        .opt(Q::new("SELECT raw FROM mail_messages WHERE id = $1").bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("mail message {id}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"message-{id}.eml\""),
            ),
        ],
        raw,
    )
        .into_response())
}

/// Process a quarantined message again.
#[utoipa::path(post, path = "/api/v1/mail/quarantine/{id}/reprocess", tag = "integrations", params(("id" = i64, Path)), responses((status = 200, body = Handled), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_reprocess(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Handled>> {
    Ok(Json(reprocess(&st, &p, id).await?))
}

/// Discard a quarantined message (it stays in the log).
#[utoipa::path(post, path = "/api/v1/mail/quarantine/{id}/discard", tag = "integrations", params(("id" = i64, Path)), request_body = Discard, responses((status = 200, body = MailMessage), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn api_discard(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    crate::platform::extract::ApiJson(b): crate::platform::extract::ApiJson<Discard>,
) -> AppResult<Json<MailMessage>> {
    Ok(Json(discard(&st.db, &p, id, b).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "mail in",
    api: part_api,
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(api_quarantine))
        .routes(routes!(api_message))
        .routes(routes!(api_raw))
        .routes(gate(Action::ManageIntegrations, routes!(api_reprocess)))
        .routes(gate(Action::ManageIntegrations, routes!(api_discard)))
}
