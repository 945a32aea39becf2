//! Clause 8 — operation of the service management system. Modules follow clause 8's groups:
//! service portfolio (8.2), relationship and agreement (8.3), supply and demand (8.4), service
//! design, build and transition (8.5), resolution and fulfilment (8.6), service assurance (8.7).
//! Only the groups with rules so far have modules.

pub mod portfolio;
pub mod relationship;
pub mod resolution;
pub mod transition;
