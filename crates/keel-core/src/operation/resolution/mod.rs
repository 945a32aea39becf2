//! Clause 8.6 — resolution and fulfilment: incident management (8.6.1); service requests (8.6.2)
//! and problems (8.6.3) join here as kinds of the work-item kernel.

pub mod incident;
pub mod problem;
pub mod request;
