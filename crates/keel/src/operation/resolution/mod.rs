//! Clause 8.6 — resolution and fulfilment. Incidents (8.6.1) are the first kind on the work-item
//! kernel; service requests (8.6.2) and problems (8.6.3) join as further kinds.

pub mod incident;
pub mod incident_ui;
pub mod problem;
pub mod request;
pub mod request_ui;
