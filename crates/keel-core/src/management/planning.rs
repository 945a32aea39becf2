//! Clause 6 — planning: the register of risks and opportunities (6.1). Each entry is a kind of
//! work item (`RSK-…`) with its owner (the assignee), likelihood and impact on a 1–5 scale, a
//! treatment and a review date; the kernel gives it history, comments and links (to the
//! incidents, changes or audit findings behind it).

use crate::kernel::details::Field;
use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};

pub const SCALE: &[&str] = &["1", "2", "3", "4", "5"];

/// Threats are avoided, reduced, transferred or accepted; opportunities exploited, enhanced or
/// shared.
pub const TREATMENTS: &[&str] = &[
    "avoid", "reduce", "transfer", "accept", "exploit", "enhance", "share",
];

/// What 6.1 asks the organisation to consider: risks to the organisation, to meeting service
/// requirements, and from other parties in the service lifecycle.
/// Where a risk comes from: the organisation, the service requirements, other parties (6.1), and
/// the service assurance processes' own risk areas (8.7.1 availability, 8.7.2 continuity, 8.7.3
/// information security).
pub const SOURCES: &[&str] = &[
    "organisation",
    "service_requirements",
    "other_parties",
    "availability",
    "continuity",
    "information_security",
];

const ASSESS: &[&str] = &["likelihood", "impact"];
const TREAT: &[&str] = &["treatment", "treatment_plan", "review_date"];

/// identified → assessed → treating → monitoring → closed; accepted from assessed (with the
/// reason and a review date); monitoring returns to treating when the risk grows again.
pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "identified",
        "assessed",
        "treating",
        "accepted",
        "monitoring",
        "closed",
    ],
    terminal: &["closed"],
    transitions: &[
        Transition::needs("identified", "assessed", ASSESS),
        Transition::needs("assessed", "treating", TREAT),
        Transition::needs(
            "assessed",
            "accepted",
            &["acceptance_reason", "review_date"],
        ),
        Transition::needs(
            "treating",
            "monitoring",
            &["residual_likelihood", "residual_impact"],
        ),
        Transition::free("monitoring", "treating"),
        Transition::free("accepted", "treating"),
        Transition::free("monitoring", "closed"),
        Transition::free("accepted", "closed"),
        Transition::free("identified", "closed"),
    ],
};

pub static FIELDS: &[Field] = &[
    Field::choice("nature", "Risk or opportunity", &["risk", "opportunity"]),
    Field::choice("source", "Source", SOURCES),
    Field::choice("likelihood", "Likelihood (1–5)", SCALE),
    Field::choice("impact", "Impact (1–5)", SCALE),
    Field::choice("treatment", "Treatment", TREATMENTS),
    Field::text("treatment_plan", "Treatment plan", 20_000),
    Field::text("acceptance_reason", "Why it is accepted", 20_000),
    Field::choice("residual_likelihood", "Residual likelihood (1–5)", SCALE),
    Field::choice("residual_impact", "Residual impact (1–5)", SCALE),
    Field::date("review_date", "Next review"),
];

/// Likelihood × impact, 1–25.
pub fn score(likelihood: u8, impact: u8) -> u8 {
    likelihood.clamp(1, 5) * impact.clamp(1, 5)
}

/// Banding of a score: low ≤ 4, medium ≤ 9, high ≤ 16, critical above.
pub fn level(score: u8) -> &'static str {
    match score {
        0..=4 => "low",
        5..=9 => "medium",
        10..=16 => "high",
        _ => "critical",
    }
}

/// The score and level of an entry's details, when both ratings are set.
pub fn rated(likelihood: Option<&str>, impact: Option<&str>) -> Option<(u8, &'static str)> {
    let l: u8 = likelihood?.parse().ok()?;
    let i: u8 = impact?.parse().ok()?;
    let s = score(l, i);
    Some((s, level(s)))
}

/// The risk as a kind of work item (see `kernel::KindSpec`).
pub static KIND_SPEC: KindSpec = KindSpec {
    name: "risk",
    prefix: "RSK",
    collection: "risks",
    label: ("Risks and opportunities", "risk"),
    lifecycle: &LIFECYCLE,
    details: FIELDS,
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
pub const KIND: Kind = Kind::declare(&KIND_SPEC);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::lifecycle::TransitionError;
    use proptest::prelude::*;

    #[test]
    fn treatment_needs_an_assessment_and_a_plan() {
        assert!(matches!(
            LIFECYCLE.check("identified", "treating", |_| true),
            Err(TransitionError::Illegal { .. })
        ));
        assert!(matches!(
            LIFECYCLE.check("assessed", "treating", |f| f != "review_date"),
            Err(TransitionError::Missing {
                field: "review_date",
                ..
            })
        ));
        assert!(matches!(
            LIFECYCLE.check("assessed", "accepted", |f| f == "review_date"),
            Err(TransitionError::Missing {
                field: "acceptance_reason",
                ..
            })
        ));
        for f in LIFECYCLE.transitions.iter().flat_map(|t| t.requires) {
            assert!(FIELDS.iter().any(|d| d.name == *f), "{f}");
        }
        assert_eq!(rated(Some("4"), Some("5")), Some((20, "critical")));
        assert_eq!(rated(Some("2"), Some("2")), Some((4, "low")));
        assert_eq!(rated(Some("3"), None), None);
    }

    proptest! {
        /// The level never falls as likelihood or impact rises.
        #[test]
        fn level_is_monotone(l in 1u8..=5, i in 1u8..=5) {
            let rank = |s: &str| ["low", "medium", "high", "critical"].iter().position(|x| *x == s);
            let here = rank(level(score(l, i)));
            prop_assert!(rank(level(score((l + 1).min(5), i))) >= here);
            prop_assert!(rank(level(score(l, (i + 1).min(5)))) >= here);
        }
    }
}
