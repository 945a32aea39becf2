//! Clause 8.3.3 — service level management: agreements as records. Service level agreements
//! with customers, operational level agreements with internal groups and underpinning contracts
//! with suppliers are held the same way: services covered, validity, review date, version and
//! targets (the SLA clocks' targets that apply, plus availability and other measurable ones).
//! Monthly attainment is computed (`keel::operation::relationship::agreement`); breaches are
//! explained in [`BREACH_EXPLANATIONS`].

use crate::access::Action::{ManageRelationships, ReadRelationships};
use crate::register::{
    FieldError, FieldSpec as F, Register, Target, Type, Values, field_error, not_before, set, text,
};

pub const KINDS: &[&str] = &["sla", "ola", "underpinning_contract"];
pub const STATES: &[&str] = &["draft", "active", "expired", "terminated"];

pub static AGREEMENTS: Register = Register::new(
    "agreements",
    "agreement",
    "Agreements",
    "8.3.3",
    "agreements",
    &[
        F::new("kind", "Kind", Type::Choice(KINDS)).required(),
        F::new("reference", "Reference", Type::Line(60)).required(),
        F::new("title", "Title", Type::Line(200)).required(),
        F::new("customer_id", "Customer (SLA)", Type::Ref(Target::Customer)),
        F::new("group_id", "Internal group (OLA)", Type::Ref(Target::Group)),
        F::new(
            "supplier_id",
            "Supplier (underpinning contract)",
            Type::Ref(Target::Record("suppliers")),
        ),
        F::new(
            "services",
            "Services covered",
            Type::Refs(Target::Table(&crate::operation::portfolio::service::TABLE)),
        ),
        F::new("status", "Status", Type::Choice(STATES)).default("draft"),
        F::new("valid_from", "Valid from", Type::Day).required(),
        F::new("valid_to", "Valid to", Type::Day),
        F::new("review_date", "Next review", Type::Day),
        F::new("agreement_version", "Version", Type::Line(20)).default("1.0"),
        F::new(
            "availability_target",
            "Availability target (%)",
            Type::Decimal {
                min: 0,
                max: 100_000,
            },
        ),
        F::new("other_targets", "Other targets", Type::Text(20_000))
            .help("Measurable targets beyond the response, resolution and availability targets."),
        F::new("owner_id", "Owner", Type::Ref(Target::User)),
    ],
    "reference",
    (ReadRelationships, ManageRelationships),
)
.summary("Service level agreements, operational level agreements and underpinning contracts.")
.rules(rules);

fn rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    let party = match text(v, "kind") {
        Some("sla") => "customer_id",
        Some("ola") => "group_id",
        _ => "supplier_id",
    };
    if !set(v, party) {
        return Err(field_error(
            party,
            format!(
                "is required for a {}",
                text(v, "kind").unwrap_or("agreement")
            ),
        ));
    }
    if text(v, "status") == Some("active") && !set(v, "services") {
        return Err(field_error(
            "services",
            "an active agreement covers at least one service",
        ));
    }
    not_before(v, "valid_to", "valid_from")
}

/// Whether an agreement is in force on `day` (YYYY-MM-DD).
pub fn in_force(status: &str, from: &str, to: Option<&str>, day: &str) -> bool {
    status == "active" && from <= day && to.is_none_or(|t| day <= t)
}

pub static BREACH_EXPLANATIONS: Register = Register::new(
    "breach-explanations",
    "breach_explanation",
    "Breach explanations",
    "8.3.3",
    "breach_explanations",
    &[
        F::new(
            "agreement_id",
            "Agreement",
            Type::Ref(Target::Record("agreements")),
        )
        .required(),
        F::new("month", "Month", Type::Month).required(),
        F::new("target", "Target missed", Type::Line(200)).required(),
        F::new("explanation", "Explanation", Type::Text(20_000)).required(),
        F::new("actions", "Actions", Type::Text(20_000)),
    ],
    "target",
    (ReadRelationships, ManageRelationships),
)
.summary("Why a month's target was missed and what is done about it.");

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&AGREEMENTS, &BREACH_EXPLANATIONS];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::parse;
    use serde_json::json;

    #[test]
    fn the_party_follows_the_kind() {
        let m = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let base = json!({"kind": "ola", "reference": "OLA-1", "title": "Net", "valid_from": "2026-01-01"});
        assert_eq!(
            parse(&AGREEMENTS, &m(base.clone()), None)
                .expect_err("group")
                .field,
            "group_id"
        );
        let mut ok = base;
        ok["group_id"] = json!(1);
        ok["status"] = json!("active");
        assert_eq!(
            parse(&AGREEMENTS, &m(ok.clone()), None)
                .expect_err("services")
                .field,
            "services"
        );
        ok["services"] = json!([1]);
        assert!(parse(&AGREEMENTS, &m(ok), None).is_ok());
        assert!(in_force("active", "2026-01-01", None, "2026-05-01"));
        assert!(!in_force(
            "active",
            "2026-01-01",
            Some("2026-03-31"),
            "2026-05-01"
        ));
        assert!(!in_force("draft", "2026-01-01", None, "2026-05-01"));
    }
}
