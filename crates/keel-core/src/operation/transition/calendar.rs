//! The forward schedule of change as an iCalendar feed (RFC 5545), for calendar clients to
//! subscribe to. Only what a subscriber's client needs: one `VEVENT` per scheduled change, with
//! text escaped and lines folded at 75 octets as the RFC requires.

use jiff::Timestamp;

/// One scheduled change (or deployment) as a calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable across feeds (the change number and the host), so clients update, not duplicate.
    pub uid: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub summary: String,
    pub description: String,
    /// `TENTATIVE` (not yet authorized), `CONFIRMED` or `CANCELLED`.
    pub status: &'static str,
    pub categories: Vec<String>,
    pub url: Option<String>,
    /// Increases whenever the change is revised (its version).
    pub sequence: i64,
}

fn stamp(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "19700101T000000Z".into())
}

/// Escape TEXT values (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Write one content line, folded so no line exceeds 75 octets (§3.1), never inside a UTF-8
/// character, each ending in CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// The calendar, stamped at `now_ms`.
pub fn render(name: &str, events: &[Event], now_ms: i64) -> String {
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Keel//Forward schedule of change//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        line(&mut out, l);
    }
    line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    let now = stamp(now_ms);
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", escape(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{now}"));
        line(&mut out, &format!("DTSTART:{}", stamp(e.start_ms)));
        line(&mut out, &format!("DTEND:{}", stamp(e.end_ms)));
        line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        if !e.description.is_empty() {
            line(&mut out, &format!("DESCRIPTION:{}", escape(&e.description)));
        }
        line(&mut out, &format!("STATUS:{}", e.status));
        if !e.categories.is_empty() {
            let cats: Vec<String> = e.categories.iter().map(|c| escape(c)).collect();
            line(&mut out, &format!("CATEGORIES:{}", cats.join(",")));
        }
        if let Some(u) = &e.url {
            line(&mut out, &format!("URL:{u}"));
        }
        line(&mut out, &format!("SEQUENCE:{}", e.sequence.max(0)));
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(summary: &str) -> Event {
        Event {
            uid: "CHG-000001@keel".into(),
            start_ms: 1_790_000_000_000,
            end_ms: 1_790_003_600_000,
            summary: summary.into(),
            description: "line one\nline two; a, b \\ c".into(),
            status: "CONFIRMED",
            categories: vec!["normal".into()],
            url: Some("https://keel.example/changes/CHG-000001".into()),
            sequence: 3,
        }
    }

    #[test]
    fn renders_escaped_and_stamped() {
        let ics = render("Changes", &[event("Patch db")], 1_790_000_000_000);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert!(ics.contains("DTSTART:20260921T"));
        assert!(ics.contains("DESCRIPTION:line one\\nline two\\; a\\, b \\\\ c\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'));
    }

    proptest! {
        /// Every physical line is at most 75 octets, and unfolding gives back the content.
        #[test]
        fn folded_lines_fit_and_unfold(summary in "\\PC{0,300}") {
            let ics = render("Changes", &[event(&summary)], 0);
            for l in ics.split("\r\n") {
                prop_assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
            }
            let unfolded = ics.replace("\r\n ", "");
            let expected = format!("SUMMARY:{}\r\n", escape(&summary));
            prop_assert!(unfolded.contains(&expected));
        }
    }
}
