//! Clause 8.7.1 — service availability management: availability targets per service, outages
//! (from major or service-affecting incidents, or agreed maintenance), and measured availability
//! per service and period: agreed service time is the period less agreed maintenance, and only
//! unplanned downtime outside maintenance counts against it.

use crate::access::Action::{ManageAssurance, ReadAssurance};
use crate::register::{FieldError, FieldSpec as F, Register, Target, Type, Values, not_before};

pub static TARGETS: Register = Register::new(
    "availability-targets",
    "availability_target",
    "Availability targets",
    "8.7.1",
    "availability_targets",
    &[
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .required(),
        F::new(
            "target",
            "Target (%)",
            Type::Decimal {
                min: 0,
                max: 100_000,
            },
        )
        .required(),
        F::new("valid_from", "Valid from", Type::Day).required(),
        F::new("notes", "Basis", Type::Text(20_000))
            .help("The agreement or business need behind the target."),
    ],
    "target",
    (ReadAssurance, ManageAssurance),
)
.summary("The availability each service must reach per month.");

pub static OUTAGES: Register = Register::new(
    "outages",
    "outage",
    "Outages",
    "8.7.1",
    "outages",
    &[
        F::new(
            "service_id",
            "Service",
            Type::Ref(Target::Table(&crate::operation::portfolio::service::TABLE)),
        )
        .required(),
        F::new("description", "Description", Type::Line(200)).required(),
        F::new("started_at", "Started", Type::Instant).required(),
        F::new("ended_at", "Ended", Type::Instant).help("Empty while the service is still down."),
        F::new("scheduled", "Agreed maintenance", Type::Bool).default("false"),
        F::new(
            "incident",
            "Incident",
            Type::Ref(Target::Item(crate::operation::resolution::incident::KIND)),
        ),
        F::new("cause", "Cause", Type::Text(20_000)),
    ],
    "description",
    (ReadAssurance, ManageAssurance),
)
.summary("Times a service was unavailable, planned or not.")
.rules(outage_rules);

fn outage_rules(v: &Values, _: Option<&Values>) -> Result<(), FieldError> {
    not_before(v, "ended_at", "started_at")
}

/// One outage: epoch ms; an open outage runs until "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub start: i64,
    pub end: Option<i64>,
    pub scheduled: bool,
}

/// Measured availability of one service over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Measured {
    /// The period less agreed maintenance, ms.
    pub agreed_ms: i64,
    /// Unplanned downtime inside agreed service time, ms.
    pub downtime_ms: i64,
    pub maintenance_ms: i64,
    /// Thousandths of a percent (99.95 % → 99 950); None when nothing was agreed.
    pub availability: Option<i64>,
}

fn merged(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.retain(|(a, b)| a < b);
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn total(v: &[(i64, i64)]) -> i64 {
    v.iter().map(|(a, b)| b - a).sum()
}

/// Length of `a`'s union that `b`'s union also covers (both merged).
fn overlap(a: &[(i64, i64)], b: &[(i64, i64)]) -> i64 {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo < hi {
            n += hi - lo;
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    n
}

/// Availability over `[from, to)` given the outages and the current instant (open outages and
/// the part of the period still to come count only up to `now`).
pub fn measure(from: i64, to: i64, outages: &[Outage], now: i64) -> Measured {
    let end = to.min(now.max(from));
    let clip = |o: &Outage| (o.start.max(from), o.end.unwrap_or(now).min(end));
    let maint = merged(outages.iter().filter(|o| o.scheduled).map(clip).collect());
    let down = merged(outages.iter().filter(|o| !o.scheduled).map(clip).collect());
    let maintenance_ms = total(&maint);
    let downtime_ms = total(&down) - overlap(&down, &maint);
    let agreed_ms = (end - from) - maintenance_ms;
    Measured {
        agreed_ms,
        downtime_ms,
        maintenance_ms,
        availability: (agreed_ms > 0)
            .then(|| ((agreed_ms - downtime_ms) as i128 * 100_000 / agreed_ms as i128) as i64),
    }
}

/// This process's registers, in the order pages list them.
pub static REGISTERS: &[&Register] = &[&TARGETS, &OUTAGES];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;

    #[test]
    fn maintenance_is_not_downtime() {
        let day = 24 * H;
        let m = measure(
            0,
            10 * day,
            &[
                Outage {
                    start: H,
                    end: Some(3 * H),
                    scheduled: false,
                },
                // Overlaps the first: counted once.
                Outage {
                    start: 2 * H,
                    end: Some(4 * H),
                    scheduled: false,
                },
                // Inside maintenance: not downtime.
                Outage {
                    start: 5 * day,
                    end: Some(5 * day + H),
                    scheduled: false,
                },
                Outage {
                    start: 5 * day - H,
                    end: Some(5 * day + 2 * H),
                    scheduled: true,
                },
            ],
            100 * day,
        );
        assert_eq!(m.maintenance_ms, 3 * H);
        assert_eq!(m.downtime_ms, 3 * H);
        assert_eq!(m.agreed_ms, 240 * H - 3 * H);
        assert_eq!(m.availability, Some(98_734));
    }

    #[test]
    fn open_outages_run_until_now() {
        let m = measure(
            0,
            100 * H,
            &[Outage {
                start: 10 * H,
                end: None,
                scheduled: false,
            }],
            20 * H,
        );
        assert_eq!(m.downtime_ms, 10 * H);
        assert_eq!(m.agreed_ms, 20 * H);
        assert_eq!(m.availability, Some(50_000));
    }

    proptest! {
        #[test]
        fn availability_is_a_percentage(
            os in proptest::collection::vec((0i64..1000, 0i64..300, any::<bool>()), 0..20)
        ) {
            let outages: Vec<Outage> = os.iter().map(|(s, d, sch)| Outage { start: *s, end: Some(s + d), scheduled: *sch }).collect();
            let m = measure(0, 1000, &outages, 5000);
            prop_assert!(m.downtime_ms >= 0 && m.downtime_ms <= m.agreed_ms.max(0));
            if let Some(a) = m.availability {
                prop_assert!((0..=100_000).contains(&a));
            }
            // Adding an outage never raises availability.
            let mut more = outages.clone();
            more.push(Outage { start: 100, end: Some(200), scheduled: false });
            let m2 = measure(0, 1000, &more, 5000);
            if let (Some(a), Some(b)) = (m.availability, m2.availability) && m.agreed_ms == m2.agreed_ms {
                prop_assert!(b <= a);
            }
        }
    }
}
