//! Clause 8.7 — service assurance: availability (8.7.1), continuity (8.7.2) and information
//! security (8.7.3). Their registers (targets, outages, continuity requirements, plans, tests,
//! invocations, security controls) come from the register machine (`platform::register`);
//! these modules add what is computed: measured availability, the continuity and security
//! picture per service, security incidents.

pub mod availability;
pub mod security;

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const CONTINUITY: crate::platform::part::Part = crate::platform::part::Part {
    name: "continuity",
    tags: &[(
        "continuity",
        "Continuity requirements, plans with approval, tests and invocations (8.7.2)",
    )],
    ..crate::platform::part::Part::EMPTY
};

/// Continuity requirements, plans, tests and invocations (8.7.2): registers only.
pub const CONTINUITY_REGISTERS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::assurance::continuity::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
