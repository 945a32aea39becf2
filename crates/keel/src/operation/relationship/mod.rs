//! Clause 8.3 — relationship and agreement: business relationship management (8.3.2:
//! complaints, surveys), service level management (8.3.3: business calendars, service level
//! targets and the clocks they drive on every work item; agreements and their attainment) and
//! supplier management (8.3.4: performance, renewal warnings). The registers themselves come
//! from `kernel::register`.

pub mod agreement;
pub mod business;
pub mod service_level;
pub mod supplier;
