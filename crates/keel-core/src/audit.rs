//! Clause 7.5.3 — control of documented information: the tamper-evident audit trail.
//!
//! Every create, change and delete appends an [`Entry`]. Entries form a hash chain: each stores
//! the SHA-256 of its predecessor and its own hash over a canonical encoding of its content, so an
//! edited, removed or re-ordered entry breaks the chain and [`verify`] names the first bad one.
//! The store keeps the chain head (last sequence number and hash) apart, which also catches a
//! truncated tail.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that stands before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One field's change: `old` is null on create, `new` is null on delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// The content of an audit entry, before it is chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, 1-based, gapless.
    pub seq: i64,
    /// Epoch milliseconds.
    pub at: i64,
    pub actor_id: Option<i64>,
    /// Who acted, as shown to a reader (survives the user's later renaming).
    pub actor: String,
    /// Through which channel: `web`, `api`, `cli`, `system`.
    pub channel: String,
    /// `create`, `update`, `delete` or a domain verb (`login`, `token.create` …).
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub changes: Vec<FieldChange>,
}

impl Entry {
    /// The canonical bytes that are hashed. A fixed field order with length prefixes makes the
    /// encoding unambiguous without depending on a JSON library's key order.
    fn canonical(&self, prev_hash: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut put = |s: &str| {
            out.extend_from_slice(s.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(s.as_bytes());
            out.push(b';');
        };
        put(prev_hash);
        put(&self.seq.to_string());
        put(&self.at.to_string());
        put(&self.actor_id.map(|i| i.to_string()).unwrap_or_default());
        put(&self.actor);
        put(&self.channel);
        put(&self.action);
        put(&self.entity_type);
        put(&self.entity_id);
        put(&changes_json(&self.changes));
        out
    }

    /// This entry's hash given its predecessor's.
    pub fn hash(&self, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(self.canonical(prev_hash)))
    }
}

/// How changes are stored: a JSON array. Stored text is what is hashed, so a reader of the raw
/// column can recompute the chain without Keel.
pub fn changes_json(changes: &[FieldChange]) -> String {
    serde_json::to_string(changes).unwrap_or_else(|_| "[]".to_string())
}

/// Compare two field sets and list what differs. Fields in `after` but not `before` are creations.
pub fn diff(
    before: &[(&str, serde_json::Value)],
    after: &[(&str, serde_json::Value)],
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (field, new) in after {
        let old = before
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
            .unwrap_or(serde_json::Value::Null);
        if &old != new {
            out.push(FieldChange {
                field: (*field).to_string(),
                old,
                new: new.clone(),
            });
        }
    }
    out
}

/// A stored entry as read back: content plus the two hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub entry: Entry,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: content does not match its hash (altered)")]
    Altered { seq: i64 },
    #[error("entry {seq}: previous-hash link broken (an entry before it was removed or altered)")]
    Broken { seq: i64 },
    #[error("entry {found} follows {expected_after}: entries missing")]
    Gap { expected_after: i64, found: i64 },
    #[error("chain ends at {last} but the head records {head}: entries removed from the end")]
    Truncated { last: i64, head: i64 },
    #[error("the head's hash does not match the last entry")]
    HeadMismatch,
}

/// Incremental verifier, so the store can stream millions of entries without holding them.
#[derive(Debug)]
pub struct Verifier {
    last_seq: i64,
    last_hash: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            last_seq: 0,
            last_hash: GENESIS.to_string(),
        }
    }
}

impl Verifier {
    pub fn push(&mut self, s: &Stored) -> Result<(), ChainError> {
        let seq = s.entry.seq;
        if seq != self.last_seq + 1 {
            return Err(ChainError::Gap {
                expected_after: self.last_seq,
                found: seq,
            });
        }
        if s.prev_hash != self.last_hash {
            return Err(ChainError::Broken { seq });
        }
        if s.entry.hash(&s.prev_hash) != s.hash {
            return Err(ChainError::Altered { seq });
        }
        self.last_seq = seq;
        self.last_hash = s.hash.clone();
        Ok(())
    }

    /// Compare with the head the store keeps; returns the number of entries checked.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, ChainError> {
        if head_seq != self.last_seq {
            return Err(ChainError::Truncated {
                last: self.last_seq,
                head: head_seq,
            });
        }
        if head_hash != self.last_hash {
            return Err(ChainError::HeadMismatch);
        }
        Ok(self.last_seq)
    }
}

/// The chain's head as it stood at a moment, kept outside the database (an append-only file, a
/// write-once store, the audit pack). The chain shows that no entry was altered or removed from
/// within it; only an anchor kept elsewhere shows that its tail was not cut off, or the chain
/// rebuilt from an earlier entry on, by someone able to write to the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    /// When it was taken (RFC 3339).
    pub at: String,
}

impl Anchor {
    /// One line of an anchor file.
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The anchors of a file of lines; blank lines are skipped, a line that is not an anchor is
    /// an error naming it (an anchor file is evidence: it is read whole or not at all).
    pub fn parse_lines(text: &str) -> Result<Vec<Anchor>, String> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str::<Anchor>(l)
                    .map_err(|e| format!("line {}: not an anchor ({e})", i + 1))
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error(
        "the chain ends at {head} but an anchor of {at} records entry {anchored}: entries removed from the end"
    )]
    Truncated {
        anchored: i64,
        head: i64,
        at: String,
    },
    #[error(
        "entry {seq} does not have the hash its anchor of {at} recorded: the chain was rewritten from there on"
    )]
    Rewritten { seq: i64, at: String },
}

/// Check one anchor against the chain: its entry must still be there with the same hash.
/// `head_seq` is the chain's verified end; `hash_at` the stored hash of entry `anchor.seq`.
pub fn check_anchor(
    anchor: &Anchor,
    head_seq: i64,
    hash_at: Option<&str>,
) -> Result<(), AnchorError> {
    if anchor.seq > head_seq {
        return Err(AnchorError::Truncated {
            anchored: anchor.seq,
            head: head_seq,
            at: anchor.at.clone(),
        });
    }
    if anchor.seq > 0 && hash_at != Some(anchor.hash.as_str()) {
        return Err(AnchorError::Rewritten {
            seq: anchor.seq,
            at: anchor.at.clone(),
        });
    }
    Ok(())
}

/// Verify a whole chain in memory.
pub fn verify(entries: &[Stored], head_seq: i64, head_hash: &str) -> Result<i64, ChainError> {
    let mut v = Verifier::default();
    for e in entries {
        v.push(e)?;
    }
    v.finish(head_seq, head_hash)
}

#[cfg(test)]
mod tests {

    #[test]
    fn anchors_catch_a_cut_tail_and_a_rewritten_chain() {
        let a = Anchor {
            seq: 7,
            hash: "h7".into(),
            at: "2026-12-07T10:00:00Z".into(),
        };
        assert_eq!(check_anchor(&a, 9, Some("h7")), Ok(()));
        assert!(matches!(
            check_anchor(&a, 6, None),
            Err(AnchorError::Truncated {
                anchored: 7,
                head: 6,
                ..
            })
        ));
        assert!(matches!(
            check_anchor(&a, 9, Some("other")),
            Err(AnchorError::Rewritten { seq: 7, .. })
        ));
        let text = format!("{}\n\n{}\n", a.line(), a.line());
        assert_eq!(Anchor::parse_lines(&text), Ok(vec![a.clone(), a]));
        assert!(Anchor::parse_lines("{\"seq\": 1}\n").is_err());
    }
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn chain(n: i64) -> Vec<Stored> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let entry = Entry {
                    seq,
                    at: 1_700_000_000_000 + seq,
                    actor_id: Some(1),
                    actor: "ann@example.com".into(),
                    channel: "api".into(),
                    action: "update".into(),
                    entity_type: "incident".into(),
                    entity_id: format!("INC-{seq:06}"),
                    changes: vec![FieldChange {
                        field: "state".into(),
                        old: json!("new"),
                        new: json!("in_progress"),
                    }],
                };
                let hash = entry.hash(&prev);
                let s = Stored {
                    entry,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                s
            })
            .collect()
    }

    fn head(c: &[Stored]) -> (i64, String) {
        c.last()
            .map(|s| (s.entry.seq, s.hash.clone()))
            .unwrap_or((0, GENESIS.to_string()))
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let (s, h) = head(&c);
        assert_eq!(verify(&c, s, &h), Ok(5));
        assert_eq!(verify(&[], 0, GENESIS), Ok(0));
    }

    #[test]
    fn truncation_is_caught() {
        let c = chain(5);
        let (s, h) = head(&c);
        assert_eq!(
            verify(&c[..4], s, &h),
            Err(ChainError::Truncated { last: 4, head: 5 })
        );
    }

    #[test]
    fn diff_lists_only_changes() {
        let d = diff(
            &[("title", json!("a")), ("state", json!("new"))],
            &[
                ("title", json!("a")),
                ("state", json!("closed")),
                ("x", json!(1)),
            ],
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].field, "state");
        assert_eq!(d[1].old, serde_json::Value::Null);
    }

    proptest! {
        /// Altering any single entry's content is detected at that entry.
        #[test]
        fn any_alteration_is_detected(n in 1i64..20, pick in 0usize..20, what in 0u8..4) {
            let mut c = chain(n);
            let i = pick % c.len();
            let (s, h) = head(&c);
            match what {
                0 => c[i].entry.actor.push('x'),
                1 => c[i].entry.at += 1,
                2 => c[i].entry.changes[0].new = json!("closed"),
                _ => c[i].entry.entity_id.push('9'),
            }
            prop_assert_eq!(verify(&c, s, &h), Err(ChainError::Altered { seq: c[i].entry.seq }));
        }

        /// Removing any entry but the last is detected as a gap.
        #[test]
        fn any_removal_is_detected(n in 2i64..20, pick in 0usize..19) {
            let mut c = chain(n);
            let i = pick % (c.len() - 1);
            let (s, h) = head(&c);
            c.remove(i);
            prop_assert!(verify(&c, s, &h).is_err());
        }
    }
}
