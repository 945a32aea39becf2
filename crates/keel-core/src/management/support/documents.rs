//! Clause 7.5 — documented information: controlled documents with versions, an approval
//! workflow (a version is drafted, submitted, approved by someone other than its author or
//! rejected), review dates, distribution and read-acknowledgements. Approving a version makes it
//! current and withdraws the one before (obsolete), so only one version is ever in force.

use jiff::ToSpan;
use jiff::civil::Date;

/// Kinds of document. The first seven are the ones ISO/IEC 20000-1 names (7.5.4 and the
/// clauses behind it); the rest are what an SMS usually keeps besides.
pub const TYPES: &[&str] = &[
    "scope",
    "policy",
    "plan",
    "change_policy",
    "security_policy",
    "continuity_plan",
    "major_incident_procedure",
    "process",
    "procedure",
    "work_instruction",
    "record_template",
    "other",
];

/// The document types the standard requires, with the requirement that requires each.
pub const REQUIRED: &[(&str, &str)] = &[
    ("scope", "4.3"),
    ("policy", "5.2.1"),
    ("plan", "6.3"),
    ("change_policy", "8.5.1.1"),
    ("security_policy", "8.7.3.1"),
    ("continuity_plan", "8.7.2"),
    ("major_incident_procedure", "8.6.1"),
];

/// Version states. `draft → in_review → approved → obsolete`; `in_review → rejected`.
pub const VERSION_STATES: &[&str] = &["draft", "in_review", "approved", "rejected", "obsolete"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("version {version} is {state}; only a {needed} version can be {action}")]
    WrongState {
        version: i64,
        state: String,
        needed: &'static str,
        action: &'static str,
    },
    #[error("the author of a version cannot approve it; someone else must")]
    OwnApproval,
    #[error("a rejection needs a reason")]
    NoReason,
}

/// What a reviewer may do with a version in the given state.
pub fn may_submit(version: i64, state: &str) -> Result<(), DocumentError> {
    if state == "draft" {
        Ok(())
    } else {
        Err(DocumentError::WrongState {
            version,
            state: state.to_string(),
            needed: "draft",
            action: "submitted",
        })
    }
}

/// Approval: the version must be in review, and the approver must not be its author.
pub fn may_approve(
    version: i64,
    state: &str,
    author: Option<i64>,
    approver: i64,
) -> Result<(), DocumentError> {
    if state != "in_review" {
        return Err(DocumentError::WrongState {
            version,
            state: state.to_string(),
            needed: "in_review",
            action: "approved",
        });
    }
    if author == Some(approver) {
        return Err(DocumentError::OwnApproval);
    }
    Ok(())
}

pub fn may_reject(version: i64, state: &str, reason: &str) -> Result<(), DocumentError> {
    if state != "in_review" {
        return Err(DocumentError::WrongState {
            version,
            state: state.to_string(),
            needed: "in_review",
            action: "rejected",
        });
    }
    if reason.trim().is_empty() {
        return Err(DocumentError::NoReason);
    }
    Ok(())
}

/// The next review date: the approval or review day plus the interval in months.
pub fn next_review(from: Date, months: i64) -> Date {
    from.saturating_add(months.clamp(1, 120).months())
}

/// Who of the distribution has not acknowledged the version in force.
pub fn unacknowledged<'a>(distribution: &'a [i64], acknowledged: &[i64]) -> Vec<&'a i64> {
    distribution
        .iter()
        .filter(|u| !acknowledged.contains(u))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_workflow() {
        assert!(may_submit(1, "draft").is_ok());
        assert!(may_submit(1, "approved").is_err());
        assert_eq!(
            may_approve(2, "in_review", Some(7), 7),
            Err(DocumentError::OwnApproval)
        );
        assert!(may_approve(2, "in_review", Some(7), 8).is_ok());
        assert!(matches!(
            may_approve(2, "draft", Some(7), 8),
            Err(DocumentError::WrongState {
                needed: "in_review",
                ..
            })
        ));
        assert_eq!(
            may_reject(2, "in_review", " "),
            Err(DocumentError::NoReason)
        );
        assert!(may_reject(2, "in_review", "unclear scope").is_ok());
        for (t, r) in REQUIRED {
            assert!(TYPES.contains(t));
            assert!(
                crate::management::compliance::catalogue::current()
                    .requirement(r)
                    .is_some()
            );
        }
    }

    #[test]
    fn reviews_and_acknowledgements() {
        let d = |s: &str| s.parse::<Date>().expect("date");
        assert_eq!(next_review(d("2026-01-31"), 12), d("2027-01-31"));
        assert_eq!(next_review(d("2026-01-31"), 1), d("2026-02-28"));
        assert_eq!(
            next_review(d("2026-01-31"), 0),
            d("2026-02-28"),
            "at least a month"
        );
        assert_eq!(unacknowledged(&[1, 2, 3], &[2]), vec![&1, &3]);
    }
}
