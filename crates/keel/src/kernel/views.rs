//! Saved views: a named list query of one kind (filters, filter expression, sort), personal or
//! shared. The query is checked by parsing it exactly as the list would, and stored normalized.

use super::api::{ListParams, require_read};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::ui::{WebUser, check_csrf, page_error, redirect_with_flash};
use crate::platform::web::{AppState, as_bool};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Router};
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::kernel::Kind;
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct View {
    pub id: i64,
    pub owner_id: i64,
    pub kind: String,
    pub name: String,
    /// The list's query string, e.g. `open=true&filter=priority%20%3C%3D%202`.
    pub query: String,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub shared: i64,
    #[serde(skip)]
    pub created_at: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    /// `incident`, `problem` or `known_error`.
    pub kind: String,
    pub name: String,
    /// A list query string (without `cursor`).
    pub query: String,
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ViewParams {
    /// Only views of this kind.
    pub kind: Option<String>,
}

fn kind_of(s: &str) -> AppResult<Kind> {
    crate::kernel::process::kind(s)
        .ok_or_else(|| AppError::invalid("kind", format!("unknown work-item kind `{s}`")))
}

/// Views `p` may use: their own and shared ones, of kinds they may read.
pub async fn visible(db: &Db, p: &Principal, kind: Option<Kind>) -> AppResult<Vec<View>> {
    let mut q = Q::new("");
    let me = q.arg(p.user_id);
    let mut sql = format!(
        "SELECT id, owner_id, kind, name, query, shared, created_at FROM saved_views WHERE (owner_id = {me} OR shared = 1)"
    );
    if let Some(k) = kind {
        sql.push_str(&format!(" AND kind = {}", q.arg(k.as_str())));
    }
    sql.push_str(" ORDER BY name, id");
    q.sql = sql;
    let views: Vec<View> = db.all(q).await?;
    Ok(views
        .into_iter()
        .filter(|v| {
            crate::kernel::process::kind(&v.kind).is_some_and(|k| require_read(p, k).is_ok())
        })
        .collect())
}

pub async fn create(db: &Db, p: &Principal, v: NewView) -> AppResult<View> {
    p.require(Action::OwnViews)?;
    let kind = kind_of(&v.kind)?;
    require_read(p, kind)?;
    let name = Line::parse(&v.name, 100).map_err(|e| AppError::invalid("name", e))?;
    let params: ListParams = serde_urlencoded::from_str(v.query.trim_start_matches('?'))
        .map_err(|e| AppError::invalid("query", e))?;
    // Check it as the list would (a bad filter is refused now, not when the view is opened).
    params.filter(kind, p).map_err(|e| match e {
        AppError::BadQuery {
            position, detail, ..
        } => AppError::invalid("query", format!("filter at position {position}: {detail}")),
        other => other,
    })?;
    params.sort()?;
    let query = params.to_query();
    if v.shared && !p.can(Action::ManageReference) {
        return Err(AppError::Forbidden(
            "only managers share views with everyone".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO saved_views (owner_id, kind, name, query, shared, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(p.user_id)
                .bind(kind.as_str())
                .bind(name.as_str())
                .bind(query.as_str())
                .bind(i64::from(v.shared))
                .bind(now_ms()),
        )
        .await
        .map_err(|e| match e {
            crate::platform::db::DbError::Unique(_) => AppError::Conflict(format!("you have a view named `{}` already", name.as_str())),
            other => other.into(),
        })?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "saved_view",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("kind", json!(kind.as_str())),
                ("query", json!(query)),
                ("shared", json!(v.shared)),
            ],
        ),
    )
    .await?;
    let view: View = tx
        .one(Q::new("SELECT id, owner_id, kind, name, query, shared, created_at FROM saved_views WHERE id = $1").bind(id))
        .await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn delete(db: &Db, p: &Principal, id: i64) -> AppResult<()> {
    p.require(Action::OwnViews)?;
    let mut tx = db.begin().await?;
    let v: Option<View> = tx
        .opt(Q::new("SELECT id, owner_id, kind, name, query, shared, created_at FROM saved_views WHERE id = $1").bind(id))
        .await?;
    let v = v.ok_or_else(|| AppError::NotFound(format!("view {id}")))?;
    if v.owner_id != p.user_id && !p.can(Action::ManageUsers) {
        // Another person's private view does not exist for the caller (no existence oracle);
        // a shared one they can see, and are told it is not theirs to delete.
        if v.shared == 0 {
            return Err(AppError::NotFound(format!("view {id}")));
        }
        return Err(AppError::Forbidden("only the owner deletes a view".into()));
    }
    tx.exec(Q::new("DELETE FROM saved_views WHERE id = $1").bind(id))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "delete",
        "saved_view",
        &id.to_string(),
        diff(&[("name", json!(v.name)), ("query", json!(v.query))], &[]),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// My views and shared ones.
#[utoipa::path(get, path = "/api/v1/views", tag = "views", params(ViewParams), responses((status = 200, body = Vec<View>)), security(("bearer" = [])))]
pub async fn list_views(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ViewParams>,
) -> AppResult<Json<Vec<View>>> {
    p.require(Action::ReadWorkItems)?;
    let kind = q.kind.as_deref().map(kind_of).transpose()?;
    Ok(Json(visible(&st.db, &p, kind).await?))
}

/// Save a view (its query is checked as the list would check it).
#[utoipa::path(post, path = "/api/v1/views", tag = "views", request_body = NewView,
    responses((status = 201, body = View), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_view(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewView>,
) -> AppResult<(StatusCode, Json<View>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// Delete one of my views.
#[utoipa::path(delete, path = "/api/v1/views/{id}", tag = "views", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_view(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    delete(&st.db, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Save this view" on a list page.
pub fn pages() -> Router<AppState> {
    Router::new().route("/views", axum::routing::post(save_view))
}

#[derive(Deserialize)]
struct ViewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
    shared: Option<String>,
    #[serde(default)]
    back: String,
}

/// "Save this view" on a list page.
async fn save_view(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Form(f): Form<ViewForm>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        create(
            &st.db,
            &p,
            NewView {
                kind: f.kind.clone(),
                name: f.name.clone(),
                query: f.query.clone(),
                shared: f.shared.is_some(),
            },
        )
        .await
    }
    .await;
    // Back to the list the view was saved from (a local path only).
    let back = if f.back.starts_with('/') && !f.back.starts_with("//") {
        f.back.as_str()
    } else {
        "/"
    };
    match result {
        Ok(v) => redirect_with_flash(
            &format!("{back}?{}", v.query),
            &format!("Saved view “{}”.", v.name),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => redirect_with_flash(
            &format!("{back}?{}", f.query),
            &format!("View not saved: {e}"),
        ),
        Err(e) => page_error(&st, Some(&p), e),
    }
}
