//! The HTTP shell: application state, the router made of the parts' API routes and pages (plus
//! health, readiness and metrics), the OpenAPI document and cross-cutting middleware.

use crate::platform;
use crate::platform::config::Config;
use crate::platform::db::Db;
use crate::platform::error::AppError;
use crate::platform::metrics::Metrics;
use crate::platform::part::Part;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Instant;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub ui: Arc<platform::ui::Templates>,
    pub started: Instant,
    /// The parts the application is made of (`platform::part`).
    pub parts: &'static [&'static Part],
    /// What the parts keep per node (the kernel's group commit, the CMDB graph …), by type.
    ext: Arc<Extensions>,
}

impl AppState {
    /// The state of a node made of `parts`: their templates, and the state each keeps.
    pub fn new(db: Db, cfg: Config, parts: &'static [&'static Part]) -> AppState {
        let mut ext = Extensions::new();
        for p in parts {
            if let Some(init) = p.state {
                init(&db, &mut ext);
            }
        }
        AppState {
            db,
            cfg: Arc::new(cfg),
            metrics: Arc::new(Metrics::default()),
            ui: Arc::new(platform::ui::Templates::new(
                parts.iter().flat_map(|p| p.templates),
            )),
            started: Instant::now(),
            parts,
            ext: Arc::new(ext),
        }
    }

    /// The state of type `T` a part keeps; its absence is a wiring bug of the composition root.
    pub fn ext<T: Send + Sync + 'static>(&self) -> &T {
        self.ext.get::<T>().unwrap_or_else(|| {
            panic!(
                "no {} in the application state: its part is not installed",
                std::any::type_name::<T>()
            )
        })
    }
}

/// RFC 3339 text for an epoch-millisecond instant.
pub fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn as_bool<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

/// The API's OpenAPI document: what every part's routes declare, its tags, the bearer scheme.
pub fn openapi(parts: &[&Part]) -> utoipa::openapi::OpenApi {
    let mut doc = api_router(parts).split_for_parts().1;
    document_errors(&mut doc);
    doc
}

/// Every operation's errors, as the server answers them: RFC 9457 problem+json for 400 (a query
/// or body that does not parse), 401 (no or a bad credential), 403 (a role without the right),
/// 404 (a record out of reach), and, for writes, 409 (a conflict with the record's state), 412
/// (`If-Match`), 413 (a body over the limit) and 422 (a field's value). The handlers declare
/// what they answer when all goes well; these are the same for every route, so they are added
/// here rather than repeated on 466 operations.
fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |why: &str| -> RefOr<utoipa::openapi::Response> {
        ResponseBuilder::new()
            .description(why)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
            .into()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        let ops = [
            (&mut item.get, false, false),
            (&mut item.post, true, false),
            (&mut item.put, true, true),
            (&mut item.patch, true, true),
            (&mut item.delete, true, false),
        ];
        for (op, write, update) in ops {
            let Some(op) = op.as_mut() else { continue };
            let r = &mut op.responses.responses;
            // What a handler declared as a problem is a problem+json answer.
            for resp in r.values_mut() {
                if let RefOr::T(resp) = resp
                    && let Some(c) = resp.content.shift_remove("application/json")
                {
                    let is_problem = matches!(&c, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(x)) if x.ref_location.ends_with("/Problem")));
                    resp.content.insert(
                        if is_problem {
                            "application/problem+json"
                        } else {
                            "application/json"
                        }
                        .to_string(),
                        c,
                    );
                }
            }
            let mut add = |code: &str, why: &str| {
                r.entry(code.to_string()).or_insert_with(|| problem(why));
            };
            add(
                "400",
                "The request does not parse (a query parameter, the body, a path segment).",
            );
            add("401", "No credential, or one that is not valid.");
            add("403", "The caller's role may not do this.");
            if has_params {
                add("404", "No such record, or one out of the caller's reach.");
            }
            if write {
                add("409", "The change conflicts with the record's state.");
                add("413", "The body is over the size limit.");
                add("422", "A field's value is not valid; `field` names it.");
            }
            if update {
                add(
                    "412",
                    "`If-Match` does not name the record's current version.",
                );
            }
        }
    }
}

/// Every part's API routes, in one OpenAPI router whose document carries the parts' tags and
/// the bearer scheme.
fn api_router(parts: &[&Part]) -> OpenApiRouter<AppState> {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Keel API")
                .description(Some("IT service management for ISO/IEC 20000-1:2018. Errors are RFC 9457 problem+json; lists use cursor pagination."))
                .version("1")
                .license(Some(
                    utoipa::openapi::LicenseBuilder::new()
                        .name("Apache-2.0")
                        .identifier(Some("Apache-2.0"))
                        .build(),
                ))
                .build(),
        )
        .tags(Some(parts.iter().flat_map(|p| p.tags).map(|(name, description)| {
            utoipa::openapi::tag::TagBuilder::new()
                .name(*name)
                .description(Some(*description))
                .build()
        })))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    parts
        .iter()
        .fold(OpenApiRouter::with_openapi(doc), |r, p| r.merge((p.api)()))
}

/// The whole application: every part's API and pages, the OpenAPI document, health, readiness
/// and metrics, and the middleware every response passes.
pub fn router(state: AppState) -> Router {
    let parts = state.parts;
    let (api, mut doc) = api_router(parts).split_for_parts();
    document_errors(&mut doc);
    let collections = Arc::new(platform::etag::Reader::collections_of(&doc));
    // Served as the bytes serialised once: as a tree the document is some 15 MB of small
    // allocations that an idle server would otherwise hold (and clone per request).
    let doc =
        axum::body::Bytes::from(serde_json::to_vec(&doc).expect("the OpenAPI document serialises"));
    let limit = state.cfg.max_attachment_bytes + 1024 * 1024;
    // Tags and If-Match checks inside, idempotent replays outside (a replay carries the tag).
    let reader = platform::etag::Reader {
        routes: api.clone(),
        state: state.clone(),
        collections,
    };
    let api = api
        .route_layer(middleware::from_fn_with_state(
            reader,
            platform::etag::layer,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            platform::idempotency::layer,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            platform::gate::resolve,
        ));
    parts
        .iter()
        .fold(Router::new().merge(api), |r, p| r.merge((p.pages)()))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let d = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], d) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        crate::platform::error::AppError::NotFound(format!("route {}", req.uri().path()))
            .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::response::Html(
                "<!doctype html><title>Not found</title><p>Not found. <a href=\"/\">Home</a></p>",
            ),
        )
            .into_response()
    }
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.db.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let up = st.db.ping().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(up, st.started.elapsed().as_secs_f64()),
    )
        .into_response()
}

/// Count and time every request; set the security headers every response carries.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let api = req.uri().path().starts_with("/api/");
    let method = req.method().clone();
    let mut resp = next.run(req).await;
    if api && resp.status().as_u16() >= 400 && !is_problem(&resp) {
        resp = problem_from(&st, method, resp).await;
    }
    st.metrics
        .observe(resp.status().as_u16(), start.elapsed().as_micros() as u64);
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if h.get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
    {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
        );
    }
    resp
}

/// Whether an error answer is already the API's own (problem+json, or a documented JSON
/// report such as an import's rows); the framework's own answers are text or empty.
fn is_problem(resp: &Response) -> bool {
    resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/problem+json") || v.starts_with(b"application/json")
    })
}

/// An error the framework answered itself (a body over the limit, a method the route does not
/// take, a path segment that does not parse) as RFC 9457 problem+json, like every other error
/// of the API.
async fn problem_from(st: &AppState, method: axum::http::Method, resp: Response) -> Response {
    let status = resp.status();
    let allowed = resp
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let e = match status {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge {
            limit: st.cfg.max_attachment_bytes + 1024 * 1024,
        },
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed {
            method: method.to_string(),
            allowed: allowed.clone().unwrap_or_default(),
        },
        StatusCode::NOT_FOUND => AppError::NotFound(if text.is_empty() {
            "route".into()
        } else {
            text
        }),
        s if s.is_client_error() => AppError::BadRequest(if text.is_empty() {
            s.canonical_reason().unwrap_or("bad request").to_string()
        } else {
            text
        }),
        _ => AppError::Internal(anyhow::anyhow!("{status}: {text}")),
    };
    if status.is_server_error() {
        tracing::error!(%status, "the framework answered with an error");
    }
    // The framework's status stands (415, 414 …), with its Allow header for a 405.
    let mut problem = e.problem();
    problem.status = status.as_u16();
    problem.title = status.canonical_reason().unwrap_or("Error").to_string();
    let mut out = (status, serde_json::to_vec(&problem).unwrap_or_default()).into_response();
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(a) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}
