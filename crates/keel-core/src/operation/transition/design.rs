//! Clause 8.5.2 — service design and transition: a design for a new or changed service, its
//! acceptance criteria and their test results, its transition tasks, and the rule that the
//! service goes live only when every criterion has passed.

use crate::kernel::lifecycle::{Lifecycle, Transition};

/// draft → approved → in_transition → accepted; cancelled while not accepted.
pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "draft",
        "approved",
        "in_transition",
        "accepted",
        "cancelled",
    ],
    terminal: &["accepted", "cancelled"],
    transitions: &[
        Transition::needs("draft", "approved", &["acceptance_criteria"]),
        Transition::free("approved", "in_transition"),
        Transition::free("approved", "draft"),
        Transition::free("in_transition", "accepted"),
        Transition::free("draft", "cancelled"),
        Transition::free("approved", "cancelled"),
        Transition::free("in_transition", "cancelled"),
    ],
};

pub const RESULTS: &[&str] = &["pending", "passed", "failed"];

/// Why a design cannot be accepted: criteria without a passing test, transition tasks open.
pub fn unmet<'a>(
    criteria: impl IntoIterator<Item = (&'a str, &'a str)>,
    open_tasks: usize,
) -> Vec<String> {
    let mut out: Vec<String> = criteria
        .into_iter()
        .filter(|(_, r)| *r != "passed")
        .map(|(c, r)| format!("acceptance criterion “{c}” is {r}"))
        .collect();
    if open_tasks > 0 {
        out.push(format!("{open_tasks} transition task(s) are not done"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_needs_every_criterion_passed() {
        assert!(unmet([("a", "passed"), ("b", "passed")], 0).is_empty());
        let u = unmet([("a", "passed"), ("b", "failed"), ("c", "pending")], 1);
        assert_eq!(u.len(), 3);
        assert!(u[0].contains("“b” is failed"));
        assert!(LIFECYCLE.check("draft", "approved", |_| false).is_err());
        assert!(LIFECYCLE.check("draft", "accepted", |_| true).is_err());
    }
}
