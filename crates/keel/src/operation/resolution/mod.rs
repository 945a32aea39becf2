//! Clause 8.6 — resolution and fulfilment. Incidents (8.6.1) are the first kind on the work-item
//! kernel; service requests (8.6.2) and problems (8.6.3) join as further kinds.

pub mod incident;
pub mod incident_ui;
pub mod problem;
pub mod request;
pub mod request_ui;

use crate::kernel::ItemRow;
use crate::platform::db::{Q, Tx};
use crate::platform::error::{AppError, AppResult};
use keel_core::kernel::Kind;

/// Rules a process adds to a state change beyond its lifecycle, checked inside the change's
/// transaction: a major incident closes only after its review (8.6.1); a request's tasks open
/// and must be done (8.6.2).
pub async fn before_move(
    tx: &mut Tx,
    kind: Kind,
    item: &ItemRow,
    after: &ItemRow,
    actor: &crate::platform::audit::Actor,
) -> AppResult<()> {
    let to = after.state.as_str();
    if kind == Kind::Request {
        return request::on_move(tx, item, to).await;
    }
    if kind == Kind::Nonconformity {
        return crate::management::improvement::on_nonconformity_move(after);
    }
    if kind == Kind::Change {
        return crate::operation::transition::change::on_move(tx, item, after, actor).await;
    }
    if kind == Kind::Incident {
        crate::operation::assurance::security::on_incident_move(after)?;
        // Resolving an incident ends the outages recorded for it that are still open (8.7.1).
        if to == "resolved" {
            crate::kernel::register::fill_where_empty(
                tx,
                actor,
                crate::kernel::register::reg("outages"),
                "incident",
                &keel_core::register::V::Text(after.number.clone()),
                "ended_at",
                &keel_core::register::V::Int(
                    after
                        .resolved_at
                        .unwrap_or_else(crate::platform::db::now_ms),
                ),
            )
            .await?;
        }
    }
    if kind == Kind::Incident && to == "closed" {
        let open_review: Option<(i64,)> = tx
            .opt(
                Q::new("SELECT item_id FROM major_incidents WHERE item_id = $1 AND review IS NULL")
                    .bind(item.id),
            )
            .await?;
        if open_review.is_some() {
            return Err(AppError::invalid(
                "major_review",
                "a major incident is closed only after its review is recorded",
            ));
        }
    }
    Ok(())
}
