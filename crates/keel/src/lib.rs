//! Keel: an IT service management system for ISO/IEC 20000-1:2018.
//!
//! Code map (see `ARCHITECTURE.md`):
//! - [`platform`] — storage, config, errors, auth, HTTP and HTML shells, jobs, metrics.
//! - [`kernel`] — the work-item kernel's storage, HTTP conventions and pages.
//! - [`directory`] — users, roles, support groups, customers, tokens.
//! - [`operation`] — clause 8 processes, grouped as clause 8 groups them.
//! - [`management`] — clauses 4–7, 9, 10 (so far 7.5's audit trail).
//! - [`cli`], [`demo`], [`backup`] — the `keel` command's subcommands.

pub mod app;
pub mod backup;
pub mod cli;
pub mod demo;
pub mod directory;
pub mod integration;
pub mod kernel;
pub mod management;
pub mod operation;
pub mod platform;
