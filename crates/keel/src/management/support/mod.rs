//! Clause 7 — support: documented information and its audit trail (7.5), knowledge (7.6).

pub mod audit_trail;
pub mod audit_trail_api;
pub mod knowledge;
pub mod knowledge_ui;
