//! SLA clocks as a fold over an append-only ledger of events.
//!
//! A clock measures business time (per its calendar) while its work item is being worked on.
//! The ledger records what happened — started, paused, resumed, re-targeted (a new target or a
//! new calendar version), stopped — and the clock's state is the fold of those events, so any
//! clock can be replayed and explained. Time already measured is never recomputed: a new target
//! or calendar applies from the instant it takes effect, and paused time stays paused.

use super::calendar::Calendar;
use serde::{Deserialize, Serialize};

/// What a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// From creation until someone starts working on the item (it leaves `new`).
    Response,
    /// From creation until the item is resolved, less paused time; reopening resumes it.
    Resolution,
}

impl Metric {
    pub const ALL: [Metric; 2] = [Metric::Response, Metric::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Response => "response",
            Metric::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Running, Status::Paused, Status::Stopped]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Start,
    Pause,
    Resume,
    /// A new target and/or calendar version applies from this instant.
    Retarget,
    Stop,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Start => "start",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Retarget => "retarget",
            EventKind::Stop => "stop",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::Start,
            EventKind::Pause,
            EventKind::Resume,
            EventKind::Retarget,
            EventKind::Stop,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Which calendar, in which (immutable) version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CalendarKey {
    pub id: i64,
    pub version: i64,
}

/// One ledger entry. Every entry carries the target and calendar in force after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub at: i64,
    pub target_ms: i64,
    pub calendar: CalendarKey,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("a clock's ledger must begin with a start event")]
    NotStarted,
    #[error("cannot {event} a {status} clock")]
    Illegal {
        event: &'static str,
        status: &'static str,
    },
}

/// The folded state of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub status: Status,
    pub target_ms: i64,
    /// The calendar in force since `since`.
    pub calendar: CalendarKey,
    /// Business time measured before `since`.
    pub elapsed_ms: i64,
    /// Start of the current segment (the last event's instant).
    pub since: i64,
    /// When the measured time first reached the target.
    pub breached_at: Option<i64>,
}

/// What a clock shows at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub elapsed_ms: i64,
    /// Negative once breached.
    pub remaining_ms: i64,
    /// Elapsed as a percentage of the target (may exceed 100).
    pub percent: i64,
    /// When it will breach if it keeps running (only while running and not yet breached).
    pub due_at: Option<i64>,
    /// When it passes the warning threshold (only while running and before it).
    pub warn_at: Option<i64>,
    pub breached: bool,
    pub breached_at: Option<i64>,
}

impl Clock {
    pub fn start(at: i64, target_ms: i64, calendar: CalendarKey) -> Clock {
        Clock {
            status: Status::Running,
            target_ms,
            calendar,
            elapsed_ms: 0,
            since: at,
            breached_at: (target_ms <= 0).then_some(at),
        }
    }

    /// Close the running segment at `at` with the calendar in force (`cal`).
    fn close(&mut self, at: i64, cal: &Calendar) {
        if self.status == Status::Running {
            let seg = cal.business_ms(self.since, at);
            if self.breached_at.is_none() && self.elapsed_ms + seg >= self.target_ms {
                self.breached_at = cal.add(self.since, self.target_ms - self.elapsed_ms);
            }
            self.elapsed_ms += seg;
        }
        self.since = at;
    }

    /// Apply the next ledger event. `cal` is the calendar of [`Clock::calendar`], the one
    /// in force until this event. An event stamped before the current segment began (clock skew
    /// between nodes) is taken as happening at the segment's start: time never runs backwards.
    pub fn apply(mut self, e: &Event, cal: &Calendar) -> Result<Clock, ClockError> {
        let at = e.at.max(self.since);
        let illegal = || ClockError::Illegal {
            event: e.kind.as_str(),
            status: self.status.as_str(),
        };
        match (e.kind, self.status) {
            (EventKind::Start, _) => return Err(illegal()),
            (EventKind::Pause, Status::Running) => {
                self.close(at, cal);
                self.status = Status::Paused;
            }
            (EventKind::Resume, Status::Paused | Status::Stopped) => {
                self.since = at;
                self.status = Status::Running;
            }
            (EventKind::Stop, Status::Running | Status::Paused) => {
                self.close(at, cal);
                self.status = Status::Stopped;
            }
            (EventKind::Retarget, _) => {
                self.close(at, cal);
                self.target_ms = e.target_ms;
                self.calendar = e.calendar;
                if self.breached_at.is_none() && self.elapsed_ms >= self.target_ms {
                    self.breached_at = Some(at);
                }
            }
            _ => return Err(illegal()),
        }
        Ok(self)
    }

    /// Replay a whole ledger; `calendar(key)` yields each calendar version it names.
    pub fn replay<'c>(
        events: &[Event],
        calendar: impl Fn(CalendarKey) -> &'c Calendar,
    ) -> Result<Clock, ClockError> {
        let (first, rest) = events.split_first().ok_or(ClockError::NotStarted)?;
        if first.kind != EventKind::Start {
            return Err(ClockError::NotStarted);
        }
        let mut c = Clock::start(first.at, first.target_ms, first.calendar);
        for e in rest {
            c = c.apply(e, calendar(c.calendar))?;
        }
        Ok(c)
    }

    /// The clock at `now` (not before its last event), with a warning at `warn_percent` of the
    /// target.
    pub fn read(&self, now: i64, cal: &Calendar, warn_percent: i64) -> Reading {
        let now = now.max(self.since);
        let running = self.status == Status::Running;
        let mut elapsed = self.elapsed_ms;
        let mut breached_at = self.breached_at;
        if running {
            let seg = cal.business_ms(self.since, now);
            if breached_at.is_none() && elapsed + seg >= self.target_ms {
                breached_at = cal.add(self.since, self.target_ms - elapsed);
            }
            elapsed += seg;
        }
        let warn_ms = self.target_ms.saturating_mul(warn_percent) / 100;
        let due_at = if running && breached_at.is_none() {
            cal.add(self.since, self.target_ms - self.elapsed_ms)
        } else {
            None
        };
        let warn_at = if running && elapsed < warn_ms {
            cal.add(self.since, warn_ms - self.elapsed_ms)
        } else {
            None
        };
        Reading {
            elapsed_ms: elapsed,
            remaining_ms: self.target_ms - elapsed,
            percent: if self.target_ms > 0 {
                elapsed.saturating_mul(100) / self.target_ms
            } else {
                100
            },
            due_at,
            warn_at,
            breached: breached_at.is_some(),
            breached_at,
        }
    }
}

/// Hold reasons that stop the resolution clock: the ball is in someone else's court (8.6.1).
pub const PAUSING_HOLD_REASONS: &[&str] = &["pending_requester", "pending_supplier"];

/// The status a clock of `metric` should have for an item in `state` (with `hold_reason`).
/// Terminal states stop both clocks; a response clock runs only while the item is new.
pub fn desired_status(metric: Metric, state: &str, hold_reason: Option<&str>) -> Status {
    match (metric, state) {
        (_, "resolved" | "closed" | "cancelled" | "fulfilled" | "rejected") => Status::Stopped,
        (Metric::Response, "new" | "submitted") => Status::Running,
        (Metric::Response, _) => Status::Stopped,
        (Metric::Resolution, "on_hold")
            if hold_reason.is_some_and(|r| PAUSING_HOLD_REASONS.contains(&r)) =>
        {
            Status::Paused
        }
        // Time waiting for an approver is not the fulfiller's (8.6.2).
        (Metric::Resolution, "awaiting_approval") => Status::Paused,
        (Metric::Resolution, _) => Status::Running,
    }
}

/// The ledger events that take a clock from `current` to `desired`. A response clock, once
/// stopped, stays stopped (a reopened item has already been responded to).
pub fn events_for(metric: Metric, current: Status, desired: Status) -> &'static [EventKind] {
    use EventKind::*;
    match (current, desired) {
        (a, b) if a == b => &[],
        (Status::Stopped, _) if metric == Metric::Response => &[],
        (Status::Running, Status::Paused) => &[Pause],
        (Status::Running | Status::Paused, Status::Stopped) => &[Stop],
        (Status::Paused | Status::Stopped, Status::Running) => &[Resume],
        (Status::Stopped, Status::Paused) => &[Resume, Pause],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::super::calendar::{Calendar, WEEKDAYS, Week, WindowSpec};
    use super::*;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;
    // Monday 2026-11-23 00:00 UTC.
    const MONDAY: i64 = 1_795_392_000_000;

    fn office() -> Calendar {
        let specs: Vec<WindowSpec> = WEEKDAYS[..5]
            .iter()
            .map(|d| WindowSpec {
                weekday: d.to_string(),
                start: "09:00".into(),
                end: "17:00".into(),
            })
            .collect();
        Calendar::new(
            TimeZone::UTC,
            Week::parse(&specs).expect("w"),
            BTreeSet::new(),
        )
        .expect("c")
    }

    const K1: CalendarKey = CalendarKey { id: 1, version: 1 };
    const K2: CalendarKey = CalendarKey { id: 1, version: 2 };

    fn ev(kind: EventKind, at: i64) -> Event {
        Event {
            kind,
            at,
            target_ms: 0,
            calendar: K1,
        }
    }

    #[test]
    fn monday_check() {
        let ts = jiff::Timestamp::from_millisecond(MONDAY).expect("ts");
        assert_eq!(ts.to_string(), "2026-11-23T00:00:00Z");
    }

    #[test]
    fn pause_over_the_weekend_then_breach() {
        let cal = office();
        // Started Friday 15:00 with an 8-hour target; paused Friday 16:00 pending the requester,
        // resumed Monday 10:00: 1 h measured, due Monday 17:00.
        let fri = MONDAY + 4 * 24 * H;
        let next_mon = MONDAY + 7 * 24 * H;
        let c = Clock::start(fri + 15 * H, 8 * H, K1);
        let c = c
            .apply(&ev(EventKind::Pause, fri + 16 * H), &cal)
            .expect("p");
        assert_eq!(c.elapsed_ms, H);
        let c = c
            .apply(&ev(EventKind::Resume, next_mon + 10 * H), &cal)
            .expect("r");
        let r = c.read(next_mon + 12 * H, &cal, 75);
        assert_eq!(r.elapsed_ms, 3 * H);
        assert_eq!(r.due_at, Some(next_mon + 17 * H));
        assert_eq!(r.warn_at, Some(next_mon + 15 * H));
        assert!(!r.breached);
        // Tuesday 10:00: the evening did not count, one working hour over.
        let r = c.read(next_mon + 34 * H, &cal, 75);
        assert!(r.breached);
        assert_eq!(r.breached_at, Some(next_mon + 17 * H));
        assert_eq!(r.remaining_ms, -H);
        assert_eq!(r.percent, 112);
    }

    #[test]
    fn retarget_keeps_measured_time_and_paused_time() {
        let cal = office();
        let always = Calendar::always();
        let c = Clock::start(MONDAY + 9 * H, 4 * H, K1);
        let c = c
            .apply(&ev(EventKind::Pause, MONDAY + 10 * H), &cal)
            .expect("p");
        // The SLA changes while paused: 24×7 calendar (version 2), 2-hour target.
        let c = c
            .apply(
                &Event {
                    kind: EventKind::Retarget,
                    at: MONDAY + 20 * H,
                    target_ms: 2 * H,
                    calendar: K2,
                },
                &cal,
            )
            .expect("t");
        assert_eq!(
            (c.status, c.elapsed_ms, c.target_ms),
            (Status::Paused, H, 2 * H)
        );
        let c = c
            .apply(&ev(EventKind::Resume, MONDAY + 22 * H), &always)
            .expect("r");
        // One more hour on the 24×7 calendar: due at 23:00 Monday, not Tuesday 10:00.
        assert_eq!(
            c.read(MONDAY + 22 * H, &always, 50).due_at,
            Some(MONDAY + 23 * H)
        );
        // Lowering the target below the measured time breaches at once.
        let c = c
            .apply(
                &Event {
                    kind: EventKind::Retarget,
                    at: MONDAY + 22 * H + 30 * M,
                    target_ms: H,
                    calendar: K2,
                },
                &always,
            )
            .expect("t");
        assert_eq!(c.breached_at, Some(MONDAY + 22 * H + 30 * M));
    }

    #[test]
    fn illegal_events_are_refused_and_replay_needs_a_start() {
        let cal = office();
        let c = Clock::start(MONDAY, H, K1);
        assert!(c.apply(&ev(EventKind::Resume, MONDAY), &cal).is_err());
        assert!(c.apply(&ev(EventKind::Start, MONDAY), &cal).is_err());
        assert_eq!(
            Clock::replay(&[ev(EventKind::Pause, MONDAY)], |_| &cal),
            Err(ClockError::NotStarted)
        );
    }

    #[test]
    fn state_policy() {
        use Metric::*;
        assert_eq!(desired_status(Response, "new", None), Status::Running);
        assert_eq!(
            desired_status(Response, "in_progress", None),
            Status::Stopped
        );
        assert_eq!(
            desired_status(Resolution, "on_hold", Some("pending_supplier")),
            Status::Paused
        );
        assert_eq!(
            desired_status(Resolution, "on_hold", Some("monitoring")),
            Status::Running
        );
        assert_eq!(
            desired_status(Resolution, "resolved", None),
            Status::Stopped
        );
        assert_eq!(
            events_for(Resolution, Status::Stopped, Status::Running),
            &[EventKind::Resume]
        );
        assert!(events_for(Response, Status::Stopped, Status::Running).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Folding random pause/resume sequences measures exactly the working time of the
        /// running intervals, and the breach instant is where that time reaches the target.
        #[test]
        fn fold_matches_interval_sum(
            gaps in proptest::collection::vec(1i64..(60 * 40), 1..12),
            target_h in 1i64..30,
            start in 0i64..(60 * 24 * 7),
        ) {
            let cal = office();
            let t0 = MONDAY + start * M;
            let mut c = Clock::start(t0, target_h * H, K1);
            let mut events = vec![Event { kind: EventKind::Start, at: t0, target_ms: target_h * H, calendar: K1 }];
            let mut t = t0;
            let mut running_since = Some(t0);
            let mut expected = 0;
            for (i, g) in gaps.iter().enumerate() {
                t += g * M;
                let kind = if i % 2 == 0 { EventKind::Pause } else { EventKind::Resume };
                if let Some(s) = running_since.take() {
                    expected += cal.business_ms(s, t);
                } else {
                    running_since = Some(t);
                }
                let e = ev(kind, t);
                c = c.apply(&e, &cal).expect("apply");
                events.push(e);
            }
            let now = t + 3 * H;
            if let Some(s) = running_since {
                expected += cal.business_ms(s, now);
            }
            let r = c.read(now, &cal, 80);
            prop_assert_eq!(r.elapsed_ms, expected);
            prop_assert_eq!(Clock::replay(&events, |_| &cal).expect("replay"), c);
            prop_assert_eq!(r.breached, expected >= target_h * H);
            if let Some(b) = r.breached_at {
                // Reconstruct the working time measured up to the breach instant.
                let mut upto = 0;
                let mut s = Some(t0);
                for e in &events[1..] {
                    if e.at > b { break; }
                    match s.take() {
                        Some(since) => upto += cal.business_ms(since, e.at),
                        None => s = Some(e.at),
                    }
                }
                if let Some(since) = s { upto += cal.business_ms(since, b); }
                prop_assert_eq!(upto, target_h * H);
            }
            if let Some(d) = r.due_at {
                prop_assert_eq!(c.elapsed_ms + cal.business_ms(c.since, d), target_h * H);
            }
        }
    }
}
