//! Clause 8.6.3 — problem management: the problem lifecycle, its detail fields, and known errors.
//!
//! A problem is raised from an incident, from a trend or proactively; it is investigated for its
//! root cause, becomes a *known error* once root cause and workaround are documented, is resolved
//! by a permanent fix (usually a change, linked), and is closed only after a closure review.
//! Known errors are their own kind of record (`KE-…`) so agents can search them and link them to
//! incidents independently of the problem's life.

use crate::kernel::details::Field;
use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};

const RESOLVE: &[&str] = &["resolution_code", "resolution_notes"];
const KNOWN: &[&str] = &["root_cause", "workaround"];

/// new → investigating → known_error → resolved → closed; cancel while open; reopen from
/// resolved. Becoming a known error needs root cause and workaround; closing needs the closure
/// review.
pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "new",
        "investigating",
        "known_error",
        "resolved",
        "closed",
        "cancelled",
    ],
    terminal: &["resolved", "closed", "cancelled"],
    transitions: &[
        Transition::needs("new", "investigating", &[]),
        Transition::needs("new", "known_error", KNOWN),
        Transition::needs("investigating", "known_error", KNOWN),
        Transition::needs("investigating", "resolved", RESOLVE),
        Transition::needs("known_error", "resolved", RESOLVE),
        Transition::needs("resolved", "investigating", &[]),
        Transition::needs("resolved", "closed", &["closure_review"]),
        Transition::needs("new", "cancelled", &[]),
        Transition::needs("investigating", "cancelled", &[]),
        Transition::needs("known_error", "cancelled", &[]),
    ],
};

/// Where a problem came from (8.6.3: from incidents, from trends, or proactively).
pub const ORIGINS: &[&str] = &["incident", "trend", "proactive"];

pub static FIELDS: &[Field] = &[
    Field::choice("origin", "Origin", ORIGINS),
    Field::text("root_cause", "Root cause", 20_000),
    Field::text("workaround", "Workaround", 20_000),
    Field::text("closure_review", "Closure review", 20_000),
];

/// How a problem ended.
pub const RESOLUTION_CODES: &[&str] = &[
    "fixed_by_change",
    "fixed",
    "fix_not_economical",
    "duplicate",
    "cannot_reproduce",
];

/// Known errors: documented root cause and workaround, active until retired (e.g. the fix is
/// everywhere).
pub static KNOWN_ERROR_LIFECYCLE: Lifecycle = Lifecycle {
    states: &["active", "retired"],
    terminal: &["retired"],
    transitions: &[
        Transition::needs("active", "retired", &[]),
        Transition::needs("retired", "active", &[]),
    ],
};

pub static KNOWN_ERROR_FIELDS: &[Field] = &[
    Field::text("root_cause", "Root cause", 20_000),
    Field::text("workaround", "Workaround", 20_000),
];

/// The problem as a kind of work item (see `kernel::KindSpec`).
pub static PROBLEM_SPEC: KindSpec = KindSpec {
    name: "problem",
    prefix: "PRB",
    collection: "problems",
    label: ("Problems", "problem"),
    lifecycle: &LIFECYCLE,
    details: FIELDS,
    vocabulary: Vocabulary {
        categories: super::incident::CATEGORIES,
        hold_reasons: &[],
        resolution_codes: RESOLUTION_CODES,
    },
    internal: true,
    approval_moves: None,
    fixed_details: &[],
    when_tasks_done: None,
    tasks_label: "",
    priority_override: false,
};
pub const PROBLEM: Kind = Kind::declare(&PROBLEM_SPEC);

/// The known error as a kind of work item (see `kernel::KindSpec`).
pub static KNOWN_ERROR_SPEC: KindSpec = KindSpec {
    name: "known_error",
    prefix: "KE",
    collection: "known-errors",
    label: ("Known errors", "known error"),
    lifecycle: &KNOWN_ERROR_LIFECYCLE,
    details: KNOWN_ERROR_FIELDS,
    vocabulary: Vocabulary {
        categories: super::incident::CATEGORIES,
        hold_reasons: &[],
        resolution_codes: &[],
    },
    internal: true,
    approval_moves: None,
    fixed_details: &[],
    when_tasks_done: None,
    tasks_label: "",
    priority_override: false,
};
pub const KNOWN_ERROR: Kind = Kind::declare(&KNOWN_ERROR_SPEC);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::lifecycle::TransitionError;

    #[test]
    fn known_error_needs_root_cause_and_workaround() {
        assert_eq!(
            LIFECYCLE.check("investigating", "known_error", |f| f == "root_cause"),
            Err(TransitionError::Missing {
                to: "known_error".into(),
                field: "workaround"
            })
        );
        assert_eq!(
            LIFECYCLE.check("investigating", "known_error", |_| true),
            Ok("known_error")
        );
    }

    #[test]
    fn closing_needs_the_review_and_follows_resolution() {
        assert!(matches!(
            LIFECYCLE.check("known_error", "closed", |_| true),
            Err(TransitionError::Illegal { .. })
        ));
        assert!(matches!(
            LIFECYCLE.check("resolved", "closed", |_| false),
            Err(TransitionError::Missing {
                field: "closure_review",
                ..
            })
        ));
        for tr in LIFECYCLE
            .transitions
            .iter()
            .chain(KNOWN_ERROR_LIFECYCLE.transitions)
        {
            assert!(
                LIFECYCLE.state(tr.from).is_some()
                    || KNOWN_ERROR_LIFECYCLE.state(tr.from).is_some()
            );
        }
    }
}
