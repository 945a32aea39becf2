//! Clause 8.7.2 — service continuity management: continuity requirements per service (RTO, RPO,
//! the minimum service), continuity plans with versions and approval by someone other than
//! their owner, tests of those plans, and invocations.

use crate::access::Action::{ManageAssurance, ReadAssurance};
use crate::register::{
    FieldError, FieldSpec as F, Register, Stamp, Target, Type, Values, field_error, int,
    not_before, requires, text,
};

const ACCESS: (crate::access::Action, crate::access::Action) = (ReadAssurance, ManageAssurance);
const MINUTES: Type = Type::Int {
    min: 0,
    max: 525_600,
};

pub static REQUIREMENTS: Register = Register::new(
    "continuity-requirements",
    "continuity_requirement",
    "Continuity requirements",
    "8.7.2",
    "continuity_requirements",
    &[
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .required(),
        F::new("rto_minutes", "Recovery time objective (minutes)", MINUTES).required(),
        F::new("rpo_minutes", "Recovery point objective (minutes)", MINUTES).required(),
        F::new(
            "minimum_service",
            "Minimum service during disruption",
            Type::Text(20_000),
        ),
        F::new("source", "Source", Type::Line(200))
            .help("The agreement or business impact analysis it comes from."),
        F::new("review_date", "Next review", Type::Day),
    ],
    "service_id",
    ACCESS,
)
.summary("What each service must recover to, and how fast, after a disruption.");

pub const PLAN_STATES: &[&str] = &["draft", "approved", "retired"];

pub static PLANS: Register = Register::new(
    "continuity-plans",
    "continuity_plan",
    "Continuity plans",
    "8.7.2",
    "continuity_plans",
    &[
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .required(),
        F::new("title", "Title", Type::Line(200)).required(),
        F::new("plan_version", "Version", Type::Line(20)).default("1.0"),
        F::new("status", "Status", Type::Choice(PLAN_STATES)).default("draft"),
        F::new("owner_id", "Owner", Type::Ref(Target::User)).required(),
        F::new("content", "Plan", Type::Text(200_000))
            .help("Recovery steps, roles, contacts, or where the controlled document lives."),
        F::new("approved_by", "Approved by", Type::Ref(Target::User)),
        F::new("approved_on", "Approved on", Type::Day),
        F::new("next_test_due", "Next test due", Type::Day),
    ],
    "title",
    ACCESS,
)
.summary(
    "How each service is recovered: versioned, approved by someone other than the owner, tested.",
)
.rules(plan_rules)
.stamps(&[Stamp {
    field: "status",
    value: "approved",
    by: Some("approved_by"),
    on: Some("approved_on"),
}]);

fn plan_rules(v: &Values, before: Option<&Values>) -> Result<(), FieldError> {
    if let Some(b) = before
        && text(b, "status") == Some("approved")
        && text(v, "status") == Some("approved")
        && (b.get("content") != v.get("content") || b.get("plan_version") != v.get("plan_version"))
    {
        return Err(field_error(
            "status",
            "a changed plan goes back to draft and is approved again",
        ));
    }
    // A fresh approval is stamped by the approver after these rules; an approval the client
    // names must not be the owner's own.
    if text(v, "status") == Some("approved")
        && let (Some(by), Some(owner)) = (int(v, "approved_by"), int(v, "owner_id"))
        && by == owner
    {
        return Err(field_error(
            "approved_by",
            "the owner of a plan cannot approve it",
        ));
    }
    Ok(())
}

/// After a stamp, the approver must still not be the owner (the stamp uses the actor).
pub fn approver_is_owner(v: &Values) -> bool {
    text(v, "status") == Some("approved")
        && matches!((int(v, "approved_by"), int(v, "owner_id")), (Some(a), Some(b)) if a == b)
}

pub const TEST_KINDS: &[&str] = &["tabletop", "walkthrough", "simulation", "full_failover"];
pub const RESULTS: &[&str] = &["passed", "passed_with_issues", "failed"];

pub static TESTS: Register = Register::new(
    "continuity-tests",
    "continuity_test",
    "Continuity tests",
    "8.7.2",
    "continuity_tests",
    &[
        F::new(
            "plan_id",
            "Plan",
            Type::Ref(Target::Record("continuity-plans")),
        )
        .required(),
        F::new("tested_on", "Tested on", Type::Day).required(),
        F::new("kind", "Kind", Type::Choice(TEST_KINDS)).default("tabletop"),
        F::new("scenario", "Scenario", Type::Text(20_000)).required(),
        F::new("result", "Result", Type::Choice(RESULTS)).required(),
        F::new(
            "rto_achieved_minutes",
            "Recovery time achieved (minutes)",
            MINUTES,
        ),
        F::new("findings", "Findings", Type::Text(20_000)),
        F::new("actions", "Actions", Type::Text(20_000)),
        F::new(
            "improvement",
            "Improvement raised",
            Type::Ref(Target::Item(crate::management::improvement::IMPROVEMENT)),
        ),
    ],
    "tested_on",
    ACCESS,
)
.summary("Tests of the continuity plans: scenario, result, what was learnt.")
.rules(test_rules);

fn test_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    requires(v, "result", "failed", &["actions"])?;
    requires(v, "result", "passed_with_issues", &["actions"])
}

pub static INVOCATIONS: Register = Register::new(
    "continuity-invocations",
    "continuity_invocation",
    "Continuity invocations",
    "8.7.2",
    "continuity_invocations",
    &[
        F::new(
            "plan_id",
            "Plan",
            Type::Ref(Target::Record("continuity-plans")),
        )
        .required(),
        F::new("invoked_at", "Invoked", Type::Instant).required(),
        F::new("ended_at", "Stood down", Type::Instant),
        F::new("reason", "Reason", Type::Text(20_000)).required(),
        F::new(
            "incident",
            "Incident",
            Type::Ref(Target::Item(crate::operation::resolution::incident::KIND)),
        ),
        F::new("decided_by", "Decided by", Type::Ref(Target::User)),
        F::new("outcome", "Outcome", Type::Text(20_000)),
        F::new("lessons", "Lessons learnt", Type::Text(20_000)),
    ],
    "invoked_at",
    ACCESS,
)
.summary("Each time a continuity plan was invoked, why, and how it went.")
.rules(invocation_rules);

fn invocation_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    not_before(v, "ended_at", "invoked_at")
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&REQUIREMENTS, &PLANS, &TESTS, &INVOCATIONS];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::{parse, stamp};
    use serde_json::json;

    fn m(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn approval_by_someone_else_and_changes_go_back_to_draft() {
        let draft = parse(
            &PLANS,
            &m(json!({"service_id": 1, "title": "DR", "owner_id": 5})),
            None,
        )
        .expect("draft");
        let mut own =
            parse(&PLANS, &m(json!({"status": "approved"})), Some(&draft)).expect("parsed");
        stamp(&PLANS, &mut own, Some(&draft), 5, "2026-11-26");
        assert!(approver_is_owner(&own));
        let mut ok =
            parse(&PLANS, &m(json!({"status": "approved"})), Some(&draft)).expect("parsed");
        stamp(&PLANS, &mut ok, Some(&draft), 6, "2026-11-26");
        assert!(!approver_is_owner(&ok));
        let e =
            parse(&PLANS, &m(json!({"content": "new steps"})), Some(&ok)).expect_err("re-approve");
        assert_eq!(e.field, "status");
        assert!(
            parse(
                &PLANS,
                &m(json!({"content": "new steps", "status": "draft"})),
                Some(&ok)
            )
            .is_ok()
        );
    }

    #[test]
    fn a_failed_test_needs_actions() {
        let e = parse(
            &TESTS,
            &m(
                json!({"plan_id": 1, "tested_on": "2026-10-01", "scenario": "DC loss", "result": "failed"}),
            ),
            None,
        );
        assert_eq!(e.expect_err("actions").field, "actions");
    }
}
