//! Parsed input values ("parse, don't validate"): once a value of these types exists it is valid.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("is not a valid e-mail address")]
    NotEmail,
    #[error("must not contain control characters")]
    Control,
}

/// A trimmed, non-empty single-line text of bounded length (titles, names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line(String);

impl Line {
    pub fn parse(raw: &str, max: usize) -> Result<Self, TextError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(TextError::Empty);
        }
        if t.chars().count() > max {
            return Err(TextError::TooLong { max });
        }
        if t.chars().any(char::is_control) {
            return Err(TextError::Control);
        }
        Ok(Line(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Free text (descriptions, comments) of bounded length; may be empty unless checked.
pub fn bounded(raw: &str, max: usize) -> Result<String, TextError> {
    if raw.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    Ok(raw.to_string())
}

/// An e-mail address, lower-cased. Deliberately permissive in the local part: the only promise is
/// `local@domain.tld` shape, since the mail server is the real judge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let t = raw.trim().to_lowercase();
        if t.is_empty() {
            return Err(TextError::Empty);
        }
        if t.len() > 254 {
            return Err(TextError::TooLong { max: 254 });
        }
        let (local, domain) = t.split_once('@').ok_or(TextError::NotEmail)?;
        let ok = !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !t.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(TextError::NotEmail);
        }
        Ok(Email(t))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").map(|e| e.0),
            Ok("ann@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.org",
            "a@b",
            "a b@x.org",
            "a@@x.org",
            "a@x.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines() {
        assert_eq!(
            Line::parse("  printer jam ", 20).map(Line::into_string),
            Ok("printer jam".into())
        );
        assert_eq!(Line::parse("   ", 10), Err(TextError::Empty));
        assert_eq!(Line::parse("abcdef", 3), Err(TextError::TooLong { max: 3 }));
        assert_eq!(Line::parse("a\u{7}b", 10), Err(TextError::Control));
    }

    proptest! {
        #[test]
        fn parsed_lines_are_trimmed_and_bounded(s in "\\PC{0,40}") {
            if let Ok(l) = Line::parse(&s, 20) {
                prop_assert_eq!(l.as_str().trim(), l.as_str());
                prop_assert!(l.as_str().chars().count() <= 20);
                prop_assert!(!l.as_str().is_empty());
            }
        }
    }
}
