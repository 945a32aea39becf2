//! Clause 6.1 — the register of risks and opportunities: `/api/v1/risks`, the kernel's routes for
//! `Kind::Risk`. Likelihood, impact, treatment and review date are the kind's fields
//! (`keel_core::management::planning`); the owner is the assignee.

pub mod risks {
    crate::work_item_routes! {
        kind: Kind::Risk,
        tag: "risks",
        list: "/api/v1/risks",
        one: "/api/v1/risks/{number}",
        history: "/api/v1/risks/{number}/history",
        sla: "/api/v1/risks/{number}/sla",
        comments: "/api/v1/risks/{number}/comments",
        links: "/api/v1/risks/{number}/links",
        attachments: "/api/v1/risks/{number}/attachments",
        attachment: "/api/v1/risks/{number}/attachments/{id}",
        cis: "/api/v1/risks/{number}/cis",
        ci: "/api/v1/risks/{number}/cis/{ci_id}",
    }
}
