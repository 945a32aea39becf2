//! Clause 8.4.1 — budgeting and accounting for services: budgets per service and period, costs
//! recorded as direct or indirect (and from assets and contracts), actuals against budget, cost
//! per service and per customer.

use crate::access::Action::{ManageFinance, ReadFinance};
use crate::register::{
    FieldError, FieldSpec as F, Register, Target, Type, Values, field_error, text,
};

const MONEY: Type = Type::Decimal {
    min: 0,
    max: 1_000_000_000_000_000,
};

pub static BUDGETS: Register = Register::new(
    "budgets",
    "budget",
    "Budgets",
    "8.4.1",
    "budgets",
    &[
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .required(),
        F::new("period", "Period", Type::Line(7))
            .required()
            .help("2026, 2026-Q3 or 2026-07."),
        F::new("amount", "Amount", MONEY).required(),
        F::new("currency", "Currency", Type::Line(3)).default("EUR"),
        F::new("owner_id", "Budget holder", Type::Ref(Target::User)),
        F::new("notes", "Notes", Type::Text(20_000)),
    ],
    "period",
    (ReadFinance, ManageFinance),
)
.summary("What each service may spend per period.")
.rules(budget_rules);

fn budget_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    let p = text(v, "period").unwrap_or_default();
    if p.contains("..") {
        return Err(field_error("period", "must be a year, quarter or month"));
    }
    crate::period::parse(p).map_err(|e| field_error("period", e))?;
    Ok(())
}

pub const COST_KINDS: &[&str] = &["direct", "indirect"];
pub const COST_CATEGORIES: &[&str] = &[
    "staff",
    "hardware",
    "software",
    "licences",
    "supplier",
    "facilities",
    "other",
];

pub static COSTS: Register = Register::new(
    "costs",
    "cost",
    "Costs",
    "8.4.1",
    "costs",
    &[
        F::new("incurred_on", "Incurred on", Type::Day).required(),
        F::new("description", "Description", Type::Line(200)).required(),
        F::new("amount", "Amount", MONEY).required(),
        F::new("currency", "Currency", Type::Line(3)).default("EUR"),
        F::new("kind", "Kind", Type::Choice(COST_KINDS)).default("direct"),
        F::new("category", "Category", Type::Choice(COST_CATEGORIES)).default("other"),
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        ),
        F::new("customer_id", "Customer", Type::Ref(Target::Customer))
            .help("For a cost incurred for one customer only."),
        F::new(
            "asset",
            "Asset",
            Type::Ref(Target::Table(&crate::operation::portfolio::asset::TABLE)),
        ),
        F::new(
            "contract_id",
            "Contract",
            Type::Ref(Target::Record("contracts")),
        ),
    ],
    "description",
    (ReadFinance, ManageFinance),
)
.summary("Costs as they are incurred, direct or indirect, from assets and contracts.")
.rules(cost_rules);

fn cost_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    if text(v, "kind") == Some("direct") && !crate::register::set(v, "service_id") {
        return Err(field_error(
            "service_id",
            "a direct cost belongs to a service",
        ));
    }
    Ok(())
}

/// One service's figures for a period, in thousandths.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Variance {
    pub budget: i64,
    pub actual: i64,
    /// budget − actual: negative is an overspend.
    pub variance: i64,
    /// actual / budget in tenths of a percent; None without a budget.
    pub used_permille: Option<i64>,
}

pub fn variance(budget: i64, actual: i64) -> Variance {
    Variance {
        budget,
        actual,
        variance: budget - actual,
        used_permille: (budget > 0).then(|| actual * 1000 / budget),
    }
}

/// Share `amount` among `n` parties exactly: the first `amount % n` get one thousandth more, so
/// the shares always add up to the whole.
pub fn split(amount: i64, n: usize) -> Vec<i64> {
    if n == 0 {
        return vec![];
    }
    let n64 = n as i64;
    let (q, r) = (amount.div_euclid(n64), amount.rem_euclid(n64));
    (0..n64).map(|i| q + i64::from(i < r)).collect()
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&BUDGETS, &COSTS];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn variance_and_use() {
        let v = variance(10_000, 12_500);
        assert_eq!(v.variance, -2_500);
        assert_eq!(v.used_permille, Some(1250));
        assert_eq!(variance(0, 5).used_permille, None);
    }

    proptest! {
        #[test]
        fn shares_add_up(amount in 0i64..1_000_000_000_000, n in 1usize..50) {
            let s = split(amount, n);
            prop_assert_eq!(s.len(), n);
            prop_assert_eq!(s.iter().sum::<i64>(), amount);
            prop_assert!(s.iter().max().unwrap_or(&0) - s.iter().min().unwrap_or(&0) <= 1);
        }
    }
}
