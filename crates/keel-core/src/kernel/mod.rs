//! The work-item kernel: what incidents, service requests, problems and changes share —
//! numbering, a declared lifecycle, assignment, impact/urgency/priority, links and comments.
//!
//! Like ServiceNow's task table, every process is a [`Kind`] of one work item; a process declares
//! its kind (a [`KindSpec`]: lifecycle, fields, vocabulary) and its own rules, never a copy of the
//! kernel. The kernel names no process.

pub mod approval;
pub mod details;
pub mod lifecycle;
pub mod priority;
pub mod query;
pub mod tasks;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The categories a work item is classified by.
pub const CATEGORIES: &[&str] = &[
    "hardware", "software", "network", "access", "database", "security", "other",
];

/// What a process declares about its kind of work item: names, number prefix, lifecycle, its
/// own fields and vocabulary, and the few rules the kernel applies for it. The kernel knows a
/// kind only through this declaration.
#[derive(Debug)]
pub struct KindSpec {
    /// Stored and shown name, as in `incident`, `known_error`.
    pub name: &'static str,
    /// Human number prefix, as in `INC-000123`.
    pub prefix: &'static str,
    /// The API collection, as in `/api/v1/known-errors`; also the pages' path.
    pub collection: &'static str,
    /// What people call one and many of them: ("Known error", "Known errors").
    pub label: (&'static str, &'static str),
    pub lifecycle: &'static lifecycle::Lifecycle,
    /// The process's own fields (see [`details`]).
    pub details: &'static [details::Field],
    /// Categories, hold reasons and resolution codes it offers.
    pub vocabulary: Vocabulary,
    /// Records only service-provider staff see: requesters neither list nor raise them.
    pub internal: bool,
    /// For kinds that ask for approval: the state they wait in, and where an approval and a
    /// rejection take them.
    pub approval_moves: Option<(&'static str, &'static str, &'static str)>,
    /// Details fixed once an item is raised: what it was raised as decides its approvals and its
    /// path (a standard change's pre-authorization, a request's approvers).
    pub fixed_details: &'static [&'static str],
    /// Where an item moves when its last task is done, for kinds that finish with their tasks.
    pub when_tasks_done: Option<&'static str>,
    /// What its tasks are called on its page (`Fulfilment tasks`), for kinds with tasks.
    pub tasks_label: &'static str,
    /// Whether an agent may override the priority the impact × urgency matrix gives.
    pub priority_override: bool,
}

/// The closed lists an item's category, hold reason and resolution code come from.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    pub categories: &'static [&'static str],
    pub hold_reasons: &'static [&'static str],
    pub resolution_codes: &'static [&'static str],
}

/// A kind of work item (incident, change, nonconformity …): a handle on its process's
/// [`KindSpec`]. Like ServiceNow's task table, every process is a kind of one work item.
#[derive(Clone, Copy)]
pub struct Kind(&'static KindSpec);

impl Kind {
    /// The kind a process declares.
    pub const fn declare(spec: &'static KindSpec) -> Kind {
        Kind(spec)
    }
    pub fn spec(self) -> &'static KindSpec {
        self.0
    }
    pub fn as_str(self) -> &'static str {
        self.0.name
    }
    pub fn prefix(self) -> &'static str {
        self.0.prefix
    }
    pub fn lifecycle(self) -> &'static lifecycle::Lifecycle {
        self.0.lifecycle
    }
    pub fn collection(self) -> &'static str {
        self.0.collection
    }
    pub fn details(self) -> &'static [details::Field] {
        self.0.details
    }
    pub fn vocabulary(self) -> Vocabulary {
        self.0.vocabulary
    }
    pub fn is_internal(self) -> bool {
        self.0.internal
    }
    pub fn approval_moves(self) -> Option<(&'static str, &'static str, &'static str)> {
        self.0.approval_moves
    }
    pub fn fixed_details(self) -> &'static [&'static str] {
        self.0.fixed_details
    }
    pub fn when_tasks_done(self) -> Option<&'static str> {
        self.0.when_tasks_done
    }

    /// `INC-000123` (case-insensitive prefix) back to its sequence, if it is a number of this kind.
    pub fn parse_number(self, raw: &str) -> Option<i64> {
        let (prefix, digits) = raw.split_once('-')?;
        if !self.prefix().eq_ignore_ascii_case(prefix)
            || digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let seq = digits.parse().ok()?;
        (seq > 0).then_some(seq)
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.0.name == other.0.name
    }
}
impl Eq for Kind {}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.name.hash(h);
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Format a sequence value as a human number: at least six digits, never truncated.
pub fn format_number(kind: Kind, seq: i64) -> String {
    format!("{}-{:06}", kind.prefix(), seq)
}

/// Parse `INC-000123` back to one of `kinds` and its sequence.
pub fn parse_number(kinds: &[Kind], raw: &str) -> Option<(Kind, i64)> {
    kinds
        .iter()
        .find_map(|k| k.parse_number(raw).map(|seq| (*k, seq)))
}

/// The kinds of link between work items. Direction matters: `from` is the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// `from` is the parent of `to` (one outage, many reports).
    ParentOf,
    /// Loosely related.
    RelatesTo,
    /// `from` duplicates `to`.
    Duplicates,
    /// `from` was caused by `to` (e.g. an incident caused by a change).
    CausedBy,
    /// `from` fixes `to` for good (a change fixing a problem, 8.6.3).
    Fixes,
}

impl LinkKind {
    pub const ALL: [LinkKind; 5] = [
        LinkKind::ParentOf,
        LinkKind::RelatesTo,
        LinkKind::Duplicates,
        LinkKind::CausedBy,
        LinkKind::Fixes,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::ParentOf => "parent_of",
            LinkKind::RelatesTo => "relates_to",
            LinkKind::Duplicates => "duplicates",
            LinkKind::CausedBy => "caused_by",
            LinkKind::Fixes => "fixes",
        }
    }
    pub fn parse(s: &str) -> Option<LinkKind> {
        LinkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    static TICKET: KindSpec = KindSpec {
        name: "ticket",
        prefix: "INC",
        collection: "tickets",
        label: ("Ticket", "Tickets"),
        lifecycle: &lifecycle::Lifecycle {
            states: &["new"],
            terminal: &[],
            transitions: &[],
        },
        details: &[],
        vocabulary: Vocabulary {
            categories: &[],
            hold_reasons: &[],
            resolution_codes: &[],
        },
        internal: false,
        approval_moves: None,
        fixed_details: &[],
        when_tasks_done: None,
        tasks_label: "",
        priority_override: false,
    };
    const T: Kind = Kind::declare(&TICKET);

    #[test]
    fn numbers() {
        assert_eq!(format_number(T, 123), "INC-000123");
        assert_eq!(format_number(T, 12_345_678), "INC-12345678");
        assert_eq!(parse_number(&[T], "inc-000123"), Some((T, 123)));
        for bad in ["INC-", "INC-12a", "XYZ-1", "INC000123", "INC-0", "INC--1"] {
            assert_eq!(parse_number(&[T], bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn numbers_round_trip(seq in 1i64..10_000_000_000) {
            prop_assert_eq!(parse_number(&[T], &format_number(T, seq)), Some((T, seq)));
        }
    }
}
