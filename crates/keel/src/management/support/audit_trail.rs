//! Clause 7.5.3 — the audit trail over HTTP (its storage and hash chain are `platform::audit`): read the whole trail (auditors, managers) and verify
//! its hash chain.

use crate::platform::audit::{self as audit_trail, AuditRow, Verification};
use crate::platform::auth::Principal;
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::ApiQuery;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use keel_core::access::Action;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Only entries about records of this type (`incident`, `ci`, `service` …).
    pub entity_type: Option<String>,
    /// With `entity_type`: only this record's entries (a number or an id).
    pub entity_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    pub next_cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), responses((status = 200, body = AuditPage)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> AppResult<Json<AuditPage>> {
    p.require(Action::ReadAudit)?;
    if !p.can(Action::ReadDirectory) {
        return Err(AppError::Forbidden(
            "reading the whole trail needs directory access".into(),
        ));
    }
    let limit = keel_core::page::limit(q.limit).map_err(|e| AppError::invalid("limit", e))?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            keel_core::page::Cursor::decode(c)
                .map_err(|e| AppError::invalid("cursor", e))?
                .id,
        ),
    };
    if q.entity_id.is_some() && q.entity_type.is_none() {
        return Err(AppError::invalid("entity_id", "give entity_type too"));
    }
    let entity = q
        .entity_type
        .as_deref()
        .map(|t| (t, q.entity_id.as_deref()));
    let mut items = audit_trail::page(&st.db, before, limit + 1, entity).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|r| {
            keel_core::page::Cursor {
                key: String::new(),
                id: r.seq,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Json(AuditPage { items, next_cursor }))
}

/// Verify the whole hash chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", responses((status = 200, body = Verification)), security(("bearer" = [])))]
pub async fn verify(State(st): State<AppState>, p: Principal) -> AppResult<Json<Verification>> {
    p.require(Action::ReadAudit)?;
    p.require(Action::ReadDirectory)?;
    Ok(Json(match audit_trail::verify(&st.db).await? {
        Ok(n) => Verification {
            ok: true,
            entries: n,
            error: None,
        },
        Err(e) => Verification {
            ok: false,
            entries: 0,
            error: Some(e.to_string()),
        },
    }))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "audit trail",
    api: part_api,
    tags: &[("audit", "The hash-chained audit trail (7.5)")],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(verify))
}
