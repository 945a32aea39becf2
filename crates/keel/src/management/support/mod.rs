//! Clause 7 — support: documented information (7.5).

pub mod audit_trail;
pub mod audit_trail_api;
