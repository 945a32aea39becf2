//! Clause 8.3 — relationship and agreement. So far service level management (8.3.3):
//! business calendars and service level targets; the clocks they drive live in the work-item
//! kernel (`kernel::clocks`).

pub mod service_level;
pub mod service_level_api;
