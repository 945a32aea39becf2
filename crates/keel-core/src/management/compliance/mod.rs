//! The compliance engine: ISO/IEC 20000-1's requirements as a catalogue, evidence checks over
//! Keel's own records, and the ratings a readiness assessment is made of.
//!
//! - [`catalogue`] — every leaf requirement (4.1 … 10.2) in our own words, per edition.
//! - [`evidence`] — how a check is declared and evaluated; [`checks`] — the checks themselves.
//! - [`conformity`] — met / partially met / not met / not applicable, scores, comparisons.
//! - [`capability`] — ISO/IEC 33020 process attributes and capability levels.

pub mod capability;
pub mod catalogue;
pub mod checks;
pub mod conformity;
pub mod evidence;
