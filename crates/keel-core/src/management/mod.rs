//! The management system around the processes: clauses 4–7, 9 and 10. Only clause 7 (support)
//! has rules so far: the tamper-evident audit trail behind 7.5 (documented information).

pub mod support;
