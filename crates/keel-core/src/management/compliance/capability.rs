//! Process capability on the ISO/IEC 33020 measurement framework (as ISO/IEC 20000-4 style
//! assessments use): process attributes rated N/P/L/F, and the capability level 0–5 they give.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The nine process attributes, by the level they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Attribute {
    #[serde(rename = "PA1.1")]
    Performance,
    #[serde(rename = "PA2.1")]
    PerformanceManagement,
    #[serde(rename = "PA2.2")]
    WorkProductManagement,
    #[serde(rename = "PA3.1")]
    ProcessDefinition,
    #[serde(rename = "PA3.2")]
    ProcessDeployment,
    #[serde(rename = "PA4.1")]
    QuantitativeAnalysis,
    #[serde(rename = "PA4.2")]
    QuantitativeControl,
    #[serde(rename = "PA5.1")]
    ProcessInnovation,
    #[serde(rename = "PA5.2")]
    InnovationImplementation,
}

impl Attribute {
    pub const ALL: [Attribute; 9] = [
        Attribute::Performance,
        Attribute::PerformanceManagement,
        Attribute::WorkProductManagement,
        Attribute::ProcessDefinition,
        Attribute::ProcessDeployment,
        Attribute::QuantitativeAnalysis,
        Attribute::QuantitativeControl,
        Attribute::ProcessInnovation,
        Attribute::InnovationImplementation,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Attribute::Performance => "PA1.1",
            Attribute::PerformanceManagement => "PA2.1",
            Attribute::WorkProductManagement => "PA2.2",
            Attribute::ProcessDefinition => "PA3.1",
            Attribute::ProcessDeployment => "PA3.2",
            Attribute::QuantitativeAnalysis => "PA4.1",
            Attribute::QuantitativeControl => "PA4.2",
            Attribute::ProcessInnovation => "PA5.1",
            Attribute::InnovationImplementation => "PA5.2",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Attribute::Performance => "Process performance",
            Attribute::PerformanceManagement => "Performance management",
            Attribute::WorkProductManagement => "Work product management",
            Attribute::ProcessDefinition => "Process definition",
            Attribute::ProcessDeployment => "Process deployment",
            Attribute::QuantitativeAnalysis => "Quantitative analysis",
            Attribute::QuantitativeControl => "Quantitative control",
            Attribute::ProcessInnovation => "Process innovation",
            Attribute::InnovationImplementation => "Process innovation implementation",
        }
    }

    pub fn parse(code: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The capability level this attribute belongs to.
    pub fn level(self) -> u8 {
        match self {
            Attribute::Performance => 1,
            Attribute::PerformanceManagement | Attribute::WorkProductManagement => 2,
            Attribute::ProcessDefinition | Attribute::ProcessDeployment => 3,
            Attribute::QuantitativeAnalysis | Attribute::QuantitativeControl => 4,
            Attribute::ProcessInnovation | Attribute::InnovationImplementation => 5,
        }
    }
}

/// Achievement of an attribute: not (≤15 %), partially (≤50 %), largely (≤85 %), fully achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Achievement {
    N,
    P,
    L,
    F,
}

impl Achievement {
    pub fn parse(s: &str) -> Option<Achievement> {
        match s {
            "N" => Some(Achievement::N),
            "P" => Some(Achievement::P),
            "L" => Some(Achievement::L),
            "F" => Some(Achievement::F),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Achievement::N => "N",
            Achievement::P => "P",
            Achievement::L => "L",
            Achievement::F => "F",
        }
    }

    /// The band a percentage of achievement falls in.
    pub fn from_percent(p: f64) -> Achievement {
        if p > 85.0 {
            Achievement::F
        } else if p > 50.0 {
            Achievement::L
        } else if p > 15.0 {
            Achievement::P
        } else {
            Achievement::N
        }
    }
}

pub const LEVEL_NAMES: [&str; 6] = [
    "Incomplete",
    "Performed",
    "Managed",
    "Established",
    "Predictable",
    "Innovating",
];

/// The capability level: level n needs its own attributes largely or fully achieved and every
/// lower level's fully achieved. An unrated attribute counts as not achieved.
pub fn level(ratings: &BTreeMap<Attribute, Achievement>) -> u8 {
    let get = |a: Attribute| ratings.get(&a).copied().unwrap_or(Achievement::N);
    let mut reached = 0;
    for n in 1..=5u8 {
        let own_ok = Attribute::ALL
            .iter()
            .filter(|a| a.level() == n)
            .all(|a| get(*a) >= Achievement::L);
        let lower_full = Attribute::ALL
            .iter()
            .filter(|a| a.level() < n)
            .all(|a| get(*a) == Achievement::F);
        if own_ok && lower_full {
            reached = n;
        } else {
            break;
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(pairs: &[(Attribute, Achievement)]) -> BTreeMap<Attribute, Achievement> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn levels_follow_the_rule() {
        use Achievement::*;
        use Attribute::*;
        assert_eq!(level(&r(&[])), 0);
        assert_eq!(level(&r(&[(Performance, P)])), 0);
        assert_eq!(level(&r(&[(Performance, L)])), 1);
        // Level 2 needs PA1.1 fully achieved.
        assert_eq!(
            level(&r(&[
                (Performance, L),
                (PerformanceManagement, F),
                (WorkProductManagement, F)
            ])),
            1
        );
        assert_eq!(
            level(&r(&[
                (Performance, F),
                (PerformanceManagement, L),
                (WorkProductManagement, L)
            ])),
            2
        );
        assert_eq!(
            level(&r(&[
                (Performance, F),
                (PerformanceManagement, F),
                (WorkProductManagement, F),
                (ProcessDefinition, L),
                (ProcessDeployment, P)
            ])),
            2
        );
        let all_f: BTreeMap<_, _> = Attribute::ALL.iter().map(|a| (*a, F)).collect();
        assert_eq!(level(&all_f), 5);
        assert_eq!(Achievement::from_percent(15.0), N);
        assert_eq!(Achievement::from_percent(15.1), P);
        assert_eq!(Achievement::from_percent(85.0), L);
        assert_eq!(Achievement::from_percent(90.0), F);
        for a in Attribute::ALL {
            assert_eq!(Attribute::parse(a.code()), Some(a));
            assert_eq!(
                serde_json::to_value(a).ok(),
                Some(serde_json::json!(a.code()))
            );
        }
    }

    fn achievement() -> impl Strategy<Value = Achievement> {
        prop_oneof![
            Just(Achievement::N),
            Just(Achievement::P),
            Just(Achievement::L),
            Just(Achievement::F)
        ]
    }

    proptest! {
        /// Raising any attribute's rating never lowers the level, and a level's definition holds.
        #[test]
        fn level_is_monotone_and_sound(rs in proptest::collection::vec(achievement(), 9), i in 0usize..9) {
            let m: BTreeMap<_, _> = Attribute::ALL.iter().copied().zip(rs.iter().copied()).collect();
            let l = level(&m);
            for a in Attribute::ALL {
                if a.level() < l { prop_assert_eq!(m[&a], Achievement::F); }
                if a.level() == l { prop_assert!(m[&a] >= Achievement::L); }
            }
            let mut up = m.clone();
            let a = Attribute::ALL[i];
            up.insert(a, Achievement::F);
            prop_assert!(level(&up) >= l);
        }
    }
}
