//! Clause 8.3.3 — service level management: business calendars and the SLA clocks that measure
//! work items against service level targets.
//!
//! Everything here is pure: a [`calendar::Calendar`] is handed its time zone already resolved, and
//! clocks take the current instant as an argument. Instants are epoch milliseconds, as stored.

pub mod calendar;
pub mod clock;

/// What a service level target applies to; `None` matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub service_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub priority: Option<i64>,
}

/// The target that governs an item: among those whose every set field matches, the most
/// specific (service outranks customer outranks priority); ties go to the lowest id (the
/// oldest), so the choice is stable. `targets` are `(id, scope)`.
pub fn select_target(targets: &[(i64, Scope)], item: Scope) -> Option<i64> {
    let fits = |want: Option<i64>, have: Option<i64>| want.is_none() || want == have;
    targets
        .iter()
        .filter(|(_, t)| {
            fits(t.service_id, item.service_id)
                && fits(t.customer_id, item.customer_id)
                && fits(t.priority, item.priority)
        })
        .map(|(id, t)| {
            let score = 4 * i32::from(t.service_id.is_some())
                + 2 * i32::from(t.customer_id.is_some())
                + i32::from(t.priority.is_some());
            (std::cmp::Reverse(score), *id)
        })
        .min()
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(service_id: Option<i64>, customer_id: Option<i64>, priority: Option<i64>) -> Scope {
        Scope {
            service_id,
            customer_id,
            priority,
        }
    }

    #[test]
    fn most_specific_target_wins() {
        let targets = [
            (1, s(None, None, None)),
            (2, s(None, None, Some(1))),
            (3, s(Some(7), None, None)),
            (4, s(Some(7), Some(9), Some(1))),
            (5, s(None, Some(9), None)),
        ];
        assert_eq!(select_target(&targets, s(None, None, Some(3))), Some(1));
        assert_eq!(select_target(&targets, s(None, None, Some(1))), Some(2));
        assert_eq!(select_target(&targets, s(Some(7), None, Some(1))), Some(3));
        assert_eq!(
            select_target(&targets, s(Some(7), Some(9), Some(1))),
            Some(4)
        );
        assert_eq!(
            select_target(&targets, s(Some(8), Some(9), Some(2))),
            Some(5)
        );
        assert_eq!(select_target(&targets[1..2], s(None, None, Some(3))), None);
    }
}
