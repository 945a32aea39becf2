//! Clause 8.2.5 — asset management: what an asset is, its lifecycle, licence compliance and
//! when an expiry needs a warning.

use jiff::civil::Date;

use crate::register::Table;

/// The assets table, by tag (`AST-000001`), for registers that refer to assets.
pub static TABLE: Table = Table {
    table: "assets",
    key: "tag",
    prefix: Some("AST-"),
    label: "name",
    what: "asset",
    choices: false,
    page: Some("/assets/{}"),
};

/// What kind of asset: physical, installed software, a licence entitlement, or an item held
/// under a contract (leased equipment, a support agreement).
pub const KINDS: &[&str] = &["hardware", "software", "licence", "contract_item"];

/// The asset lifecycle, from order to disposal.
pub const STATES: &[&str] = &[
    "ordered",
    "in_stock",
    "in_use",
    "maintenance",
    "retired",
    "disposed",
];

/// Legal moves. Disposal is final; a retired asset may only be disposed of (or brought back
/// into stock, when retired by mistake).
pub fn move_allowed(from: &str, to: &str) -> bool {
    from == to
        || matches!(
            (from, to),
            ("ordered", "in_stock")
                | ("ordered", "retired")
                | ("in_stock", "in_use")
                | ("in_stock", "retired")
                | ("in_use", "in_stock")
                | ("in_use", "maintenance")
                | ("in_use", "retired")
                | ("maintenance", "in_use")
                | ("maintenance", "in_stock")
                | ("maintenance", "retired")
                | ("retired", "in_stock")
                | ("retired", "disposed")
        )
}

/// Whether an asset still needs watching (warranty and expiry warnings).
pub fn is_active(state: &str) -> bool {
    !matches!(state, "retired" | "disposed")
}

/// Installations beyond the entitlement; `None` when there is no entitlement to exceed.
pub fn over_use(entitlements: Option<i64>, installed: i64) -> Option<i64> {
    entitlements.map(|e| installed - e).filter(|d| *d > 0)
}

/// Days from `today` to `date` (negative once passed).
pub fn days_until(today: Date, date: Date) -> i64 {
    (date - today).get_days() as i64
}

/// Whether a date needs a warning on `today`: within `within_days` ahead, or already passed.
pub fn needs_warning(today: Date, date: Date, within_days: i64) -> bool {
    days_until(today, date) <= within_days
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lifecycle() {
        assert!(move_allowed("in_stock", "in_use"));
        assert!(!move_allowed("disposed", "in_stock"));
        assert!(!move_allowed("ordered", "in_use"));
        assert!(!is_active("disposed") && is_active("maintenance"));
        for s in STATES {
            assert!(move_allowed(s, s));
            assert_eq!(move_allowed("disposed", s), *s == "disposed");
        }
    }

    #[test]
    fn licences() {
        assert_eq!(over_use(Some(10), 12), Some(2));
        assert_eq!(over_use(Some(10), 10), None);
        assert_eq!(over_use(None, 50), None);
    }

    proptest! {
        #[test]
        fn warnings_start_at_the_threshold(offset in -400i64..400, within in 0i64..120) {
            let today = Date::constant(2026, 11, 25);
            let date = today.checked_add(jiff::Span::new().days(offset)).expect("date");
            prop_assert_eq!(days_until(today, date), offset);
            prop_assert_eq!(needs_warning(today, date, within), offset <= within);
        }
    }
}
