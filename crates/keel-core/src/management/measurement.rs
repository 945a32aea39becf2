//! Clauses 6.2 and 9.1 — objectives made measurable and KPIs measured on schedule. A KPI names a
//! metric Keel computes from its own records (the catalogue below), a target and whether higher
//! or lower is better, and how often it is measured; the measuring job fills in every complete
//! period not measured yet. Service reports (9.4) use the same periods.

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// A metric Keel can measure from its records.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    pub id: &'static str,
    pub name: &'static str,
    /// `%`, `count` or `hours`.
    pub unit: &'static str,
    pub better: Better,
    /// Whether a KPI on it may be narrowed to one service.
    pub per_service: bool,
}

pub const METRICS: &[Metric] = &[
    Metric {
        id: "incident_resolution_attainment",
        name: "Incidents resolved within target",
        unit: "%",
        better: Better::Higher,
        per_service: true,
    },
    Metric {
        id: "incident_response_attainment",
        name: "Incidents responded to within target",
        unit: "%",
        better: Better::Higher,
        per_service: true,
    },
    Metric {
        id: "incidents_opened",
        name: "Incidents opened",
        unit: "count",
        better: Better::Lower,
        per_service: true,
    },
    Metric {
        id: "major_incidents",
        name: "Major incidents declared",
        unit: "count",
        better: Better::Lower,
        per_service: true,
    },
    Metric {
        id: "mean_time_to_resolve",
        name: "Mean time to resolve an incident",
        unit: "hours",
        better: Better::Lower,
        per_service: true,
    },
    Metric {
        id: "requests_fulfilled",
        name: "Service requests fulfilled",
        unit: "count",
        better: Better::Higher,
        per_service: true,
    },
    Metric {
        id: "change_success_rate",
        name: "Changes closed successfully",
        unit: "%",
        better: Better::Higher,
        per_service: false,
    },
    Metric {
        id: "emergency_change_share",
        name: "Share of emergency changes",
        unit: "%",
        better: Better::Lower,
        per_service: false,
    },
    Metric {
        id: "open_nonconformities",
        name: "Nonconformities open at the end of the period",
        unit: "count",
        better: Better::Lower,
        per_service: false,
    },
];

pub fn metric(id: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.id == id)
}

/// Is the value on the right side of the target?
pub fn meets(value: f64, target: f64, better: Better) -> bool {
    match better {
        Better::Higher => value >= target,
        Better::Lower => value <= target,
    }
}

pub const FREQUENCIES: &[&str] = &["weekly", "monthly", "quarterly"];

/// The period (first day, first day after) that contains `day`.
pub fn period_of(frequency: &str, day: Date) -> Option<(Date, Date)> {
    let start = match frequency {
        "weekly" => {
            let back = i64::from(day.weekday().to_monday_zero_offset());
            day.checked_sub(back.days()).ok()?
        }
        "monthly" => day.first_of_month(),
        "quarterly" => {
            let q = (day.month() - 1) / 3;
            Date::new(day.year(), q * 3 + 1, 1).ok()?
        }
        _ => return None,
    };
    let end = match frequency {
        "weekly" => start.checked_add(7.days()).ok()?,
        "monthly" => start.checked_add(1.month()).ok()?,
        _ => start.checked_add(3.months()).ok()?,
    };
    debug_assert!(frequency != "weekly" || start.weekday() == Weekday::Monday);
    Some((start, end))
}

/// The complete periods to measure: those after `last_measured_end` (or the one before `today`'s
/// when nothing was measured yet) that ended on or before `today`, at most `max`.
pub fn due_periods(
    frequency: &str,
    last_measured_end: Option<Date>,
    today: Date,
    max: usize,
) -> Vec<(Date, Date)> {
    let Some((current, _)) = period_of(frequency, today) else {
        return vec![];
    };
    let mut start = match last_measured_end {
        Some(d) => d,
        None => match current
            .checked_sub(1.day())
            .ok()
            .and_then(|d| period_of(frequency, d))
        {
            Some((s, _)) => s,
            None => return vec![],
        },
    };
    let mut out = Vec::new();
    while out.len() < max {
        let Some((s, e)) = period_of(frequency, start) else {
            break;
        };
        if e > current {
            break;
        }
        out.push((s, e));
        start = e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        s.parse().expect("date")
    }

    #[test]
    fn periods() {
        assert_eq!(
            period_of("monthly", d("2026-02-14")),
            Some((d("2026-02-01"), d("2026-03-01")))
        );
        assert_eq!(
            period_of("quarterly", d("2026-11-26")),
            Some((d("2026-10-01"), d("2027-01-01")))
        );
        // 2026-11-26 is a Thursday.
        assert_eq!(
            period_of("weekly", d("2026-11-26")),
            Some((d("2026-11-23"), d("2026-11-30")))
        );
        assert_eq!(period_of("daily", d("2026-11-26")), None);
        assert!(meets(95.0, 90.0, Better::Higher) && !meets(95.0, 90.0, Better::Lower));
        assert!(metric("change_success_rate").is_some_and(|m| !m.per_service));
    }

    #[test]
    fn due_periods_fill_gaps_up_to_the_last_complete_one() {
        let today = d("2026-11-26");
        assert_eq!(
            due_periods("monthly", None, today, 12),
            vec![(d("2026-10-01"), d("2026-11-01"))]
        );
        assert_eq!(
            due_periods("monthly", Some(d("2026-08-01")), today, 12),
            vec![
                (d("2026-08-01"), d("2026-09-01")),
                (d("2026-09-01"), d("2026-10-01")),
                (d("2026-10-01"), d("2026-11-01")),
            ]
        );
        assert!(due_periods("monthly", Some(d("2026-11-01")), today, 12).is_empty());
        assert_eq!(
            due_periods("monthly", Some(d("2020-01-01")), today, 3).len(),
            3
        );
    }

    proptest! {
        /// Periods contain their day, tile without gaps, and due periods never reach into the
        /// period still running.
        #[test]
        fn periods_tile(days in 0i64..4000, f in 0usize..3) {
            let freq = FREQUENCIES[f];
            let day = d("2020-01-01").checked_add(days.days()).expect("day");
            let (s, e) = period_of(freq, day).expect("period");
            prop_assert!(s <= day && day < e);
            prop_assert_eq!(period_of(freq, e).map(|p| p.0), Some(e));
            let (current, _) = period_of(freq, day).expect("current");
            for (_, end) in due_periods(freq, Some(d("2019-12-01")), day, 500) {
                prop_assert!(end <= current);
            }
        }
    }
}
