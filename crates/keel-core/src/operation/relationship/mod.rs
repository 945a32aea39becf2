//! Clause 8.3 — relationship and agreement: business relationship management (8.3.2), service
//! level management (8.3.3) and supplier management (8.3.4).

pub mod agreement;
pub mod business;
pub mod service_level;
pub mod supplier;
