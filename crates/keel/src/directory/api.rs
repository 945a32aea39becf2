//! The directory over HTTP: `/api/v1/me`, users, groups, customers and tokens.

use super::{Group, Named, Token, User};
use crate::platform::auth::Principal;
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery, Format, list_response};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use keel_core::access::Action;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub customer_id: Option<i64>,
}

/// Who am I?
#[utoipa::path(get, path = "/api/v1/me", tag = "directory", responses((status = 200, body = Me), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn me(p: Principal) -> Json<Me> {
    Json(Me {
        id: p.user_id,
        email: p.email,
        name: p.name,
        role: p.role.to_string(),
        customer_id: p.customer_id,
    })
}

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "directory", params(Format), responses((status = 200, body = Vec<User>, description = "JSON, or CSV with `format=csv`")), security(("bearer" = [])))]
pub async fn list_users(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(f): ApiQuery<Format>,
) -> AppResult<Response> {
    p.require(Action::ReadDirectory)?;
    list_response("users", &f, super::list_users(&st.db).await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub email: String,
    pub name: String,
    /// requester, agent, manager, sms-manager, auditor or admin.
    pub role: String,
    pub customer_id: Option<i64>,
    /// At least 10 characters; omit for a user who logs in only by token or not at all (a contact).
    pub password: Option<String>,
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "directory", request_body = NewUserBody, responses((status = 201, body = User), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_user(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewUserBody>,
) -> AppResult<(StatusCode, Json<User>)> {
    p.require(Action::ManageUsers)?;
    let u = super::NewUser::parse(&b.email, &b.name, &b.role, b.customer_id, b.password)?;
    Ok((
        StatusCode::CREATED,
        Json(super::create_user(&st.db, &p.actor(), u).await?),
    ))
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "directory", params(("id" = i64, Path)), responses((status = 200, body = User)), security(("bearer" = [])))]
pub async fn get_user(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<User>> {
    if id != p.user_id {
        p.require(Action::ReadDirectory)?;
    }
    Ok(Json(super::get_user(&st.db, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub disabled: Option<bool>,
    /// The user's manager (who approves their requests); `null` clears it.
    #[serde(default, deserialize_with = "crate::platform::extract::double_option")]
    #[schema(value_type = Option<i64>)]
    pub manager_id: Option<Option<i64>>,
    /// The language of the user's mail (`en`, `de`); `null` returns to the installation's.
    #[serde(default, deserialize_with = "crate::platform::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
}

/// Disable or re-enable a user (disabling ends their sessions and revokes their tokens).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "directory", params(("id" = i64, Path)), request_body = UserPatch, responses((status = 200, body = User)), security(("bearer" = [])))]
pub async fn update_user(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<UserPatch>,
) -> AppResult<Json<User>> {
    p.require(Action::ManageUsers)?;
    if let Some(m) = b.manager_id {
        if m == Some(id) {
            return Err(AppError::invalid(
                "manager_id",
                "a user cannot manage themselves",
            ));
        }
        super::set_manager(&st.db, &p.actor(), id, m).await?;
    }
    if let Some(l) = &b.language {
        super::set_language(&st.db, &p.actor(), id, l.as_deref()).await?;
    }
    let Some(d) = b.disabled else {
        return Ok(Json(super::get_user(&st.db, id).await?));
    };
    if d && id == p.user_id {
        return Err(AppError::invalid("disabled", "you cannot disable yourself"));
    }
    Ok(Json(super::set_disabled(&st.db, &p.actor(), id, d).await?))
}

/// List support groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "directory", params(Format), responses((status = 200, body = Vec<Group>, description = "JSON, or CSV with `format=csv`")), security(("bearer" = [])))]
pub async fn list_groups(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(f): ApiQuery<Format>,
) -> AppResult<Response> {
    p.require(Action::ReadDirectory)?;
    list_response("groups", &f, super::list_groups(&st.db).await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub manager_id: Option<i64>,
}

/// Create a support group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "directory", request_body = NewGroup, responses((status = 201, body = Group)), security(("bearer" = [])))]
pub async fn create_group(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewGroup>,
) -> AppResult<(StatusCode, Json<Group>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(super::create_group(&st.db, &p.actor(), &b.name, &b.description, b.manager_id).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub user_id: i64,
}

/// Add a member to a support group.
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "directory", params(("id" = i64, Path)), request_body = MemberBody, responses((status = 201, body = Vec<Named>)), security(("bearer" = [])))]
pub async fn add_member(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<MemberBody>,
) -> AppResult<(StatusCode, Json<Vec<Named>>)> {
    p.require(Action::ManageReference)?;
    super::add_member(&st.db, &p.actor(), id, b.user_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(super::group_members(&st.db, id).await?),
    ))
}

/// List customers (the organisations served).
#[utoipa::path(get, path = "/api/v1/customers", tag = "directory", params(Format), responses((status = 200, body = Vec<Named>, description = "JSON, or CSV with `format=csv`")), security(("bearer" = [])))]
pub async fn list_customers(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(f): ApiQuery<Format>,
) -> AppResult<Response> {
    p.require(Action::ReadDirectory)?;
    list_response(
        "customers",
        &f,
        super::list_named(&st.db, "customers").await?,
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
}

/// Create a customer.
#[utoipa::path(post, path = "/api/v1/customers", tag = "directory", request_body = NewCustomer, responses((status = 201, body = Named)), security(("bearer" = [])))]
pub async fn create_customer(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewCustomer>,
) -> AppResult<(StatusCode, Json<Named>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(
            super::create_named(&st.db, &p.actor(), "customers", "customer", &b.name, None).await?,
        ),
    ))
}

/// My tokens (administrators: everyone's).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "directory", responses((status = 200, body = Vec<Token>)), security(("bearer" = [])))]
pub async fn list_tokens(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Token>>> {
    p.require(Action::OwnTokens)?;
    let owner = if p.can(Action::ManageUsers) {
        None
    } else {
        Some(p.user_id)
    };
    Ok(Json(super::list_tokens(&st.db, owner).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    #[serde(flatten)]
    pub token: Token,
    /// Shown once; only its hash is kept.
    pub secret: String,
}

/// Issue a bearer token for myself. The auditor role cannot (it changes nothing). The secret is
/// shown once: a retry with the same `Idempotency-Key` answers with the token and no secret.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "directory", request_body = NewToken, responses((status = 201, body = IssuedToken)), security(("bearer" = [])))]
pub async fn create_token(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewToken>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    p.require(Action::OwnTokens)?;
    let (token, secret) = super::create_token(&st.db, &p.actor(), p.user_id, &b.name).await?;
    let mut r = (StatusCode::CREATED, Json(IssuedToken { token, secret })).into_response();
    r.extensions_mut()
        .insert(crate::platform::idempotency::Unkept(&["secret"]));
    Ok(r)
}

/// Revoke a token (my own; administrators any).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "directory", params(("id" = i64, Path)), responses((status = 204)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    p.require(Action::OwnTokens)?;
    let owner = if p.can(Action::ManageUsers) {
        None
    } else {
        Some(p.user_id)
    };
    super::revoke_token(&st.db, &p.actor(), id, owner).await?;
    Ok(StatusCode::NO_CONTENT)
}
