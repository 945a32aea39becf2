//! Cursor pagination shared by every list in the API.
//!
//! A cursor is opaque to clients: the hex of `sort key value \u{1f} id` of the last row returned.
//! Keyset pagination (rather than offsets) keeps deep pages as fast as the first and stable while
//! rows are inserted.

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("must be between 1 and {MAX_LIMIT}")]
    Limit,
    #[error("is not a cursor issued by this list")]
    Cursor,
}

/// Parse the `limit` query parameter: default 50, at most 500.
pub fn limit(raw: Option<u32>) -> Result<u32, PageError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(PageError::Limit),
    }
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort column's value in the last row, rendered as text.
    pub key: String,
    /// The last row's id, the tie-breaker.
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(format!("{}\u{1f}{}", self.key, self.id))
    }

    pub fn decode(raw: &str) -> Result<Self, PageError> {
        let bytes = hex::decode(raw).map_err(|_| PageError::Cursor)?;
        let text = String::from_utf8(bytes).map_err(|_| PageError::Cursor)?;
        let (key, id) = text.rsplit_once('\u{1f}').ok_or(PageError::Cursor)?;
        let id = id.parse().map_err(|_| PageError::Cursor)?;
        Ok(Cursor {
            key: key.to_string(),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some(500)), Ok(500));
        assert_eq!(limit(Some(0)), Err(PageError::Limit));
        assert_eq!(limit(Some(501)), Err(PageError::Limit));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Cursor::decode("zz").is_err());
        assert!(Cursor::decode(&hex::encode("no separator")).is_err());
    }

    proptest! {
        #[test]
        fn cursors_round_trip(key in "\\PC{0,30}", id in any::<i64>()) {
            let c = Cursor { key, id };
            prop_assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        }
    }
}
