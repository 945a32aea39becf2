//! Clause 8.4.3 — capacity management: capacity plans per service, CI or CI class (resource,
//! capacity, forecast, thresholds), utilisation samples pushed by monitoring tools, and the
//! threshold crossings that raise an event (and, if the plan asks, an incident).

use crate::access::Action::{ManageAssurance, ReadAssurance};
use crate::register::{
    FieldError, FieldSpec as F, Register, Target, Type, Values, field_error, int, set,
};

const AMOUNT: Type = Type::Decimal {
    min: 0,
    max: 1_000_000_000_000_000,
};

pub static PLANS: Register = Register::new(
    "capacity-plans",
    "capacity_plan",
    "Capacity plans",
    "8.4.3",
    "capacity_plans",
    &[
        F::new("title", "Title", Type::Line(200)).required(),
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        ),
        F::new(
            "ci_id",
            "CI",
            Type::Ref(Target::Table(
                &crate::operation::portfolio::configuration::CIS,
            )),
        ),
        F::new(
            "ci_class_id",
            "CI class",
            Type::Ref(Target::Table(
                &crate::operation::portfolio::configuration::CLASSES,
            )),
        ),
        F::new("resource", "Resource", Type::Line(100))
            .required()
            .help("cpu, memory, storage, licences, seats …"),
        F::new("unit", "Unit", Type::Line(20)).default("%"),
        F::new("capacity", "Capacity", AMOUNT),
        F::new("forecast", "Forecast utilisation", AMOUNT).help("Expected at the plan's horizon."),
        F::new("horizon", "Horizon", Type::Day),
        F::new("warning_at", "Warning threshold", AMOUNT).required(),
        F::new("critical_at", "Critical threshold", AMOUNT).required(),
        F::new(
            "raise_incident",
            "Raise an incident when critical",
            Type::Bool,
        )
        .default("false"),
        F::new("status", "Status", Type::Choice(&["active", "retired"])).default("active"),
        F::new("review_date", "Next review", Type::Day),
        F::new("owner_id", "Owner", Type::Ref(Target::User)),
        F::new("notes", "Notes", Type::Text(20_000)),
    ],
    "title",
    (ReadAssurance, ManageAssurance),
)
.summary("Resources, current and forecast utilisation, thresholds per service or CI.")
.rules(plan_rules);

fn plan_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    if !set(v, "service_id") && !set(v, "ci_id") && !set(v, "ci_class_id") {
        return Err(field_error(
            "service_id",
            "a plan is for a service, a CI or a CI class",
        ));
    }
    if let (Some(w), Some(c)) = (int(v, "warning_at"), int(v, "critical_at"))
        && w > c
    {
        return Err(field_error(
            "warning_at",
            "must not be above the critical threshold",
        ));
    }
    Ok(())
}

/// Where a sample stands against a plan's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Normal,
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Level {
        match s {
            "critical" => Level::Critical,
            "warning" => Level::Warning,
            _ => Level::Normal,
        }
    }
}

/// The level of a value (thousandths) against the thresholds: reaching a threshold counts.
pub fn level(value: i64, warning_at: i64, critical_at: i64) -> Level {
    if value >= critical_at {
        Level::Critical
    } else if value >= warning_at {
        Level::Warning
    } else {
        Level::Normal
    }
}

/// A crossing is an event only when the level rises: staying critical is one event, not one per
/// sample; falling back is recorded as the new level without an event.
pub fn is_event(previous: Level, now: Level) -> bool {
    now > previous
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&PLANS];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn thresholds() {
        assert_eq!(level(79_999, 80_000, 95_000), Level::Normal);
        assert_eq!(level(80_000, 80_000, 95_000), Level::Warning);
        assert_eq!(level(99_000, 80_000, 95_000), Level::Critical);
        assert!(is_event(Level::Normal, Level::Critical));
        assert!(!is_event(Level::Critical, Level::Critical));
        assert!(!is_event(Level::Critical, Level::Warning));
    }

    proptest! {
        #[test]
        fn level_is_monotone(a in 0i64..200_000, b in 0i64..200_000, w in 0i64..100_000, d in 0i64..100_000) {
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(level(lo, w, w + d) <= level(hi, w, w + d));
        }
    }
}
