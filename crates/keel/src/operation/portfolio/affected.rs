//! Clause 8.2.6 on every work item — the configuration items it affects (an incident's broken
//! CIs, a change's CIs), for every kind. The affected services and customers come from impact
//! analysis over the CMDB graph (`configuration`). Registered with the kernel for every kind:
//! the item page's panel and its form; each kind's module declares the API routes
//! (`affected_ci_routes!`).

use super::configuration::{ImpactedCustomer, ImpactedService, services_and_customers};
use crate::kernel::process::{Panel, Process};
use crate::kernel::ui::{base, detail_with_error};
use crate::kernel::{self, ItemRow, Scope};
use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q};
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{WebUser, check_csrf, redirect_with_flash};
use crate::platform::web::AppState;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use axum::routing::post;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::kernel::Kind;
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
    let (services, customers) = super::graph::cache(st)
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
    kernel::api::require_read(p, kind)?;
    p.require(Action::ReadConfiguration)
}

pub async fn api_list(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<Affected> {
    require_read(p, kind)?;
    let row = kernel::get(&st.db, kind, number, Scope::of(p)).await?;
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
    let row = kernel::get(&st.db, kind, number, Scope::of(p)).await?;
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
    let row = kernel::get(&st.db, kind, number, Scope::of(p)).await?;
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

/// Affected CIs on every kind's page, for those who may read the CMDB.
pub const PROCESS: Process = Process {
    panels: Some(|st, p, item| Box::pin(panel(st, p, item))),
    ..Process::NONE
};

async fn panel(st: &AppState, p: &Principal, item: &ItemRow) -> AppResult<Vec<Panel>> {
    if !p.can(Action::ReadConfiguration) {
        return Ok(vec![]);
    }
    Ok(vec![Panel {
        template: "affected_panel.html",
        top: false,
        data: minijinja::Value::from(minijinja::value::Serde(affected(st, item.id).await?)),
    }])
}

/// The affected-CI form on every kind's page (add by id or name, or remove).
pub fn pages() -> axum::Router<AppState> {
    kernel::process::kinds()
        .into_iter()
        .fold(axum::Router::new(), |r, k| {
            r.route(
                &format!("{}/{{number}}/cis", base(k)),
                post(
                    move |s: State<AppState>, u: WebUser, n: Path<String>, f: Form<CiForm>| {
                        ci_submit(s, u, n, f, k)
                    },
                ),
            )
        })
}

#[derive(Deserialize)]
struct CiForm {
    csrf: String,
    /// A CI's id or exact name, to add.
    #[serde(default)]
    ci: String,
    /// A CI's id, to remove.
    #[serde(default)]
    remove: String,
}

async fn ci_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<CiForm>,
    k: Kind,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::UpdateWorkItems)?;
        p.require(Action::ReadConfiguration)?;
        kernel::api::require_read(&p, k)?;
        let row = kernel::get(&st.db, k, &number, Scope::of(&p)).await?;
        if f.remove.trim().is_empty() {
            let id = resolve(&st.db, &f.ci).await?;
            set(&st.db, &row, &p.actor(), id, true).await?;
            Ok("Configuration item added.")
        } else {
            let id = f
                .remove
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("remove", "is not a CI id"))?;
            set(&st.db, &row, &p.actor(), id, false).await?;
            Ok("Configuration item removed.")
        }
    }
    .await;
    match result {
        Ok(msg) => redirect_with_flash(&format!("{}/{number}#affected", base(k)), msg),
        Err(e) => detail_with_error(&st, &p, &number, e, k).await,
    }
}

/// `affected_ci_routes!(kind: K, tag: "incidents", cis: "…/{number}/cis", ci: "…/{number}/cis/{ci_id}")`:
/// a kind's affected CIs in the API, declared by the kind's own module next to its other routes
/// (OpenAPI paths are literals, hence a macro).
#[macro_export]
macro_rules! affected_ci_routes {
    (kind: $kind:expr, tag: $tag:literal, cis: $cis:literal, ci: $ci:literal $(,)?) => {
        pub mod ci_routes {
            use $crate::operation::portfolio::affected::{self, AddCi, Affected};
            use $crate::platform::auth::Principal;
            use $crate::platform::error::AppResult;
            use $crate::platform::extract::ApiJson;
            use $crate::platform::web::AppState;
            use axum::Json;
            use axum::extract::{Path, State};
            use axum::http::StatusCode;
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;

            pub fn router() -> OpenApiRouter<AppState> {
                use $crate::platform::gate::gate;
                use keel_core::access::Action;
                OpenApiRouter::new()
                    .routes(gate(Action::UpdateWorkItems, routes!(affected_cis, add_ci)))
                    .routes(gate(Action::UpdateWorkItems, routes!(remove_ci)))
            }

            /// Affected configuration items, with the services and customers they reach.
            #[utoipa::path(get, path = $cis, tag = $tag, operation_id = concat!("cis_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = Affected)), security(("bearer" = [])))]
            pub async fn affected_cis(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Json<Affected>> {
                Ok(Json(affected::api_list(&st, &p, $kind, &number).await?))
            }

            /// Record an affected configuration item.
            #[utoipa::path(post, path = $cis, tag = $tag, operation_id = concat!("add_ci_", $tag), params(("number" = String, Path)), request_body = AddCi,
                responses((status = 201, body = Affected)), security(("bearer" = [])))]
            pub async fn add_ci(State(st): State<AppState>, p: Principal, Path(number): Path<String>, ApiJson(b): ApiJson<AddCi>) -> AppResult<(StatusCode, Json<Affected>)> {
                Ok((StatusCode::CREATED, Json(affected::api_add(&st, &p, $kind, &number, b).await?)))
            }

            /// Remove an affected configuration item.
            #[utoipa::path(delete, path = $ci, tag = $tag, operation_id = concat!("remove_ci_", $tag), params(("number" = String, Path), ("ci_id" = i64, Path)),
                responses((status = 204)), security(("bearer" = [])))]
            pub async fn remove_ci(State(st): State<AppState>, p: Principal, Path((number, ci)): Path<(String, i64)>) -> AppResult<StatusCode> {
                affected::api_remove(&st, &p, $kind, &number, ci).await?;
                Ok(StatusCode::NO_CONTENT)
            }
        }
    };
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "affected CIs",
    pages,
    templates: &[(
        "affected_panel.html",
        include_str!("../../../templates/affected_panel.html"),
    )],
    ..crate::platform::part::Part::EMPTY
};
