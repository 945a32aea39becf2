//! Clause 10 — improvement: `/api/v1/nonconformities` (10.1) and `/api/v1/improvements` (10.2),
//! both kinds of work item with the kernel's routes. What they add is in
//! `keel_core::management::improvement`; the one rule checked here is that a nonconformity closes
//! only once its corrective action was found effective.

use crate::kernel::ItemRow;
use crate::platform::error::{AppError, AppResult};
use keel_core::management::improvement::may_close_nonconformity;
use serde_json::Value;

pub mod nonconformities {
    crate::work_item_routes! {
        kind: keel_core::management::improvement::NONCONFORMITY,
        tag: "nonconformities",
        list: "/api/v1/nonconformities",
        one: "/api/v1/nonconformities/{number}",
        history: "/api/v1/nonconformities/{number}/history",
        comments: "/api/v1/nonconformities/{number}/comments",
        links: "/api/v1/nonconformities/{number}/links",
        attachments: "/api/v1/nonconformities/{number}/attachments",
        attachment: "/api/v1/nonconformities/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::management::improvement::NONCONFORMITY,
        tag: "nonconformities",
        sla: "/api/v1/nonconformities/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::management::improvement::NONCONFORMITY,
        tag: "nonconformities",
        cis: "/api/v1/nonconformities/{number}/cis",
        ci: "/api/v1/nonconformities/{number}/cis/{ci_id}",
    }
}

pub mod improvements {
    crate::work_item_routes! {
        kind: keel_core::management::improvement::IMPROVEMENT,
        tag: "improvements",
        list: "/api/v1/improvements",
        one: "/api/v1/improvements/{number}",
        history: "/api/v1/improvements/{number}/history",
        comments: "/api/v1/improvements/{number}/comments",
        links: "/api/v1/improvements/{number}/links",
        attachments: "/api/v1/improvements/{number}/attachments",
        attachment: "/api/v1/improvements/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::management::improvement::IMPROVEMENT,
        tag: "improvements",
        sla: "/api/v1/improvements/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::management::improvement::IMPROVEMENT,
        tag: "improvements",
        cis: "/api/v1/improvements/{number}/cis",
        ci: "/api/v1/improvements/{number}/cis/{ci_id}",
    }
}

/// A nonconformity's move to `closed` needs an effective corrective action (10.1 e); one found
/// not effective goes back to corrective action instead.
pub fn on_nonconformity_move(after: &ItemRow) -> AppResult<()> {
    if after.state == "closed" {
        let details = after.details_map();
        let verdict = details.get("effectiveness").and_then(Value::as_str);
        if !may_close_nonconformity(verdict) {
            return Err(AppError::invalid(
                "details.effectiveness",
                "a nonconformity closes only when its corrective action was effective; move it back to corrective_action",
            ));
        }
    }
    Ok(())
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "improvement",
    api: part_api,
    tags: &[
        (
            "nonconformities",
            "Nonconformities with correction, root cause, corrective action and effectiveness check (10.1)",
        ),
        ("improvements", "The continual improvement register (10.2)"),
    ],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .merge(nonconformities::routes::router())
        .merge(improvements::routes::router())
        .merge(nonconformities::clock_routes::router())
        .merge(nonconformities::ci_routes::router())
        .merge(improvements::clock_routes::router())
        .merge(improvements::ci_routes::router())
}

/// Nonconformities as a kind of work item: closed only once effective (10.1).
pub const NONCONFORMITIES: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(keel_core::management::improvement::NONCONFORMITY),
    moving: Some(|_, _, _, after, _| Box::pin(async move { on_nonconformity_move(after) })),
    ..crate::kernel::process::Process::NONE
};
/// Improvements as a kind of work item (10.2).
pub const IMPROVEMENTS: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(keel_core::management::improvement::IMPROVEMENT),
    ..crate::kernel::process::Process::NONE
};
