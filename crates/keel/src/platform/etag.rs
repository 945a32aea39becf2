//! `ETag` on every answer that carries a record, and `If-Match` on every update of one
//! (API-DESIGN.md): a client that read a record changes it only if no one changed it since.
//!
//! A record's tag is `"v<version>"` when it has a version (work items, registers, most records
//! that change), otherwise a digest of its JSON (`"h<…>"`). Handlers that update with the
//! version in their `UPDATE … WHERE version = …` (work items, registers) set the tag themselves
//! and refuse a stale write atomically; for every other `PATCH` and `PUT` this layer reads the
//! record first (a `GET` of the same path, as the same caller) and refuses with 412 when the
//! tag sent is not the record's. Lists (`items`) carry no tag.

use crate::platform::error::AppError;
use crate::platform::web::AppState;
use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest;
use tower::ServiceExt;

/// The API's routes without this layer, for reading a record before its update (given the
/// state per call, so the routes do not hold the state that holds them).
#[derive(Clone)]
pub struct Reader {
    pub routes: Router<AppState>,
    pub state: AppState,
    /// Path templates under which a record has its own `GET` route (`/api/v1/knowledge` for
    /// `/api/v1/knowledge/{number}`), so a create's `201` can name where the record is.
    pub collections: std::sync::Arc<std::collections::HashSet<String>>,
}

impl Reader {
    /// The collections of an OpenAPI document: parents of every `GET …/{param}` path.
    pub fn collections_of(doc: &utoipa::openapi::OpenApi) -> std::collections::HashSet<String> {
        doc.paths
            .paths
            .iter()
            .filter(|(_, item)| item.get.is_some())
            .filter_map(|(path, _)| {
                let (parent, last) = path.rsplit_once('/')?;
                (last.starts_with('{') && last.ends_with('}')).then(|| parent.to_string())
            })
            .collect()
    }
}

/// The tag of a record's JSON: its version, or a digest of it; `None` for lists and non-records.
pub fn tag_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    if o.contains_key("items") {
        return None;
    }
    match o.get("version").and_then(serde_json::Value::as_i64) {
        Some(n) => Some(format!("\"v{n}\"")),
        None => {
            let d = sha2::Sha256::digest(v.to_string().as_bytes());
            Some(format!("\"h{}\"", &hex::encode(d)[..20]))
        }
    }
}

/// Whether an `If-Match` value names `current` (`*` names any existing record).
fn matches(if_match: &str, current: Option<&str>) -> bool {
    if_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" && current.is_some() || Some(t.trim_start_matches("W/")) == current)
}

/// `*`, or a list of quoted entity tags (RFC 9110 §8.8.3), possibly weak.
fn well_formed(if_match: &str) -> bool {
    if_match.trim() == "*"
        || if_match.split(',').map(str::trim).all(|t| {
            let t = t.strip_prefix("W/").unwrap_or(t);
            t.len() >= 2
                && t.starts_with('"')
                && t.ends_with('"')
                && !t[1..t.len() - 1].contains('"')
        })
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// The record at `path` as `headers`' caller reads it, and its tag.
async fn current(reader: &Reader, path: &str, headers: &HeaderMap) -> Option<String> {
    let app = reader.routes.clone().with_state(reader.state.clone());
    let mut get = Request::get(path);
    for name in [header::AUTHORIZATION, header::COOKIE] {
        if let Some(v) = headers.get(&name) {
            get = get.header(name, v);
        }
    }
    let resp = app.oneshot(get.body(Body::empty()).ok()?).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    if let Some(t) = resp.headers().get(header::ETAG) {
        return t.to_str().ok().map(str::to_string);
    }
    let body = to_bytes(resp.into_body(), 16 * 1024 * 1024).await.ok()?;
    tag_of(&body)
}

/// The API's middleware: checks `If-Match` before an update the handler does not check itself,
/// and tags every record answered.
pub async fn layer(State(reader): State<Reader>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let template = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string());
    if matches!(method, Method::PATCH | Method::PUT)
        && let Some(want) = req
            .headers()
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    {
        if !well_formed(&want) {
            return AppError::invalid(
                "If-Match",
                "must be * or ETags as this API sends them, like \"v3\"",
            )
            .into_response();
        }
        let now = current(&reader, req.uri().path(), req.headers()).await;
        if !matches(&want, now.as_deref()) {
            return AppError::Changed {
                current: now.unwrap_or_else(|| "none".into()),
            }
            .into_response();
        }
    }
    let resp = next.run(req).await;
    if !resp.status().is_success()
        || resp.headers().contains_key(header::ETAG)
        || !is_json(resp.headers())
        || method == Method::DELETE
    {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes): Result<Bytes, _> = to_bytes(body, usize::MAX).await else {
        return AppError::Internal(anyhow::anyhow!("answer body unreadable")).into_response();
    };
    if let Some(t) = tag_of(&bytes).and_then(|t| HeaderValue::from_str(&t).ok()) {
        parts.headers.insert(header::ETAG, t);
    }
    // A create names where its record is, when the record has a route of its own.
    if parts.status == axum::http::StatusCode::CREATED
        && !parts.headers.contains_key(header::LOCATION)
        && template.is_some_and(|t| reader.collections.contains(&t))
        && let Some(key) = key_of(&bytes)
        && let Ok(v) = HeaderValue::from_str(&format!("{path}/{key}"))
    {
        parts.headers.insert(header::LOCATION, v);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A created record's key in its URL: its number (`KB-000003`), tag (`AST-000001`) or id.
fn key_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object()?;
    ["number", "tag"]
        .iter()
        .find_map(|k| o.get(*k).and_then(|x| x.as_str()).map(str::to_string))
        .or_else(|| {
            o.get("id")
                .and_then(serde_json::Value::as_i64)
                .map(|i| i.to_string())
        })
}
