//! Clause 8.5 — service design, build and transition: change management (8.5.1), service design
//! and transition (8.5.2), release and deployment (8.5.3), and the forward schedule of change as
//! an iCalendar feed.

pub mod calendar;
pub mod change;
pub mod design;
pub mod release;
