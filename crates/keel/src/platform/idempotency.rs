//! `Idempotency-Key` on every `POST` of the API: a retried request gets the first answer and
//! makes nothing new (API-DESIGN.md).
//!
//! A key belongs to its caller, method and path: the same key on another route is another
//! request. The request is fingerprinted over its canonical JSON (object keys sorted, no
//! insignificant white space), so the same body with keys in another order is the same request;
//! a body that is not JSON is fingerprinted as its bytes.
//!
//! Exactly once, without the handlers knowing: the key's row is written by the first
//! transaction the request commits ([`crate::platform::db::Tx::commit`] calls [`claim_in`]), so
//! the record made and its key commit together or not at all; the answer is added to the row
//! when the handler returns. A retry then replays the answer (`Idempotent-Replayed: true`); a
//! retry while the first is still running, or whose answer was lost with its node, is told so
//! (409); a key reused with another body is refused (422). A request that failed before it
//! committed anything leaves no row, so its retry simply runs.

use crate::platform::auth::authenticate;
use crate::platform::db::{Db, DbResult, Q, Tx, now_ms};
use crate::platform::error::AppError;
use crate::platform::web::AppState;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest;
use std::sync::{Arc, Mutex};

/// Fields of an answer that are never kept for a replay (a new token's secret: Keel keeps only
/// its hash). A handler puts this in its response's extensions; the replay carries `null`.
#[derive(Debug, Clone, Copy)]
pub struct Unkept(pub &'static [&'static str]);

/// The header and its bound.
pub const HEADER: &str = "idempotency-key";
const MAX_KEY: usize = 255;

/// The key a request in flight holds, written by its first commit.
#[derive(Debug, Clone)]
struct Claim {
    user_id: i64,
    method: String,
    path: String,
    key: String,
    fingerprint: String,
    written: bool,
}

tokio::task_local! {
    static CLAIM: Arc<Mutex<Option<Claim>>>;
}

/// Write the key of the request this task serves, once, in `tx` (called by `Tx::commit`).
pub async fn claim_in(tx: &mut Tx) -> DbResult<()> {
    let pending = CLAIM
        .try_with(|c| {
            c.lock()
                .ok()
                .and_then(|g| g.as_ref().filter(|c| !c.written).cloned())
        })
        .ok()
        .flatten();
    let Some(c) = pending else { return Ok(()) };
    tx.exec(
        Q::new(
            "INSERT INTO idempotency_keys (user_id, method, path, key, fingerprint, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, '', $6)",
        )
        .bind(c.user_id)
        .bind(c.method.as_str())
        .bind(c.path.as_str())
        .bind(c.key.as_str())
        .bind(c.fingerprint.as_str())
        .bind(now_ms()),
    )
    .await?;
    let _ = CLAIM.try_with(|c| {
        if let Ok(mut g) = c.lock()
            && let Some(c) = g.as_mut()
        {
            c.written = true;
        }
    });
    Ok(())
}

/// The fingerprint of a body: SHA-256 of its canonical JSON, or of its bytes.
pub fn fingerprint(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        // serde_json's maps are ordered by key, so serialising sorts every object.
        Ok(v) => hex::encode(sha2::Sha256::digest(v.to_string().as_bytes())),
        Err(_) => hex::encode(sha2::Sha256::digest(body)),
    }
}

type Stored = (
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

async fn stored(db: &Db, c: &Claim) -> DbResult<Option<Stored>> {
    db.opt(
        Q::new(
            "SELECT fingerprint, status, body, location, etag, content_type FROM idempotency_keys \
             WHERE user_id = $1 AND method = $2 AND path = $3 AND key = $4",
        )
        .bind(c.user_id)
        .bind(c.method.as_str())
        .bind(c.path.as_str())
        .bind(c.key.as_str()),
    )
    .await
}

fn replay(c: &Claim, row: Stored) -> Response {
    let (fp, status, body, location, etag, content_type) = row;
    if fp != c.fingerprint {
        return AppError::invalid(
            "Idempotency-Key",
            "was used before on this route with a different request body",
        )
        .into_response();
    }
    if status == 0 {
        return AppError::Conflict(
            "a request with this Idempotency-Key is still running, or its answer was lost; \
             check whether it was done before sending it again under a new key"
                .into(),
        )
        .into_response();
    }
    let status =
        StatusCode::from_u16(u16::try_from(status).unwrap_or(200)).unwrap_or(StatusCode::OK);
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    let ct = content_type.unwrap_or_else(|| "application/json".into());
    for (name, value) in [
        (header::CONTENT_TYPE, Some(ct)),
        (header::LOCATION, location),
        (header::ETAG, etag),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    }
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// The API's middleware: replays a known key, or runs the request holding its claim and keeps
/// the answer. Requests without the header, and other methods, pass untouched.
pub async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY)
    {
        Some(k) => k.to_string(),
        None => {
            return AppError::invalid(HEADER_NAME, "must be 1–255 visible characters")
                .into_response();
        }
    };
    let (parts, body) = req.into_parts();
    // Anonymous or unknown callers are refused by the handler as usual; a key needs an owner.
    let Ok(Some(p)) = authenticate(&parts, &st).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let limit = st.cfg.max_attachment_bytes + 1024 * 1024;
    let bytes: Bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return AppError::TooLarge { limit }.into_response(),
    };
    let claim = Claim {
        user_id: p.user_id,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        key,
        fingerprint: fingerprint(&bytes),
        written: false,
    };
    match stored(&st.db, &claim).await {
        Ok(Some(row)) => return replay(&claim, row),
        Ok(None) => {}
        Err(e) => return AppError::from(e).into_response(),
    }
    let held = Arc::new(Mutex::new(Some(claim)));
    let resp = CLAIM
        .scope(
            held.clone(),
            next.run(Request::from_parts(parts, Body::from(bytes))),
        )
        .await;
    let claim = held.lock().ok().and_then(|mut g| g.take());
    match claim {
        Some(c) if c.written => keep(&st.db, &c, resp).await,
        _ => resp,
    }
}

const HEADER_NAME: &str = "Idempotency-Key";

/// Store the answer with the claimed key, and give it back.
async fn keep(db: &Db, c: &Claim, resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let kept = match parts.extensions.get::<Unkept>() {
        Some(Unkept(fields)) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(mut m)) => {
                for f in *fields {
                    if let Some(v) = m.get_mut(*f) {
                        *v = serde_json::Value::Null;
                    }
                }
                serde_json::Value::Object(m).to_string()
            }
            _ => String::new(),
        },
        None => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let saved = db
        .exec(
            Q::new(
                "UPDATE idempotency_keys SET status = $1, body = $2, location = $3, etag = $4, content_type = $5 \
                 WHERE user_id = $6 AND method = $7 AND path = $8 AND key = $9",
            )
            .bind(i64::from(parts.status.as_u16()))
            .bind(kept)
            .bind(header(header::LOCATION))
            .bind(header(header::ETAG))
            .bind(header(header::CONTENT_TYPE))
            .bind(c.user_id)
            .bind(c.method.as_str())
            .bind(c.path.as_str())
            .bind(c.key.as_str()),
        )
        .await;
    if let Err(e) = saved {
        // The record is made and its key held; a retry is told the answer was lost (409).
        tracing::warn!(error = %e, "could not keep the answer to an idempotent request");
    }
    Response::from_parts(parts, Body::from(bytes))
}
