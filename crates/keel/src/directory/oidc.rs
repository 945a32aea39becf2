//! Single sign-on through OpenID Connect: the authorization code flow with PKCE (RFC 7636).
//!
//! `/auth/oidc/login` sends the browser to the provider with a fresh `state`, `nonce` and PKCE
//! challenge (kept in `oidc_logins`, so any node can finish the sign-in); `/auth/oidc/callback`
//! takes the state once, exchanges the code with the verifier, checks the ID token (signature
//! against the provider's published keys, issuer, audience, expiry, nonce) and opens a session for
//! the Keel user with the token's (verified) e-mail address. Local accounts keep their passwords.

use crate::platform::auth::{random_secret, start_session};
use crate::platform::config::OidcConfig;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::http;
use crate::platform::ui::{NextParam, login_refused, page_error, safe_next, signed_in};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a sign-in may take at the provider.
const PENDING_MS: i64 = 10 * 60 * 1000;
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> AppResult<T> {
    let a = http::get(url, &[("accept", "application/json".into())], TIMEOUT)
        .await
        .map_err(|e| {
            AppError::Conflict(format!("the sign-in provider is unreachable ({url}): {e}"))
        })?;
    if a.status != 200 {
        return Err(AppError::Conflict(format!(
            "the sign-in provider answered {} for {url}",
            a.status
        )));
    }
    serde_json::from_str(&a.body).map_err(|e| {
        AppError::Conflict(format!(
            "the sign-in provider's answer from {url} is not understood: {e}"
        ))
    })
}

pub async fn discover(c: &OidcConfig) -> AppResult<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        c.issuer.trim_end_matches('/')
    );
    let d: Discovery = get_json(&url).await?;
    if d.issuer.trim_end_matches('/') != c.issuer.trim_end_matches('/') {
        return Err(AppError::Conflict(format!(
            "the provider calls itself {}, not the configured issuer {}",
            d.issuer, c.issuer
        )));
    }
    Ok(d)
}

/// Start a sign-in: remember its state and return the provider's URL to send the browser to.
pub async fn begin(db: &Db, c: &OidcConfig, next: &str) -> AppResult<String> {
    let d = discover(c).await?;
    let (state, nonce, verifier) = (random_secret(), random_secret(), random_secret());
    let now = now_ms();
    db.exec(Q::new("DELETE FROM oidc_logins WHERE created_at < $1").bind(now - PENDING_MS))
        .await?;
    db.exec(
        Q::new("INSERT INTO oidc_logins (state, verifier, nonce, next, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(state.as_str())
            .bind(verifier.as_str())
            .bind(nonce.as_str())
            .bind(next)
            .bind(now),
    )
    .await?;
    let q = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", c.client_id.as_str()),
        ("redirect_uri", c.redirect_url.as_str()),
        (
            "scope",
            c.scopes.as_deref().unwrap_or("openid email profile"),
        ),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge(&verifier).as_str()),
        ("code_challenge_method", "S256"),
    ])
    .map_err(|e| AppError::Internal(e.into()))?;
    let sep = if d.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(format!("{}{sep}{q}", d.authorization_endpoint))
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    access_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    nonce: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserInfo {
    sub: String,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
}

/// What a finished sign-in gives: a session, and where to go.
pub struct SignedIn {
    pub token: String,
    pub next: String,
}

/// Finish a sign-in from the provider's redirect.
pub async fn finish(db: &Db, c: &OidcConfig, code: &str, state: &str) -> AppResult<SignedIn> {
    let row: Option<(String, String, String, i64)> = db
        .opt(
            Q::new("SELECT verifier, nonce, next, created_at FROM oidc_logins WHERE state = $1")
                .bind(state),
        )
        .await?;
    // A state is good for one answer only.
    db.exec(Q::new("DELETE FROM oidc_logins WHERE state = $1").bind(state))
        .await?;
    let Some((verifier, nonce, next, at)) = row.filter(|r| r.3 > now_ms() - PENDING_MS) else {
        return Err(AppError::invalid(
            "state",
            "this sign-in is unknown or expired; start again",
        ));
    };
    let _ = at;
    let d = discover(c).await?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", c.redirect_url.clone()),
        ("code_verifier", verifier),
    ];
    let mut headers = vec![
        (
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept", "application/json".to_string()),
    ];
    match &c.client_secret {
        Some(secret) => {
            use base64::Engine as _;
            let enc = |s: &str| {
                serde_urlencoded::to_string([("", s)])
                    .map(|x| x[1..].to_string())
                    .unwrap_or_default()
            };
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&c.client_id),
                enc(secret)
            ));
            headers.push(("authorization", format!("Basic {basic}")));
        }
        None => form.push(("client_id", c.client_id.clone())),
    }
    let body = serde_urlencoded::to_string(&form).map_err(|e| AppError::Internal(e.into()))?;
    let a = http::request(
        hyper::Method::POST,
        &d.token_endpoint,
        &headers,
        body.into_bytes(),
        TIMEOUT,
    )
    .await
    .map_err(|e| AppError::Conflict(format!("the sign-in provider is unreachable: {e}")))?;
    if a.status != 200 {
        return Err(AppError::Conflict(format!(
            "the sign-in provider refused the code ({}): {}",
            a.status,
            a.body.chars().take(300).collect::<String>()
        )));
    }
    let t: TokenAnswer = serde_json::from_str(&a.body)
        .map_err(|e| AppError::Conflict(format!("the token answer is not understood: {e}")))?;
    let id_token = t
        .id_token
        .ok_or_else(|| AppError::Conflict("the provider sent no ID token".into()))?;
    let mut claims = verify(&d, c, &id_token).await?;
    if claims.nonce.as_deref() != Some(nonce.as_str()) {
        return Err(AppError::Conflict(
            "the ID token's nonce does not match this sign-in".into(),
        ));
    }
    // Many providers put profile claims only in the UserInfo answer; it must be about the same
    // subject as the ID token.
    if claims.email.is_none()
        && let (Some(url), Some(at)) = (&d.userinfo_endpoint, &t.access_token)
    {
        let a = http::get(
            url,
            &[
                ("authorization", format!("Bearer {at}")),
                ("accept", "application/json".into()),
            ],
            TIMEOUT,
        )
        .await
        .map_err(|e| AppError::Conflict(format!("the sign-in provider is unreachable: {e}")))?;
        if a.status == 200
            && let Ok(info) = serde_json::from_str::<UserInfo>(&a.body)
            && info.sub == claims.sub
        {
            claims.email = info.email;
            claims.email_verified = info.email_verified.or(claims.email_verified);
            claims.name = info.name.or(claims.name);
        }
    }
    let email = claims
        .email
        .as_deref()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| e.contains('@'))
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "the provider sent no e-mail address for {}",
                claims.sub
            ))
        })?;
    if claims.email_verified == Some(false) {
        return Err(AppError::Conflict(format!(
            "the provider has not verified {email}"
        )));
    }
    let user: Option<(i64,)> = db
        .opt(
            Q::new("SELECT id FROM users WHERE LOWER(email) = $1 AND disabled = 0")
                .bind(email.as_str()),
        )
        .await?;
    let id = match user {
        Some((id,)) => id,
        None if c.create_users => {
            let name = claims.name.clone().unwrap_or_else(|| email.clone());
            let u = super::NewUser::parse(&email, &name, "requester", None, None)?;
            let mut tx = db.begin().await?;
            let id = super::insert_user(
                &mut tx,
                &crate::platform::audit::Actor::system("single sign-on"),
                &u,
                None,
            )
            .await?;
            tx.commit().await?;
            id
        }
        None => {
            return Err(AppError::Forbidden(format!(
                "{email} has no Keel account (or it is disabled); ask an administrator"
            )));
        }
    };
    let (token, _csrf) =
        start_session(db, id, &format!("{email} (sso)"), None, "login.sso").await?;
    Ok(SignedIn { token, next })
}

/// Check the ID token's signature against the provider's keys, and its issuer, audience and
/// expiry.
async fn verify(d: &Discovery, c: &OidcConfig, id_token: &str) -> AppResult<Claims> {
    let bad = |e: jsonwebtoken::errors::Error| {
        AppError::Conflict(format!("the ID token is not valid: {e}"))
    };
    let header = jsonwebtoken::decode_header(id_token).map_err(bad)?;
    let keys: jsonwebtoken::jwk::JwkSet = get_json(&d.jwks_uri).await?;
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(|| {
        AppError::Conflict("the ID token is signed with a key the provider does not publish".into())
    })?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(bad)?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[c.client_id.as_str()]);
    v.set_issuer(&[d.issuer.as_str()]);
    v.leeway = 60;
    Ok(jsonwebtoken::decode::<Claims>(id_token, &key, &v)
        .map_err(bad)?
        .claims)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            super::challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

/// The sign-in's two doors: off to the provider, and back from it.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/login", get(oidc_login))
        .route("/auth/oidc/callback", get(oidc_callback))
}

/// Start single sign-on: off to the provider.
async fn oidc_login(State(st): State<AppState>, Query(q): Query<NextParam>) -> Response {
    let Some(c) = st.cfg.oidc.clone() else {
        return page_error(&st, None, AppError::NotFound("single sign-on".into()));
    };
    match begin(&st.db, &c, &safe_next(q.next.as_deref())).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => login_refused(&st, StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

#[derive(Deserialize)]
struct OidcAnswer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's answer: finish the sign-in.
async fn oidc_callback(State(st): State<AppState>, Query(a): Query<OidcAnswer>) -> Response {
    let Some(c) = st.cfg.oidc.clone() else {
        return page_error(&st, None, AppError::NotFound("single sign-on".into()));
    };
    if let Some(e) = a.error {
        let why = a.error_description.unwrap_or(e);
        return login_refused(
            &st,
            StatusCode::UNAUTHORIZED,
            format!("Single sign-on failed: {why}"),
        );
    }
    let (Some(code), Some(state)) = (a.code, a.state) else {
        return login_refused(
            &st,
            StatusCode::BAD_REQUEST,
            "Single sign-on failed: the answer has no code.".into(),
        );
    };
    match finish(&st.db, &c, &code, &state).await {
        Ok(s) => signed_in(&st, &s.next, &s.token),
        Err(AppError::Forbidden(m)) => login_refused(&st, StatusCode::FORBIDDEN, m),
        Err(e) => login_refused(
            &st,
            StatusCode::UNAUTHORIZED,
            format!("Single sign-on failed: {e}"),
        ),
    }
}
