//! The management system (ISO/IEC 20000-1 clauses 4–7, 9, 10). So far clause 7.5's audit trail;
//! the compliance engine, registers and audits join here.

pub mod support;
