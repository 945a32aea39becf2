//! The HTML shell: templates compiled into the binary, the layout with navigation by role,
//! login/logout, flash messages and CSRF checks for forms. Pages work without JavaScript.

use crate::platform::auth::{self, Principal, SESSION_COOKIE};
use crate::platform::error::AppError;
use crate::platform::web::AppState;
use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use keel_core::access::Action;
use minijinja::{Environment, Value, context};
use serde::Deserialize;

pub struct Templates {
    env: Environment<'static>,
}

/// The platform's own templates: the layout, the error page, sign-in, notifications.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("error.html", include_str!("../../templates/error.html")),
    (
        "notifications.html",
        include_str!("../../templates/notifications.html"),
    ),
];

const CSS: &str = include_str!("../../static/keel.css");

impl Templates {
    /// An environment with the templates the parts declare (`platform::part`).
    pub fn new<'a>(
        sources: impl IntoIterator<Item = &'a (&'static str, &'static str)>,
    ) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, src) in sources {
            // Templates are compiled into the binary and covered by tests; a broken one is a bug.
            env.add_template(name, src).expect("template compiles");
        }
        env.add_filter("when", |ms: i64| -> String {
            jiff::Timestamp::from_millisecond(ms)
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        });
        Templates { env }
    }

    pub fn render(&self, name: &str, ctx: Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template = name, "template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!doctype html><title>Error</title><p>Internal error."),
                )
                    .into_response()
            }
        }
    }
}

/// What the layout needs about the viewer.
pub fn viewer(p: &Principal) -> Value {
    context! {
        name => p.name.clone(), email => p.email.clone(), role => p.role.as_str(), csrf => p.csrf.clone().unwrap_or_default(),
        can_update => p.can(Action::UpdateWorkItems), can_internal => p.can(Action::InternalNotes) && p.can(Action::UpdateWorkItems),
        can_audit => p.can(Action::ReadAudit), can_attach => p.can(Action::Attach), can_comment => p.can(Action::CommentPublic), can_create => p.can(Action::CreateIncident), is_requester => p.role.is_scoped_to_own_records(),
        can_notify => p.can(Action::OwnNotifications), can_read_internal => p.can(Action::ReadInternalItems), can_read_sla => p.can(Action::ReadServiceLevels),
        can_read_cmdb => p.can(Action::ReadConfiguration), can_read_directory => p.can(Action::ReadDirectory),
        can_read_compliance => p.can(Action::ReadCompliance),
        can_read_operations => p.can(Action::ReadRelationships) || p.can(Action::ReadAssurance) || p.can(Action::ReadFinance),
        can_read_integrations => p.can(Action::ReadIntegrations),
        nav => crate::platform::part::nav_for(p),
    }
}

/// What a form page shows for an error: the field to mark invalid (if any) and the message.
pub fn form_error(error: &Option<AppError>) -> (Option<String>, Option<String>) {
    match error {
        Some(AppError::Invalid { field, detail }) => {
            (Some(field.clone()), Some(format!("{field}: {detail}")))
        }
        Some(e) => (None, Some(e.to_string())),
        None => (None, None),
    }
}

/// A logged-in person using the web UI; anonymous visitors are sent to the login page.
pub struct WebUser(pub Principal);

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let token = auth::cookie(parts, SESSION_COOKIE).map(str::to_string);
        let p = match token {
            Some(t) => Principal::from_session(&st.db, &t)
                .await
                .map_err(|e| page_error(st, None, AppError::from(e)))?,
            None => None,
        };
        match p {
            Some(p) => Ok(WebUser(p)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(Redirect::to(&format!("/login?next={}", urlencode(next))).into_response())
            }
        }
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Refuse a form whose CSRF token does not match the session's.
pub fn check_csrf(p: &Principal, sent: &str) -> Result<(), AppError> {
    match &p.csrf {
        Some(c) if !sent.is_empty() && c == sent => Ok(()),
        _ => Err(AppError::Forbidden(
            "the form expired or came from another site; reload the page and try again".into(),
        )),
    }
}

/// A form page shown again because of what was sent answers 422, so clients and tests can tell.
pub fn unprocessable_if(mut resp: Response, sent_wrong: bool) -> Response {
    if sent_wrong {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    resp
}

/// An error as an HTML page.
pub fn page_error(st: &AppState, p: Option<&Principal>, e: AppError) -> Response {
    if let AppError::Internal(err) = &e {
        tracing::error!(error = ?err, "internal error");
    }
    let status = e.status();
    let mut r = st.ui.render("error.html", context! { me => p.map(viewer), flash => (), status => status.as_u16(), title => status.canonical_reason().unwrap_or("Error"), detail => e.to_string() });
    *r.status_mut() = status;
    r
}

pub const FLASH_COOKIE: &str = "keel_flash";

/// Redirect with a one-time message shown on the next page.
pub fn redirect_with_flash(to: &str, msg: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60",
        urlencode(msg)
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Read the flash message (the page that shows it clears it with [`clear_flash`]).
pub fn flash(headers: &HeaderMap) -> Option<String> {
    auth::cookie_in(headers, FLASH_COOKIE)
        .map(urldecode)
        .filter(|v| !v.is_empty())
}

pub fn clear_flash(mut r: Response) -> Response {
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("keel_flash=; Path=/; Max-Age=0"),
    );
    r
}

fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The platform's pages: sign-in and out, notifications, the style sheet.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", axum::routing::post(logout))
        .route("/notifications", get(notifications_page))
        .route(
            "/notifications/read",
            axum::routing::post(notifications_read),
        )
        .route(
            "/static/keel.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css"),
                        (header::CACHE_CONTROL, "public, max-age=3600"),
                    ],
                    CSS,
                )
            }),
        )
}

async fn notifications_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let result = async {
        p.require(Action::OwnNotifications)?;
        crate::platform::outbox::mine(&st, p.user_id, false).await
    }
    .await;
    match result {
        Ok(items) => clear_flash(st.ui.render(
            "notifications.html",
            context! { me => viewer(&p), flash => flash(&headers), items => Value::from(minijinja::value::Serde(&items)) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn notifications_read(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::OwnNotifications)?;
        crate::platform::outbox::mark_all_read(&st, p.user_id).await
    }
    .await;
    match result {
        Ok(n) => redirect_with_flash("/notifications", &format!("{n} marked read.")),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    pub next: Option<String>,
}

/// Only same-site relative paths are followed after login.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
) -> Response {
    let f = flash(&headers);
    clear_flash(st.ui.render("login.html", context! { me => (), flash => f, next => safe_next(q.next.as_deref()), error => (), email => "", sso => sso_label(&st) }))
}

/// The single sign-on button's text, when single sign-on is configured.
fn sso_label(st: &AppState) -> Option<String> {
    st.cfg.oidc.as_ref().map(|o| {
        o.label
            .clone()
            .unwrap_or_else(|| "Sign in with single sign-on".into())
    })
}

/// A signed-in browser: the session cookie, then on to where they were going.
pub fn signed_in(st: &AppState, next: &str, token: &str) -> Response {
    let secure = if st.cfg.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let mut r = redirect_with_flash(next, "Signed in.");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        auth::SESSION_TTL_MS / 1000
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The login page with why single sign-on did not work.
pub fn login_refused(st: &AppState, status: StatusCode, msg: String) -> Response {
    tracing::warn!(reason = %msg, "single sign-on refused");
    let mut r = st.ui.render(
        "login.html",
        context! { me => (), flash => (), next => "/", error => msg, email => "", sso => sso_label(st) },
    );
    *r.status_mut() = status;
    r
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(st): State<AppState>,
    auth::ClientAddr(client): auth::ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if !auth::same_origin(&headers) {
        return page_error(
            &st,
            None,
            AppError::Forbidden("sign in from Keel's own sign-in page".into()),
        );
    }
    match auth::login(&st.db, &f.email, &f.password, &client).await {
        Ok((token, _csrf)) => signed_in(&st, &next, &token),
        Err(e) => {
            let (status, msg, retry) = match &e {
                AppError::Unauthenticated => (
                    StatusCode::UNAUTHORIZED,
                    "Wrong e-mail address or password.".to_string(),
                    None,
                ),
                AppError::TooMany { retry_after_secs } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed attempts from here. Try again in {} minutes.",
                        retry_after_secs.div_ceil(60)
                    ),
                    Some(*retry_after_secs),
                ),
                _ => return page_error(&st, None, e),
            };
            let mut r = st.ui.render(
                "login.html",
                context! { me => (), flash => (), next => next, error => msg, email => f.email, sso => sso_label(&st) },
            );
            *r.status_mut() = status;
            if let Some(v) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = check_csrf(&p, &f.csrf) {
        return page_error(&st, Some(&p), e);
    }
    let token = auth::cookie_in(&headers, SESSION_COOKIE).unwrap_or_default();
    if let Err(e) = auth::logout(&st.db, token, &p).await {
        return page_error(&st, Some(&p), e);
    }
    let mut r = redirect_with_flash("/login", "Signed out.");
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("keel_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    r
}

/// A posted form's fields, in order (a multi-select sends one pair per choice).
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    pub fn parse(raw: &axum::extract::RawForm) -> FormFields {
        FormFields(serde_urlencoded::from_bytes(&raw.0).unwrap_or_default())
    }

    /// The first value of a field, or "" when absent.
    pub fn get(&self, name: &str) -> String {
        self.opt(name).unwrap_or_default()
    }

    /// The first value of a field, when present (even if empty).
    pub fn opt(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The first value of a field, when present and not empty.
    pub fn filled(&self, name: &str) -> Option<String> {
        self.opt(name).filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A field holding an id (e.g. a select of users); "" is none.
    pub fn id(&self, name: &str) -> Result<Option<i64>, AppError> {
        match self.get(name).as_str() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid(name, "not a valid choice")),
        }
    }

    /// Refuse the form unless its CSRF token is the session's.
    pub fn check_csrf(&self, p: &Principal) -> Result<(), AppError> {
        check_csrf(p, &self.get("csrf"))
    }
}

/// After a form: back to `to` with a flash saying what happened, or why it was not done; other
/// errors get the error page.
pub fn back_with_flash(
    st: &AppState,
    p: &Principal,
    to: &str,
    r: Result<String, AppError>,
) -> Response {
    match r {
        Ok(msg) => redirect_with_flash(to, &msg),
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Conflict(_)
            | AppError::Forbidden(_)
            | AppError::TooLarge { .. }),
        ) => redirect_with_flash(to, &format!("Not done: {e}")),
        Err(e) => page_error(st, Some(p), e),
    }
}
