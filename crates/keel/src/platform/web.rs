//! The HTTP shell: application state, the router (API under `/api/v1`, HTML pages, health and
//! metrics), the OpenAPI document and cross-cutting middleware.

use crate::operation::relationship::service_level_api as sla;
use crate::platform::config::Config;
use crate::platform::db::Db;
use crate::platform::metrics::Metrics;
use crate::{directory, integration, kernel, management, operation, platform};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub ui: Arc<platform::ui::Templates>,
    /// Group commit for API creates (`kernel::batch`).
    pub creator: kernel::batch::Creator,
    pub started: Instant,
    /// This node's copy of the CI graph for impact analysis (8.2.6).
    pub cmdb: operation::portfolio::graph::GraphCache,
}

impl AppState {
    pub fn new(db: Db, cfg: Config) -> AppState {
        AppState {
            db: db.clone(),
            cfg: Arc::new(cfg),
            metrics: Arc::new(Metrics::default()),
            ui: Arc::new(platform::ui::Templates::new()),
            creator: kernel::batch::Creator::start(db.clone()),
            started: Instant::now(),
            cmdb: Default::default(),
        }
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

#[derive(OpenApi)]
#[openapi(
    info(title = "Keel API", description = "IT service management for ISO/IEC 20000-1:2018. Errors are RFC 9457 problem+json; lists use cursor pagination.", version = "1"),
    tags(
        (name = "incidents", description = "Incident management (ISO/IEC 20000-1 8.6.1)"),
        (name = "requests", description = "Service request management (ISO/IEC 20000-1 8.6.2)"),
        (name = "problems", description = "Problem management (ISO/IEC 20000-1 8.6.3)"),
        (name = "known-errors", description = "Known errors: documented root causes and workarounds (8.6.3)"),
        (name = "changes", description = "Change management: policy, authorities, templates, risk, approvals, schedule, calendar feed (8.5.1)"),
        (name = "service-designs", description = "Service design and transition: designs, acceptance criteria and tests, transition tasks (8.5.2)"),
        (name = "releases", description = "Release and deployment: releases, deployments per environment, outcomes (8.5.3)"),
        (name = "nonconformities", description = "Nonconformities with correction, root cause, corrective action and effectiveness check (10.1)"),
        (name = "improvements", description = "The continual improvement register (10.2)"),
        (name = "documents", description = "Controlled documents: versions, approval, review dates, distribution and acknowledgements (7.5)"),
        (name = "management-reviews", description = "Management reviews: inputs compiled from the records, minutes, decisions, actions (9.3)"),
        (name = "objectives", description = "Service management objectives and the KPIs that measure them, measured on schedule (6.2, 9.1)"),
        (name = "service-reports", description = "Service reports per service or customer, generated on schedule from the records (9.4)"),
        (name = "context", description = "Interested parties (4.2), the SMS scope (4.3), RACI per process (5.3), the communication plan (7.4)"),
        (name = "competence", description = "Competences each role requires and training records (7.2)"),
        (name = "audits", description = "The internal audit programme: audits with checklists from the catalogue, reports, graded findings (9.2)"),
        (name = "complaints", description = "Complaints: recorded, investigated, resolved, the customer told (8.3.2)"),
        (name = "risks", description = "The register of risks and opportunities: likelihood, impact, treatment, review (6.1)"),
        (name = "compliance", description = "The compliance engine: requirement catalogue, live evidence checks, readiness, assessments, the gap plan and the audit pack (clauses 4–10)"),
        (name = "approvals", description = "Approvals waiting for you, across requests and changes"),
        (name = "service-levels", description = "Business calendars, service level targets, SLA attainment (8.3.3)"),
        (name = "notifications", description = "In-app notifications from the outbox"),
        (name = "views", description = "Saved list views (filters, filter expression, sort)"),
        (name = "search", description = "Full-text search over work items and comments"),
        (name = "knowledge", description = "Knowledge articles with versions (7.6)"),
        (name = "directory", description = "Users, support groups, customers, tokens"),
        (name = "portfolio", description = "Service portfolio, plans and the service catalogue (8.2.1–8.2.4)"),
        (name = "assets", description = "Assets, licences and their installations (8.2.5)"),
        (name = "configuration", description = "Configuration items, classes, relationships, impact analysis (8.2.6)"),
        (name = "audit", description = "The hash-chained audit trail (7.5)"),
        (name = "relationships", description = "Business relationship management: customer accounts, contacts, service reviews, satisfaction surveys, complaints (8.3.2)"),
        (name = "agreements", description = "SLAs, OLAs and underpinning contracts as records; monthly attainment and breach explanations (8.3.3)"),
        (name = "suppliers", description = "Suppliers, contracts, supplier reviews and performance, disputes, renewal warnings (8.3.4)"),
        (name = "budgeting", description = "Budgets and costs per service and customer, actuals against budget (8.4.1)"),
        (name = "capacity", description = "Demand forecasts against actual demand (8.4.2); capacity plans, utilisation metrics and threshold events (8.4.3)"),
        (name = "availability", description = "Availability targets, outages and measured availability (8.7.1)"),
        (name = "continuity", description = "Continuity requirements, plans with approval, tests and invocations (8.7.2)"),
        (name = "security", description = "Information security controls and security incidents (8.7.3)"),
        (name = "integrations", description = "Monitoring alerts in (Alertmanager), webhooks out with their delivery log, received mail and its quarantine"),
        (name = "operations", description = "Health, readiness, metrics, jobs"),
    )
)]
struct ApiDoc;

/// The API routes with their OpenAPI description, registered together so they cannot drift.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(operation::resolution::incident::routes::router())
        .routes(routes!(
            operation::resolution::incident::declare_major,
            operation::resolution::incident::get_major
        ))
        .routes(routes!(operation::resolution::incident::communicate))
        .routes(routes!(operation::resolution::incident::review_major))
        .routes(routes!(operation::resolution::incident::escalate))
        .routes(routes!(operation::resolution::incident::confirm))
        .routes(routes!(operation::resolution::incident::reject))
        .merge(operation::resolution::request::routes_mod::routes::router())
        .routes(routes!(
            operation::resolution::request::api_list_types,
            operation::resolution::request::api_create_type
        ))
        .routes(routes!(operation::resolution::request::api_approvals))
        .routes(routes!(operation::resolution::request::api_decide))
        .routes(routes!(operation::resolution::request::api_tasks))
        .routes(routes!(operation::resolution::request::api_complete))
        .routes(routes!(kernel::approvals::api_inbox))
        .merge(operation::transition::change::routes_mod::routes::router())
        .routes(routes!(operation::transition::change::api_raise_fix))
        .routes(routes!(
            operation::transition::change::api_risk,
            operation::transition::change::api_assess
        ))
        .routes(routes!(
            operation::transition::change::api_schedule,
            operation::transition::change::api_set_schedule
        ))
        .routes(routes!(
            operation::transition::change::api_ci_updates,
            operation::transition::change::api_add_ci_update
        ))
        .routes(routes!(operation::transition::change::api_approvals))
        .routes(routes!(operation::transition::change::api_decide))
        .routes(routes!(
            operation::transition::change::api_tasks,
            operation::transition::change::api_add_task
        ))
        .routes(routes!(operation::transition::change::api_complete))
        .routes(routes!(operation::transition::change::api_metrics))
        .routes(routes!(operation::transition::calendar::api_calendar))
        .routes(routes!(operation::transition::calendar::api_ics))
        .routes(routes!(
            operation::transition::calendar::api_list_feeds,
            operation::transition::calendar::api_create_feed
        ))
        .routes(routes!(operation::transition::calendar::api_revoke_feed))
        .routes(routes!(
            operation::transition::policy::api_get_policy,
            operation::transition::policy::api_put_policy
        ))
        .routes(routes!(
            operation::transition::policy::api_list_authorities,
            operation::transition::policy::api_create_authority
        ))
        .routes(routes!(
            operation::transition::policy::api_list_categories,
            operation::transition::policy::api_create_category
        ))
        .routes(routes!(
            operation::transition::policy::api_list_templates,
            operation::transition::policy::api_create_template
        ))
        .routes(routes!(
            operation::transition::policy::api_list_blackouts,
            operation::transition::policy::api_create_blackout
        ))
        .routes(routes!(operation::transition::policy::api_update_authority))
        .routes(routes!(operation::transition::policy::api_update_category))
        .routes(routes!(operation::transition::policy::api_update_template))
        .routes(routes!(operation::transition::policy::api_delete_blackout))
        .routes(routes!(
            operation::transition::release::api_list,
            operation::transition::release::api_create
        ))
        .routes(routes!(
            operation::transition::release::api_get,
            operation::transition::release::api_update
        ))
        .routes(routes!(operation::transition::release::api_bundle))
        .routes(routes!(operation::transition::release::api_plan_deployment))
        .routes(routes!(operation::transition::release::api_outcome))
        .routes(routes!(
            operation::transition::design::api_list,
            operation::transition::design::api_create
        ))
        .routes(routes!(
            operation::transition::design::api_get,
            operation::transition::design::api_update
        ))
        .routes(routes!(operation::transition::design::api_result))
        .routes(routes!(operation::transition::design::api_add_task))
        .routes(routes!(operation::transition::design::api_complete_task))
        .merge(management::improvement::nonconformities::routes::router())
        .merge(management::improvement::improvements::routes::router())
        .merge(management::planning::risks::routes::router())
        .merge(operation::relationship::business::complaints::routes::router())
        .routes(routes!(operation::relationship::business::api_answer))
        .routes(routes!(operation::relationship::business::api_mine))
        .routes(routes!(operation::relationship::business::api_scores))
        .routes(routes!(operation::relationship::agreement::api_attainment))
        .routes(routes!(operation::relationship::supplier::api_performance))
        .routes(routes!(operation::supply::budget::api_report))
        .routes(routes!(operation::supply::demand::api_demand))
        .routes(routes!(
            operation::supply::capacity::api_samples,
            operation::supply::capacity::api_record
        ))
        .routes(routes!(operation::supply::capacity::api_status))
        .routes(routes!(operation::supply::capacity::api_events))
        .routes(routes!(
            operation::assurance::availability::api_availability
        ))
        .routes(routes!(
            operation::assurance::availability::api_outage_from_incident
        ))
        .routes(routes!(operation::assurance::security::api_report))
        .routes(routes!(integration::alertmanager::api_receive))
        .routes(routes!(integration::webhooks::api_events))
        .routes(routes!(
            integration::webhooks::api_list,
            integration::webhooks::api_create
        ))
        .routes(routes!(
            integration::webhooks::api_get,
            integration::webhooks::api_update
        ))
        .routes(routes!(integration::webhooks::api_deliveries))
        .routes(routes!(integration::webhooks::api_replay))
        .routes(routes!(integration::webhooks::api_ping))
        .routes(routes!(integration::mail::api_quarantine))
        .routes(routes!(integration::mail::api_message))
        .routes(routes!(integration::mail::api_raw))
        .routes(routes!(integration::mail::api_reprocess))
        .routes(routes!(integration::mail::api_discard))
        .routes(routes!(integration::import::api_import))
        .routes(routes!(
            management::evaluation::api_list,
            management::evaluation::api_create
        ))
        .routes(routes!(
            management::evaluation::api_get,
            management::evaluation::api_update
        ))
        .routes(routes!(management::evaluation::api_add_finding))
        .routes(routes!(management::evaluation::api_findings))
        .routes(routes!(
            management::evaluation::review::api_list,
            management::evaluation::review::api_create
        ))
        .routes(routes!(
            management::evaluation::review::api_get,
            management::evaluation::review::api_update
        ))
        .routes(routes!(management::evaluation::review::api_compile))
        .routes(routes!(management::evaluation::review::api_add_action))
        .routes(routes!(
            management::evaluation::kpi::api_objectives,
            management::evaluation::kpi::api_create_objective
        ))
        .routes(routes!(
            management::evaluation::kpi::api_objective,
            management::evaluation::kpi::api_update_objective
        ))
        .routes(routes!(
            management::evaluation::kpi::api_kpis,
            management::evaluation::kpi::api_create_kpi
        ))
        .routes(routes!(management::evaluation::kpi::api_metrics))
        .routes(routes!(management::evaluation::kpi::api_kpi))
        .routes(routes!(management::evaluation::kpi::api_measure))
        .routes(routes!(management::evaluation::report::api_reports))
        .routes(routes!(management::evaluation::report::api_report))
        .routes(routes!(
            management::evaluation::report::api_definitions,
            management::evaluation::report::api_define
        ))
        .routes(routes!(management::evaluation::report::api_generate))
        .routes(routes!(
            management::context::api_list,
            management::context::api_create
        ))
        .routes(routes!(
            management::context::api_get,
            management::context::api_update
        ))
        .routes(routes!(
            management::leadership::api_scope,
            management::leadership::api_set_scope
        ))
        .routes(routes!(management::leadership::api_raci))
        .routes(routes!(management::leadership::api_set_raci))
        .routes(routes!(
            management::leadership::api_plan,
            management::leadership::api_add
        ))
        .routes(routes!(management::leadership::api_remove))
        .routes(routes!(
            management::support::competence::api_list,
            management::support::competence::api_require
        ))
        .routes(routes!(
            management::support::competence::api_records,
            management::support::competence::api_record
        ))
        .routes(routes!(
            management::support::documents::api_list,
            management::support::documents::api_create
        ))
        .routes(routes!(
            management::support::documents::api_get,
            management::support::documents::api_update
        ))
        .routes(routes!(management::support::documents::api_draft))
        .routes(routes!(management::support::documents::api_decide))
        .routes(routes!(management::support::documents::api_review))
        .routes(routes!(management::support::documents::api_acknowledge))
        .routes(routes!(management::compliance::api::list_requirements))
        .routes(routes!(management::compliance::api::get_requirement))
        .routes(routes!(
            management::compliance::api::put_judgement,
            management::compliance::api::delete_judgement
        ))
        .routes(routes!(management::compliance::api::upload_evidence))
        .routes(routes!(management::compliance::api::download_evidence))
        .routes(routes!(management::compliance::api::list_checks))
        .routes(routes!(management::compliance::api::get_check))
        .routes(routes!(management::compliance::api::get_readiness))
        .routes(routes!(management::compliance::api::put_capability))
        .routes(routes!(
            management::compliance::api::list_assessments,
            management::compliance::api::create_assessment
        ))
        .routes(routes!(management::compliance::api::get_assessment))
        .routes(routes!(management::compliance::api::compare_assessment))
        .routes(routes!(
            management::compliance::api::list_actions,
            management::compliance::api::create_action
        ))
        .routes(routes!(management::compliance::api::patch_action))
        .routes(routes!(management::compliance::api::audit_pack))
        .merge(operation::resolution::problem::problems::routes::router())
        .merge(operation::resolution::problem::known_errors::routes::router())
        .routes(routes!(operation::resolution::problem::raise_from_incident))
        .routes(routes!(operation::resolution::problem::record_known_error))
        .routes(routes!(operation::resolution::problem::trends))
        .routes(routes!(directory::api::me))
        .routes(routes!(
            directory::api::list_users,
            directory::api::create_user
        ))
        .routes(routes!(
            directory::api::get_user,
            directory::api::update_user
        ))
        .routes(routes!(
            directory::api::list_groups,
            directory::api::create_group
        ))
        .routes(routes!(directory::api::add_member))
        .routes(routes!(
            directory::api::list_customers,
            directory::api::create_customer
        ))
        .routes(routes!(
            directory::api::list_tokens,
            directory::api::create_token
        ))
        .routes(routes!(directory::api::revoke_token))
        .routes(routes!(directory::ldap::api_sync))
        .routes(routes!(
            operation::portfolio::service::api_list,
            operation::portfolio::service::api_create
        ))
        .routes(routes!(
            operation::portfolio::service::api_get,
            operation::portfolio::service::api_update
        ))
        .routes(routes!(
            operation::portfolio::service::api_list_plans,
            operation::portfolio::service::api_create_plan
        ))
        .routes(routes!(
            operation::portfolio::service::api_get_plan,
            operation::portfolio::service::api_update_plan
        ))
        .routes(routes!(
            operation::portfolio::catalogue::api_list,
            operation::portfolio::catalogue::api_create
        ))
        .routes(routes!(
            operation::portfolio::catalogue::api_get,
            operation::portfolio::catalogue::api_update
        ))
        .routes(routes!(operation::portfolio::catalogue::api_order))
        .routes(routes!(
            operation::portfolio::configuration::api_list_classes,
            operation::portfolio::configuration::api_create_class
        ))
        .routes(routes!(
            operation::portfolio::configuration::api_get_class,
            operation::portfolio::configuration::api_update_class
        ))
        .routes(routes!(
            operation::portfolio::configuration::api_list_cis,
            operation::portfolio::configuration::api_create_ci
        ))
        .routes(routes!(
            operation::portfolio::configuration::api_get_ci,
            operation::portfolio::configuration::api_update_ci
        ))
        .routes(routes!(operation::portfolio::configuration::api_impact))
        .routes(routes!(
            operation::portfolio::configuration::api_list_rels,
            operation::portfolio::configuration::api_create_rel
        ))
        .routes(routes!(operation::portfolio::configuration::api_delete_rel))
        .routes(routes!(
            operation::portfolio::asset::api_list,
            operation::portfolio::asset::api_create
        ))
        .routes(routes!(
            operation::portfolio::asset::api_get,
            operation::portfolio::asset::api_update
        ))
        .routes(routes!(
            operation::portfolio::asset::api_installations,
            operation::portfolio::asset::api_install
        ))
        .routes(routes!(operation::portfolio::asset::api_uninstall))
        .routes(routes!(operation::portfolio::transfer::api_import))
        .routes(routes!(operation::portfolio::transfer::api_export))
        .routes(routes!(
            operation::portfolio::baseline::api_list_baselines,
            operation::portfolio::baseline::api_create_baseline
        ))
        .routes(routes!(operation::portfolio::baseline::api_get_baseline))
        .routes(routes!(operation::portfolio::baseline::api_compare))
        .routes(routes!(
            operation::portfolio::baseline::api_list_audits,
            operation::portfolio::baseline::api_verify
        ))
        .routes(routes!(operation::portfolio::baseline::api_get_audit))
        .routes(routes!(operation::portfolio::baseline::api_accept))
        .routes(routes!(management::support::audit_trail::list,))
        .routes(routes!(management::support::audit_trail::verify))
        .routes(routes!(platform::jobs::list_jobs))
        .routes(routes!(
            kernel::views::list_views,
            kernel::views::create_view
        ))
        .routes(routes!(kernel::views::delete_view))
        .routes(routes!(kernel::search::api_search))
        .routes(routes!(
            management::support::knowledge::api_list,
            management::support::knowledge::api_create
        ))
        .routes(routes!(
            management::support::knowledge::api_get,
            management::support::knowledge::api_update
        ))
        .routes(routes!(management::support::knowledge::api_versions))
        .routes(routes!(platform::outbox::list))
        .routes(routes!(platform::outbox::mark_read))
        .routes(routes!(sla::list_calendars, sla::create_calendar))
        .routes(routes!(sla::get_calendar, sla::update_calendar))
        .routes(routes!(sla::list_targets, sla::create_target))
        .routes(routes!(sla::get_target, sla::update_target))
        .routes(routes!(sla::attainment))
}

/// The whole OpenAPI document, with the bearer scheme.
pub fn openapi() -> utoipa::openapi::OpenApi {
    complete(api_router().split_for_parts().1)
}

/// The routes' document plus what no route declares: the bearer scheme and the registers.
fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let comps = doc.components.get_or_insert_with(Default::default);
    comps.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    kernel::register::document(&mut doc);
    doc
}

pub fn router(state: AppState) -> Router {
    let (api, doc) = api_router().split_for_parts();
    // Served as the bytes serialised once: as a tree the document is some 15 MB of small
    // allocations that an idle server would otherwise hold (and clone per request).
    let doc = axum::body::Bytes::from(
        serde_json::to_vec(&complete(doc)).expect("the OpenAPI document serialises"),
    );
    let limit = state.cfg.max_attachment_bytes + 1024 * 1024;
    Router::new()
        .merge(api)
        .merge(kernel::register::routes())
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
        .merge(platform::ui::routes())
        .merge(kernel::ui::routes())
        .merge(operation::resolution::incident_ui::routes())
        .merge(operation::resolution::request_ui::routes())
        .merge(operation::resolution::request_ui::type_routes())
        .merge(management::support::knowledge_ui::routes())
        .merge(operation::portfolio::ui::routes())
        .merge(operation::transition::ui::routes())
        .merge(operation::transition::ui::design_routes())
        .merge(management::compliance::ui::routes())
        .merge(management::evaluation::ui::routes())
        .merge(management::evaluation::review_ui::routes())
        .merge(management::evaluation::measure_ui::routes())
        .merge(management::support::competence_ui::routes())
        .merge(management::leadership_ui::routes())
        .merge(management::support::documents_ui::routes())
        .merge(kernel::register_ui::routes())
        .merge(operation::ui::routes())
        .merge(integration::ui::routes())
        .merge(operation::relationship::business::pages::routes())
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
    let mut resp = next.run(req).await;
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
