//! The requirement catalogue: every leaf requirement of a standard's edition, summarised in our
//! own words, with the documented information it demands and the process it belongs to.
//!
//! Held as JSON in `crates/keel-core/data/`, compiled into the binary and parsed once. Each
//! edition is its own file and its own [`Catalogue`], so a later edition can sit beside 2018's
//! and old assessments still name the edition they were made against.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::OnceLock;

/// A catalogue edition shipped in the binary: its id and its JSON text.
const EDITIONS: &[(&str, &str)] = &[(
    "iso20000-1:2018",
    include_str!("../../../data/iso20000-1-2018.json"),
)];

/// The edition new assessments use.
pub const CURRENT: &str = "iso20000-1:2018";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub id: String,
    pub standard: String,
    pub edition: String,
    pub title: String,
    /// The assessable processes (for capability ratings); every requirement names one.
    pub processes: Vec<Process>,
    /// Headings above the requirements (4, 8.2, 8.5.1 …), for grouping and scores.
    pub clauses: Vec<Heading>,
    /// The leaf requirements in document order.
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub id: String,
    pub name: String,
    pub purpose: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heading {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub title: String,
    pub process: String,
    /// What the organisation must do, in a sentence or two.
    pub summary: String,
    /// Each distinct obligation as a statement an auditor can tick (audit checklists).
    pub items: Vec<String>,
    /// The documented information the requirement demands.
    pub documented: Vec<String>,
    /// What an auditor usually looks for.
    pub evidence: Vec<String>,
    /// A duty repeated at planned intervals, if any.
    pub interval: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue is not valid JSON: {0}")]
    Json(String),
    #[error("requirement `{0}` appears twice")]
    Duplicate(String),
    #[error("requirement `{requirement}` names unknown process `{process}`")]
    UnknownProcess {
        requirement: String,
        process: String,
    },
    #[error("process `{0}` has no requirement")]
    EmptyProcess(String),
    #[error("requirement `{0}` has no heading for its top clause")]
    NoClause(String),
}

impl Catalogue {
    /// Parse and check a catalogue: unique ids, every process known and used, every
    /// requirement under a listed top clause.
    pub fn parse(json: &str) -> Result<Catalogue, CatalogueError> {
        let c: Catalogue =
            serde_json::from_str(json).map_err(|e| CatalogueError::Json(e.to_string()))?;
        let mut seen = HashSet::new();
        for r in &c.requirements {
            if !seen.insert(r.id.as_str()) {
                return Err(CatalogueError::Duplicate(r.id.clone()));
            }
            if c.process(&r.process).is_none() {
                return Err(CatalogueError::UnknownProcess {
                    requirement: r.id.clone(),
                    process: r.process.clone(),
                });
            }
            if c.heading(top_clause(&r.id)).is_none() {
                return Err(CatalogueError::NoClause(r.id.clone()));
            }
        }
        if let Some(p) = c
            .processes
            .iter()
            .find(|p| !c.requirements.iter().any(|r| r.process == p.id))
        {
            return Err(CatalogueError::EmptyProcess(p.id.clone()));
        }
        Ok(c)
    }

    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    pub fn process(&self, id: &str) -> Option<&Process> {
        self.processes.iter().find(|p| p.id == id)
    }

    pub fn heading(&self, id: &str) -> Option<&Heading> {
        self.clauses.iter().find(|h| h.id == id)
    }

    /// The top clauses (4 … 10) in order.
    pub fn top_clauses(&self) -> impl Iterator<Item = &Heading> {
        self.clauses.iter().filter(|h| !h.id.contains('.'))
    }

    /// The requirements of a process, in document order.
    pub fn of_process<'a>(&'a self, process: &'a str) -> impl Iterator<Item = &'a Requirement> {
        self.requirements
            .iter()
            .filter(move |r| r.process == process)
    }

    /// The requirements under a clause or heading (`8.5` gives 8.5.1.1 … 8.5.3).
    pub fn under<'a>(&'a self, clause: &'a str) -> impl Iterator<Item = &'a Requirement> {
        self.requirements
            .iter()
            .filter(move |r| is_under(&r.id, clause))
    }
}

/// `8.5.1.2` → `8`.
pub fn top_clause(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

/// Is `id` the clause `clause` or below it? (`8.5.1.2` is under `8.5`; `8.50` is not.)
pub fn is_under(id: &str, clause: &str) -> bool {
    id == clause
        || id
            .strip_prefix(clause)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// A shipped edition by id.
pub fn edition(id: &str) -> Option<&'static Catalogue> {
    static PARSED: OnceLock<Vec<Catalogue>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            EDITIONS
                .iter()
                // Shipped data is checked by `shipped_editions_parse`; a broken edition is
                // left out rather than taking the server down.
                .filter_map(|(_, json)| Catalogue::parse(json).ok())
                .collect()
        })
        .iter()
        .find(|c| c.id == id)
}

/// The edition new assessments use.
pub fn current() -> &'static Catalogue {
    match edition(CURRENT) {
        Some(c) => c,
        // Unreachable for a tested build: the shipped edition parses (see the tests).
        None => panic!("the shipped catalogue {CURRENT} does not parse"),
    }
}

/// Ids of the shipped editions.
pub fn editions() -> impl Iterator<Item = &'static str> {
    EDITIONS.iter().map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_editions_parse() {
        for (id, json) in EDITIONS {
            let c = Catalogue::parse(json).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(&c.id, id);
        }
    }

    #[test]
    fn every_leaf_of_2018_is_there_in_order() {
        let c = current();
        assert_eq!(c.requirements.len(), 57);
        assert_eq!(c.requirements[0].id, "4.1");
        assert_eq!(c.requirements[56].id, "10.2");
        for id in [
            "5.2.1", "7.5.4", "8.2.3", "8.3.4.2", "8.5.1.3", "8.7.3.3", "9.4",
        ] {
            let r = c.requirement(id).unwrap_or_else(|| panic!("{id}"));
            assert!(!r.items.is_empty(), "{id} has checklist items");
        }
        assert_eq!(c.top_clauses().count(), 7);
        assert_eq!(c.under("8.5").count(), 7);
        assert_eq!(c.of_process("incident").count(), 1);
        assert!(
            c.requirement("7.5.4")
                .is_some_and(|r| !r.documented.is_empty())
        );
    }

    #[test]
    fn clause_arithmetic() {
        assert!(is_under("8.5.1.2", "8.5"));
        assert!(is_under("8.5", "8.5"));
        assert!(!is_under("8.50", "8.5"));
        assert!(!is_under("8.4.1", "8.5"));
        assert_eq!(top_clause("10.2"), "10");
    }

    #[test]
    fn bad_catalogues_are_refused() {
        let ok = r#"{"id":"x","standard":"s","edition":"e","title":"t",
            "processes":[{"id":"p","name":"P","purpose":"."}],
            "clauses":[{"id":"4","title":"Four"}],
            "requirements":[{"id":"4.1","title":"A","process":"p","summary":".","items":[],
              "documented":[],"evidence":[],"interval":null}]}"#;
        assert!(Catalogue::parse(ok).is_ok());
        let dup = ok.replace(
            r#""interval":null}]"#,
            r#""interval":null},{"id":"4.1","title":"A","process":"p","summary":".","items":[],"documented":[],"evidence":[],"interval":null}]"#,
        );
        assert_eq!(
            Catalogue::parse(&dup).err(),
            Some(CatalogueError::Duplicate("4.1".into()))
        );
        assert!(matches!(
            Catalogue::parse(&ok.replace(r#""process":"p""#, r#""process":"q""#)),
            Err(CatalogueError::UnknownProcess { .. })
        ));
        assert!(matches!(
            Catalogue::parse(&ok.replace(r#""id":"4","#, r#""id":"5","#)),
            Err(CatalogueError::NoClause(_))
        ));
        assert!(matches!(
            Catalogue::parse(&ok.replace(
                r#"{"id":"p","name":"P","purpose":"."}"#,
                r#"{"id":"p","name":"P","purpose":"."},{"id":"z","name":"Z","purpose":"."}"#
            )),
            Err(CatalogueError::EmptyProcess(_))
        ));
        assert!(matches!(
            Catalogue::parse("{"),
            Err(CatalogueError::Json(_))
        ));
    }
}
