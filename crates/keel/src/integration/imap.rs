//! Reading a queue's mailbox over IMAP (8.6.1, 8.6.2): new messages are fetched by UID, handed to
//! [`super::mail::ingest`] (which stores each before anything else), then flagged `\Seen`; the
//! last UID taken is kept per mailbox with its UIDVALIDITY, so a restart neither skips nor
//! repeats mail (and a repeat would be recognised by its bytes anyway).
//!
//! One node reads a mailbox at a time: [`watch`] holds a lease on the mailbox's cursor row,
//! renewed while it reads; another node takes over when the lease runs out. With IDLE the server
//! tells Keel at once when mail arrives; without it Keel polls.

use crate::platform::config::{Config, ImapConfig, MailQueue};
use crate::platform::db::{Db, Q, now_ms};
use async_imap::extensions::idle::IdleResponse;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A connection, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Stream for T {}

pub type Session = async_imap::Session<Box<dyn Stream>>;

/// How long a node's claim on a mailbox lasts without renewal.
const LEASE_MS: i64 = 120_000;
/// How long one IDLE waits before Keel checks in (servers drop IDLE after 30 minutes; the lease
/// needs renewing well before it runs out).
const IDLE_WAIT: Duration = Duration::from_secs(50);
const TIMEOUT: Duration = Duration::from_secs(30);

async fn wrap_tls(c: &ImapConfig, tcp: TcpStream) -> Result<Box<dyn Stream>, String> {
    let connector = tokio_rustls::TlsConnector::from(crate::platform::tls::client_config(
        c.ca_file.as_deref(),
    )?);
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(c.host.clone())
        .map_err(|e| format!("imap host {}: {e}", c.host))?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", c.host))?;
    Ok(Box::new(tls))
}

/// Connect, log in and select the mailbox.
pub async fn connect(c: &ImapConfig) -> Result<(Session, u32), String> {
    let port = c.port.unwrap_or(if c.tls == "tls" { 993 } else { 143 });
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((c.host.as_str(), port)))
        .await
        .map_err(|_| format!("{}:{port}: no answer", c.host))?
        .map_err(|e| format!("{}:{port}: {e}", c.host))?;
    let greet = |e: std::io::Error| format!("greeting: {e}");
    let client = match c.tls.as_str() {
        "tls" => {
            let mut client = async_imap::Client::new(wrap_tls(c, tcp).await?);
            client.read_response().await.map_err(greet)?;
            client
        }
        "none" => {
            let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Stream>);
            client.read_response().await.map_err(greet)?;
            client
        }
        "starttls" => {
            // Upgrade the plain connection, then speak IMAP over TLS (no second greeting).
            let mut plain = async_imap::Client::new(tcp);
            plain.read_response().await.map_err(greet)?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| format!("STARTTLS: {e}"))?;
            async_imap::Client::new(wrap_tls(c, plain.into_inner()).await?)
        }
        other => return Err(format!("imap tls = \"{other}\": use tls, starttls or none")),
    };
    let mut session = client
        .login(&c.username, &c.password)
        .await
        .map_err(|(e, _)| format!("login as {}: {e}", c.username))?;
    let mailbox = c.mailbox.clone().unwrap_or_else(|| "INBOX".into());
    let mb = session
        .select(&mailbox)
        .await
        .map_err(|e| format!("select {mailbox}: {e}"))?;
    Ok((session, mb.uid_validity.unwrap_or(0)))
}

/// Take every message newer than the cursor into the queue; returns how many.
pub async fn fetch_new(
    db: &Db,
    cfg: &Config,
    queue: &MailQueue,
    session: &mut Session,
    uid_validity: u32,
) -> Result<usize, String> {
    let key = queue.name.clone();
    let cursor: Option<(i64, i64)> = db
        .opt(
            Q::new("SELECT uid_validity, last_uid FROM mail_cursors WHERE mailbox = $1")
                .bind(key.as_str()),
        )
        .await
        .map_err(|e| e.to_string())?;
    // A new UIDVALIDITY means the server renumbered the mailbox: start over (repeats are
    // recognised by their bytes).
    let last = match cursor {
        Some((v, l)) if v == i64::from(uid_validity) => l,
        _ => 0,
    };
    let mut taken = 0;
    let fetched: Vec<(u32, Vec<u8>)> = {
        let mut stream = session
            .uid_fetch(format!("{}:*", last + 1), "(UID BODY.PEEK[])")
            .await
            .map_err(|e| format!("fetch: {e}"))?;
        let mut out = vec![];
        while let Some(f) = stream.next().await {
            let f = f.map_err(|e| format!("fetch: {e}"))?;
            if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                // `n:*` always returns the newest message, even when it is older than n.
                if i64::from(uid) > last {
                    out.push((uid, body.to_vec()));
                }
            }
        }
        out
    };
    let source = format!(
        "imap:{}",
        queue.imap.as_ref().map_or("", |c| c.host.as_str())
    );
    for (uid, raw) in fetched {
        super::mail::ingest(db, cfg, &queue.name, &source, raw)
            .await
            .map_err(|e| format!("storing message {uid}: {e}"))?;
        // Stored: only now is the cursor moved and the message flagged.
        db.exec(
            Q::new("INSERT INTO mail_cursors (mailbox, uid_validity, last_uid) VALUES ($1, $2, $3) ON CONFLICT (mailbox) DO UPDATE SET uid_validity = $2, last_uid = $3")
                .bind(key.as_str())
                .bind(i64::from(uid_validity))
                .bind(i64::from(uid)),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut s = session
            .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
            .await
            .map_err(|e| format!("flag: {e}"))?;
        while s.next().await.is_some() {}
        taken += 1;
    }
    Ok(taken)
}

/// One pass: connect, take what is new, log out. For tests and `keel mail-fetch`-like use.
pub async fn fetch_once(db: &Db, cfg: &Config, queue: &MailQueue) -> Result<usize, String> {
    let c = queue
        .imap
        .as_ref()
        .ok_or("the queue has no [imap] section")?;
    let (mut session, validity) = connect(c).await?;
    let n = fetch_new(db, cfg, queue, &mut session, validity).await?;
    let _ = session.logout().await;
    Ok(n)
}

/// Claim (or renew) this node's lease on a mailbox.
async fn lease(db: &Db, mailbox: &str, node: &str) -> Result<bool, String> {
    let now = now_ms();
    db.exec(
        Q::new("INSERT INTO mail_cursors (mailbox, uid_validity, last_uid) VALUES ($1, 0, 0) ON CONFLICT (mailbox) DO NOTHING")
            .bind(mailbox),
    )
    .await
    .map_err(|e| e.to_string())?;
    let n = db
        .exec(
            Q::new("UPDATE mail_cursors SET leased_by = $1, leased_until = $2 WHERE mailbox = $3 AND (leased_by IS NULL OR leased_by = $1 OR leased_until < $4)")
                .bind(node)
                .bind(now + LEASE_MS)
                .bind(mailbox)
                .bind(now),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(n == 1)
}

/// Read a queue's mailbox until `stop`: while this node holds the mailbox's lease, take new
/// mail as it arrives (IDLE) or every `poll_seconds`; on errors, log and retry with back-off.
pub async fn watch(
    db: Db,
    cfg: Arc<Config>,
    queue: MailQueue,
    node: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(c) = queue.imap.clone() else { return };
    let poll = Duration::from_secs(c.poll_seconds.unwrap_or(60).max(5));
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let result = match lease(&db, &queue.name, &node).await {
            Ok(true) => session_loop(&db, &cfg, &queue, &c, &node, poll, &mut stop).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        let pause = match result {
            Ok(()) => {
                failures = 0;
                poll
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(queue = %queue.name, error = %e, "reading the mailbox failed; will retry");
                Duration::from_secs((5u64 << failures.min(6)).min(300))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn session_loop(
    db: &Db,
    cfg: &Config,
    queue: &MailQueue,
    c: &ImapConfig,
    node: &str,
    poll: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let (mut session, validity) = connect(c).await?;
    let idle = c.idle.unwrap_or(true)
        && session
            .capabilities()
            .await
            .map(|caps| caps.has_str("IDLE"))
            .unwrap_or(false);
    loop {
        let n = fetch_new(db, cfg, queue, &mut session, validity).await?;
        if n > 0 {
            tracing::info!(queue = %queue.name, messages = n, "mail taken from the mailbox");
        }
        if *stop.borrow() || !lease(db, &queue.name, node).await? {
            let _ = session.logout().await;
            return Ok(());
        }
        if idle {
            let mut handle = session.idle();
            handle.init().await.map_err(|e| format!("IDLE: {e}"))?;
            let (wait, interrupt) = handle.wait_with_timeout(IDLE_WAIT);
            let outcome = tokio::select! {
                r = wait => Some(r),
                _ = stop.changed() => None,
            };
            drop(interrupt);
            if let Some(Err(e)) = &outcome {
                return Err(format!("IDLE: {e}"));
            }
            if let Some(Ok(IdleResponse::NewData(_))) = &outcome {
                tracing::debug!(queue = %queue.name, "the server announced new mail");
            }
            session = handle.done().await.map_err(|e| format!("IDLE done: {e}"))?;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
