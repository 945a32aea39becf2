//! Clause 8 — operation of the SMS, grouped as clause 8 groups its processes:
//! `portfolio` (8.2), relationship and agreement (8.3), supply and demand (8.4), design, build
//! and transition (8.5), `resolution` (8.6) and service assurance (8.7). Groups appear here as
//! their processes land.

pub mod assurance;
pub mod portfolio;
pub mod relationship;
pub mod resolution;
pub mod supply;
pub mod transition;
pub mod ui;
