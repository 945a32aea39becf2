//! Clause 8.5 — service design, build and transition: change management (8.5.1, `change`,
//! `policy`, `calendar`), service design and transition (8.5.2, `design`), release and
//! deployment (8.5.3, `release`). The rules are in `keel_core::operation::transition`.

pub mod calendar;
pub mod change;
pub mod design;
pub mod policy;
pub mod release;
pub mod ui;

/// Reading releases and service designs: the provider's internal records, for staff.
fn staff_read(p: &crate::platform::auth::Principal) -> crate::platform::error::AppResult<()> {
    use keel_core::access::Action;
    p.require(Action::ReadWorkItems)?;
    p.require(Action::ReadInternalItems)
}

/// Apply planned CI updates (a change's, a deployment's) inside the caller's transaction:
/// each CI patched through the CMDB's own write path, audited, one CMDB revision for all.
pub async fn apply_ci_updates(
    tx: &mut crate::platform::db::Tx,
    actor: &crate::platform::audit::Actor,
    updates: &[(
        i64,
        Option<String>,
        serde_json::Map<String, serde_json::Value>,
    )],
    because: &str,
) -> crate::platform::error::AppResult<()> {
    use crate::operation::portfolio::configuration::{CiPatch, patch_ci_tx};
    if updates.is_empty() {
        return Ok(());
    }
    // The CMDB revision first, the audit after: every writer takes the two locks in that order.
    let ids: Vec<i64> = updates.iter().map(|u| u.0).collect();
    crate::operation::portfolio::graph::record(tx, &ids, &[]).await?;
    for (ci, status, attributes) in updates {
        let patch = CiPatch {
            status: status.clone(),
            attributes: (!attributes.is_empty()).then(|| attributes.clone()),
            ..Default::default()
        };
        let mut changes = patch_ci_tx(tx, *ci, &patch).await?;
        if changes.is_empty() {
            continue;
        }
        changes.push(keel_core::audit::FieldChange {
            field: "by".into(),
            old: serde_json::Value::Null,
            new: serde_json::json!(because),
        });
        crate::platform::audit::append(tx, actor, "update", "ci", &ci.to_string(), changes).await?;
    }
    Ok(())
}
