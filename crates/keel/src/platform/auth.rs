//! Authentication: argon2id passwords, opaque session cookies with a CSRF token, hashed bearer
//! tokens, login throttling, and the [`Principal`] extractor every handler starts from.
//! Authorization is `keel_core::access::allows`, asked through [`Principal::require`].

use crate::platform::audit::{Actor, Channel};
use crate::platform::db::{Db, DbResult, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::web::AppState;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use keel_core::access::{Action, Role, allows};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "keel_session";
/// Sessions last 12 hours (a working day plus margin).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;
/// Failed sign-ins to one account from one client address allowed in [`THROTTLE_WINDOW_MS`]
/// before that client is refused for that account (others still sign in to it).
pub const THROTTLE_MAX_FAILURES: i64 = 5;
/// Failed sign-ins from one client address, whatever the accounts, before it is refused
/// altogether (password spraying).
pub const THROTTLE_MAX_CLIENT_FAILURES: i64 = 20;
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Random 256-bit secret, hex-encoded.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    // The OS RNG failing is unrecoverable for a server handing out credentials.
    getrandom::fill(&mut b).expect("operating system random number generator");
    hex::encode(b)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn hash_password(password: &str) -> AppResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AppError::Internal(anyhow::anyhow!("rng: {e}")))?;
    PasswordHasher::<PasswordHash>::hash_password_with_salt(
        &Argon2::default(),
        password.as_bytes(),
        &salt,
    )
    .map(|h| h.to_string())
    .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A password policy every channel applies.
pub fn check_password(field: &str, password: &str) -> AppResult<()> {
    if password.chars().count() < 10 {
        return Err(AppError::invalid(field, "must be at least 10 characters"));
    }
    if password.len() > 1024 {
        return Err(AppError::invalid(field, "must be at most 1024 bytes"));
    }
    Ok(())
}

/// The authenticated person behind a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub customer_id: Option<i64>,
    pub channel: Channel,
    /// The session's CSRF token (cookie sessions only).
    pub csrf: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    customer_id: Option<i64>,
    csrf: Option<String>,
}

impl PrincipalRow {
    fn into_principal(self, channel: Channel) -> Option<Principal> {
        Some(Principal {
            user_id: self.id,
            email: self.email,
            name: self.name,
            role: self.role.parse().ok()?,
            customer_id: self.customer_id,
            channel,
            csrf: self.csrf,
        })
    }
}

impl Principal {
    /// Refuse unless the role allows the action.
    pub fn require(&self, action: Action) -> AppResult<()> {
        if allows(self.role, action) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the {} role may not do this",
                self.role
            )))
        }
    }

    pub fn can(&self, action: Action) -> bool {
        allows(self.role, action)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: self.email.clone(),
            channel: self.channel,
        }
    }

    /// Look up a bearer token, through a short-lived cache (see [`TOKEN_CACHE_TTL`]).
    pub async fn from_token(db: &Db, token: &str) -> DbResult<Option<Principal>> {
        let hash = sha256_hex(token);
        if let Some(p) = token_cache::get(&hash) {
            return Ok(Some(p));
        }
        let row: Option<PrincipalRow> = db
            .opt(
                Q::new(
                    "SELECT u.id, u.email, u.name, u.role, u.customer_id, NULL AS csrf FROM api_tokens t \
                     JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0",
                )
                .bind(hash.as_str()),
            )
            .await?;
        let p = row.and_then(|r| r.into_principal(Channel::Api));
        if let Some(p) = &p {
            token_cache::put(hash, p.clone());
        }
        Ok(p)
    }

    /// Look up a session cookie's value.
    pub async fn from_session(db: &Db, token: &str) -> DbResult<Option<Principal>> {
        let row: Option<PrincipalRow> = db
            .opt(
                Q::new(
                    "SELECT u.id, u.email, u.name, u.role, u.customer_id, s.csrf FROM sessions s \
                     JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
                )
                .bind(sha256_hex(token))
                .bind(now_ms()),
            )
            .await?;
        Ok(row.and_then(|r| r.into_principal(Channel::Web)))
    }
}

/// The value of a cookie in the request.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_in(&parts.headers, name)
}

/// The value of a cookie in a header map (the one cookie parser).
pub fn cookie_in<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Resolve the principal from a bearer token or a session cookie, without failing.
pub async fn authenticate(parts: &Parts, state: &AppState) -> AppResult<Option<Principal>> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::Unauthenticated)?;
        return Ok(Some(
            Principal::from_token(&state.db, token.trim())
                .await?
                .ok_or(AppError::Unauthenticated)?,
        ));
    }
    match cookie(parts, SESSION_COOKIE) {
        Some(c) => Ok(Principal::from_session(&state.db, c).await?),
        None => Ok(None),
    }
}

/// API extractor: a bearer token, or a session cookie plus an `X-CSRF-Token` header on unsafe
/// methods (so another site cannot make a logged-in browser change data).
impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The API's gate (`platform::gate`) may have resolved the caller already.
        match parts.extensions.get::<Resolved>() {
            Some(Resolved::Caller(p)) => return Ok(p.clone()),
            Some(Resolved::Refused(r)) => return Err(r.error()),
            None => {}
        }
        let p = authenticate(parts, state)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if p.channel == Channel::Web && !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if sent.is_none() || sent != p.csrf.as_deref() {
                return Err(AppError::Forbidden(
                    "missing or wrong X-CSRF-Token header".into(),
                ));
            }
        }
        Ok(p)
    }
}

/// Whether `client` is refused for `email` now, and for how many seconds more: after
/// [`THROTTLE_MAX_FAILURES`] failures on that account from that client, or
/// [`THROTTLE_MAX_CLIENT_FAILURES`] from that client on any accounts, within the window. The
/// wait runs until the oldest counted failure leaves the window.
pub async fn throttled(db: &Db, email: &str, client: &str) -> DbResult<Option<u64>> {
    let since = now_ms() - THROTTLE_WINDOW_MS;
    let mut wait = None;
    for (q, max) in [
        (
            Q::new("SELECT COUNT(*), MIN(at) FROM login_failures WHERE email = $1 AND client = $2 AND at > $3")
                .bind(email)
                .bind(client)
                .bind(since),
            THROTTLE_MAX_FAILURES,
        ),
        (
            Q::new("SELECT COUNT(*), MIN(at) FROM login_failures WHERE client = $1 AND at > $2")
                .bind(client)
                .bind(since),
            THROTTLE_MAX_CLIENT_FAILURES,
        ),
    ] {
        let (n, oldest): (i64, Option<i64>) = db.one(q).await?;
        if n >= max {
            let until = oldest.unwrap_or_else(now_ms) + THROTTLE_WINDOW_MS;
            let secs = u64::try_from((until - now_ms()).max(1000) / 1000).unwrap_or(1);
            wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
        }
    }
    Ok(wait)
}

pub async fn record_failure(db: &Db, email: &str, client: &str) -> DbResult<()> {
    db.exec(
        Q::new("INSERT INTO login_failures (email, client, at) VALUES ($1, $2, $3)")
            .bind(email)
            .bind(client)
            .bind(now_ms()),
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: i64,
    password_hash: Option<String>,
}

/// Check credentials from `client` (its address; see [`throttled`]); on success create a
/// session and return (cookie value, csrf token).
pub async fn login(
    db: &Db,
    email: &str,
    password: &str,
    client: &str,
) -> AppResult<(String, String)> {
    let email = email.trim().to_lowercase();
    if let Some(retry_after_secs) = throttled(db, &email, client).await? {
        return Err(AppError::TooMany { retry_after_secs });
    }
    let row: Option<LoginRow> = db
        .opt(
            Q::new("SELECT id, password_hash FROM users WHERE email = $1 AND disabled = 0")
                .bind(&email),
        )
        .await?;
    let ok = match &row {
        Some(LoginRow {
            password_hash: Some(h),
            ..
        }) => verify_password(password, h),
        _ => {
            // Spend the same time as a real check so timing does not reveal which accounts exist.
            let _ = verify_password(password, DUMMY_HASH);
            false
        }
    };
    let Some(row) = row.filter(|_| ok) else {
        record_failure(db, &email, client).await?;
        return Err(AppError::Unauthenticated);
    };
    start_session(db, row.id, &email, Some(&email), "login").await
}

/// Open a session for a user who proved who they are (password, single sign-on), audited as
/// `action`; returns the session token and its CSRF token.
pub async fn start_session(
    db: &Db,
    user_id: i64,
    label: &str,
    clear_failures_of: Option<&str>,
    action: &'static str,
) -> AppResult<(String, String)> {
    let token = random_secret();
    let csrf = random_secret();
    let now = now_ms();
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(sha256_hex(&token))
            .bind(user_id)
            .bind(&csrf)
            .bind(now)
            .bind(now + SESSION_TTL_MS),
    )
    .await?;
    if let Some(email) = clear_failures_of {
        tx.exec(Q::new("DELETE FROM login_failures WHERE email = $1").bind(email))
            .await?;
    }
    let actor = Actor {
        user_id: Some(user_id),
        label: label.to_string(),
        channel: Channel::Web,
    };
    crate::platform::audit::append(
        &mut tx,
        &actor,
        action,
        "user",
        &user_id.to_string(),
        vec![],
    )
    .await?;
    tx.commit().await?;
    Ok((token, csrf))
}

pub async fn logout(db: &Db, token: &str, p: &Principal) -> AppResult<()> {
    let mut tx = db.begin().await?;
    tx.exec(Q::new("DELETE FROM sessions WHERE token_hash = $1").bind(sha256_hex(token)))
        .await?;
    crate::platform::audit::append(
        &mut tx,
        &p.actor(),
        "logout",
        "user",
        &p.user_id.to_string(),
        vec![],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An argon2id hash of a random string, for constant-time refusals.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3i4y4jgZ5sE8mRr3yqV9bSg2XcXwTz9k0e4E+7Jm2xU";

/// How long a verified bearer token is trusted without asking the database again. Revoking a
/// token or disabling a user clears this node's cache at once; other nodes notice within this
/// time. It halves the queries behind every API call.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

mod token_cache {
    use super::{Principal, TOKEN_CACHE_TTL};
    use std::collections::HashMap;
    use std::sync::{LazyLock, RwLock};
    use std::time::Instant;

    static CACHE: LazyLock<RwLock<HashMap<String, (Principal, Instant)>>> =
        LazyLock::new(Default::default);
    const MAX_ENTRIES: usize = 10_000;

    pub fn get(hash: &str) -> Option<Principal> {
        let c = CACHE.read().ok()?;
        c.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    pub fn put(hash: String, p: Principal) {
        if let Ok(mut c) = CACHE.write() {
            if c.len() >= MAX_ENTRIES {
                c.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
            }
            c.insert(hash, (p, Instant::now()));
        }
    }

    pub fn clear() {
        if let Ok(mut c) = CACHE.write() {
            c.clear();
        }
    }
}

/// Forget every cached token (after a revocation or a user was disabled).
pub fn forget_cached_tokens() {
    token_cache::clear();
}

/// The client's address as the server saw it (the peer of the connection), for throttling
/// sign-ins; `unknown` when the server was not asked to record it (tests calling the router).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
        ))
    }
}

/// Whether a state-changing request without a session comes from Keel's own pages: a browser
/// says where a form was posted from (`Origin`, else `Referer`, and `Sec-Fetch-Site`), so a
/// sign-in form on another site cannot sign a visitor in to an account of the attacker's
/// (login CSRF). Clients that send neither are not browsers and are let through.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site").is_some_and(|s| s == "cross-site") {
        return false;
    }
    let Some(host) = get("host") else {
        return get("origin").is_none() && get("referer").is_none();
    };
    let authority = |url: &str| {
        url.split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_string())
    };
    match (get("origin"), get("referer")) {
        (Some(o), _) => authority(o).as_deref() == Some(host),
        (None, Some(r)) => authority(r).as_deref() == Some(host),
        (None, None) => true,
    }
}

/// Who the caller of an API request is, resolved once before the handler (`platform::gate`).
#[derive(Debug, Clone)]
pub enum Resolved {
    Caller(Principal),
    Refused(Refusal),
}

/// Why a caller was not resolved, kept so the handler's extractor answers the same.
#[derive(Debug, Clone)]
pub enum Refusal {
    Unauthenticated,
    Forbidden(String),
}

impl Refusal {
    pub fn error(&self) -> AppError {
        match self {
            Refusal::Unauthenticated => AppError::Unauthenticated,
            Refusal::Forbidden(m) => AppError::Forbidden(m.clone()),
        }
    }
}
