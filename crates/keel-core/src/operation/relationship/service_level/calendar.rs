//! Business calendars: working hours per weekday in a time zone, minus holidays.
//!
//! Working windows are civil times ("08:00–18:00 on Mondays in Europe/Paris") turned into instants
//! day by day, so a daylight-saving change shortens or lengthens that day's window by the real
//! hour, never shifts the rest of the week. A window that starts in a skipped hour starts when
//! the clocks resume; an ambiguous (repeated) hour resolves to its first occurrence (jiff's
//! "compatible" disambiguation, as RFC 5545 does).

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Minutes in a day; a window may end at 24:00.
pub const DAY_MINUTES: u16 = 24 * 60;
/// How far [`Calendar::add`] searches for working time before giving up (ten years).
const SEARCH_DAYS: i32 = 3_660;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("`{0}` is not a time of day (expected HH:MM, 00:00 to 24:00)")]
    BadTime(String),
    #[error("a working window must end after it starts ({0})")]
    EmptyWindow(String),
    #[error("working windows overlap on {0}")]
    Overlap(&'static str),
    #[error("the calendar has no working time in the week")]
    NoWorkingTime,
    #[error("weekday must be one of monday … sunday, not `{0}`")]
    BadWeekday(String),
}

/// The week as given by an administrator: one entry per window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// `monday` … `sunday`.
    pub weekday: String,
    /// `HH:MM`, local time.
    pub start: String,
    /// `HH:MM`, local time; `24:00` for the end of the day.
    pub end: String,
}

pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Working windows per weekday (Monday first), in minutes after local midnight, sorted and
/// disjoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Week(pub [Vec<(u16, u16)>; 7]);

fn parse_hhmm(s: &str) -> Result<u16, CalendarError> {
    let bad = || CalendarError::BadTime(s.to_string());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h * 60 + m > DAY_MINUTES {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Render minutes after midnight as `HH:MM`.
pub fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl Week {
    /// Round the clock, every day.
    pub fn always() -> Week {
        Week(std::array::from_fn(|_| vec![(0, DAY_MINUTES)]))
    }

    /// Parse and check an administrator's windows.
    pub fn parse(specs: &[WindowSpec]) -> Result<Week, CalendarError> {
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for w in specs {
            let day = WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(w.weekday.trim()))
                .ok_or_else(|| CalendarError::BadWeekday(w.weekday.clone()))?;
            let (s, e) = (parse_hhmm(&w.start)?, parse_hhmm(&w.end)?);
            if e <= s {
                return Err(CalendarError::EmptyWindow(format!(
                    "{} {}–{}",
                    w.weekday, w.start, w.end
                )));
            }
            days[day].push((s, e));
        }
        for (i, d) in days.iter_mut().enumerate() {
            d.sort_unstable();
            if d.windows(2).any(|p| p[1].0 < p[0].1) {
                return Err(CalendarError::Overlap(WEEKDAYS[i]));
            }
        }
        if days.iter().all(Vec::is_empty) {
            return Err(CalendarError::NoWorkingTime);
        }
        Ok(Week(days))
    }

    /// Back to the administrator's form.
    pub fn specs(&self) -> Vec<WindowSpec> {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, d)| {
                d.iter().map(move |(s, e)| WindowSpec {
                    weekday: WEEKDAYS[i].to_string(),
                    start: hhmm(*s),
                    end: hhmm(*e),
                })
            })
            .collect()
    }
}

/// A business calendar ready for arithmetic.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    week: Week,
    holidays: BTreeSet<Date>,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

impl Calendar {
    pub fn new(
        tz: TimeZone,
        week: Week,
        holidays: BTreeSet<Date>,
    ) -> Result<Calendar, CalendarError> {
        if week.0.iter().all(Vec::is_empty) {
            return Err(CalendarError::NoWorkingTime);
        }
        Ok(Calendar { tz, week, holidays })
    }

    /// Every minute of every day, in UTC (the calendar of a 24×7 target).
    pub fn always() -> Calendar {
        Calendar {
            tz: TimeZone::UTC,
            week: Week::always(),
            holidays: BTreeSet::new(),
        }
    }

    fn local_date(&self, at_ms: i64) -> Date {
        let ts = Timestamp::from_millisecond(at_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        self.tz.to_datetime(ts).date()
    }

    fn instant(&self, date: Date, minutes: u16) -> Option<i64> {
        let dt = if minutes >= DAY_MINUTES {
            date.tomorrow().ok()?.at(0, 0, 0, 0)
        } else {
            let t = Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()?;
            date.to_datetime(t)
        };
        self.tz.to_timestamp(dt).ok().map(ms)
    }

    /// The working windows of one local date, as instants `[start, end)`.
    pub fn windows(&self, date: Date) -> Vec<(i64, i64)> {
        if self.holidays.contains(&date) {
            return vec![];
        }
        let day = date.weekday().to_monday_zero_offset() as usize;
        self.week.0[day]
            .iter()
            .filter_map(|(s, e)| {
                let (a, b) = (self.instant(date, *s)?, self.instant(date, *e)?);
                (b > a).then_some((a, b))
            })
            .collect()
    }

    /// Working milliseconds in `[from, to)`; zero if `to <= from`.
    pub fn business_ms(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        // Start a day early: a window of the previous local date may reach past midnight UTC.
        let Ok(mut date) = self.local_date(from).yesterday() else {
            return 0;
        };
        let last = self.local_date(to);
        while date <= last {
            for (a, b) in self.windows(date) {
                let (a, b) = (a.max(from), b.min(to));
                if b > a {
                    total += b - a;
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        total
    }

    /// The instant at which `amount` working milliseconds have passed after `from`; `from`
    /// itself for zero. `None` if the calendar has no working time in the next ten years (every
    /// working day a holiday).
    pub fn add(&self, from: i64, amount: i64) -> Option<i64> {
        if amount <= 0 {
            return Some(from);
        }
        let mut left = amount;
        let mut date = self.local_date(from).yesterday().ok()?;
        for _ in 0..SEARCH_DAYS {
            for (a, b) in self.windows(date) {
                let a = a.max(from);
                if b <= a {
                    continue;
                }
                if left <= b - a {
                    return Some(a + left);
                }
                left -= b - a;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Is `at` inside working time?
    pub fn is_working(&self, at: i64) -> bool {
        self.business_ms(at, at + 1) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn paris() -> TimeZone {
        // Fixed rules rather than the system database: tests must not read files.
        TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("posix tz")
    }

    fn office(holidays: &[Date]) -> Calendar {
        let mut specs = vec![];
        for d in &WEEKDAYS[..5] {
            specs.push(WindowSpec {
                weekday: d.to_string(),
                start: "08:00".into(),
                end: "12:00".into(),
            });
            specs.push(WindowSpec {
                weekday: d.to_string(),
                start: "13:00".into(),
                end: "18:00".into(),
            });
        }
        Calendar::new(
            paris(),
            Week::parse(&specs).expect("week"),
            holidays.iter().copied().collect(),
        )
        .expect("calendar")
    }

    fn at(d: Date, h: i8, m: i8) -> i64 {
        paris()
            .to_timestamp(d.at(h, m, 0, 0))
            .expect("ts")
            .as_millisecond()
    }

    #[test]
    fn parse_rejects_bad_windows() {
        let w = |d: &str, s: &str, e: &str| WindowSpec {
            weekday: d.into(),
            start: s.into(),
            end: e.into(),
        };
        assert_eq!(
            Week::parse(&[w("funday", "08:00", "09:00")]),
            Err(CalendarError::BadWeekday("funday".into()))
        );
        assert_eq!(
            Week::parse(&[w("monday", "8:00", "09:00")]),
            Err(CalendarError::BadTime("8:00".into()))
        );
        assert_eq!(
            Week::parse(&[w("monday", "24:01", "09:00")]),
            Err(CalendarError::BadTime("24:01".into()))
        );
        assert!(matches!(
            Week::parse(&[w("monday", "10:00", "09:00")]),
            Err(CalendarError::EmptyWindow(_))
        ));
        assert_eq!(
            Week::parse(&[w("monday", "08:00", "12:00"), w("monday", "11:00", "13:00")]),
            Err(CalendarError::Overlap("monday"))
        );
        assert_eq!(Week::parse(&[]), Err(CalendarError::NoWorkingTime));
        let week = Week::parse(&[w("Monday", "08:00", "24:00")]).expect("ok");
        assert_eq!(Week::parse(&week.specs()), Ok(week));
    }

    #[test]
    fn a_pause_over_night_and_weekend_counts_only_working_hours() {
        let cal = office(&[]);
        // Friday 2026-11-27 17:00 to Monday 2026-11-30 09:30: 1 h Friday + 1.5 h Monday.
        let from = at(date(2026, 11, 27), 17, 0);
        let to = at(date(2026, 11, 30), 9, 30);
        assert_eq!(cal.business_ms(from, to), 150 * M);
        // Four working hours from Friday 17:00 end Monday 11:00.
        assert_eq!(cal.add(from, 4 * H), Some(at(date(2026, 11, 30), 11, 0)));
        // Exactly at a window's end: the deadline is that end, not the next window's start.
        assert_eq!(cal.add(from, H), Some(at(date(2026, 11, 27), 18, 0)));
    }

    #[test]
    fn lunch_break_and_holidays_are_skipped() {
        let cal = office(&[date(2026, 12, 25)]);
        let from = at(date(2026, 12, 24), 11, 0);
        // 1 h before lunch, 5 h after, Christmas off, then Saturday/Sunday: 2 h on Monday the 28th.
        assert_eq!(cal.add(from, 8 * H), Some(at(date(2026, 12, 28), 10, 0)));
    }

    #[test]
    fn daylight_saving_days_have_their_real_length() {
        // A 24×7 calendar in Paris: the spring-forward Sunday has 23 hours.
        let specs: Vec<WindowSpec> = WEEKDAYS
            .iter()
            .map(|d| WindowSpec {
                weekday: d.to_string(),
                start: "00:00".into(),
                end: "24:00".into(),
            })
            .collect();
        let cal =
            Calendar::new(paris(), Week::parse(&specs).expect("w"), BTreeSet::new()).expect("c");
        let day = date(2026, 3, 29);
        let from = at(day, 0, 0);
        let to = at(date(2026, 3, 30), 0, 0);
        assert_eq!(cal.business_ms(from, to), 23 * H);
        // An office window 01:00–04:00 on that Sunday lasts 2 real hours.
        let w = vec![WindowSpec {
            weekday: "sunday".into(),
            start: "01:00".into(),
            end: "04:00".into(),
        }];
        let cal = Calendar::new(paris(), Week::parse(&w).expect("w"), BTreeSet::new()).expect("c");
        assert_eq!(cal.business_ms(from, to), 2 * H);
        // Autumn back: 01:00–04:00 on 2026-10-25 lasts 4 real hours.
        let from = at(date(2026, 10, 25), 0, 0);
        let to = at(date(2026, 10, 26), 0, 0);
        assert_eq!(cal.business_ms(from, to), 4 * H);
    }

    #[test]
    fn a_calendar_of_holidays_only_never_reaches_a_deadline() {
        let w = vec![WindowSpec {
            weekday: "monday".into(),
            start: "08:00".into(),
            end: "09:00".into(),
        }];
        let mut holidays = BTreeSet::new();
        let mut d = date(2026, 1, 1);
        while d < date(2040, 1, 1) {
            if d.weekday() == jiff::civil::Weekday::Monday {
                holidays.insert(d);
            }
            d = d.tomorrow().expect("d");
        }
        let cal = Calendar::new(paris(), Week::parse(&w).expect("w"), holidays).expect("c");
        assert_eq!(cal.add(at(date(2026, 1, 2), 0, 0), H), None);
    }

    /// Brute force: count working minutes one by one.
    fn minutes_between(cal: &Calendar, from: i64, to: i64) -> i64 {
        let mut n = 0;
        let mut t = from;
        while t < to {
            if cal.is_working(t) {
                n += 1;
            }
            t += M;
        }
        n
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Adding working time then measuring it gives it back, across nights, weekends, lunch
        /// breaks, holidays and both daylight-saving changes of 2026.
        #[test]
        fn add_and_measure_agree(start_h in 0i64..(24 * 400), minutes in 0i64..(60 * 80)) {
            let cal = office(&[date(2026, 12, 25), date(2027, 1, 1), date(2026, 5, 1)]);
            let from = at(date(2026, 1, 1), 0, 0) + start_h * H + (start_h % 7) * 7 * M;
            let due = cal.add(from, minutes * M).expect("due");
            prop_assert!(due >= from);
            prop_assert_eq!(cal.business_ms(from, due), minutes * M);
            // Nothing earlier would do: one minute before, less than the amount has passed.
            if minutes > 0 {
                prop_assert!(cal.business_ms(from, due - M) < minutes * M);
            }
        }

        /// Measuring is additive over any split point.
        #[test]
        fn measure_is_additive(a in 0i64..(24 * 60 * 30), b in 0i64..(24 * 60 * 30), c in 0i64..(24 * 60 * 30)) {
            let cal = office(&[date(2026, 3, 30)]);
            let base = at(date(2026, 3, 20), 0, 0);
            let mut v = [a, b, c];
            v.sort_unstable();
            let [a, b, c] = v.map(|x| base + x * M);
            prop_assert_eq!(cal.business_ms(a, c), cal.business_ms(a, b) + cal.business_ms(b, c));
        }

        /// Against minute-by-minute counting over windows spanning the spring change.
        #[test]
        fn measure_matches_brute_force(a in 0i64..(60 * 24 * 4), len in 0i64..(60 * 24 * 3)) {
            let cal = office(&[]);
            let base = at(date(2026, 3, 27), 0, 0);
            let (from, to) = (base + a * M, base + (a + len) * M);
            prop_assert_eq!(cal.business_ms(from, to), minutes_between(&cal, from, to) * M);
        }
    }
}
