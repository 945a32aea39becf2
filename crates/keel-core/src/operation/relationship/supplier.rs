//! Clause 8.3.4 — supplier management: suppliers (external, internal, and customers acting as
//! suppliers), contracts with scope, obligations, targets, value, dates and renewal notice,
//! reviews of supplier performance and contract disputes. Performance figures and expiry
//! warnings are computed in `keel::operation::relationship::supplier`.

use crate::access::Action::{ManageRelationships, ReadRelationships};
use crate::register::{
    FieldError, FieldSpec as F, Register, Stamp, Target, Type, Values, not_before, requires,
};

const ACCESS: (crate::access::Action, crate::access::Action) =
    (ReadRelationships, ManageRelationships);

pub const SUPPLIER_KINDS: &[&str] = &["external", "internal", "customer_as_supplier"];

pub static SUPPLIERS: Register = Register::new(
    "suppliers",
    "supplier",
    "Suppliers",
    "8.3.4",
    "suppliers",
    &[
        F::new("name", "Name", Type::Line(200)).required(),
        F::new("kind", "Kind", Type::Choice(SUPPLIER_KINDS)).default("external"),
        F::new(
            "services",
            "Services supported",
            Type::Refs(Target::Table(&crate::operation::portfolio::service::TABLE)),
        ),
        F::new("contact_name", "Contact", Type::Line(200)),
        F::new("email", "E-mail", Type::Line(254)),
        F::new("phone", "Phone", Type::Line(50)),
        F::new("owner_id", "Supplier manager", Type::Ref(Target::User)),
        F::new("status", "Status", Type::Choice(&["active", "inactive"])).default("active"),
        F::new("notes", "Notes", Type::Text(20_000)),
    ],
    "name",
    ACCESS,
)
.summary("External and internal suppliers, the services they support and who manages each.");

pub const CONTRACT_STATES: &[&str] = &["draft", "active", "expired", "terminated"];

pub static CONTRACTS: Register = Register::new(
    "contracts",
    "contract",
    "Contracts",
    "8.3.4",
    "contracts",
    &[
        F::new(
            "supplier_id",
            "Supplier",
            Type::Ref(Target::Record("suppliers")),
        )
        .required(),
        F::new("reference", "Reference", Type::Line(60)).required(),
        F::new("title", "Title", Type::Line(200)).required(),
        F::new(
            "services",
            "Services",
            Type::Refs(Target::Table(&crate::operation::portfolio::service::TABLE)),
        ),
        F::new("scope", "Scope", Type::Text(20_000)),
        F::new("obligations", "Obligations", Type::Text(20_000)),
        F::new("targets", "Targets", Type::Text(20_000)),
        F::new(
            "value",
            "Value",
            Type::Decimal {
                min: 0,
                max: 1_000_000_000_000_000,
            },
        ),
        F::new("currency", "Currency", Type::Line(3)).default("EUR"),
        F::new("starts_on", "Starts", Type::Day).required(),
        F::new("ends_on", "Ends", Type::Day),
        F::new(
            "notice_days",
            "Renewal notice (days)",
            Type::Int { min: 0, max: 3650 },
        )
        .default("90"),
        F::new("status", "Status", Type::Choice(CONTRACT_STATES)).default("active"),
        F::new("owner_id", "Contract manager", Type::Ref(Target::User)),
    ],
    "reference",
    ACCESS,
)
.summary("Contracts with scope, obligations, targets, value, term and renewal notice.")
.rules(contract_rules);

fn contract_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    not_before(v, "ends_on", "starts_on")
}

/// The day renewal must be decided by: `notice_days` before the end.
pub fn notice_day(ends_on: jiff::civil::Date, notice_days: i64) -> jiff::civil::Date {
    ends_on
        .checked_sub(jiff::Span::new().days(notice_days))
        .unwrap_or(ends_on)
}

/// An active contract needs its renewal decided once `today` reaches the notice day.
pub fn renewal_due(
    status: &str,
    ends_on: jiff::civil::Date,
    notice_days: i64,
    today: jiff::civil::Date,
) -> bool {
    status == "active" && today >= notice_day(ends_on, notice_days)
}

pub static SUPPLIER_REVIEWS: Register = Register::new(
    "supplier-reviews",
    "supplier_review",
    "Supplier reviews",
    "8.3.4",
    "supplier_reviews",
    &[
        F::new(
            "supplier_id",
            "Supplier",
            Type::Ref(Target::Record("suppliers")),
        )
        .required(),
        F::new(
            "contract_id",
            "Contract",
            Type::Ref(Target::Record("contracts")),
        ),
        F::new("held_on", "Held on", Type::Day).required(),
        F::new("rating", "Rating (1–5)", Type::Int { min: 1, max: 5 }).required(),
        F::new("targets_met", "Targets met", Type::Bool).default("true"),
        F::new("findings", "Findings", Type::Text(20_000)),
        F::new("actions", "Actions", Type::Text(20_000)),
    ],
    "held_on",
    ACCESS,
)
.summary("Performance reviews of each supplier against the contract's targets.");

pub static DISPUTES: Register = Register::new(
    "disputes",
    "dispute",
    "Contract disputes",
    "8.3.4",
    "disputes",
    &[
        F::new(
            "supplier_id",
            "Supplier",
            Type::Ref(Target::Record("suppliers")),
        )
        .required(),
        F::new(
            "contract_id",
            "Contract",
            Type::Ref(Target::Record("contracts")),
        ),
        F::new("subject", "Subject", Type::Line(200)).required(),
        F::new("raised_on", "Raised on", Type::Day).required(),
        F::new("description", "Description", Type::Text(20_000)),
        F::new(
            "status",
            "Status",
            Type::Choice(&["open", "escalated", "resolved"]),
        )
        .default("open"),
        F::new("resolution", "Resolution", Type::Text(20_000)),
        F::new("resolved_on", "Resolved on", Type::Day),
    ],
    "subject",
    ACCESS,
)
.summary("Disputes with suppliers over contracts, until resolved.")
.rules(dispute_rules)
.stamps(&[Stamp {
    field: "status",
    value: "resolved",
    by: None,
    on: Some("resolved_on"),
}]);

fn dispute_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    requires(v, "status", "resolved", &["resolution"])?;
    not_before(v, "resolved_on", "raised_on")
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&SUPPLIERS, &CONTRACTS, &SUPPLIER_REVIEWS, &DISPUTES];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_from_the_notice_day() {
        let end: jiff::civil::Date = "2027-03-31".parse().expect("date");
        assert_eq!(notice_day(end, 90).to_string(), "2026-12-31");
        assert!(!renewal_due(
            "active",
            end,
            90,
            "2026-12-30".parse().expect("d")
        ));
        assert!(renewal_due(
            "active",
            end,
            90,
            "2026-12-31".parse().expect("d")
        ));
        assert!(!renewal_due(
            "terminated",
            end,
            90,
            "2027-01-31".parse().expect("d")
        ));
    }
}
