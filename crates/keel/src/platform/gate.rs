//! The role gate: a role that may not call a route is refused with 403 before its body is read,
//! whatever it sends (API-DESIGN.md), so a malformed body never tells a caller without the right
//! how the route's input is shaped.
//!
//! [`resolve`] runs on every API route and resolves the caller once (the `Principal` extractor
//! reuses it); [`gate`] wraps a route's handlers with the action its writes need, declared next to
//! the route (`.routes(routes!(…))`). Reads pass the gate: they
//! have no body, and their handlers check their own rights. A handler still checks what depends
//! on the record (its scope, its owner); the gate only refuses who may never call the route.

use crate::platform::auth::{Principal, Refusal, Resolved};
use crate::platform::error::AppError;
use crate::platform::web::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_core::access::Action;
use utoipa_axum::router::UtoipaMethodRouter;

/// Resolve the caller of an API request once, before any handler and its extractors.
pub async fn resolve(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let resolved = match Principal::from_request_parts(&mut parts, &st).await {
        Ok(p) => Resolved::Caller(p),
        Err(AppError::Forbidden(m)) => Resolved::Refused(Refusal::Forbidden(m)),
        Err(AppError::Unauthenticated) => Resolved::Refused(Refusal::Unauthenticated),
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(resolved);
    next.run(Request::from_parts(parts, body)).await
}

/// Declare that the writes (`POST`, `PUT`, `PATCH`, `DELETE`) of these routes need `action`.
pub fn gate<S: Clone + Send + Sync + 'static>(
    action: Action,
    routes: UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    gate_any(&[action], routes)
}

/// Like [`gate`], for routes whose right depends on what is asked (a document's author submits
/// a version, the SMS manager approves it): the gate lets through anyone holding one of
/// `actions`, and the handler checks the one the request needs.
pub fn gate_any<S: Clone + Send + Sync + 'static>(
    actions: &[Action],
    routes: UtoipaMethodRouter<S>,
) -> UtoipaMethodRouter<S> {
    let (schemas, paths, handlers) = routes;
    let actions = actions.to_vec();
    let handlers = handlers.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let actions = actions.clone();
            async move {
                if req.method().is_safe() {
                    return next.run(req).await;
                }
                match req.extensions().get::<Resolved>() {
                    Some(Resolved::Caller(p)) if actions.iter().any(|a| p.can(*a)) => {
                        next.run(req).await
                    }
                    Some(Resolved::Caller(p)) => {
                        AppError::Forbidden(format!("the {} role may not do this", p.role.as_str()))
                            .into_response()
                    }
                    Some(Resolved::Refused(r)) => r.error().into_response(),
                    None => next.run(req).await,
                }
            }
        },
    ));
    (schemas, paths, handlers)
}
