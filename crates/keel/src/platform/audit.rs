//! The audit trail's storage: appending to and verifying the hash chain (rules in
//! `keel_core::audit`). Every layer writes through it; clause 7.5.3's
//! API and pages over it are `management::support::audit_trail`.
//!
//! **Invariant:** every write to any record calls [`append`] inside the same transaction, so a
//! change and its audit entry commit or vanish together. The chain head row is updated first,
//! which serializes appends (the row lock on PostgreSQL, the single writer on SQLite) and keeps
//! sequence numbers gapless across nodes.

use crate::platform::db::{Db, DbResult, Q, Tx, now_ms};
use keel_core::audit::{
    self as chain, Anchor, AnchorError, ChainError, Entry, FieldChange, Stored,
};
use serde::Serialize;

/// Through which door a change came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    Api,
    Cli,
    System,
    /// Mail received (`integration::mail`).
    Mail,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Cli => "cli",
            Channel::System => "system",
            Channel::Mail => "mail",
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub label: String,
    pub channel: Channel,
}

impl Actor {
    pub fn system(what: &str) -> Actor {
        Actor {
            user_id: None,
            label: format!("system:{what}"),
            channel: Channel::System,
        }
    }
    pub fn cli() -> Actor {
        let who = std::env::var("USER").unwrap_or_else(|_| "operator".into());
        Actor {
            user_id: None,
            label: format!("cli:{who}"),
            channel: Channel::Cli,
        }
    }
}

/// An entry waiting to be chained.
#[derive(Debug, Clone)]
pub struct Pending {
    pub actor: Actor,
    pub action: &'static str,
    pub entity_type: String,
    pub entity_id: String,
    pub changes: Vec<FieldChange>,
}

/// Append one entry in the caller's transaction.
pub async fn append(
    tx: &mut Tx,
    actor: &Actor,
    action: &'static str,
    entity_type: &str,
    entity_id: &str,
    changes: Vec<FieldChange>,
) -> DbResult<()> {
    let pending = Pending {
        actor: actor.clone(),
        action,
        entity_type: entity_type.to_string(),
        entity_id: entity_id.to_string(),
        changes,
    };
    append_many(tx, vec![pending]).await
}

/// Append several entries, in order, with one statement for the head and one for the rows.
pub async fn append_many(tx: &mut Tx, entries: Vec<Pending>) -> DbResult<()> {
    let n = entries.len() as i64;
    if n == 0 {
        return Ok(());
    }
    let (last, mut prev): (i64, String) = tx
        .one(
            Q::new("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, last_hash")
                .bind(n),
        )
        .await?;
    let at = now_ms();
    let mut q = Q::new("");
    let mut rows = Vec::with_capacity(entries.len());
    for (i, p) in entries.into_iter().enumerate() {
        let entry = Entry {
            seq: last - n + 1 + i as i64,
            at,
            actor_id: p.actor.user_id,
            actor: p.actor.label,
            channel: p.actor.channel.as_str().to_string(),
            action: p.action.to_string(),
            entity_type: p.entity_type,
            entity_id: p.entity_id,
            changes: p.changes,
        };
        let hash = entry.hash(&prev);
        rows.push(entry_values(
            &mut q,
            entry,
            std::mem::replace(&mut prev, hash.clone()),
            hash,
        ));
    }
    q.sql = format!("INSERT INTO {INSERT_COLS} VALUES {}", rows.join(", "));
    tx.exec(q).await?;
    // Set the head explicitly too: the per-row trigger's order within one statement is not
    // something to rely on.
    tx.exec(Q::new("UPDATE audit_head SET last_hash = $1 WHERE id = 1").bind(prev))
        .await?;
    Ok(())
}

const INSERT_COLS: &str = "audit_log (seq, at, actor_id, actor, channel, action, entity_type, entity_id, changes, prev_hash, hash)";

/// One `(…)` row of placeholders for an entry, its arguments pushed onto `q`.
fn entry_values(q: &mut Q, e: Entry, prev_hash: String, hash: String) -> String {
    let changes = chain::changes_json(&e.changes);
    let v = [
        q.arg(e.seq),
        q.arg(e.at),
        q.arg(e.actor_id),
        q.arg(e.actor),
        q.arg(e.channel),
        q.arg(e.action),
        q.arg(e.entity_type),
        q.arg(e.entity_id),
        q.arg(changes),
        q.arg(prev_hash),
        q.arg(hash),
    ];
    format!("({})", v.join(", "))
}

/// An audit entry as stored.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub channel: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    /// JSON array of `{field, old, new}`.
    pub changes: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    fn into_stored(self) -> Stored {
        let changes: Vec<FieldChange> = serde_json::from_str(&self.changes).unwrap_or_default();
        // An unparseable `changes` column re-serializes differently and so fails verification.
        let entry = Entry {
            seq: self.seq,
            at: self.at,
            actor_id: self.actor_id,
            actor: self.actor,
            channel: self.channel,
            action: self.action,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            changes,
        };
        let mut s = Stored {
            entry,
            prev_hash: self.prev_hash,
            hash: self.hash,
        };
        if chain::changes_json(&s.entry.changes) != self.changes {
            s.hash = String::from("unparseable");
        }
        s
    }
}

const COLS: &str =
    "seq, at, actor_id, actor, channel, action, entity_type, entity_id, changes, prev_hash, hash";

/// The history of one record, oldest first.
pub async fn for_entity(db: &Db, entity_type: &str, entity_id: &str) -> DbResult<Vec<AuditRow>> {
    db.all(
        Q::new(format!(
            "SELECT {COLS} FROM audit_log WHERE entity_type = $1 AND entity_id = $2 ORDER BY seq"
        ))
        .bind(entity_type)
        .bind(entity_id),
    )
    .await
}

/// A page of the whole trail, newest first, before `before_seq`.
/// A page of the trail, newest first; optionally one record's entries (`entity`: type and,
/// optionally, id).
pub async fn page(
    db: &Db,
    before_seq: Option<i64>,
    limit: u32,
    entity: Option<(&str, Option<&str>)>,
) -> DbResult<Vec<AuditRow>> {
    let mut q = Q::new("");
    let before = q.arg(before_seq.unwrap_or(i64::MAX));
    let mut cond = format!("seq < {before}");
    if let Some((t, id)) = entity {
        cond.push_str(&format!(" AND entity_type = {}", q.arg(t)));
        if let Some(id) = id {
            cond.push_str(&format!(" AND entity_id = {}", q.arg(id)));
        }
    }
    let lim = q.arg(i64::from(limit));
    q.sql = format!("SELECT {COLS} FROM audit_log WHERE {cond} ORDER BY seq DESC LIMIT {lim}");
    db.all(q).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub ok: bool,
    pub entries: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Walk the chain in batches up to the head read first, and compare with that head.
///
/// The head is read before the entries: every append moves the head and inserts its entries in
/// one transaction, and appends are serialised by the head's row, so every entry up to a
/// committed head is committed too. Entries appended while the walk runs lie beyond that head
/// and are left for the next run; a walk that read the head last would race them and report a
/// healthy chain as truncated.
pub async fn verify(db: &Db) -> DbResult<Result<i64, ChainError>> {
    let (head_seq, head_hash): (i64, String) = db
        .one(Q::new("SELECT seq, last_hash FROM audit_head WHERE id = 1"))
        .await?;
    let mut v = chain::Verifier::default();
    let mut after = 0i64;
    while after < head_seq {
        let rows: Vec<AuditRow> = db
            .all(
                Q::new(format!(
                    "SELECT {COLS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 5000"
                ))
                .bind(after)
                .bind(head_seq),
            )
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in rows {
            if let Err(e) = v.push(&r.into_stored()) {
                return Ok(Err(e));
            }
        }
    }
    Ok(v.finish(head_seq, &head_hash))
}

/// The chain's head now, as an anchor.
pub async fn head(db: &Db) -> DbResult<Anchor> {
    let (seq, hash): (i64, String) = db
        .one(Q::new("SELECT seq, last_hash FROM audit_head WHERE id = 1"))
        .await?;
    Ok(Anchor {
        seq,
        hash,
        at: jiff::Timestamp::now().to_string(),
    })
}

/// Take an anchor of the head: append it to `file` (created if missing, never rewritten, synced
/// to disk) and record it in `audit_anchors` so the audit pack carries the latest ones.
pub async fn anchor_to(db: &Db, file: &std::path::Path) -> Result<Anchor, anyhow::Error> {
    use std::io::Write;
    let a = head(db).await?;
    let line = a.line() + "\n";
    let path = file.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()
    })
    .await??;
    db.exec(
        Q::new("INSERT INTO audit_anchors (seq, hash, at, place) VALUES ($1, $2, $3, $4)")
            .bind(a.seq)
            .bind(a.hash.as_str())
            .bind(now_ms())
            .bind(file.display().to_string()),
    )
    .await?;
    Ok(a)
}

/// The latest anchors recorded, newest first.
pub async fn recent_anchors(db: &Db, limit: i64) -> DbResult<Vec<Anchor>> {
    let rows: Vec<(i64, String, i64)> = db
        .all(
            Q::new("SELECT seq, hash, at FROM audit_anchors ORDER BY seq DESC, at DESC LIMIT $1")
                .bind(limit),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, hash, at)| Anchor {
            seq,
            hash,
            at: crate::platform::web::iso(at),
        })
        .collect())
}

/// Check anchors kept outside the database against the chain, whose entries up to its head
/// [`verify`] has checked: every anchored entry must still be there with the hash it had.
/// Returns how many anchors held.
pub async fn verify_anchors(db: &Db, anchors: &[Anchor]) -> DbResult<Result<usize, AnchorError>> {
    let (head_seq,): (i64,) = db
        .one(Q::new("SELECT seq FROM audit_head WHERE id = 1"))
        .await?;
    for a in anchors {
        let hash: Option<(String,)> = db
            .opt(Q::new("SELECT hash FROM audit_log WHERE seq = $1").bind(a.seq))
            .await?;
        if let Err(e) = chain::check_anchor(a, head_seq, hash.as_ref().map(|h| h.0.as_str())) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(anchors.len()))
}
