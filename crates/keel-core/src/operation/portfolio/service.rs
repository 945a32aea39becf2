//! Clauses 8.2.1–8.2.3 — the portfolio's vocabulary: a service's lifecycle stage and the
//! parties that take part in it.

use crate::register::Table;

/// The services table, for registers that refer to services.
pub static TABLE: Table = Table {
    table: "services",
    key: "id",
    prefix: None,
    label: "name",
    what: "service",
    choices: true,
    page: Some("/services/{}"),
};

/// A service's stage in the portfolio. Only `live` services are offered in the catalogue.
pub const STAGES: &[&str] = &["pipeline", "live", "retiring", "retired"];

/// Moves between stages. A retired service stays retired (create a new one instead), so the
/// history of what was offered when stays readable.
pub fn stage_move_allowed(from: &str, to: &str) -> bool {
    from == to
        || matches!(
            (from, to),
            ("pipeline", "live")
                | ("pipeline", "retired")
                | ("live", "retiring")
                | ("retiring", "live")
                | ("retiring", "retired")
        )
}

/// Who takes part in a service's lifecycle (8.2.3): the provider's own groups, other parties
/// (external organisations) and suppliers the service depends on.
pub const PARTY_KINDS: &[&str] = &["internal", "external", "supplier"];

/// Lifecycle stages a party can take part in (8.2.3: design, transition, delivery, improvement).
pub const PARTY_STAGES: &[&str] = &["design", "transition", "delivery", "improvement"];

/// What a service plan proposes (8.2.2 / 8.5.2: new or changed services, or removal).
pub const PLAN_KINDS: &[&str] = &["new", "change", "removal"];
/// The life of a plan: drafted, approved, then done or cancelled.
pub const PLAN_STATES: &[&str] = &["draft", "approved", "done", "cancelled"];

pub fn plan_move_allowed(from: &str, to: &str) -> bool {
    from == to
        || matches!(
            (from, to),
            ("draft", "approved")
                | ("draft", "cancelled")
                | ("approved", "done")
                | ("approved", "cancelled")
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_is_final() {
        for s in STAGES {
            assert_eq!(stage_move_allowed("retired", s), *s == "retired");
        }
        assert!(stage_move_allowed("pipeline", "live"));
        assert!(!stage_move_allowed("live", "pipeline"));
    }

    #[test]
    fn plans_finish_once() {
        assert!(plan_move_allowed("draft", "approved"));
        assert!(!plan_move_allowed("done", "draft"));
        assert!(!plan_move_allowed("cancelled", "approved"));
    }
}
