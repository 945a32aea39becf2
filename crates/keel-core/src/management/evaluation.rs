//! Clause 9 — performance evaluation. So far the internal audit (9.2): the audit lifecycle,
//! finding grades and what they oblige, checklists generated from the requirement catalogue,
//! and the programme's coverage of processes over its cycle.

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::compliance::catalogue::current;

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
