//! Configuration items a work item affects (an incident's broken CIs, later a change's CIs),
//! shared by every kind. The affected services and customers come from impact analysis over
//! the CMDB graph (`operation::portfolio::configuration`, 8.2.6).

use super::{ItemRow, Scope};
use crate::platform::audit::{Actor, append};
use crate::operation::portfolio::configuration::{
    ImpactedCustomer, ImpactedService, services_and_customers,
};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q};
use crate::platform::error::{AppError, AppResult};
use crate::platform::web::AppState;
use keel_core::access::Action;
use keel_core::kernel::Kind;
use keel_core::management::support::audit_trail::FieldChange;
use keel_core::operation::portfolio::configuration::Direction;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct AffectedCi {
    pub id: i64,
    pub name: String,
    pub class: String,
    pub status: String,
}

/// The CIs an item affects and, through the CMDB, the services and customers behind them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Affected {
    pub cis: Vec<AffectedCi>,
    pub services: Vec<ImpactedService>,
    pub customers: Vec<ImpactedCustomer>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCi {
    pub ci_id: i64,
}

pub async fn list(db: &Db, item_id: i64) -> AppResult<Vec<AffectedCi>> {
    Ok(db
        .all(Q::new("SELECT c.id, c.name, k.name AS class, c.status FROM work_item_cis w JOIN cis c ON c.id = w.ci_id JOIN ci_classes k ON k.id = c.class_id WHERE w.item_id = $1 ORDER BY c.name").bind(item_id))
        .await?)
}

/// Affected CIs with the services and customers their failure reaches (depth 10).
pub async fn affected(st: &AppState, item_id: i64) -> AppResult<Affected> {
    let cis = list(&st.db, item_id).await?;
    if cis.is_empty() {
        return Ok(Affected {
            cis,
            services: vec![],
            customers: vec![],
        });
    }
    let (services, customers) = st
        .cmdb
        .read(&st.db, |snap| {
            let mut reached = BTreeSet::new();
            for c in &cis {
                if let Some(w) = snap.graph.walk(c.id, Direction::Downstream, 10) {
                    reached.extend(w.cis());
                }
            }
            services_and_customers(snap, reached.into_iter(), true)
        })
        .await?;
    Ok(Affected {
        cis,
        services,
        customers,
    })
}

/// Add (or remove) one affected CI, audited on the item.
pub async fn set(db: &Db, item: &ItemRow, actor: &Actor, ci: i64, add: bool) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let before: BTreeSet<i64> = tx
        .all::<(i64,)>(Q::new("SELECT ci_id FROM work_item_cis WHERE item_id = $1").bind(item.id))
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    if add {
        crate::directory::exists(&mut tx, "cis", ci, "ci_id").await?;
        tx.exec(
            Q::new("INSERT INTO work_item_cis (item_id, ci_id) VALUES ($1, $2)")
                .bind(item.id)
                .bind(ci),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => {
                AppError::Conflict(format!("CI {ci} is already on {}", item.number))
            }
            e => e.into(),
        })?;
    } else if tx
        .exec(
            Q::new("DELETE FROM work_item_cis WHERE item_id = $1 AND ci_id = $2")
                .bind(item.id)
                .bind(ci),
        )
        .await?
        == 0
    {
        return Err(AppError::NotFound(format!("CI {ci} on {}", item.number)));
    }
    let mut after = before.clone();
    if add {
        after.insert(ci);
    } else {
        after.remove(&ci);
    }
    append(
        &mut tx,
        actor,
        if add { "ci.add" } else { "ci.remove" },
        &item.kind,
        &item.number,
        vec![FieldChange {
            field: "cis".into(),
            old: json!(before),
            new: json!(after),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn require_read(p: &Principal, kind: Kind) -> AppResult<()> {
    super::api::require_read(p, kind)?;
    p.require(Action::ReadConfiguration)
}

pub async fn api_list(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<Affected> {
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    affected(st, row.id).await
}

pub async fn api_add(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    b: AddCi,
) -> AppResult<Affected> {
    p.require(Action::UpdateWorkItems)?;
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    set(&st.db, &row, &p.actor(), b.ci_id, true).await?;
    affected(st, row.id).await
}

pub async fn api_remove(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    ci: i64,
) -> AppResult<()> {
    p.require(Action::UpdateWorkItems)?;
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    set(&st.db, &row, &p.actor(), ci, false).await
}

/// Work items open on a CI (the CI page's "open incidents").
pub async fn open_items_on(db: &Db, ci: i64) -> AppResult<Vec<(String, String, String)>> {
    Ok(db
        .all(Q::new("SELECT w.number, w.title, w.state FROM work_item_cis c JOIN work_items w ON w.id = c.item_id WHERE c.ci_id = $1 AND w.state NOT IN ('closed', 'cancelled', 'resolved', 'fulfilled', 'rejected', 'retired') ORDER BY w.id DESC LIMIT 50").bind(ci))
        .await?)
}

/// A CI named in a form: its id, or its exact name when that is unique.
pub async fn resolve(db: &Db, text: &str) -> AppResult<i64> {
    let t = text.trim();
    if let Ok(id) = t.parse::<i64>() {
        return Ok(id);
    }
    let rows: Vec<(i64,)> = db
        .all(Q::new("SELECT id FROM cis WHERE LOWER(name) = $1 LIMIT 2").bind(t.to_lowercase()))
        .await?;
    match rows.as_slice() {
        [(id,)] => Ok(*id),
        [] => Err(AppError::invalid("ci_id", format!("no CI named `{t}`"))),
        _ => Err(AppError::invalid(
            "ci_id",
            format!("several CIs are named `{t}`; give the id"),
        )),
    }
}
