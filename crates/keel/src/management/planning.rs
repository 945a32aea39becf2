//! Clause 6.1 — the register of risks and opportunities: `/api/v1/risks`, the kernel's routes for
//! `keel_core::management::planning::KIND`. Likelihood, impact, treatment and review date are the kind's fields
//! (`keel_core::management::planning`); the owner is the assignee.

pub mod risks {
    crate::work_item_routes! {
        kind: keel_core::management::planning::KIND,
        tag: "risks",
        list: "/api/v1/risks",
        one: "/api/v1/risks/{number}",
        history: "/api/v1/risks/{number}/history",
        comments: "/api/v1/risks/{number}/comments",
        links: "/api/v1/risks/{number}/links",
        attachments: "/api/v1/risks/{number}/attachments",
        attachment: "/api/v1/risks/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::management::planning::KIND,
        tag: "risks",
        sla: "/api/v1/risks/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::management::planning::KIND,
        tag: "risks",
        cis: "/api/v1/risks/{number}/cis",
        ci: "/api/v1/risks/{number}/cis/{ci_id}",
    }
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "risks",
    api: part_api,
    tags: &[(
        "risks",
        "The register of risks and opportunities: likelihood, impact, treatment, review (6.1)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .merge(risks::routes::router())
        .merge(risks::clock_routes::router())
        .merge(risks::ci_routes::router())
}

/// Risks and opportunities as a kind of work item.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(keel_core::management::planning::KIND),
    ..crate::kernel::process::Process::NONE
};
