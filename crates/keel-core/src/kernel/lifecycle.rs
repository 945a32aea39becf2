//! Declared lifecycles. A process states its states and legal transitions as data; the kernel
//! enforces them the same way for every kind, so an illegal move is refused in one place.

use std::fmt;

/// One transition: from a state to another, and what it demands of the item.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub from: &'static str,
    pub to: &'static str,
    /// Names of fields that must be non-empty once the item is in `to` (e.g. resolution code).
    pub requires: &'static [&'static str],
}

impl Transition {
    /// A move that demands nothing of the item.
    pub const fn free(from: &'static str, to: &'static str) -> Transition {
        Transition {
            from,
            to,
            requires: &[],
        }
    }

    /// A move that needs the named fields to be set.
    pub const fn needs(
        from: &'static str,
        to: &'static str,
        requires: &'static [&'static str],
    ) -> Transition {
        Transition { from, to, requires }
    }
}

#[derive(Debug)]
pub struct Lifecycle {
    /// Every state; the first is the initial state.
    pub states: &'static [&'static str],
    /// States from which nothing moves further on without a reopen (used for "open" filters).
    pub terminal: &'static [&'static str],
    pub transitions: &'static [Transition],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("unknown state `{0}`")]
    UnknownState(String),
    #[error("cannot move from `{from}` to `{to}`; allowed from `{from}`: {allowed}")]
    Illegal {
        from: String,
        to: String,
        allowed: String,
    },
    #[error("moving to `{to}` requires `{field}`")]
    Missing { to: String, field: &'static str },
}

impl Lifecycle {
    pub fn initial(&self) -> &'static str {
        self.states[0]
    }

    pub fn state(&self, name: &str) -> Option<&'static str> {
        self.states.iter().copied().find(|s| *s == name)
    }

    pub fn is_open(&self, state: &str) -> bool {
        !self.terminal.contains(&state)
    }

    /// States reachable from `from` in one step.
    pub fn next_states(&self, from: &str) -> Vec<&'static str> {
        self.transitions
            .iter()
            .filter(|t| t.from == from)
            .map(|t| t.to)
            .collect()
    }

    /// Check a move, given a lookup telling whether a named field has a value after the change.
    pub fn check(
        &self,
        from: &str,
        to: &str,
        has: impl Fn(&str) -> bool,
    ) -> Result<&'static str, TransitionError> {
        let to_state = self
            .state(to)
            .ok_or_else(|| TransitionError::UnknownState(to.to_string()))?;
        let t = self
            .transitions
            .iter()
            .find(|t| t.from == from && t.to == to)
            .ok_or_else(|| TransitionError::Illegal {
                from: from.to_string(),
                to: to.to_string(),
                allowed: Joined(&self.next_states(from)).to_string(),
            })?;
        if let Some(field) = t.requires.iter().find(|f| !has(f)) {
            return Err(TransitionError::Missing {
                to: to.to_string(),
                field,
            });
        }
        Ok(to_state)
    }
}

struct Joined<'a>(&'a [&'a str]);
impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.join(", "))
    }
}
