//! Periods as people write them (evidence periods, budget years, report months): `2026`, `2026-Q3`, `2026-07`, or
//! `2026-01-01..2026-06-30` (both days included).

use jiff::ToSpan;
use jiff::civil::Date;

/// First and last day (inclusive) of the period written as `text`.
pub fn parse(text: &str) -> Result<(Date, Date), String> {
    let t = text.trim();
    let bad =
        || format!("`{t}` is not a period (2026, 2026-Q3, 2026-07 or 2026-01-01..2026-06-30)");
    if let Some((a, b)) = t.split_once("..") {
        let from: Date = a.trim().parse().map_err(|_| bad())?;
        let to: Date = b.trim().parse().map_err(|_| bad())?;
        if to < from {
            return Err(format!("`{t}` ends before it starts"));
        }
        return Ok((from, to));
    }
    let year = |s: &str| -> Result<i16, String> {
        s.parse::<i16>()
            .ok()
            .filter(|y| (1900..=9999).contains(y))
            .ok_or_else(bad)
    };
    let span_end = |from: Date, months: i32| -> Result<(Date, Date), String> {
        let to = from
            .checked_add(months.months())
            .and_then(|d| d.checked_sub(1.day()))
            .map_err(|_| bad())?;
        Ok((from, to))
    };
    match t.split_once('-') {
        None => {
            let from = Date::new(year(t)?, 1, 1).map_err(|_| bad())?;
            span_end(from, 12)
        }
        Some((y, rest)) => {
            let y = year(y)?;
            if let Some(q) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
                let q: i8 = q
                    .parse()
                    .ok()
                    .filter(|q| (1..=4).contains(q))
                    .ok_or_else(bad)?;
                let from = Date::new(y, (q - 1) * 3 + 1, 1).map_err(|_| bad())?;
                span_end(from, 3)
            } else {
                let m: i8 = rest
                    .parse()
                    .ok()
                    .filter(|m| (1..=12).contains(m))
                    .ok_or_else(bad)?;
                let from = Date::new(y, m, 1).map_err(|_| bad())?;
                span_end(from, 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(String, String)> {
        parse(s).ok().map(|(a, b)| (a.to_string(), b.to_string()))
    }

    #[test]
    fn periods() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(p("2026"), pair("2026-01-01", "2026-12-31"));
        assert_eq!(p("2026-Q1"), pair("2026-01-01", "2026-03-31"));
        assert_eq!(p("2024-02"), pair("2024-02-01", "2024-02-29"));
        assert_eq!(
            p(" 2026-03-05..2026-04-01 "),
            pair("2026-03-05", "2026-04-01")
        );
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-Q5",
            "2026-04-01..2026-03-01",
            "last year",
            "2026-01-01..",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
