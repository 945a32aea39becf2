//! Clause 8.3.3 — service level management: business calendars and the SLA clocks that measure
//! work items against service level targets.
//!
//! Everything here is pure: a [`calendar::Calendar`] is handed its time zone already resolved, and
//! clocks take the current instant as an argument. Instants are epoch milliseconds, as stored.

pub mod calendar;
pub mod clock;
