//! Cross-cutting machinery every process uses: storage, configuration, errors, authentication,
//! the HTTP shell, the HTML shell, background jobs and metrics.

pub mod audit;
pub mod auth;
pub mod config;
pub mod csv;
pub mod db;
pub mod error;
pub mod etag;
pub mod extract;
pub mod gate;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod part;
pub mod point_reads;
pub mod tls;
pub mod ui;
pub mod web;

use part::Part;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The platform's own part: sign-in and notifications, the job list, housekeeping.
pub const PART: Part = Part {
    name: "platform",
    api,
    pages: ui::pages,
    templates: ui::TEMPLATES,
    tags: &[
        ("notifications", "In-app notifications from the outbox"),
        ("operations", "Health, readiness, metrics, jobs"),
    ],
    jobs: jobs::JOBS,
    sweeps: jobs::SWEEPS,
    nav: &[part::Nav {
        order: 160,
        label: "Notifications",
        requester_label: None,
        href: "/notifications",
        shown: |p| p.can(keel_core::access::Action::OwnNotifications),
    }],
    ..Part::EMPTY
};

fn api() -> OpenApiRouter<web::AppState> {
    OpenApiRouter::new()
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(outbox::list))
        .routes(gate::gate(
            keel_core::access::Action::OwnNotifications,
            routes!(outbox::mark_read),
        ))
}
