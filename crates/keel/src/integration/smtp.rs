//! Mail out: what people should hear about, as e-mail over SMTP.
//!
//! The outbox's [`fan_out`] writes a `mail_outgoing` row per notified person (and per outside
//! correspondent of an item, for comments and resolutions) in the transaction of the change.
//! The `mail.send` job sends them when `[mail.smtp]` is configured: one pooled connection per
//! batch, rows claimed so several nodes never send one twice, failures retried with back-off,
//! mail older than two days never sent late (`expired`).
//!
//! Mail is written from templates per event and language (`templates/mail/{language}/{event}.txt`,
//! first line the subject; `default.txt` for other events), which an installation may replace
//! (`[mail] templates_dir`). Threading: every message of an item carries
//! `References: <keel.item.{id}@domain>` and answers the last message that came in about it, and
//! its own Message-ID is recorded in `mail_threads`, so a reply finds its item whatever its subject.

use crate::platform::config::{Config, SmtpConfig};
use crate::platform::db::{Backend, Db, DbResult, Q, Tx, now_ms};
use crate::platform::web::iso;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{Value, json};
use std::time::Duration;

use crate::directory::LANGUAGES;

/// Attempts before a message is given up.
const MAX_ATTEMPTS: i64 = 8;
/// Mail not sent within this long is not sent at all: news that old misleads.
const EXPIRE_MS: i64 = 2 * 86_400_000;
/// Messages per batch (one SMTP connection).
const BATCH: i64 = 50;

const BUILTIN: &[(&str, &str)] = &[
    (
        "en/default.txt",
        include_str!("../../templates/mail/en/default.txt"),
    ),
    (
        "en/item.commented.txt",
        include_str!("../../templates/mail/en/item.commented.txt"),
    ),
    (
        "en/item.resolved.txt",
        include_str!("../../templates/mail/en/item.resolved.txt"),
    ),
    (
        "en/sla.breached.txt",
        include_str!("../../templates/mail/en/sla.breached.txt"),
    ),
    (
        "de/default.txt",
        include_str!("../../templates/mail/de/default.txt"),
    ),
    (
        "de/item.commented.txt",
        include_str!("../../templates/mail/de/item.commented.txt"),
    ),
    (
        "de/item.resolved.txt",
        include_str!("../../templates/mail/de/item.resolved.txt"),
    ),
    (
        "de/sla.breached.txt",
        include_str!("../../templates/mail/de/sla.breached.txt"),
    ),
];

/// Queue mail for the given outbox events: their notified people, and the outside
/// correspondents of their items for comments and resolutions.
pub async fn fan_out(tx: &mut Tx, outbox_ids: &[i64]) -> DbResult<()> {
    if outbox_ids.is_empty() {
        return Ok(());
    }
    let mut q = Q::new("");
    let now = q.arg(now_ms());
    let ph: Vec<String> = outbox_ids.iter().map(|i| q.arg(*i)).collect();
    let ids = ph.join(", ");
    // One statement: the notified people, then the items' outside correspondents.
    q.sql = format!(
        "INSERT INTO mail_outgoing (outbox_id, item_id, user_id, email, name, event, title, state, attempts, next_at, created_at) \
         SELECT n.outbox_id, n.item_id, n.user_id, u.email, u.name, n.event, n.title, 'queued', 0, {now}, {now} \
         FROM notifications n JOIN users u ON u.id = n.user_id WHERE n.outbox_id IN ({ids}) AND u.disabled = 0 \
         UNION ALL \
         SELECT o.id, o.item_id, NULL, c.email, c.name, o.event, NULL, 'queued', 0, {now}, {now} \
         FROM outbox o JOIN item_correspondents c ON c.item_id = o.item_id \
         WHERE o.id IN ({ids}) AND o.event IN ('item.commented', 'item.resolved')"
    );
    tx.exec(q).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Outgoing {
    id: i64,
    item_id: Option<i64>,
    user_id: Option<i64>,
    email: String,
    name: String,
    event: String,
    title: Option<String>,
    attempts: i64,
    payload: String,
    language: Option<String>,
}

/// A message ready to hand to the server.
pub struct Composed {
    pub subject: String,
    pub body: String,
}

/// The templates: an installation's files where present, else the built-in ones.
fn environment(cfg: &Config) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    // Mail is text: nothing is HTML-escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (name, text) in BUILTIN {
        let custom = cfg
            .mail
            .templates_dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join(name)).ok());
        let source = custom.unwrap_or_else(|| (*text).to_string());
        if let Err(e) = env.add_template_owned(name.to_string(), source) {
            tracing::warn!(template = %name, error = %e, "mail template does not parse; using none");
        }
    }
    env
}

/// Render one message: the first line of the template is the subject.
pub fn compose(
    env: &minijinja::Environment<'_>,
    language: &str,
    event: &str,
    ctx: Value,
) -> Result<Composed, String> {
    let lang = if LANGUAGES.contains(&language) {
        language
    } else {
        "en"
    };
    let name = format!("{lang}/{event}.txt");
    let t = env
        .get_template(&name)
        .or_else(|_| env.get_template(&format!("{lang}/default.txt")))
        .map_err(|e| format!("no template for {event}: {e}"))?;
    let text = t
        .render(minijinja::Value::from(minijinja::value::Serde(&ctx)))
        .map_err(|e| format!("template {name}: {e}"))?;
    let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let subject: String = subject
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string();
    Ok(Composed {
        subject,
        body: body.trim_start_matches('\n').to_string(),
    })
}

fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_string()
}

fn transport(s: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let params = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(f) = &s.ca_file {
            let pem = std::fs::read(f)
                .map_err(|e| format!("[mail.smtp] ca_file {}: {e}", f.display()))?;
            b = b.add_root_certificate(
                Certificate::from_pem(&pem)
                    .map_err(|e| format!("[mail.smtp] ca_file {}: {e}", f.display()))?,
            );
        }
        b.build_rustls()
            .map_err(|e| format!("[mail.smtp] TLS: {e}"))
    };
    let (tls, port) = match s.tls.as_str() {
        "none" => (Tls::None, 25),
        "starttls" => (Tls::Required(params()?), 587),
        "tls" => (Tls::Wrapper(params()?), 465),
        other => {
            return Err(format!(
                "[mail.smtp] tls = \"{other}\": use starttls, tls or none"
            ));
        }
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port.unwrap_or(port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(s.timeout_secs.unwrap_or(30))));
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.build())
}

/// Send what is due; returns how many were sent. A no-op without `[mail.smtp]`.
pub async fn send_due(db: &Db, cfg: &Config) -> Result<usize, String> {
    let Some(smtp) = &cfg.mail.smtp else {
        return Ok(0);
    };
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("[mail.smtp] from = \"{}\": {e}", smtp.from))?;
    let now = now_ms();
    let err = |e: crate::platform::db::DbError| e.to_string();
    db.exec(
        Q::new(
            "UPDATE mail_outgoing SET state = 'expired' WHERE state = 'queued' AND created_at < $1",
        )
        .bind(now - EXPIRE_MS),
    )
    .await
    .map_err(err)?;
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let claimed: Vec<(i64,)> = db
        .all(
            Q::new(format!(
                "UPDATE mail_outgoing SET state = 'sending', locked_until = $1, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM mail_outgoing WHERE (state = 'queued' AND next_at <= $2) OR (state = 'sending' AND locked_until < $2) \
                 ORDER BY id LIMIT {BATCH}{lock}) RETURNING id"
            ))
            .bind(now + 5 * 60 * 1000)
            .bind(now),
        )
        .await
        .map_err(err)?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let mut q = Q::new("");
    let ph: Vec<String> = claimed.iter().map(|(i,)| q.arg(*i)).collect();
    q.sql = format!(
        "SELECT m.id, m.item_id, m.user_id, m.email, m.name, m.event, m.title, m.attempts, o.payload, u.language \
         FROM mail_outgoing m JOIN outbox o ON o.id = m.outbox_id LEFT JOIN users u ON u.id = m.user_id \
         WHERE m.id IN ({}) ORDER BY m.id",
        ph.join(", ")
    );
    let rows: Vec<Outgoing> = db.all(q).await.map_err(err)?;
    // The items the batch is about and the last message that came in about each: read once.
    let item_ids: Vec<i64> = {
        let mut v: Vec<i64> = rows.iter().filter_map(|r| r.item_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut items = std::collections::HashMap::new();
    let mut last_in = std::collections::HashMap::new();
    if !item_ids.is_empty() {
        let mut q = Q::new("");
        let ph: Vec<String> = item_ids.iter().map(|i| q.arg(*i)).collect();
        q.sql = format!(
            "{} WHERE w.id IN ({})",
            crate::kernel::SELECT_ITEM,
            ph.join(", ")
        );
        for i in db.all::<crate::kernel::ItemRow>(q).await.map_err(err)? {
            items.insert(i.id, i);
        }
        let mut q = Q::new("");
        let ph: Vec<String> = item_ids.iter().map(|i| q.arg(*i)).collect();
        q.sql = format!(
            "SELECT item_id, message_id FROM mail_threads WHERE direction = 'in' AND item_id IN ({}) ORDER BY created_at, message_id",
            ph.join(", ")
        );
        // Ordered oldest first, so the last one kept per item is the newest.
        for (item, mid) in db.all::<(i64, String)>(q).await.map_err(err)? {
            last_in.insert(item, mid);
        }
    }
    let transport = transport(smtp)?;
    let env = environment(cfg);
    let default_lang = cfg.mail.language.clone().unwrap_or_else(|| "en".into());
    let domain = domain_of(&from);
    let mut sent = 0;
    for r in rows {
        let ctx = Batch {
            cfg,
            transport: &transport,
            env: &env,
            from: &from,
            domain: &domain,
            default_lang: &default_lang,
        };
        let item = r.item_id.and_then(|i| items.get(&i));
        let thread = r.item_id.and_then(|i| last_in.get(&i)).map(String::as_str);
        let outcome = send_one(&ctx, &r, item, thread).await;
        let q = match outcome {
            Ok(Some(mid)) => {
                sent += 1;
                if let Some(item) = r.item_id {
                    db.exec(
                        Q::new("INSERT INTO mail_threads (message_id, item_id, direction, created_at) VALUES ($1, $2, 'out', $3) ON CONFLICT (message_id) DO NOTHING")
                            .bind(mid.as_str())
                            .bind(item)
                            .bind(now_ms()),
                    )
                    .await
                    .map_err(err)?;
                }
                Q::new("UPDATE mail_outgoing SET state = 'sent', sent_at = $1, message_id = $2, last_error = NULL, locked_until = NULL WHERE id = $3")
                    .bind(now_ms())
                    .bind(mid)
                    .bind(r.id)
            }
            Ok(None) => Q::new(
                "UPDATE mail_outgoing SET state = 'skipped', locked_until = NULL WHERE id = $1",
            )
            .bind(r.id),
            Err(Failure::Permanent(e)) => {
                tracing::warn!(mail = r.id, to = %r.email, error = %e, "mail not sent");
                Q::new("UPDATE mail_outgoing SET state = 'failed', last_error = $1, locked_until = NULL WHERE id = $2").bind(e).bind(r.id)
            }
            Err(Failure::Transient(e)) => {
                tracing::warn!(mail = r.id, to = %r.email, attempt = r.attempts, error = %e, "mail not sent; will retry");
                let state = if r.attempts >= MAX_ATTEMPTS {
                    "failed"
                } else {
                    "queued"
                };
                Q::new("UPDATE mail_outgoing SET state = $1, last_error = $2, next_at = $3, locked_until = NULL WHERE id = $4")
                    .bind(state)
                    .bind(e)
                    .bind(now_ms() + crate::platform::jobs::backoff_ms(r.attempts) * 30)
                    .bind(r.id)
            }
        };
        db.exec(q).await.map_err(err)?;
    }
    Ok(sent)
}

enum Failure {
    /// Retrying will not help (a bad address, a broken template).
    Permanent(String),
    /// The server or the network: try again later.
    Transient(String),
}

/// What every message of a batch shares.
struct Batch<'a> {
    cfg: &'a Config,
    transport: &'a AsyncSmtpTransport<Tokio1Executor>,
    env: &'a minijinja::Environment<'a>,
    from: &'a Mailbox,
    domain: &'a str,
    default_lang: &'a str,
}

/// Send one message; `item` is the item it is about and `thread` the last Message-ID that came
/// in about it.
async fn send_one(
    b: &Batch<'_>,
    r: &Outgoing,
    item: Option<&crate::kernel::ItemRow>,
    thread: Option<&str>,
) -> Result<Option<String>, Failure> {
    let (cfg, from, domain) = (b.cfg, b.from, b.domain);
    let payload: Value = serde_json::from_str(&r.payload).unwrap_or_else(|_| json!({}));
    // An outside correspondent is not sent their own words back.
    if r.user_id.is_none()
        && payload.get("by").and_then(Value::as_str) == Some(&format!("mail:{}", r.email))
    {
        return Ok(None);
    }
    let to: Mailbox = format!("{} <{}>", r.name.replace(['<', '>', '"'], ""), r.email)
        .parse()
        .or_else(|_| r.email.parse())
        .map_err(|e| Failure::Permanent(format!("invalid address {}: {e}", r.email)))?;
    let link = match (&cfg.mail.base_url, item) {
        (Some(base), Some(i)) => {
            let kind = crate::kernel::process::kind(&i.kind)
                .unwrap_or(keel_core::operation::resolution::incident::KIND);
            format!(
                "{}/{}/{}",
                base.trim_end_matches('/'),
                kind.collection(),
                i.number
            )
        }
        _ => String::new(),
    };
    let ctx = json!({
        "name": if r.name.is_empty() { r.email.clone() } else { r.name.clone() },
        "title": r.title.clone().unwrap_or_default(),
        "event": r.event,
        "comment": payload.get("comment").and_then(Value::as_str).unwrap_or_default(),
        "by": payload.get("by").and_then(Value::as_str).unwrap_or_default().trim_start_matches("mail:"),
        "link": link,
        "sender": from.name.clone().unwrap_or_else(|| from.email.to_string()),
        "item": match item {
            Some(i) => json!({"number": i.number, "title": i.title, "state": i.state, "priority": i.priority,
                              "kind": i.kind, "resolution_notes": i.resolution_notes, "updated_at": iso(i.updated_at)}),
            None => json!({"number": "", "title": "", "state": "", "priority": "", "kind": "", "resolution_notes": ""}),
        },
    });
    let lang = r.language.as_deref().unwrap_or(b.default_lang);
    let m = compose(b.env, lang, &r.event, ctx).map_err(Failure::Permanent)?;
    let mut rand = [0u8; 8];
    getrandom::fill(&mut rand).map_err(|e| Failure::Transient(format!("rng: {e}")))?;
    let message_id = format!("keel.{}.{}@{domain}", r.id, hex::encode(rand));
    let mut msg = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject)
        .message_id(Some(format!("<{message_id}>")))
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Keel-Loop"),
            domain.to_string(),
        ));
    if let Some(i) = item {
        // Answer the latest message that came in about the item, so the person's own mail
        // client threads it; reference the item's root so every message of it is one thread.
        let root = format!("<keel.item.{}@{domain}>", i.id);
        msg = msg.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Keel-Item"),
            i.number.clone(),
        ));
        msg = match thread {
            Some(id) => msg
                .in_reply_to(format!("<{id}>"))
                .references(format!("{root} <{id}>")),
            None => msg.in_reply_to(root.clone()).references(root),
        };
    }
    let message = msg
        .body(m.body)
        .map_err(|e| Failure::Permanent(format!("building the message: {e}")))?;
    match b.transport.send(message).await {
        Ok(_) => Ok(Some(message_id)),
        Err(e) if e.is_permanent() => Err(Failure::Permanent(e.to_string())),
        Err(e) => Err(Failure::Transient(e.to_string())),
    }
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "mail out",
    jobs: &[crate::platform::part::JobKind {
        kind: "mail.send",
        every: Some(|_| Some(10 * 1000)),
        run: |st, _job| Box::pin(async move { send_due(&st.db, &st.cfg).await.map(|_| ()) }),
    }],
    sweeps: &[|db| {
        Box::pin(async move {
            // Mail out once sent (or given up) is kept a month for whoever asks whether it went.
            db.exec(
            Q::new("DELETE FROM mail_outgoing WHERE state IN ('sent', 'skipped', 'expired', 'failed') AND created_at < $1")
                .bind(now_ms() - 30 * 86_400_000),
        )
        .await?;
            Ok(())
        })
    }],
    subscribers: &[|tx, ids| Box::pin(fan_out(tx, ids))],
    ..crate::platform::part::Part::EMPTY
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_template_renders_in_every_language() {
        let env = environment(&Config::default());
        for lang in LANGUAGES {
            for event in [
                "item.assigned",
                "item.commented",
                "item.resolved",
                "sla.breached",
                "asset.expiring",
            ] {
                let item = if event == "asset.expiring" {
                    json!({"number": "", "title": "", "state": "", "priority": "", "kind": "", "resolution_notes": ""})
                } else {
                    json!({"number": "INC-000001", "title": "Printer", "state": "new", "priority": 2, "kind": "incident", "resolution_notes": "Toner"})
                };
                let m = compose(
                    &env,
                    lang,
                    event,
                    json!({"name": "Ann", "title": "Something happened", "event": event,
                    "comment": "Hi", "by": "Bob", "link": "", "sender": "Desk", "item": item}),
                )
                .expect("renders");
                assert!(
                    !m.subject.is_empty() && !m.body.is_empty(),
                    "{lang} {event}"
                );
                if event != "asset.expiring" {
                    assert!(m.subject.starts_with("[INC-000001]"), "{}", m.subject);
                } else {
                    assert!(!m.subject.contains('['), "{}", m.subject);
                }
            }
        }
        let m = compose(&env, "fr", "item.resolved", json!({"name": "Ann", "item": {"number": "INC-000001", "title": "T", "resolution_notes": ""}, "sender": "Desk", "link": ""})).expect("falls back");
        assert!(m.subject.contains("Resolved"), "{}", m.subject);
    }
}
