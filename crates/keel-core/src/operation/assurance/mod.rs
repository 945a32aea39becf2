//! Clause 8.7 — service assurance: service availability management (8.7.1), service continuity
//! management (8.7.2) and information security management (8.7.3).

pub mod availability;
pub mod continuity;
pub mod security;
