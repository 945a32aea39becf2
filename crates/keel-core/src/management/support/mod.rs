//! Clause 7 — support of the service management system. (The audit trail's rules, 7.5.3, are
//! [`crate::audit`]: every layer records through it.)

pub mod documents;
pub mod knowledge;
