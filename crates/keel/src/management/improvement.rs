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
        kind: Kind::Nonconformity,
        tag: "nonconformities",
        list: "/api/v1/nonconformities",
        one: "/api/v1/nonconformities/{number}",
        history: "/api/v1/nonconformities/{number}/history",
        sla: "/api/v1/nonconformities/{number}/sla",
        comments: "/api/v1/nonconformities/{number}/comments",
        links: "/api/v1/nonconformities/{number}/links",
        attachments: "/api/v1/nonconformities/{number}/attachments",
        attachment: "/api/v1/nonconformities/{number}/attachments/{id}",
        cis: "/api/v1/nonconformities/{number}/cis",
        ci: "/api/v1/nonconformities/{number}/cis/{ci_id}",
    }
}

pub mod improvements {
    crate::work_item_routes! {
        kind: Kind::Improvement,
        tag: "improvements",
        list: "/api/v1/improvements",
        one: "/api/v1/improvements/{number}",
        history: "/api/v1/improvements/{number}/history",
        sla: "/api/v1/improvements/{number}/sla",
        comments: "/api/v1/improvements/{number}/comments",
        links: "/api/v1/improvements/{number}/links",
        attachments: "/api/v1/improvements/{number}/attachments",
        attachment: "/api/v1/improvements/{number}/attachments/{id}",
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
