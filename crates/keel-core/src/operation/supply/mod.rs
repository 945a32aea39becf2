//! Clause 8.4 — supply and demand: budgeting and accounting for services (8.4.1), demand
//! management (8.4.2) and capacity management (8.4.3).

pub mod budget;
pub mod capacity;
pub mod demand;
