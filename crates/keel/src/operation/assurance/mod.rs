//! Clause 8.7 — service assurance: availability (8.7.1), continuity (8.7.2) and information
//! security (8.7.3). Their registers (targets, outages, continuity requirements, plans, tests,
//! invocations, security controls) come from the register machine (`platform::register`);
//! these modules add what is computed: measured availability, the continuity and security
//! picture per service, security incidents.

pub mod availability;
pub mod security;
