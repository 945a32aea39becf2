//! Clauses 4.3, 5.3 and 7.4 — what the SMS covers and who does what: the scope's services in
//! relation to the live portfolio, the rules of a RACI assignment per process, and the
//! communication plan's vocabulary.

use std::collections::BTreeMap;

pub const LETTERS: &[&str] = &["R", "A", "C", "I"];

/// What is wrong with a process's RACI, if anything: exactly one Accountable and at least one
/// Responsible.
pub fn raci_problem<'a>(letters: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for l in letters {
        *count.entry(l).or_default() += 1;
    }
    let a = count.get("A").copied().unwrap_or(0);
    let r = count.get("R").copied().unwrap_or(0);
    match (a, r) {
        (0, _) => Some("no one is accountable".into()),
        (n, _) if n > 1 => Some(format!(
            "{n} people or groups are accountable; exactly one must be"
        )),
        (_, 0) => Some("no one is responsible".into()),
        _ => None,
    }
}

/// Live services the scope leaves out without a stated exclusion.
pub fn unscoped<'a>(
    live: &'a [(i64, String)],
    in_scope: &[i64],
    excluded: &[String],
) -> Vec<&'a str> {
    live.iter()
        .filter(|(id, name)| !in_scope.contains(id) && !excluded.iter().any(|e| e == name))
        .map(|(_, name)| name.as_str())
        .collect()
}

pub const FREQUENCIES: &[&str] = &[
    "as_needed",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raci_needs_one_accountable_and_someone_responsible() {
        assert_eq!(raci_problem(["R", "A", "C"]), None);
        assert_eq!(
            raci_problem(["R", "C"]).as_deref(),
            Some("no one is accountable")
        );
        assert!(raci_problem(["A", "A", "R"]).is_some_and(|p| p.starts_with("2 ")));
        assert_eq!(
            raci_problem(["A", "I"]).as_deref(),
            Some("no one is responsible")
        );
        assert_eq!(raci_problem([]).as_deref(), Some("no one is accountable"));
    }

    #[test]
    fn scope_gaps_are_live_services_neither_in_scope_nor_excluded() {
        let live = vec![
            (1, "ERP".to_string()),
            (2, "E-mail".to_string()),
            (3, "Printing".to_string()),
        ];
        assert_eq!(unscoped(&live, &[1], &["Printing".into()]), vec!["E-mail"]);
        assert!(unscoped(&live, &[1, 2, 3], &[]).is_empty());
    }
}
