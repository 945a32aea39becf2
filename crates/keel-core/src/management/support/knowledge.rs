//! Clause 7.6 — knowledge: articles the provider keeps so that people can resolve and prevent
//! incidents and fulfil requests, written, reviewed, published and retired deliberately.
//!
//! An article has versions. Editing writes a new version; a published article keeps showing its
//! published version to requesters while the next one is drafted and reviewed.

use crate::kernel::lifecycle::{Lifecycle, Transition};

/// draft → review → published → retired; review sends back to draft; a retired article may be
/// revived as a draft. Editing a published article moves it to draft (its published version
/// stays visible).
pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &["draft", "review", "published", "retired"],
    terminal: &["retired"],
    transitions: &[
        Transition::free("draft", "review"),
        Transition::free("review", "draft"),
        Transition::free("review", "published"),
        Transition::free("published", "retired"),
        Transition::free("published", "draft"),
        Transition::free("retired", "draft"),
    ],
};

/// Is a review date (YYYY-MM-DD) due on `today` (YYYY-MM-DD)? Dates compare as text.
pub fn review_due(review_date: Option<&str>, today: &str) -> bool {
    review_date.is_some_and(|d| d <= today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::lifecycle::TransitionError;

    #[test]
    fn publishing_goes_through_review() {
        assert!(matches!(
            LIFECYCLE.check("draft", "published", |_| true),
            Err(TransitionError::Illegal { .. })
        ));
        assert_eq!(
            LIFECYCLE.check("review", "published", |_| true),
            Ok("published")
        );
        assert!(review_due(Some("2026-11-25"), "2026-11-25"));
        assert!(!review_due(Some("2026-12-01"), "2026-11-25"));
        assert!(!review_due(None, "2026-11-25"));
    }
}
