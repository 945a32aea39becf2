//! Clause 8.5.3 — release and deployment: the release lifecycle, deployment outcomes per
//! environment, and the release policy (how often each type of release may go out).
//!
//! A release bundles changes. It is accepted before anything is deployed; each deployment (per
//! environment, with its dates) succeeds, fails or is rolled back; the release is deployed when
//! every deployment succeeded and failed as soon as one failed — which opens an analysis record.

use crate::kernel::lifecycle::{Lifecycle, Transition};

pub const TYPES: &[&str] = &["major", "minor", "emergency"];

pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "planned",
        "built",
        "accepted",
        "deployed",
        "failed",
        "rolled_back",
        "closed",
        "cancelled",
    ],
    terminal: &["closed", "cancelled"],
    transitions: &[
        Transition::free("planned", "built"),
        Transition::needs("built", "accepted", &["acceptance_notes"]),
        Transition::free("accepted", "deployed"),
        Transition::free("accepted", "failed"),
        Transition::free("failed", "rolled_back"),
        Transition::free("failed", "accepted"),
        Transition::free("rolled_back", "planned"),
        Transition::free("deployed", "closed"),
        Transition::free("rolled_back", "closed"),
        Transition::free("planned", "cancelled"),
        Transition::free("built", "cancelled"),
        Transition::free("accepted", "cancelled"),
    ],
};

/// Deployment outcomes, recorded per environment.
pub const DEPLOYMENT_STATES: &[&str] = &["planned", "succeeded", "failed", "rolled_back"];

/// Where the release stands given its deployments' states: `Some("deployed")` when all
/// succeeded, `Some("failed")` when one failed (and is not rolled back yet), else `None`.
pub fn after_deployments<'a>(states: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let mut any = false;
    let mut all_ok = true;
    for s in states {
        any = true;
        match s {
            "failed" => return Some("failed"),
            "succeeded" => {}
            _ => all_ok = false,
        }
    }
    (any && all_ok).then_some("deployed")
}

/// The release policy: the least time between two releases of a type, in days (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub major_days: i64,
    pub minor_days: i64,
    /// Whether an emergency release may bundle only emergency changes.
    pub emergency_only_emergency_changes: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            major_days: 90,
            minor_days: 7,
            emergency_only_emergency_changes: true,
        }
    }
}

/// What planning a release of `kind` at `planned_ms` breaks in the policy, given when the last
/// release of the same type was planned.
pub fn policy_warnings(
    policy: &Policy,
    kind: &str,
    planned_ms: i64,
    last_same_kind_ms: Option<i64>,
) -> Vec<String> {
    let days = match kind {
        "major" => policy.major_days,
        "minor" => policy.minor_days,
        _ => 0,
    };
    match last_same_kind_ms {
        Some(last) if days > 0 && (planned_ms - last).abs() < days * 86_400_000 => vec![format!(
            "the release policy allows one {kind} release every {days} days; another is planned {} day(s) apart",
            (planned_ms - last).abs() / 86_400_000
        )],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_decide_the_release() {
        assert_eq!(
            after_deployments(["succeeded", "succeeded"]),
            Some("deployed")
        );
        assert_eq!(after_deployments(["succeeded", "planned"]), None);
        assert_eq!(after_deployments(["planned", "failed"]), Some("failed"));
        assert_eq!(after_deployments([]), None);
        assert!(LIFECYCLE.check("planned", "deployed", |_| true).is_err());
        assert!(LIFECYCLE.check("built", "accepted", |_| false).is_err());
    }

    #[test]
    fn policy() {
        let p = Policy::default();
        let day = 86_400_000;
        assert_eq!(
            policy_warnings(&p, "major", 100 * day, Some(20 * day)).len(),
            1
        );
        assert!(policy_warnings(&p, "major", 120 * day, Some(20 * day)).is_empty());
        assert!(policy_warnings(&p, "emergency", 21 * day, Some(20 * day)).is_empty());
        assert!(policy_warnings(&p, "minor", 21 * day, None).is_empty());
    }
}
