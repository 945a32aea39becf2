//! The management system around the processes: clauses 4–7, 9 and 10.
//! - [`support`] — clause 7: the tamper-evident audit trail (7.5) and knowledge (7.6).
//! - [`planning`] — clause 6.1: the register of risks and opportunities.
//! - [`evaluation`] — clause 9.2: internal audits, findings, checklists, programme coverage.
//! - [`leadership`] — clauses 4.3, 5.3, 7.4: scope coverage, RACI rules, communication plan.
//! - [`measurement`] — clauses 6.2 and 9.1: KPI metrics, targets and measuring periods.
//! - [`improvement`] — clause 10: nonconformities, corrective action, continual improvement.
//! - [`compliance`] — the compliance engine: the requirement catalogue of the standard, live
//!   evidence checks, conformity and capability ratings (what the readiness assessment and the
//!   audit pack are built from).

pub mod compliance;
pub mod evaluation;
pub mod improvement;
pub mod leadership;
pub mod measurement;
pub mod planning;
pub mod support;
