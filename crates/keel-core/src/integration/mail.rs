//! Clauses 8.6.1 and 8.6.2 — incidents and requests by mail: which item a message is about, which
//! messages must not be answered (auto-replies, bulk mail, bounces, our own), and what of a reply
//! is new text. MIME parsing happens at the edge; these rules see decoded headers and text.

use crate::kernel::Kind;

/// The first work-item number of one of `kinds` in a subject (`[INC-000042]`, `Re: INC-42 …`),
/// normalised to Keel's six-digit form.
pub fn number_in_subject(kinds: &[Kind], subject: &str) -> Option<String> {
    let upper = subject.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let mut best: Option<(usize, String)> = None;
    for &kind in kinds {
        let prefix = format!("{}-", kind.prefix());
        let mut from = 0;
        while let Some(pos) = upper[from..].find(&prefix) {
            let start = from + pos;
            from = start + prefix.len();
            // A word boundary before the prefix: not `XINC-1`.
            if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let digits: String = upper[from..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let end = from + digits.len();
            if digits.is_empty()
                || digits.len() > 12
                || upper[end..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
            {
                continue;
            }
            let Ok(seq) = digits.parse::<i64>() else {
                continue;
            };
            if best.as_ref().is_none_or(|(p, _)| start < *p) {
                best = Some((start, crate::kernel::format_number(kind, seq)));
            }
            break;
        }
    }
    best.map(|(_, n)| n)
}

/// The headers that tell whether a message was sent by a machine.
#[derive(Debug, Default, Clone)]
pub struct Signals<'a> {
    pub auto_submitted: Option<&'a str>,
    pub precedence: Option<&'a str>,
    pub list_id: bool,
    pub list_unsubscribe: bool,
    pub auto_response_suppress: Option<&'a str>,
    /// `X-Autoreply`, `X-Autorespond` or `X-Auto-Response` present.
    pub autoreply_header: bool,
    /// `Return-Path: <>` — a bounce.
    pub null_return_path: bool,
    /// The sender's address, lower-cased.
    pub from: Option<&'a str>,
    /// Our own loop marker (`X-Keel-Loop`) present.
    pub our_loop_marker: bool,
}

/// Why a message is automatic and must neither open an item nor be answered (RFC 3834), or `None`
/// for a message a person wrote.
pub fn automatic(s: &Signals<'_>, own_addresses: &[String]) -> Option<&'static str> {
    if s.our_loop_marker {
        return Some("sent by Keel itself (X-Keel-Loop)");
    }
    if let Some(from) = s.from
        && own_addresses.iter().any(|a| a.eq_ignore_ascii_case(from))
    {
        return Some("sent from Keel's own address");
    }
    if s.auto_submitted
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no") && !v.trim().is_empty())
    {
        return Some("auto-submitted (Auto-Submitted header)");
    }
    if let Some(p) = s.precedence {
        let p = p.trim().to_ascii_lowercase();
        if matches!(p.as_str(), "bulk" | "list" | "junk" | "auto_reply") {
            return Some("bulk or list mail (Precedence header)");
        }
    }
    if s.list_id || s.list_unsubscribe {
        return Some("mailing-list mail (List-Id/List-Unsubscribe)");
    }
    if s.autoreply_header {
        return Some("auto-reply (X-Autoreply/X-Autorespond)");
    }
    if s.auto_response_suppress.is_some_and(|v| {
        v.split(',')
            .any(|t| matches!(t.trim(), "All" | "OOF" | "AutoReply"))
    }) {
        return Some("auto-reply (X-Auto-Response-Suppress)");
    }
    if s.null_return_path {
        return Some("delivery status notification (empty Return-Path)");
    }
    if let Some(from) = s.from {
        let local = from.split('@').next().unwrap_or_default();
        if matches!(
            local,
            "mailer-daemon" | "postmaster" | "noreply" | "no-reply" | "donotreply"
        ) {
            return Some("sent from a system mailbox");
        }
    }
    None
}

/// The new text of a reply: everything above the first quoted block (`> …` lines or an
/// "On … wrote:" attribution) or a signature separator. The whole text when nothing is new, so
/// nothing a person wrote is dropped.
pub fn reply_text(body: &str) -> String {
    let mut kept = vec![];
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_end();
        if t == "--" || t.trim_start().starts_with('>') {
            break;
        }
        let lower = t.trim().to_ascii_lowercase();
        let attribution = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || (lower.starts_with("am ") && lower.ends_with("schrieb:"))
            || (lower.starts_with("le ") && lower.ends_with("a écrit :"));
        // "On Mon, … wrote:" is sometimes wrapped across two lines.
        let wrapped = lower.starts_with("on ")
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim().to_ascii_lowercase().ends_with("wrote:"));
        if attribution || wrapped || lower.starts_with("-----original message-----") {
            break;
        }
        kept.push(t);
    }
    let text = kept.join("\n").trim().to_string();
    if text.is_empty() {
        body.trim().to_string()
    } else {
        text
    }
}

/// A Message-ID without its angle brackets and surrounding space.
pub fn bare_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::resolution::{incident, request};

    const KINDS: &[Kind] = &[incident::KIND, request::KIND];

    #[test]
    fn numbers_are_found_and_normalised() {
        assert_eq!(
            number_in_subject(KINDS, "Re: [INC-000042] Printer"),
            Some("INC-000042".into())
        );
        assert_eq!(
            number_in_subject(KINDS, "re: req-7 laptop"),
            Some("REQ-000007".into())
        );
        assert_eq!(number_in_subject(KINDS, "XINC-000042"), None);
        assert_eq!(number_in_subject(KINDS, "INC-42a"), None);
        assert_eq!(number_in_subject(KINDS, "INC-"), None);
        assert_eq!(
            number_in_subject(KINDS, "about C:\\INC-3\\x"),
            Some("INC-000003".into())
        );
        assert_eq!(number_in_subject(KINDS, "nothing here"), None);
        assert_eq!(
            number_in_subject(KINDS, "REQ-5 dup of INC-4"),
            Some("REQ-000005".into())
        );
    }

    #[test]
    fn machines_are_recognised() {
        let own = vec!["desk@keel.example".to_string()];
        let human = Signals {
            from: Some("ann@example.com"),
            auto_submitted: Some("no"),
            ..Default::default()
        };
        assert_eq!(automatic(&human, &own), None);
        for s in [
            Signals {
                auto_submitted: Some("auto-replied"),
                ..Default::default()
            },
            Signals {
                precedence: Some("Bulk"),
                ..Default::default()
            },
            Signals {
                list_id: true,
                ..Default::default()
            },
            Signals {
                null_return_path: true,
                ..Default::default()
            },
            Signals {
                from: Some("mailer-daemon@example.com"),
                ..Default::default()
            },
            Signals {
                from: Some("DESK@keel.example"),
                ..Default::default()
            },
            Signals {
                our_loop_marker: true,
                ..Default::default()
            },
            Signals {
                auto_response_suppress: Some("OOF, AutoReply"),
                ..Default::default()
            },
        ] {
            assert!(automatic(&s, &own).is_some(), "{s:?}");
        }
    }

    #[test]
    fn replies_lose_their_quotes() {
        let body =
            "Thanks, it works now.\n\nOn Tue, 3 Mar 2026, Desk <desk@x> wrote:\n> old text\n";
        assert_eq!(reply_text(body), "Thanks, it works now.");
        assert_eq!(reply_text("> only quoted\n"), "> only quoted");
        assert_eq!(reply_text("Fine\n-- \nAnn"), "Fine");
        assert_eq!(
            reply_text("Yes\nOn Tue, 3 Mar 2026 at 10:00, Desk\n<desk@x> wrote:\n> q"),
            "Yes"
        );
    }

    #[test]
    fn message_ids_are_bare() {
        assert_eq!(bare_id(" <a.b@c> "), "a.b@c");
    }
}
