//! Conformity: each requirement rated met, partially met, not met or not applicable, from its
//! evidence checks and the assessor's judgement; scores per clause, per process and overall; and
//! the comparison of two dated assessments.

use super::catalogue::{Catalogue, is_under};
use super::evidence::{Outcome, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    NotMet,
    PartiallyMet,
    Met,
    /// Out of the organisation's situation, with a stated reason. (ISO/IEC 20000-1 allows no
    /// exclusions of requirements from the SMS; this is for a requirement with nothing to apply
    /// to, e.g. no internal suppliers, and an auditor will read the reason.)
    NotApplicable,
}

impl Rating {
    pub const ALL: [Rating; 4] = [
        Rating::Met,
        Rating::PartiallyMet,
        Rating::NotMet,
        Rating::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Met => "met",
            Rating::PartiallyMet => "partially_met",
            Rating::NotMet => "not_met",
            Rating::NotApplicable => "not_applicable",
        }
    }

    pub fn parse(s: &str) -> Option<Rating> {
        Rating::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Credit towards a score: met 1, partially met ½, not met 0; not applicable has none.
    fn credit(self) -> Option<f64> {
        match self {
            Rating::Met => Some(1.0),
            Rating::PartiallyMet => Some(0.5),
            Rating::NotMet => Some(0.0),
            Rating::NotApplicable => None,
        }
    }
}

/// What the checks alone say: `None` when no check was exercised (the assessor must judge).
/// All exercised checks pass → met; some evidence of passing → partially met; none → not met.
pub fn automatic<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Option<Rating> {
    let (mut pass, mut fail, mut some_passed) = (0, 0, false);
    for o in outcomes {
        match o.status {
            Status::Pass => pass += 1,
            Status::Fail => {
                fail += 1;
                some_passed |= o.passed > 0;
            }
            Status::NotExercised => {}
        }
    }
    match (pass, fail) {
        (0, 0) => None,
        (_, 0) => Some(Rating::Met),
        (0, _) if !some_passed => Some(Rating::NotMet),
        _ => Some(Rating::PartiallyMet),
    }
}

/// The assessor's rating of a requirement, with the reasoning an auditor reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub rating: Rating,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JudgementError(pub &'static str);

impl Judgement {
    /// Parse an assessor's judgement: not applicable and any rating that contradicts the checks
    /// need notes, so no one silently overrides the evidence.
    pub fn parse(
        rating: &str,
        notes: &str,
        automatic: Option<Rating>,
    ) -> Result<Judgement, JudgementError> {
        let rating = Rating::parse(rating).ok_or(JudgementError(
            "must be one of: met, partially_met, not_met, not_applicable",
        ))?;
        let notes = notes.trim();
        if notes.chars().count() > 20_000 {
            return Err(JudgementError("notes: at most 20000 characters"));
        }
        if notes.is_empty() {
            if rating == Rating::NotApplicable {
                return Err(JudgementError(
                    "notes: say why the requirement does not apply",
                ));
            }
            if automatic.is_some_and(|a| a != rating) {
                return Err(JudgementError(
                    "notes: a rating that differs from the evidence checks needs its reasoning",
                ));
            }
        }
        Ok(Judgement {
            rating,
            notes: notes.to_string(),
        })
    }
}

/// The rating that counts: the assessor's when given, otherwise the checks'.
pub fn effective(automatic: Option<Rating>, judgement: Option<&Judgement>) -> Option<Rating> {
    judgement.map(|j| j.rating).or(automatic)
}

/// A score over a set of requirements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub met: usize,
    pub partially_met: usize,
    pub not_met: usize,
    pub not_applicable: usize,
    /// Neither checked nor judged yet; counts as not met in the percentage.
    pub unassessed: usize,
    /// (met + ½ partially met) over the applicable requirements, 0–100.
    pub percent: f64,
}

impl Score {
    pub fn of<'a>(ratings: impl IntoIterator<Item = &'a Option<Rating>>) -> Score {
        let mut s = Score::default();
        let mut credit = 0.0;
        for r in ratings {
            match r {
                None => s.unassessed += 1,
                Some(Rating::Met) => s.met += 1,
                Some(Rating::PartiallyMet) => s.partially_met += 1,
                Some(Rating::NotMet) => s.not_met += 1,
                Some(Rating::NotApplicable) => s.not_applicable += 1,
            }
            credit += r.and_then(Rating::credit).unwrap_or(0.0);
        }
        let applicable = s.met + s.partially_met + s.not_met + s.unassessed;
        s.percent = if applicable == 0 {
            100.0
        } else {
            (credit * 1000.0 / applicable as f64).round() / 10.0
        };
        s
    }
}

/// Scores of a set of ratings (requirement id → rating) by top clause, by process and overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub overall: Score,
    pub by_clause: Vec<(String, Score)>,
    pub by_process: Vec<(String, Score)>,
}

pub fn scores(cat: &Catalogue, ratings: &BTreeMap<String, Option<Rating>>) -> Scores {
    let of = |ids: &mut dyn Iterator<Item = &str>| {
        let rs: Vec<Option<Rating>> = ids.map(|id| ratings.get(id).copied().flatten()).collect();
        Score::of(&rs)
    };
    let overall = of(&mut cat.requirements.iter().map(|r| r.id.as_str()));
    let by_clause = cat
        .top_clauses()
        .map(|h| {
            let mut ids = cat
                .requirements
                .iter()
                .filter(|r| is_under(&r.id, &h.id))
                .map(|r| r.id.as_str());
            (h.id.clone(), of(&mut ids))
        })
        .collect();
    let by_process = cat
        .processes
        .iter()
        .map(|p| {
            let mut ids = cat.of_process(&p.id).map(|r| r.id.as_str());
            (p.id.clone(), of(&mut ids))
        })
        .collect();
    Scores {
        overall,
        by_clause,
        by_process,
    }
}

/// How a requirement's rating moved between two assessments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub requirement: String,
    pub before: Option<Rating>,
    pub after: Option<Rating>,
    /// `improved`, `worsened` or `changed` (to or from not applicable / unassessed).
    pub direction: &'static str,
}

fn rank(r: Option<Rating>) -> Option<u8> {
    match r {
        None => Some(0),
        Some(Rating::NotMet) => Some(0),
        Some(Rating::PartiallyMet) => Some(1),
        Some(Rating::Met) => Some(2),
        Some(Rating::NotApplicable) => None,
    }
}

/// What changed from `before` to `after`, in catalogue order; unchanged requirements are left out.
pub fn compare(
    cat: &Catalogue,
    before: &BTreeMap<String, Option<Rating>>,
    after: &BTreeMap<String, Option<Rating>>,
) -> Vec<Movement> {
    cat.requirements
        .iter()
        .filter_map(|r| {
            let b = before.get(&r.id).copied().flatten();
            let a = after.get(&r.id).copied().flatten();
            if a == b {
                return None;
            }
            let direction = match (rank(b), rank(a)) {
                (Some(x), Some(y)) if y > x => "improved",
                (Some(x), Some(y)) if y < x => "worsened",
                _ => "changed",
            };
            Some(Movement {
                requirement: r.id.clone(),
                before: b,
                after: a,
                direction,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::compliance::catalogue::current;
    use proptest::prelude::*;

    fn outcome(status: Status, passed: usize) -> Outcome {
        Outcome {
            check: "c".into(),
            status,
            examined: 3,
            passed,
            shortfall: None,
            failures: vec![],
        }
    }

    #[test]
    fn automatic_rating_from_checks() {
        use Status::*;
        assert_eq!(automatic(&[]), None);
        assert_eq!(automatic(&[outcome(NotExercised, 0)]), None);
        assert_eq!(
            automatic(&[outcome(Pass, 3), outcome(NotExercised, 0)]),
            Some(Rating::Met)
        );
        assert_eq!(
            automatic(&[outcome(Pass, 3), outcome(Fail, 0)]),
            Some(Rating::PartiallyMet)
        );
        assert_eq!(automatic(&[outcome(Fail, 2)]), Some(Rating::PartiallyMet));
        assert_eq!(
            automatic(&[outcome(Fail, 0), outcome(Fail, 0)]),
            Some(Rating::NotMet)
        );
    }

    #[test]
    fn judgements_explain_themselves() {
        assert!(Judgement::parse("met", "", None).is_ok());
        assert!(Judgement::parse("met", "", Some(Rating::Met)).is_ok());
        assert!(Judgement::parse("met", "", Some(Rating::NotMet)).is_err());
        assert!(
            Judgement::parse("met", "checked the sample by hand", Some(Rating::NotMet)).is_ok()
        );
        assert!(Judgement::parse("not_applicable", " ", None).is_err());
        assert!(Judgement::parse("great", "x", None).is_err());
        let j = Judgement::parse("partially_met", "gaps", None).ok();
        assert_eq!(
            effective(Some(Rating::Met), j.as_ref()),
            Some(Rating::PartiallyMet)
        );
        assert_eq!(effective(Some(Rating::Met), None), Some(Rating::Met));
    }

    #[test]
    fn scores_credit_half_for_partial_and_skip_not_applicable() {
        let s = Score::of(&[
            Some(Rating::Met),
            Some(Rating::PartiallyMet),
            Some(Rating::NotApplicable),
            None,
        ]);
        assert_eq!(
            (s.met, s.partially_met, s.not_applicable, s.unassessed),
            (1, 1, 1, 1)
        );
        assert_eq!(s.percent, 50.0);
        assert_eq!(Score::of(&[Some(Rating::NotApplicable)]).percent, 100.0);

        let cat = current();
        let mut ratings = BTreeMap::new();
        for r in cat.under("8.6") {
            ratings.insert(r.id.clone(), Some(Rating::Met));
        }
        let sc = scores(cat, &ratings);
        let eight = sc.by_clause.iter().find(|(c, _)| c == "8").map(|(_, s)| *s);
        assert_eq!(eight.map(|s| s.met), Some(3));
        let inc = sc
            .by_process
            .iter()
            .find(|(p, _)| p == "incident")
            .map(|(_, s)| s.percent);
        assert_eq!(inc, Some(100.0));
        assert_eq!(sc.overall.met, 3);
        assert_eq!(sc.overall.unassessed, 54);
    }

    #[test]
    fn comparison_names_direction() {
        let cat = current();
        let before = BTreeMap::from([
            ("4.1".to_string(), Some(Rating::NotMet)),
            ("4.2".to_string(), Some(Rating::Met)),
            ("4.3".to_string(), Some(Rating::Met)),
        ]);
        let after = BTreeMap::from([
            ("4.1".to_string(), Some(Rating::Met)),
            ("4.2".to_string(), Some(Rating::PartiallyMet)),
            ("4.3".to_string(), Some(Rating::Met)),
            ("4.4".to_string(), Some(Rating::NotApplicable)),
        ]);
        let m = compare(cat, &before, &after);
        let dirs: Vec<(&str, &str)> = m
            .iter()
            .map(|m| (m.requirement.as_str(), m.direction))
            .collect();
        assert_eq!(
            dirs,
            vec![("4.1", "improved"), ("4.2", "worsened"), ("4.4", "changed")]
        );
    }

    fn rating() -> impl Strategy<Value = Option<Rating>> {
        prop_oneof![
            Just(None),
            Just(Some(Rating::Met)),
            Just(Some(Rating::PartiallyMet)),
            Just(Some(Rating::NotMet)),
            Just(Some(Rating::NotApplicable)),
        ]
    }

    proptest! {
        /// A score is a percentage, and improving one rating never lowers it.
        #[test]
        fn score_is_monotone(rs in proptest::collection::vec(rating(), 1..30), i in 0usize..30) {
            let s = Score::of(&rs);
            prop_assert!((0.0..=100.0).contains(&s.percent));
            let i = i % rs.len();
            if matches!(rs[i], None | Some(Rating::NotMet) | Some(Rating::PartiallyMet)) {
                let mut better = rs.clone();
                better[i] = Some(Rating::Met);
                prop_assert!(Score::of(&better).percent >= s.percent);
            }
        }
    }
}
