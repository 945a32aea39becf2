//! Clause 8.5.1 — change management: the change lifecycle, change types, risk from the
//! assessment questions and the CMDB impact, schedule conflicts and blackout periods, and when a
//! post-implementation review is due.
//!
//! A change is a work-item kind. *Standard* changes come from pre-authorized templates and go
//! straight from `new` to `scheduled`; *normal* and *emergency* changes are assessed (a backout
//! plan is required), authorized by their change authority, then scheduled and implemented.
//! Implementation never starts without authorization: the lifecycle offers no path around
//! `authorize`, and the process rule re-checks the approvals when implementation starts.

use crate::kernel::details::Field;
use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};
use serde::Serialize;

/// Change types (8.5.1): pre-authorized standard, normal, emergency.
pub const TYPES: &[&str] = &["standard", "normal", "emergency"];

/// How an implementation ended.
pub const OUTCOMES: &[&str] = &["successful", "failed", "backed_out"];

const PLANS: &[&str] = &["implementation_plan", "backout_plan"];

pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "new",
        "assess",
        "authorize",
        "scheduled",
        "implement",
        "review",
        "closed",
        "rejected",
        "cancelled",
    ],
    terminal: &["closed", "rejected", "cancelled"],
    transitions: &[
        Transition::free("new", "assess"),
        // Standard changes only (pre-authorized); the process rule refuses the others.
        Transition::free("new", "scheduled"),
        Transition::needs("assess", "authorize", PLANS),
        Transition::free("authorize", "assess"),
        Transition::free("authorize", "scheduled"),
        Transition::free("authorize", "rejected"),
        Transition::free("scheduled", "implement"),
        Transition::needs("implement", "review", &["outcome"]),
        Transition::free("review", "closed"),
        Transition::free("new", "cancelled"),
        Transition::free("assess", "cancelled"),
        Transition::free("authorize", "cancelled"),
        Transition::free("scheduled", "cancelled"),
    ],
};

pub static FIELDS: &[Field] = &[
    Field::choice("change_type", "Change type", TYPES),
    Field::text("change_category", "Change category", 100),
    Field::text("template", "Template", 20),
    Field::text("implementation_plan", "Implementation plan", 20_000),
    Field::text("backout_plan", "Backout plan", 20_000),
    Field::text("test_plan", "Test plan", 20_000),
    Field::text("emergency_reason", "Why it is an emergency", 2_000),
    Field::choice("outcome", "Outcome", OUTCOMES),
    Field::text("outcome_notes", "Outcome notes", 20_000),
    Field::text("review_notes", "Post-implementation review", 20_000),
];

/// One question of the risk assessment, with its answers and their weights.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Question {
    pub key: &'static str,
    pub label: &'static str,
    pub answers: &'static [(&'static str, u32)],
}

/// The risk assessment questions (the peers' "risk conditions" as a fixed questionnaire).
pub static QUESTIONS: &[Question] = &[
    Question {
        key: "complexity",
        label: "How complex is the change?",
        answers: &[("simple", 0), ("moderate", 2), ("complex", 4)],
    },
    Question {
        key: "testing",
        label: "How was it tested?",
        answers: &[("fully", 0), ("partially", 2), ("untested", 4)],
    },
    Question {
        key: "backout",
        label: "How hard is it to back out?",
        answers: &[("easy", 0), ("difficult", 2), ("impossible", 4)],
    },
    Question {
        key: "downtime",
        label: "What outage does it cause?",
        answers: &[("none", 0), ("in_window", 1), ("outage", 4)],
    },
    Question {
        key: "experience",
        label: "Have we made this change before?",
        answers: &[("routine", 0), ("occasionally", 1), ("never", 3)],
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<RiskLevel> {
        [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A computed risk: its score, level and what contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    pub score: u32,
    pub level: RiskLevel,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    #[error("`{0}` is not a risk question")]
    UnknownQuestion(String),
    #[error("`{answer}` is not an answer to `{question}` (answers: {allowed})")]
    UnknownAnswer {
        question: &'static str,
        answer: String,
        allowed: String,
    },
    #[error("answer `{0}`")]
    Unanswered(&'static str),
}

impl RiskError {
    /// The request field the error is about, as `answers.<question>`.
    pub fn field(&self) -> String {
        match self {
            RiskError::UnknownQuestion(q) => format!("answers.{q}"),
            RiskError::UnknownAnswer { question, .. } | RiskError::Unanswered(question) => {
                format!("answers.{question}")
            }
        }
    }
}

/// Points for the reach of the change in the CMDB: services and customers affected.
fn reach_points(services: usize, customers: usize) -> u32 {
    let s = match services {
        0 => 0,
        1 => 2,
        2..=5 => 4,
        _ => 6,
    };
    let c = match customers {
        0 => 0,
        1 => 1,
        2..=5 => 2,
        _ => 4,
    };
    s + c
}

/// Score the answers (every question answered once) plus the impact the CMDB reports.
/// Low up to 5 points, medium up to 11, high above.
pub fn assess<'a>(
    answers: impl IntoIterator<Item = (&'a str, &'a str)>,
    services_affected: usize,
    customers_affected: usize,
) -> Result<Risk, RiskError> {
    let answers: Vec<(&str, &str)> = answers.into_iter().collect();
    if let Some((q, _)) = answers
        .iter()
        .find(|(q, _)| !QUESTIONS.iter().any(|x| x.key == *q))
    {
        return Err(RiskError::UnknownQuestion((*q).to_string()));
    }
    let mut score = 0;
    let mut reasons = vec![];
    for q in QUESTIONS {
        let (_, a) = answers
            .iter()
            .find(|(k, _)| *k == q.key)
            .ok_or(RiskError::Unanswered(q.key))?;
        let (_, w) = q
            .answers
            .iter()
            .find(|(name, _)| name == a)
            .ok_or_else(|| RiskError::UnknownAnswer {
                question: q.key,
                answer: (*a).to_string(),
                allowed: q
                    .answers
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if *w > 0 {
            reasons.push(format!("{}: {} (+{w})", q.key, a.replace('_', " ")));
        }
        score += w;
    }
    let reach = reach_points(services_affected, customers_affected);
    if reach > 0 {
        reasons.push(format!(
            "reaches {services_affected} service(s) and {customers_affected} customer(s) (+{reach})"
        ));
    }
    score += reach;
    let level = match score {
        0..=5 => RiskLevel::Low,
        6..=11 => RiskLevel::Medium,
        _ => RiskLevel::High,
    };
    Ok(Risk {
        score,
        level,
        reasons,
    })
}

/// Is a post-implementation review required before closing? For failed and backed-out
/// changes, emergency changes and high-risk changes (8.5.1).
pub fn needs_review(change_type: &str, outcome: &str, risk: Option<RiskLevel>) -> bool {
    outcome != "successful" || change_type == "emergency" || risk == Some(RiskLevel::High)
}

/// A change's planned window and what it touches, for conflict detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub id: i64,
    /// Epoch milliseconds, `start < end`.
    pub start: i64,
    pub end: i64,
    pub cis: Vec<i64>,
    pub services: Vec<i64>,
}

/// A period in which changes may not be implemented, for all services or some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blackout {
    pub id: i64,
    pub start: i64,
    pub end: i64,
    /// Empty: every service.
    pub services: Vec<i64>,
}

/// Another change overlapping in time and sharing a CI or a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clash {
    pub other: i64,
    pub cis: Vec<i64>,
    pub services: Vec<i64>,
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn shared(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut s: Vec<i64> = a.iter().copied().filter(|x| b.contains(x)).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// The changes `w` clashes with: overlapping windows (half-open) sharing a CI or a service.
pub fn clashes(w: &Window, others: &[Window]) -> Vec<Clash> {
    others
        .iter()
        .filter(|o| o.id != w.id && overlaps((w.start, w.end), (o.start, o.end)))
        .filter_map(|o| {
            let (cis, services) = (shared(&w.cis, &o.cis), shared(&w.services, &o.services));
            (!cis.is_empty() || !services.is_empty()).then_some(Clash {
                other: o.id,
                cis,
                services,
            })
        })
        .collect()
}

/// The blackouts `w` falls into: overlapping in time, for all services or one it touches.
pub fn blackouts_hit(w: &Window, blackouts: &[Blackout]) -> Vec<i64> {
    blackouts
        .iter()
        .filter(|b| overlaps((w.start, w.end), (b.start, b.end)))
        .filter(|b| b.services.is_empty() || b.services.iter().any(|s| w.services.contains(s)))
        .map(|b| b.id)
        .collect()
}

/// Change success rate and emergency share over closed changes given as (type, outcome).
pub fn rates(closed: &[(&str, &str)]) -> (f64, f64) {
    let total = closed.len();
    if total == 0 {
        return (0.0, 0.0);
    }
    let ok = closed.iter().filter(|(_, o)| *o == "successful").count();
    let em = closed.iter().filter(|(t, _)| *t == "emergency").count();
    (ok as f64 / total as f64, em as f64 / total as f64)
}

/// The change as a kind of work item (see `kernel::KindSpec`).
pub static KIND_SPEC: KindSpec = KindSpec {
    name: "change",
    prefix: "CHG",
    collection: "changes",
    label: ("Changes", "change"),
    lifecycle: &LIFECYCLE,
    details: FIELDS,
    vocabulary: Vocabulary {
        categories: crate::operation::resolution::incident::CATEGORIES,
        hold_reasons: &[],
        resolution_codes: &[],
    },
    internal: true,
    approval_moves: Some(("authorize", "scheduled", "rejected")),
    fixed_details: &["change_type", "template"],
    when_tasks_done: None,
    tasks_label: "Implementation tasks",
    priority_override: false,
};
pub const KIND: Kind = Kind::declare(&KIND_SPEC);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::lifecycle::TransitionError;
    use proptest::prelude::*;

    const ALL_LOW: [(&str, &str); 5] = [
        ("complexity", "simple"),
        ("testing", "fully"),
        ("backout", "easy"),
        ("downtime", "none"),
        ("experience", "routine"),
    ];

    #[test]
    fn authorization_is_the_only_way_to_implementation() {
        // From nowhere but `scheduled`, and `scheduled` only from `new` (standard) or `authorize`.
        for t in LIFECYCLE.transitions {
            if t.to == "implement" {
                assert_eq!(t.from, "scheduled");
            }
            if t.to == "scheduled" {
                assert!(t.from == "new" || t.from == "authorize", "{t:?}");
            }
        }
        assert!(matches!(
            LIFECYCLE.check("assess", "implement", |_| true),
            Err(TransitionError::Illegal { .. })
        ));
        assert_eq!(
            LIFECYCLE.check("assess", "authorize", |f| f == "implementation_plan"),
            Err(TransitionError::Missing {
                to: "authorize".into(),
                field: "backout_plan"
            })
        );
        assert!(LIFECYCLE.check("implement", "review", |_| false).is_err());
    }

    #[test]
    fn risk_from_answers_and_reach() {
        let r = assess(ALL_LOW, 0, 0).expect("ok");
        assert_eq!((r.score, r.level), (0, RiskLevel::Low));
        let r = assess(ALL_LOW, 3, 2).expect("ok");
        assert_eq!((r.score, r.level), (6, RiskLevel::Medium));
        assert!(r.reasons[0].contains("3 service(s)"));
        let high = [
            ("complexity", "complex"),
            ("testing", "untested"),
            ("backout", "easy"),
            ("downtime", "none"),
            ("experience", "routine"),
        ];
        assert_eq!(assess(high, 0, 0).expect("ok").level, RiskLevel::Medium);
        assert_eq!(assess(high, 2, 2).expect("ok").level, RiskLevel::High);
        let e = assess([("complexity", "simple")], 0, 0).expect_err("missing");
        assert_eq!(e.field(), "answers.testing");
        let mut bad = ALL_LOW;
        bad[0].1 = "trivial";
        let e = assess(bad, 0, 0).expect_err("answer");
        assert!(e.to_string().contains("simple, moderate, complex"));
        let e = assess(ALL_LOW.into_iter().chain([("colour", "red")]), 0, 0).expect_err("q");
        assert_eq!(e.field(), "answers.colour");
    }

    #[test]
    fn reviews() {
        assert!(!needs_review(
            "normal",
            "successful",
            Some(RiskLevel::Medium)
        ));
        assert!(needs_review("normal", "failed", None));
        assert!(needs_review("normal", "backed_out", None));
        assert!(needs_review("emergency", "successful", None));
        assert!(needs_review(
            "standard",
            "successful",
            Some(RiskLevel::High)
        ));
    }

    fn w(id: i64, start: i64, end: i64, cis: &[i64], services: &[i64]) -> Window {
        Window {
            id,
            start,
            end,
            cis: cis.to_vec(),
            services: services.to_vec(),
        }
    }

    #[test]
    fn conflicts_and_blackouts() {
        let a = w(1, 10, 20, &[5, 6], &[1]);
        let others = [
            w(2, 15, 25, &[6], &[]),  // overlaps, shares CI 6
            w(3, 20, 30, &[5], &[1]), // touches at the end: no overlap
            w(4, 0, 100, &[9], &[2]), // overlaps, shares nothing
            w(5, 12, 13, &[], &[1]),  // inside, shares the service
            a.clone(),
        ];
        let c = clashes(&a, &others);
        assert_eq!(
            c,
            vec![
                Clash {
                    other: 2,
                    cis: vec![6],
                    services: vec![]
                },
                Clash {
                    other: 5,
                    cis: vec![],
                    services: vec![1]
                }
            ]
        );
        let bl = [
            Blackout {
                id: 1,
                start: 0,
                end: 11,
                services: vec![],
            },
            Blackout {
                id: 2,
                start: 0,
                end: 100,
                services: vec![7],
            },
            Blackout {
                id: 3,
                start: 19,
                end: 40,
                services: vec![1],
            },
            Blackout {
                id: 4,
                start: 20,
                end: 40,
                services: vec![],
            },
        ];
        assert_eq!(blackouts_hit(&a, &bl), vec![1, 3]);
        assert_eq!(
            rates(&[("normal", "successful"), ("emergency", "failed")]),
            (0.5, 0.5)
        );
        assert_eq!(rates(&[]), (0.0, 0.0));
    }

    proptest! {
        /// A clash is mutual: if a clashes with b, b clashes with a, sharing the same things.
        #[test]
        fn clashes_are_symmetric(s1 in 0i64..100, d1 in 1i64..50, s2 in 0i64..100, d2 in 1i64..50,
                                 c1 in prop::collection::vec(0i64..6, 0..4), c2 in prop::collection::vec(0i64..6, 0..4)) {
            let a = w(1, s1, s1 + d1, &c1, &[]);
            let b = w(2, s2, s2 + d2, &c2, &[]);
            let ab = clashes(&a, std::slice::from_ref(&b));
            let ba = clashes(&b, std::slice::from_ref(&a));
            prop_assert_eq!(ab.len(), ba.len());
            if let (Some(x), Some(y)) = (ab.first(), ba.first()) {
                prop_assert_eq!(&x.cis, &y.cis);
            }
        }

        /// More answers at higher weights never lower the risk.
        #[test]
        fn reach_never_lowers_risk(s in 0usize..20, c in 0usize..20) {
            let base = assess(ALL_LOW, s, c).expect("ok");
            let more = assess(ALL_LOW, s + 1, c + 1).expect("ok");
            prop_assert!(more.score >= base.score && more.level >= base.level);
        }
    }
}
