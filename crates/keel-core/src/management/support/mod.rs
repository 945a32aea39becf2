//! Clause 7 — support of the service management system.

pub mod audit_trail;
pub mod documents;
pub mod knowledge;
