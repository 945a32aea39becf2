//! Approval rules shared by every kind that asks for approval: a request's approvers (8.6.2),
//! a change's authority — CAB, emergency CAB (8.5.1).
//!
//! Approvers are asked in *sets* (one per basis: "requester's manager", "CAB" …). Each set has a
//! rule; the item is approved when every set is, and rejected as soon as one set is.

use serde::{Deserialize, Serialize};

/// How the decisions of one approver set combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// The first decision decides, either way.
    Any,
    /// Everyone must approve; one rejection rejects.
    All,
    /// `n` approvals approve; rejected once `n` can no longer be reached.
    Quorum(u32),
}

impl Rule {
    pub const NAMES: &'static [&'static str] = &["any", "all", "quorum"];

    /// Parse the stored form: `any`, `all`, or `quorum` with its number.
    pub fn parse(name: &str, quorum: Option<i64>) -> Option<Rule> {
        match name {
            "any" => Some(Rule::Any),
            "all" => Some(Rule::All),
            "quorum" => match quorum {
                Some(n) if n >= 1 => u32::try_from(n).ok().map(Rule::Quorum),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::Any => "any",
            Rule::All => "all",
            Rule::Quorum(_) => "quorum",
        }
    }

    pub fn quorum(self) -> Option<i64> {
        match self {
            Rule::Quorum(n) => Some(i64::from(n)),
            _ => None,
        }
    }
}

/// Where a set of decisions stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Approved,
    Rejected,
}

/// The outcome of one approver set under `rule`. Decisions are `approved`, `rejected`, or
/// anything else for "not yet". An empty set approves (nobody needs asking). Once a set is
/// decided its remaining approvers are skipped, so `Any` sees at most one decision.
pub fn outcome<'a>(rule: Rule, decisions: impl IntoIterator<Item = &'a str>) -> Outcome {
    let (mut yes, mut no, mut total) = (0u32, 0u32, 0u32);
    for d in decisions {
        total += 1;
        match d {
            "approved" => yes += 1,
            "rejected" => no += 1,
            _ => {}
        }
    }
    if total == 0 {
        return Outcome::Approved;
    }
    match rule {
        Rule::Any if no > 0 => Outcome::Rejected,
        Rule::Any if yes > 0 => Outcome::Approved,
        Rule::All if no > 0 => Outcome::Rejected,
        Rule::All if yes == total => Outcome::Approved,
        Rule::Quorum(n) if yes >= n.min(total) => Outcome::Approved,
        Rule::Quorum(n) if total - no < n.min(total) => Outcome::Rejected,
        _ => Outcome::Pending,
    }
}

/// Combine the sets: rejected if any set is, approved when all are.
pub fn combine(sets: impl IntoIterator<Item = Outcome>) -> Outcome {
    let mut pending = false;
    for o in sets {
        match o {
            Outcome::Rejected => return Outcome::Rejected,
            Outcome::Pending => pending = true,
            Outcome::Approved => {}
        }
    }
    if pending {
        Outcome::Pending
    } else {
        Outcome::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rules() {
        assert_eq!(
            outcome(Rule::All, ["approved", "approved"]),
            Outcome::Approved
        );
        assert_eq!(
            outcome(Rule::All, ["approved", "pending"]),
            Outcome::Pending
        );
        assert_eq!(
            outcome(Rule::All, ["pending", "rejected"]),
            Outcome::Rejected
        );
        assert_eq!(
            outcome(Rule::Any, ["pending", "approved"]),
            Outcome::Approved
        );
        assert_eq!(
            outcome(Rule::Any, ["pending", "rejected"]),
            Outcome::Rejected
        );
        assert_eq!(outcome(Rule::Any, ["pending", "pending"]), Outcome::Pending);
        let q = Rule::Quorum(2);
        assert_eq!(
            outcome(q, ["approved", "pending", "pending"]),
            Outcome::Pending
        );
        assert_eq!(
            outcome(q, ["approved", "approved", "rejected"]),
            Outcome::Approved
        );
        assert_eq!(
            outcome(q, ["rejected", "rejected", "pending"]),
            Outcome::Rejected
        );
        // A quorum larger than the set needs everyone.
        assert_eq!(
            outcome(Rule::Quorum(5), ["approved", "approved"]),
            Outcome::Approved
        );
        assert_eq!(outcome(Rule::All, []), Outcome::Approved);
        assert_eq!(
            combine([Outcome::Approved, Outcome::Pending]),
            Outcome::Pending
        );
        assert_eq!(
            combine([Outcome::Approved, Outcome::Rejected, Outcome::Pending]),
            Outcome::Rejected
        );
        assert_eq!(Rule::parse("quorum", Some(3)), Some(Rule::Quorum(3)));
        assert_eq!(Rule::parse("quorum", Some(0)), None);
        assert_eq!(Rule::parse("most", None), None);
    }

    fn decision() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("approved"), Just("rejected"), Just("pending")]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        prop_oneof![
            Just(Rule::Any),
            Just(Rule::All),
            (1u32..6).prop_map(Rule::Quorum)
        ]
    }

    proptest! {
        /// Under `All` and `Quorum`, deciding more never undoes a final outcome. (`Any` is final
        /// by order: the first decision settles it and the others are skipped.)
        #[test]
        fn final_outcomes_stay_final(r in rule().prop_filter("ordered", |r| *r != Rule::Any), ds in prop::collection::vec(decision(), 1..8), i in 0usize..8, yes in any::<bool>()) {
            let before = outcome(r, ds.iter().copied());
            let mut after = ds.clone();
            let i = i % after.len();
            if after[i] == "pending" {
                after[i] = if yes { "approved" } else { "rejected" };
            }
            let now = outcome(r, after.iter().copied());
            if before != Outcome::Pending {
                prop_assert_eq!(before, now);
            }
        }

        /// When everyone has decided, the outcome is never pending.
        #[test]
        fn everyone_decided_is_final(r in rule(), ds in prop::collection::vec(prop_oneof![Just("approved"), Just("rejected")], 1..8)) {
            prop_assert_ne!(outcome(r, ds.iter().copied()), Outcome::Pending);
        }

        /// Everyone approving approves under every rule.
        #[test]
        fn unanimity_approves(r in rule(), n in 1usize..8) {
            prop_assert_eq!(outcome(r, std::iter::repeat_n("approved", n)), Outcome::Approved);
        }
    }
}
