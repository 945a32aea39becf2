//! Clause 9 — performance evaluation: the internal audit (9.2) — the audit lifecycle, finding
//! grades and what they oblige, checklists generated from the requirement catalogue, the
//! programme's coverage of processes over its cycle — and the management review (9.3): its
//! lifecycle and the inputs it must consider.

use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::management::compliance::catalogue::Catalogue;
use serde::Serialize;

/// planned → in_progress → reported (the report written) → closed; cancelled before it starts
/// or while it runs.
pub static AUDIT_LIFECYCLE: Lifecycle = Lifecycle {
    states: &["planned", "in_progress", "reported", "closed", "cancelled"],
    terminal: &["closed", "cancelled"],
    transitions: &[
        Transition::free("planned", "in_progress"),
        Transition::needs("in_progress", "reported", &["report"]),
        Transition::free("reported", "in_progress"),
        Transition::free("reported", "closed"),
        Transition::free("planned", "cancelled"),
        Transition::free("in_progress", "cancelled"),
    ],
};

/// How a finding is graded, as certification bodies grade them.
pub const GRADES: &[&str] = &["major", "minor", "observation", "opportunity"];

/// A major or minor finding is a nonconformity and must be recorded and corrected as one (10.1);
/// observations and opportunities for improvement are not.
pub fn is_nonconformity(grade: &str) -> bool {
    matches!(grade, "major" | "minor")
}

/// The severity a nonconformity raised from a finding takes.
pub fn severity(grade: &str) -> Option<&'static str> {
    match grade {
        "major" => Some("major"),
        "minor" => Some("minor"),
        _ => None,
    }
}

/// One checklist line: a requirement and what the auditor checks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    pub requirement: String,
    pub title: String,
    pub process: String,
    pub items: Vec<String>,
    pub evidence: Vec<String>,
}

/// The audit's scope as requirement ids: the named requirements plus every requirement of the
/// named processes, in catalogue order, without repeats. Unknown ids are returned as errors.
pub fn scope(
    cat: &Catalogue,
    requirements: &[String],
    processes: &[String],
) -> Result<Vec<String>, String> {
    if let Some(r) = requirements.iter().find(|r| cat.requirement(r).is_none()) {
        return Err(format!("no requirement {r} in {}", cat.id));
    }
    if let Some(p) = processes.iter().find(|p| cat.process(p).is_none()) {
        return Err(format!("no process {p} in {}", cat.id));
    }
    Ok(cat
        .requirements
        .iter()
        .filter(|r| requirements.contains(&r.id) || processes.contains(&r.process))
        .map(|r| r.id.clone())
        .collect())
}

/// The checklist for a scope, generated from the catalogue.
pub fn checklist(cat: &Catalogue, scope: &[String]) -> Vec<ChecklistItem> {
    cat.requirements
        .iter()
        .filter(|r| scope.contains(&r.id))
        .map(|r| ChecklistItem {
            requirement: r.id.clone(),
            title: r.title.clone(),
            process: r.process.clone(),
            items: r.items.clone(),
            evidence: r.evidence.clone(),
        })
        .collect()
}

/// The processes a scope touches, in catalogue order.
pub fn processes_of(cat: &Catalogue, scope: &[String]) -> Vec<String> {
    cat.processes
        .iter()
        .filter(|p| cat.of_process(&p.id).any(|r| scope.contains(&r.id)))
        .map(|p| p.id.clone())
        .collect()
}

/// When each process was last audited (an audit reported or closed that covered it), given the
/// audits as (processes covered, when reported).
pub fn last_audited<'a>(
    cat: &'a Catalogue,
    audits: &[(Vec<String>, i64)],
) -> Vec<(&'a str, Option<i64>)> {
    cat.processes
        .iter()
        .map(|p| {
            let last = audits
                .iter()
                .filter(|(ps, _)| ps.contains(&p.id))
                .map(|(_, at)| *at)
                .max();
            (p.id.as_str(), last)
        })
        .collect()
}

/// planned → held (the minutes written) → closed (the decisions recorded); cancelled while planned.
pub static REVIEW_LIFECYCLE: Lifecycle = Lifecycle {
    states: &["planned", "held", "closed", "cancelled"],
    terminal: &["closed", "cancelled"],
    transitions: &[
        Transition::needs("planned", "held", &["minutes"]),
        Transition::needs("held", "closed", &["decisions"]),
        Transition::free("held", "planned"),
        Transition::free("planned", "cancelled"),
    ],
};

/// What a management review considers (9.3), each compiled from Keel's records for the period:
/// (key, heading).
pub const REVIEW_INPUTS: &[(&str, &str)] = &[
    (
        "previous_actions",
        "Actions from previous management reviews",
    ),
    ("readiness", "Conformity of the SMS with the standard"),
    (
        "service_performance",
        "Service performance against service level targets",
    ),
    ("nonconformities", "Nonconformities and corrective actions"),
    ("audits", "Results of internal audits"),
    (
        "risks",
        "Risks and opportunities and how their treatment is working",
    ),
    ("changes", "Changes: success rate and emergencies"),
    ("improvements", "Opportunities for continual improvement"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::compliance::catalogue::current;

    #[test]
    fn a_review_is_held_with_minutes_and_closed_with_decisions() {
        assert!(
            REVIEW_LIFECYCLE
                .check("planned", "held", |_| false)
                .is_err()
        );
        assert!(
            REVIEW_LIFECYCLE
                .check("planned", "closed", |_| true)
                .is_err()
        );
        assert_eq!(
            REVIEW_LIFECYCLE.check("held", "closed", |f| f == "decisions"),
            Ok("closed")
        );
        let keys: Vec<&str> = REVIEW_INPUTS.iter().map(|i| i.0).collect();
        assert!(keys.contains(&"previous_actions") && keys.contains(&"audits"));
    }

    #[test]
    fn reporting_needs_the_report() {
        assert!(
            AUDIT_LIFECYCLE
                .check("in_progress", "reported", |_| false)
                .is_err()
        );
        assert!(
            AUDIT_LIFECYCLE
                .check("planned", "reported", |_| true)
                .is_err()
        );
        assert_eq!(
            AUDIT_LIFECYCLE.check("reported", "closed", |_| true),
            Ok("closed")
        );
        assert!(is_nonconformity("major") && is_nonconformity("minor"));
        assert!(!is_nonconformity("observation") && !is_nonconformity("opportunity"));
        assert_eq!(severity("opportunity"), None);
    }

    #[test]
    fn scope_and_checklist_come_from_the_catalogue() {
        let cat = current();
        let s = scope(cat, &["9.2".into()], &["change".into()]).expect("scope");
        assert_eq!(s, vec!["8.5.1.1", "8.5.1.2", "8.5.1.3", "9.2"]);
        assert_eq!(processes_of(cat, &s), vec!["change", "internal-audit"]);
        let c = checklist(cat, &s);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|i| !i.items.is_empty()));
        assert!(scope(cat, &["11.1".into()], &[]).is_err());
        assert!(scope(cat, &[], &["astrology".into()]).is_err());
    }

    #[test]
    fn coverage_takes_the_latest_audit_per_process() {
        let cat = current();
        let audits = vec![
            (vec!["incident".to_string(), "problem".to_string()], 100),
            (vec!["incident".to_string()], 300),
        ];
        let last = last_audited(cat, &audits);
        let get = |p: &str| last.iter().find(|(id, _)| *id == p).and_then(|(_, t)| *t);
        assert_eq!(get("incident"), Some(300));
        assert_eq!(get("problem"), Some(100));
        assert_eq!(get("change"), None);
        assert_eq!(last.len(), cat.processes.len());
    }
}
