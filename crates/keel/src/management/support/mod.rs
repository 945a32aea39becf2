//! Clause 7 — support: documented information (controlled documents and the audit trail, 7.5),
//! competence (7.2), knowledge (7.6).

pub mod audit_trail;
pub mod competence;
pub mod competence_ui;
pub mod documents;
pub mod documents_ui;
pub mod knowledge;
pub mod knowledge_ui;
