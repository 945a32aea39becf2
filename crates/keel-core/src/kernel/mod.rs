//! The work-item kernel: what incidents, service requests, problems and changes share —
//! numbering, a declared lifecycle, assignment, impact/urgency/priority, links and comments.
//!
//! Like ServiceNow's task table, every process is a [`Kind`] of one work item; a process adds its
//! own lifecycle (a [`lifecycle::Lifecycle`] value) and its own field rules, never a copy of the
//! kernel.

pub mod approval;
pub mod details;
pub mod lifecycle;
pub mod priority;
pub mod query;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The processes built on the kernel (8.6 resolution, 8.5.1 change, 8.3.2 complaints, 6.1 risks, 10 improvement). New kinds are added here with their number prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Incident,
    Request,
    Problem,
    KnownError,
    Change,
    /// Clause 10.1.
    Nonconformity,
    /// Clause 10.2.
    Improvement,
    /// Clause 6.1.
    Risk,
    /// Clause 8.3.2.
    Complaint,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Incident,
        Kind::Request,
        Kind::Problem,
        Kind::KnownError,
        Kind::Change,
        Kind::Nonconformity,
        Kind::Improvement,
        Kind::Risk,
        Kind::Complaint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Request => "request",
            Kind::Problem => "problem",
            Kind::KnownError => "known_error",
            Kind::Change => "change",
            Kind::Nonconformity => "nonconformity",
            Kind::Improvement => "improvement",
            Kind::Risk => "risk",
            Kind::Complaint => "complaint",
        }
    }

    /// Human number prefix, as in `INC-000123`.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Incident => "INC",
            Kind::Request => "REQ",
            Kind::Problem => "PRB",
            Kind::KnownError => "KE",
            Kind::Change => "CHG",
            Kind::Nonconformity => "NC",
            Kind::Improvement => "IMP",
            Kind::Risk => "RSK",
            Kind::Complaint => "CMP",
        }
    }

    pub fn lifecycle(self) -> &'static lifecycle::Lifecycle {
        use crate::management::improvement;
        use crate::operation::resolution::{incident, problem, request};
        match self {
            Kind::Incident => &incident::LIFECYCLE,
            Kind::Request => &request::LIFECYCLE,
            Kind::Problem => &problem::LIFECYCLE,
            Kind::KnownError => &problem::KNOWN_ERROR_LIFECYCLE,
            Kind::Change => &crate::operation::transition::change::LIFECYCLE,
            Kind::Nonconformity => &improvement::NC_LIFECYCLE,
            Kind::Improvement => &improvement::IMP_LIFECYCLE,
            Kind::Risk => &crate::management::planning::LIFECYCLE,
            Kind::Complaint => &crate::operation::relationship::business::COMPLAINT_LIFECYCLE,
        }
    }

    /// The API collection, as in `/api/v1/known-errors`.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Incident => "incidents",
            Kind::Request => "requests",
            Kind::Problem => "problems",
            Kind::KnownError => "known-errors",
            Kind::Change => "changes",
            Kind::Nonconformity => "nonconformities",
            Kind::Improvement => "improvements",
            Kind::Risk => "risks",
            Kind::Complaint => "complaints",
        }
    }

    /// The process's own fields (see [`details`]).
    pub fn details(self) -> &'static [details::Field] {
        use crate::management::improvement;
        use crate::operation::resolution::{problem, request};
        match self {
            Kind::Incident => crate::operation::assurance::security::INCIDENT_FIELDS,
            Kind::Request => request::FIELDS,
            Kind::Problem => problem::FIELDS,
            Kind::KnownError => problem::KNOWN_ERROR_FIELDS,
            Kind::Change => crate::operation::transition::change::FIELDS,
            Kind::Nonconformity => improvement::NC_FIELDS,
            Kind::Improvement => improvement::IMP_FIELDS,
            Kind::Risk => crate::management::planning::FIELDS,
            Kind::Complaint => crate::operation::relationship::business::COMPLAINT_FIELDS,
        }
    }

    /// Records only service-provider staff see: requesters neither list nor raise them.
    pub fn is_internal(self) -> bool {
        !matches!(self, Kind::Incident | Kind::Request)
    }

    /// For kinds that ask for approval: the state they wait in, and where an approval and a
    /// rejection take them.
    pub fn approval_moves(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Kind::Request => Some(("awaiting_approval", "in_fulfilment", "rejected")),
            Kind::Change => Some(("authorize", "scheduled", "rejected")),
            _ => None,
        }
    }

    /// Details fixed once an item is raised: what it was raised as decides its approvals and
    /// its path (a standard change's pre-authorization, a request's approvers).
    pub fn fixed_details(self) -> &'static [&'static str] {
        match self {
            Kind::Request => &["request_type"],
            Kind::Change => &["change_type", "template"],
            _ => &[],
        }
    }

    /// Where an item moves when its last task is done, for kinds that finish with their tasks.
    pub fn when_tasks_done(self) -> Option<&'static str> {
        match self {
            Kind::Request => Some("fulfilled"),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Format a sequence value as a human number: at least six digits, never truncated.
pub fn format_number(kind: Kind, seq: i64) -> String {
    format!("{}-{:06}", kind.prefix(), seq)
}

/// Parse `INC-000123` (case-insensitive prefix) back to kind and sequence.
pub fn parse_number(raw: &str) -> Option<(Kind, i64)> {
    let (prefix, digits) = raw.split_once('-')?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.prefix().eq_ignore_ascii_case(prefix))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = digits.parse().ok()?;
    (seq > 0).then_some((kind, seq))
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

    #[test]
    fn numbers() {
        assert_eq!(format_number(Kind::Incident, 123), "INC-000123");
        assert_eq!(format_number(Kind::Incident, 12_345_678), "INC-12345678");
        assert_eq!(parse_number("inc-000123"), Some((Kind::Incident, 123)));
        for bad in ["INC-", "INC-12a", "XYZ-1", "INC000123", "INC-0", "INC--1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn numbers_round_trip(seq in 1i64..10_000_000_000) {
            prop_assert_eq!(parse_number(&format_number(Kind::Incident, seq)), Some((Kind::Incident, seq)));
        }
    }
}
