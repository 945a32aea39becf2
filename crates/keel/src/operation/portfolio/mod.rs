//! Clause 8.2 — service portfolio. So far the list of services that work items refer to; the
//! catalogue, assets and the CMDB join here.

use crate::directory::{Named, create_named, list_named};
use crate::platform::auth::Principal;
use crate::platform::error::AppResult;
use crate::platform::extract::ApiJson;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_core::access::Action;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// List services.
#[utoipa::path(get, path = "/api/v1/services", tag = "portfolio", responses((status = 200, body = Vec<Named>)), security(("bearer" = [])))]
pub async fn list_services(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Named>>> {
    p.require(Action::ReadDirectory)?;
    Ok(Json(list_named(&st.db, "services").await?))
}

/// Create a service.
#[utoipa::path(post, path = "/api/v1/services", tag = "portfolio", request_body = NewService, responses((status = 201, body = Named)), security(("bearer" = [])))]
pub async fn create_service(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewService>,
) -> AppResult<(StatusCode, Json<Named>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(
            create_named(
                &st.db,
                &p.actor(),
                "services",
                "service",
                &b.name,
                Some(&b.description),
            )
            .await?,
        ),
    ))
}
