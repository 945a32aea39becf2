//! Impact × urgency → priority. The matrix is data so an organisation can configure its own;
//! [`Matrix::default`] is the usual ITIL 3 × 3 grid mapping to priorities 1 (critical) … 5 (planning).

use serde::{Deserialize, Serialize};

/// Impact or urgency level: 1 = high, 2 = medium, 3 = low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Level(u8);

impl Level {
    pub const HIGH: Level = Level(1);
    pub const MEDIUM: Level = Level(2);
    pub const LOW: Level = Level(3);

    pub fn new(n: i64) -> Option<Level> {
        (1..=3).contains(&n).then_some(Level(n as u8))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Priority 1 (critical) to 5 (planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Priority(u8);

impl Priority {
    pub fn new(n: i64) -> Option<Priority> {
        (1..=5).contains(&n).then_some(Priority(n as u8))
    }
    pub fn get(self) -> u8 {
        self.0
    }
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "critical",
            2 => "high",
            3 => "moderate",
            4 => "low",
            _ => "planning",
        }
    }
}

/// `cells[impact-1][urgency-1]` is the priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    pub cells: [[u8; 3]; 3],
}

impl Default for Matrix {
    fn default() -> Self {
        Matrix {
            cells: [[1, 2, 3], [2, 3, 4], [3, 4, 5]],
        }
    }
}

impl Matrix {
    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        let p = self.cells[usize::from(impact.0 - 1)][usize::from(urgency.0 - 1)];
        Priority(p.clamp(1, 5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_matrix_corners() {
        let m = Matrix::default();
        assert_eq!(m.priority(Level::HIGH, Level::HIGH).get(), 1);
        assert_eq!(m.priority(Level::LOW, Level::LOW).get(), 5);
        assert_eq!(m.priority(Level::HIGH, Level::LOW).get(), 3);
    }

    proptest! {
        /// Raising impact or urgency never lowers the priority (a smaller number is more urgent).
        #[test]
        fn default_matrix_is_monotone(i in 1i64..=3, u in 1i64..=3) {
            let m = Matrix::default();
            let p = m.priority(Level::new(i).unwrap_or(Level::LOW), Level::new(u).unwrap_or(Level::LOW));
            if i > 1 {
                let higher = m.priority(Level::new(i - 1).unwrap_or(Level::HIGH), Level::new(u).unwrap_or(Level::LOW));
                prop_assert!(higher <= p);
            }
            if u > 1 {
                let higher = m.priority(Level::new(i).unwrap_or(Level::LOW), Level::new(u - 1).unwrap_or(Level::HIGH));
                prop_assert!(higher <= p);
            }
        }
    }
}
