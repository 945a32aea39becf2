//! Clause 10 — improvement: nonconformities with their correction and corrective action (10.1)
//! and the continual improvement register (10.2). Both are kinds of work item (`NC-…`, `IMP-…`):
//! they get numbering, assignment, links to what raised them, comments and history from the
//! kernel and add only their lifecycle and fields here.

use crate::kernel::details::Field;
use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};

/// Where a nonconformity was found.
pub const NC_SOURCES: &[&str] = &[
    "internal_audit",
    "external_audit",
    "incident",
    "complaint",
    "management_review",
    "process_monitoring",
    "other",
];

/// Grades as internal and certification audits use them.
pub const NC_SEVERITIES: &[&str] = &["major", "minor"];

/// Whether the corrective action removed the cause.
pub const EFFECTIVENESS: &[&str] = &["effective", "not_effective"];

/// open → correcting (contain it) → corrective action (remove the cause) → verifying
/// (effectiveness check) → closed. Closing needs a verdict of effective; a verdict of not
/// effective sends it back to corrective action. 10.1 asks for the nature of the
/// nonconformity, the action taken and its result to be kept, hence the required fields.
pub static NC_LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "open",
        "correcting",
        "corrective_action",
        "verifying",
        "closed",
        "cancelled",
    ],
    terminal: &["closed", "cancelled"],
    transitions: &[
        Transition::free("open", "correcting"),
        Transition::needs("open", "corrective_action", &["correction"]),
        Transition::needs("correcting", "corrective_action", &["correction"]),
        Transition::needs(
            "corrective_action",
            "verifying",
            &["root_cause", "corrective_action"],
        ),
        Transition::free("verifying", "corrective_action"),
        Transition::needs(
            "verifying",
            "closed",
            &["effectiveness", "effectiveness_notes"],
        ),
        Transition::free("open", "cancelled"),
        Transition::free("correcting", "cancelled"),
    ],
};

pub static NC_FIELDS: &[Field] = &[
    Field::choice("source", "Found by", NC_SOURCES),
    Field::choice("severity", "Severity", NC_SEVERITIES),
    Field::text("requirement", "Requirement not met", 20),
    Field::text("correction", "Correction (containment)", 20_000),
    Field::text("root_cause", "Root cause", 20_000),
    Field::text("corrective_action", "Corrective action", 20_000),
    Field::choice("effectiveness", "Effectiveness", EFFECTIVENESS),
    Field::text("effectiveness_notes", "Effectiveness check", 20_000),
];

/// Only an effective corrective action closes a nonconformity (10.1 e).
pub fn may_close_nonconformity(effectiveness: Option<&str>) -> bool {
    effectiveness == Some("effective")
}

/// proposed → evaluated (against the criteria) → approved → implementing → measuring → closed
/// with the measured benefit; rejected after evaluation.
pub static IMP_LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "proposed",
        "evaluated",
        "approved",
        "implementing",
        "measuring",
        "closed",
        "rejected",
    ],
    terminal: &["closed", "rejected"],
    transitions: &[
        Transition::needs("proposed", "evaluated", &["evaluation"]),
        Transition::free("evaluated", "approved"),
        Transition::free("evaluated", "rejected"),
        Transition::free("proposed", "rejected"),
        Transition::needs("approved", "implementing", &["expected_benefit"]),
        Transition::free("implementing", "measuring"),
        Transition::needs("measuring", "closed", &["measured_benefit"]),
    ],
};

/// Where an opportunity came from.
pub const IMP_SOURCES: &[&str] = &[
    "internal_audit",
    "management_review",
    "problem",
    "customer_feedback",
    "staff",
    "service_report",
    "other",
];

pub static IMP_FIELDS: &[Field] = &[
    Field::choice("source", "Source", IMP_SOURCES),
    Field::text("evaluation_criteria", "Evaluation criteria", 20_000),
    Field::text("evaluation", "Evaluation", 20_000),
    Field::text("expected_benefit", "Expected benefit", 20_000),
    Field::text("measured_benefit", "Measured benefit", 20_000),
];

/// The nonconformity as a kind of work item (see `kernel::KindSpec`).
pub static NONCONFORMITY_SPEC: KindSpec = KindSpec {
    name: "nonconformity",
    prefix: "NC",
    collection: "nonconformities",
    label: ("Nonconformities", "nonconformity"),
    lifecycle: &NC_LIFECYCLE,
    details: NC_FIELDS,
    vocabulary: Vocabulary {
        categories: crate::kernel::CATEGORIES,
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
pub const NONCONFORMITY: Kind = Kind::declare(&NONCONFORMITY_SPEC);

/// The improvement as a kind of work item (see `kernel::KindSpec`).
pub static IMPROVEMENT_SPEC: KindSpec = KindSpec {
    name: "improvement",
    prefix: "IMP",
    collection: "improvements",
    label: ("Improvements", "improvement"),
    lifecycle: &IMP_LIFECYCLE,
    details: IMP_FIELDS,
    vocabulary: Vocabulary {
        categories: crate::kernel::CATEGORIES,
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
pub const IMPROVEMENT: Kind = Kind::declare(&IMPROVEMENT_SPEC);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::lifecycle::TransitionError;

    #[test]
    fn nonconformity_closes_only_through_verification() {
        for from in ["open", "correcting", "corrective_action"] {
            assert!(matches!(
                NC_LIFECYCLE.check(from, "closed", |_| true),
                Err(TransitionError::Illegal { .. })
            ));
        }
        assert!(matches!(
            NC_LIFECYCLE.check("corrective_action", "verifying", |f| f == "root_cause"),
            Err(TransitionError::Missing {
                field: "corrective_action",
                ..
            })
        ));
        assert_eq!(
            NC_LIFECYCLE.check("verifying", "closed", |_| true),
            Ok("closed")
        );
        assert!(may_close_nonconformity(Some("effective")));
        assert!(!may_close_nonconformity(Some("not_effective")));
        assert!(!may_close_nonconformity(None));
    }

    #[test]
    fn improvement_is_measured_before_closing() {
        assert!(matches!(
            IMP_LIFECYCLE.check("measuring", "closed", |_| false),
            Err(TransitionError::Missing {
                field: "measured_benefit",
                ..
            })
        ));
        assert!(matches!(
            IMP_LIFECYCLE.check("implementing", "closed", |_| true),
            Err(TransitionError::Illegal { .. })
        ));
        for lc in [&NC_LIFECYCLE, &IMP_LIFECYCLE] {
            for t in lc.transitions {
                assert!(
                    lc.state(t.from).is_some() && lc.state(t.to).is_some(),
                    "{t:?}"
                );
            }
        }
        for f in NC_LIFECYCLE.transitions.iter().flat_map(|t| t.requires) {
            assert!(NC_FIELDS.iter().any(|d| d.name == *f), "{f}");
        }
        for f in IMP_LIFECYCLE.transitions.iter().flat_map(|t| t.requires) {
            assert!(IMP_FIELDS.iter().any(|d| d.name == *f), "{f}");
        }
    }
}
