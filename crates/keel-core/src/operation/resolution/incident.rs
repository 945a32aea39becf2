//! Clause 8.6.1 — incident management: the incident lifecycle and its field rules.

use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};

/// new → in_progress ⇄ on_hold → resolved → closed, cancel from any open state, reopen from
/// resolved. Putting on hold needs a reason; resolving needs a resolution code and notes
/// (8.6.1: incidents are resolved and the resolution recorded).
pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "new",
        "in_progress",
        "on_hold",
        "resolved",
        "closed",
        "cancelled",
    ],
    terminal: &["resolved", "closed", "cancelled"],
    transitions: &[
        Transition::free("new", "in_progress"),
        Transition::needs("new", "on_hold", &["hold_reason"]),
        Transition::needs("in_progress", "on_hold", &["hold_reason"]),
        Transition::free("on_hold", "in_progress"),
        Transition::needs("new", "resolved", &["resolution_code", "resolution_notes"]),
        Transition::needs(
            "in_progress",
            "resolved",
            &["resolution_code", "resolution_notes"],
        ),
        Transition::needs(
            "on_hold",
            "resolved",
            &["resolution_code", "resolution_notes"],
        ),
        Transition::free("resolved", "in_progress"),
        Transition::free("resolved", "closed"),
        Transition::free("new", "cancelled"),
        Transition::free("in_progress", "cancelled"),
        Transition::free("on_hold", "cancelled"),
    ],
};

/// Reasons an incident may wait. `pending_requester` and `pending_supplier` will pause SLA clocks.
pub const HOLD_REASONS: &[&str] = &[
    "pending_requester",
    "pending_supplier",
    "pending_change",
    "monitoring",
];

/// Resolution codes recorded when resolving.
pub const RESOLUTION_CODES: &[&str] = &[
    "fixed",
    "workaround",
    "no_fault_found",
    "duplicate",
    "user_error",
    "not_reproducible",
    // The fault cleared without action: monitoring reported the alert resolved.
    "recovered",
];

/// Why an incident is major (8.6.1: the organisation's criteria for a major incident).
pub const MAJOR_CRITERIA: &[&str] = &[
    "service_outage",
    "multiple_customers",
    "security_breach",
    "regulatory_impact",
    "high_financial_impact",
];

/// Who a major incident's communication is addressed to.
pub const AUDIENCES: &[&str] = &[
    "customers",
    "management",
    "service_desk",
    "suppliers",
    "all_staff",
];

pub use crate::kernel::CATEGORIES;

/// The incident as a kind of work item (see `kernel::KindSpec`).
pub static KIND_SPEC: KindSpec = KindSpec {
    name: "incident",
    prefix: "INC",
    collection: "incidents",
    label: ("Incidents", "incident"),
    lifecycle: &LIFECYCLE,
    details: crate::operation::assurance::security::INCIDENT_FIELDS,
    vocabulary: Vocabulary {
        categories: CATEGORIES,
        hold_reasons: HOLD_REASONS,
        resolution_codes: RESOLUTION_CODES,
    },
    internal: false,
    approval_moves: None,
    fixed_details: &[],
    when_tasks_done: None,
    tasks_label: "",
    priority_override: true,
};
pub const KIND: Kind = Kind::declare(&KIND_SPEC);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::lifecycle::TransitionError;

    #[test]
    fn every_transition_names_known_states() {
        for tr in LIFECYCLE.transitions {
            assert!(LIFECYCLE.state(tr.from).is_some(), "{}", tr.from);
            assert!(LIFECYCLE.state(tr.to).is_some(), "{}", tr.to);
        }
        assert_eq!(LIFECYCLE.initial(), "new");
    }

    #[test]
    fn resolving_requires_code_and_notes() {
        let none = |_: &str| false;
        assert_eq!(
            LIFECYCLE.check("in_progress", "resolved", none),
            Err(TransitionError::Missing {
                to: "resolved".into(),
                field: "resolution_code"
            })
        );
        assert_eq!(
            LIFECYCLE.check("in_progress", "resolved", |f| f == "resolution_code"),
            Err(TransitionError::Missing {
                to: "resolved".into(),
                field: "resolution_notes"
            })
        );
        assert_eq!(
            LIFECYCLE.check("in_progress", "resolved", |_| true),
            Ok("resolved")
        );
    }

    #[test]
    fn closed_and_cancelled_are_final() {
        assert!(LIFECYCLE.next_states("closed").is_empty());
        assert!(LIFECYCLE.next_states("cancelled").is_empty());
        let err = LIFECYCLE.check("closed", "in_progress", |_| true);
        assert!(matches!(err, Err(TransitionError::Illegal { .. })));
        assert!(matches!(
            LIFECYCLE.check("new", "flying", |_| true),
            Err(TransitionError::UnknownState(_))
        ));
    }

    #[test]
    fn reopen_from_resolved() {
        assert_eq!(
            LIFECYCLE.check("resolved", "in_progress", |_| true),
            Ok("in_progress")
        );
    }
}
