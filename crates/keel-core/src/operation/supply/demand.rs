//! Clause 8.4.2 — demand management: forecasts of demand per service and month, set against the
//! actual demand Keel sees in its own records (requests and incidents raised, distinct
//! requesters), and the gap.

use crate::access::Action::{ManageAssurance, ReadAssurance};
use crate::register::{FieldSpec as F, Register, Target, Type};

/// What demand is forecast in. `requests`, `incidents` and `users` are measured from Keel's
/// records; `transactions` only where a monitoring tool pushes them.
pub const MEASURES: &[&str] = &["requests", "incidents", "users", "transactions"];

pub static FORECASTS: Register = Register::new(
    "demand-forecasts",
    "demand_forecast",
    "Demand forecasts",
    "8.4.2",
    "demand_forecasts",
    &[
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .required(),
        F::new("month", "Month", Type::Month).required(),
        F::new("measure", "Measure", Type::Choice(MEASURES)).default("requests"),
        F::new(
            "forecast",
            "Forecast",
            Type::Int {
                min: 0,
                max: 1_000_000_000_000,
            },
        )
        .required(),
        F::new("notes", "Basis of the forecast", Type::Text(20_000)),
    ],
    "month",
    (ReadAssurance, ManageAssurance),
)
.summary("Expected demand per service and month.");

/// Actual against forecast: the gap as a count and in tenths of a percent of the forecast
/// (positive means more demand than forecast).
pub fn gap(forecast: i64, actual: i64) -> (i64, Option<i64>) {
    let d = actual - forecast;
    (d, (forecast > 0).then(|| d * 1000 / forecast))
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&FORECASTS];

#[cfg(test)]
mod tests {
    #[test]
    fn gaps() {
        assert_eq!(super::gap(100, 120), (20, Some(200)));
        assert_eq!(super::gap(0, 3), (3, None));
    }
}
