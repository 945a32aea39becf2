//! The composition root: which parts Keel is made of, and the one place they meet. Every other
//! module knows only the layers below it (ARCHITECTURE.md); this one knows them all, and adds
//! nothing but the lists. A new process is one line in [`PARTS`] (its routes, pages, templates,
//! jobs) and, if it is a kind of work item or hooks into one, one line in [`PROCESSES`].

use crate::kernel::process::{self, Process};
use crate::platform::config::Config;
use crate::platform::db::Db;
use crate::platform::part::{self, Part};
use crate::platform::web::{self, AppState};
use crate::{directory, integration, kernel, management, operation, platform};
use axum::Router;
use axum::response::Redirect;
use axum::routing::get;

/// Every part, in the order the OpenAPI document lists their tags.
pub static PARTS: &[&Part] = &[
    &platform::PART,
    &directory::PART,
    &kernel::PART,
    &HOME,
    // Clause 8: operation.
    &operation::resolution::incident::PART,
    &operation::resolution::request::PART,
    &operation::resolution::problem::PART,
    &operation::transition::change::PART,
    &operation::transition::design::PART,
    &operation::transition::release::PART,
    &operation::relationship::business::PART,
    &operation::relationship::service_level::PART,
    &operation::relationship::agreement::PART,
    &operation::relationship::supplier::PART,
    &operation::supply::budget::PART,
    &operation::supply::demand::PART,
    &operation::supply::capacity::PART,
    &operation::assurance::availability::PART,
    &operation::assurance::CONTINUITY,
    &operation::assurance::security::PART,
    &operation::portfolio::service::PART,
    &operation::portfolio::catalogue::PART,
    &operation::portfolio::asset::PART,
    &operation::portfolio::configuration::PART,
    &operation::portfolio::affected::PART,
    &operation::portfolio::transfer::PART,
    &operation::portfolio::baseline::PART,
    &operation::PART,
    // Clauses 4–10: the management system.
    &management::context::PART,
    &management::leadership::PART,
    &management::planning::PART,
    &management::support::competence::PART,
    &management::support::documents::PART,
    &management::support::knowledge::PART,
    &management::support::audit_trail::PART,
    &management::evaluation::PART,
    &management::evaluation::review::PART,
    &management::evaluation::kpi::PART,
    &management::evaluation::report::PART,
    &management::improvement::PART,
    &management::compliance::PART,
    // Channels in and out.
    &integration::alertmanager::PART,
    &integration::mail::PART,
    &integration::smtp::PART,
    &integration::webhooks::PART,
    &integration::import::PART,
    &integration::PART,
];

/// What every process registers with the kernel: its kind of work item and its rules, or what it
/// adds to every kind. Hooks run in this order.
pub static PROCESSES: &[&Process] = &[
    &operation::resolution::incident::PROCESS,
    &operation::resolution::request::PROCESS,
    &operation::resolution::problem::PROBLEM,
    &operation::resolution::problem::KNOWN_ERROR,
    &operation::resolution::problem::RAISE,
    &operation::transition::change::PROCESS,
    &operation::relationship::business::COMPLAINTS,
    &operation::relationship::business::REGISTERS,
    &operation::relationship::agreement::PROCESS,
    &operation::relationship::supplier::PROCESS,
    &operation::relationship::service_level::clocks::PROCESS,
    &operation::supply::budget::PROCESS,
    &operation::supply::demand::PROCESS,
    &operation::supply::capacity::PROCESS,
    &operation::assurance::availability::PROCESS,
    &operation::assurance::CONTINUITY_REGISTERS,
    &operation::assurance::security::PROCESS,
    &operation::portfolio::catalogue::PROCESS,
    &operation::portfolio::affected::PROCESS,
    &management::planning::PROCESS,
    &management::improvement::NONCONFORMITIES,
    &management::improvement::IMPROVEMENTS,
];

/// The home page: the incident list until the dashboards land.
const HOME: Part = Part {
    name: "home",
    pages: home,
    ..Part::EMPTY
};

fn home() -> Router<AppState> {
    Router::new().route(
        "/",
        get(|_: platform::ui::WebUser| async { Redirect::to("/incidents") }),
    )
}

/// Install the parts and processes; idempotent, and done by every entry point below.
pub fn install() {
    part::install(PARTS);
    process::install(PROCESSES);
}

/// A node's application state over `db`.
pub fn state(db: Db, cfg: Config) -> AppState {
    install();
    AppState::new(db, cfg, PARTS)
}

/// The whole application: every part's API routes and pages behind the platform's middleware.
pub fn router(state: AppState) -> Router {
    install();
    web::router(state)
}

/// The OpenAPI document of every part's API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    install();
    web::openapi(PARTS)
}
