//! The one error type of the application layer and its mapping to HTTP: RFC 9457
//! `application/problem+json` for the API (HTML pages map it themselves in `platform::ui`).
//! Internal errors are logged with detail and shown to clients without it.

use crate::platform::db::DbError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_core::kernel::lifecycle::TransitionError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A field's value is invalid; `field` is its JSON name (or the query parameter's).
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// The request is malformed as a whole (not JSON, wrong content type …).
    #[error("{0}")]
    BadRequest(String),
    /// An expression parameter (e.g. `filter`) does not parse; `position` is 1-based.
    #[error("{field}: at position {position}: {detail}")]
    BadQuery {
        field: String,
        position: usize,
        detail: String,
    },
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the record's state (illegal transition, duplicate …).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` named a version that is no longer current.
    #[error("the record changed since you read it (current version {current})")]
    Stale { current: i64 },
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooMany { retry_after_secs: u64 },
    #[error("payload larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// `If-Match` named a tag that is not the record's now.
    #[error("the record changed since you read it (its ETag is now {current})")]
    Changed { current: String },
    /// The route exists but not with this method; the methods it has.
    #[error("this route does not take {method}; it takes {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(field: &str, detail: impl ToString) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            detail: detail.to_string(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) | AppError::BadQuery { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Stale { .. } | AppError::Changed { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, documented problem type slug (`/problems/{slug}` in `docs/API-DESIGN.md`).
    pub fn slug(&self) -> &'static str {
        match self {
            AppError::Invalid { .. } => "invalid-field",
            AppError::BadRequest(_) => "bad-request",
            AppError::BadQuery { .. } => "bad-query",
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not-found",
            AppError::Conflict(_) => "conflict",
            AppError::Stale { .. } | AppError::Changed { .. } => "stale-version",
            AppError::TooMany { .. } => "too-many-requests",
            AppError::TooLarge { .. } => "payload-too-large",
            AppError::MethodNotAllowed { .. } => "method-not-allowed",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            r#type: format!("https://keel.dev/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            field: match self {
                AppError::Invalid { field, .. } | AppError::BadQuery { field, .. } => {
                    Some(field.clone())
                }
                _ => None,
            },
            position: match self {
                AppError::BadQuery { position, .. } => Some(*position),
                _ => None,
            },
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AppError::NotFound("record".into()),
            DbError::Unique(c) => {
                AppError::Conflict(format!("a record with the same unique value exists ({c})"))
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<TransitionError> for AppError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::UnknownState(_) => AppError::invalid("state", e),
            TransitionError::Missing { field, .. } => AppError::invalid(field, e),
            TransitionError::Illegal { .. } => AppError::Conflict(e.to_string()),
        }
    }
}

/// RFC 9457 problem details, with `field` as an extension member naming the offending input.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `bad-query`: the 1-based character position in that parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let AppError::TooMany { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keel\""),
            );
        }
        resp
    }
}
