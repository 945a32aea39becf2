//! The management system (ISO/IEC 20000-1 clauses 4–7, 9, 10).
//! - [`support`] — clause 7: the audit trail (7.5) and knowledge (7.6).
//! - [`context`] — clause 4.2: the register of interested parties.
//! - [`leadership`] — clauses 4.3, 5.3, 7.4: the scope record, RACI per process, the
//!   communication plan.
//! - [`planning`] — clause 6.1: the register of risks and opportunities.
//! - [`evaluation`] — clause 9.2: the internal audit programme, audits and findings.
//! - [`improvement`] — clause 10: nonconformities and continual improvement.
//! - [`compliance`] — the compliance engine: requirements, live evidence, readiness,
//!   assessments, the gap plan and the audit pack.

pub mod compliance;
pub mod context;
pub mod evaluation;
pub mod improvement;
pub mod leadership;
pub mod leadership_ui;
pub mod planning;
pub mod support;
