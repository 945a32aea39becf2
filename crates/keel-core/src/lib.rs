//! Keel's domain core: the rules of the service management system as plain Rust.
//!
//! **Architecture invariant:** nothing in this crate does I/O. It knows nothing about SQL, HTTP,
//! clocks or randomness; callers pass the current time and identifiers in. That keeps every rule
//! unit- and property-testable and lets storage and HTTP stay thin.
//!
//! The layout follows ISO/IEC 20000-1:2018:
//! - [`kernel`] — the work-item kernel shared by incidents, requests, problems and changes.
//! - [`operation`] — clause 8 processes, grouped as clause 8 groups them.
//! - [`management`] — the management system around them (clauses 4–7, 9, 10).
//! - [`integration`] — the rules of the channels into the desk: monitoring alerts, mail, webhooks.
//! - [`access`] — roles and permissions, decided in one table.
//! - [`audit`] — the audit trail's entries and hash chain (7.5.3), recorded by every layer.
//! - [`directory`] — what a directory synchronisation changes (users, roles, groups).
//! - [`page`] — cursor pagination shared by every list; [`period`] — periods as people write them.
//! - [`register`] — registers (suppliers, contracts, outages …) declared as typed data.

pub mod access;
pub mod audit;
pub mod directory;
pub mod integration;
pub mod kernel;
pub mod management;
pub mod operation;
pub mod page;
pub mod period;
pub mod register;
pub mod text;
