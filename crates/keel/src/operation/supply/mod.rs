//! Clause 8.4 — supply and demand: budgeting and accounting (8.4.1), demand (8.4.2) and capacity
//! (8.4.3). Budgets, costs, forecasts and capacity plans are registers (`platform::register`);
//! these modules compute actuals against budget, actual demand against forecast, and take the
//! utilisation samples monitoring tools push.

pub mod budget;
pub mod capacity;
pub mod demand;
