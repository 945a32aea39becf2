//! Portfolio pages (8.2): the catalogue and ordering from it (everyone), services with their
//! CIs and open incidents, and configuration items with attributes, relations, impact, history
//! and a drawn neighbourhood graph (staff).

use super::catalogue::{self, Order};
use super::configuration::{self, CiParams, ImpactParams};
use super::service;
use crate::platform::audit;
use crate::platform::db::Q;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    WebUser, check_csrf, clear_flash, flash, form_error, page_error, redirect_with_flash,
    unprocessable_if, viewer,
};
use crate::platform::web::{AppState, iso};
use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use keel_core::access::Action;
use keel_core::operation::portfolio::form::FieldKind;
use minijinja::value::Serde;
use minijinja::{Value as V, context};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The catalogue's pages (8.2.4): browse, order, manage offerings.
pub fn catalogue_routes() -> Router<AppState> {
    Router::new()
        .route("/catalogue", get(catalogue_page).post(offering_submit))
        .route("/catalogue/{id}", get(offering_page).post(order_submit))
        .route(
            "/catalogue/{id}/active",
            axum::routing::post(offering_active_submit),
        )
}

/// The service portfolio's pages (8.2.1–8.2.3).
pub fn service_routes() -> Router<AppState> {
    Router::new()
        .route("/services", get(services_page))
        .route("/services/{id}", get(service_page).post(service_submit))
}

/// The CMDB's pages (8.2.6): CIs, their forms and relationships.
pub fn configuration_routes() -> Router<AppState> {
    Router::new()
        .route("/cis", get(cis_page))
        .route("/cis/new", get(new_ci_page).post(new_ci_submit))
        .route("/cis/{id}", get(ci_page).post(edit_ci_submit))
        .route("/cis/{id}/edit", get(edit_ci_page))
        .route(
            "/cis/{id}/relationships",
            axum::routing::post(relationship_submit),
        )
}

/// Asset management's page (8.2.5).
pub fn asset_routes() -> Router<AppState> {
    Router::new().route("/assets", get(assets_page).post(asset_submit))
}

/// Baselines, their comparison and configuration audits (8.2.6).
pub fn baseline_routes() -> Router<AppState> {
    Router::new()
        .route("/baselines", get(baselines_page))
        .route("/baselines/{id}", get(comparison_page))
        .route(
            "/configuration-audits/{number}",
            get(configuration_audit_page).post(accept_submit),
        )
}

#[derive(Debug, Deserialize, Default)]
struct AssetForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    state: String,
    expiring: Option<i64>,
    #[serde(default)]
    over_use: bool,
}

async fn assets_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(f): Query<AssetForm>,
) -> Response {
    render_assets(
        &st,
        &p,
        flash(&headers),
        &f,
        form_values(&[], ASSET_FIELDS),
        None,
    )
    .await
}

async fn render_assets(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    flash_msg: Option<String>,
    f: &AssetForm,
    values: Value,
    error: Option<AppError>,
) -> Response {
    use super::asset::{self, AssetParams};
    use keel_core::operation::portfolio::asset::{KINDS, STATES};
    let r = async {
        p.require(Action::ReadConfiguration)?;
        let list = asset::list(
            &st.db,
            &AssetParams {
                kind: Some(f.kind.clone()),
                state: Some(f.state.clone()),
                q: Some(f.q.clone()),
                expiring_within_days: f.expiring,
                over_use: f.over_use,
                limit: Some(500),
                after: None,
            },
        )
        .await?;
        let staff: Vec<_> = if p.can(Action::ManageConfiguration) {
            crate::directory::list_users(&st.db)
                .await?
                .into_iter()
                .filter(|u| u.role != "requester" && u.disabled == 0)
                .collect()
        } else {
            vec![]
        };
        Ok::<_, AppError>((list, staff))
    }
    .await;
    match r {
        Ok((assets, staff)) => {
            let (field, msg) = form_error(&error);
            let resp = clear_flash(st.ui.render(
                "assets.html",
                context! { me => viewer(p), flash => flash_msg, assets => V::from(Serde(&assets)), kinds => V::from(Serde(KINDS)), states => V::from(Serde(STATES)),
                           f => context! { q => f.q.clone(), kind => f.kind.clone(), state => f.state.clone() }, can_manage => p.can(Action::ManageConfiguration),
                           staff => V::from(Serde(&staff)), values => V::from(Serde(&values)), error => msg, error_field => field },
            ));
            unprocessable_if(resp, error.is_some())
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

async fn asset_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    RawForm(raw): RawForm,
) -> Response {
    use super::asset;
    let f = pairs(&raw);
    let opt = |k: &str| Some(value(&f, k)).filter(|v| !v.trim().is_empty());
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        p.require(Action::ManageConfiguration)?;
        let ci_id = match opt("ci") {
            Some(c) => Some(
                crate::operation::portfolio::affected::resolve(&st.db, &c)
                    .await
                    .map_err(|e| match e {
                        AppError::Invalid { detail, .. } => AppError::invalid("ci_id", detail),
                        e => e,
                    })?,
            ),
            None => None,
        };
        let entitlements = match opt("entitlements") {
            Some(e) => Some(e.trim().parse::<i64>().map_err(|_| {
                AppError::invalid("entitlements", format!("`{e}` is not a whole number"))
            })?),
            None => None,
        };
        asset::create(
            &st.db,
            &p,
            asset::NewAsset {
                name: value(&f, "name"),
                kind: value(&f, "kind"),
                state: opt("state"),
                owner_id: opt("owner_id").and_then(|o| o.parse().ok()),
                location: value(&f, "location"),
                cost: opt("cost"),
                currency: opt("currency"),
                supplier: value(&f, "supplier"),
                contract_ref: String::new(),
                purchase_date: opt("purchase_date"),
                warranty_end: opt("warranty_end"),
                expiry_date: opt("expiry_date"),
                entitlements,
                ci_id,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(a) => redirect_with_flash(
            &format!("/assets?q={}", a.tag),
            &format!("{} registered.", a.tag),
        ),
        Err(e @ AppError::Invalid { .. }) => {
            render_assets(
                &st,
                &p,
                None,
                &AssetForm::default(),
                form_values(&f, ASSET_FIELDS),
                Some(e),
            )
            .await
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn baselines_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadConfiguration)?;
        let baselines = super::baseline::list_baselines(&st.db).await?;
        Ok::<_, AppError>((baselines, super::baseline::list_audits(&st.db).await?))
    }
    .await;
    match r {
        Ok((baselines, audits)) => {
            let rows: Vec<Value> = baselines
                .iter()
                .map(|b| serde_json::json!({"id": b.id, "name": b.name, "description": b.description, "ci_count": b.ci_count, "rel_count": b.rel_count, "taken": iso(b.created_at).chars().take(16).collect::<String>().replace('T', " ")}))
                .collect();
            clear_flash(st.ui.render(
                "baselines.html",
                context! { me => viewer(&p), flash => flash(&headers), baselines => V::from(Serde(&rows)), audits => V::from(Serde(&audits)) },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn comparison_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let r = async {
        p.require(Action::ReadConfiguration)?;
        super::baseline::compare_baseline(&st.db, id, None).await
    }
    .await;
    match r {
        Ok(c) => clear_flash(st.ui.render(
            "comparison.html",
            context! { me => viewer(&p), flash => flash(&headers), c => V::from(Serde(&c)) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn configuration_audit_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadConfiguration)?;
        super::baseline::get_audit(&st.db, &number).await
    }
    .await;
    match r {
        Ok(a) => clear_flash(st.ui.render(
            "configuration_audit.html",
            context! { me => viewer(&p), flash => flash(&headers), a => V::from(Serde(&a)), can_manage => p.can(Action::ManageConfiguration) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn accept_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        let findings = f
            .iter()
            .filter(|(k, _)| k == "finding")
            .map(|(_, v)| {
                v.parse::<usize>()
                    .map_err(|_| AppError::invalid("findings", format!("`{v}` is not a finding")))
            })
            .collect::<AppResult<Vec<_>>>()?;
        super::baseline::accept(&st.db, &p, &number, super::baseline::Accept { findings }).await
    }
    .await;
    match r {
        Ok(a) => redirect_with_flash(
            &format!("/configuration-audits/{}", a.number),
            "Findings accepted into the CMDB.",
        ),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn catalogue_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    render_catalogue(
        &st,
        &p,
        flash(&headers),
        form_values(&[], OFFERING_FIELDS),
        None,
    )
    .await
}

async fn render_catalogue(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    flash_msg: Option<String>,
    values: Value,
    error: Option<AppError>,
) -> Response {
    let r = async {
        let list = catalogue::list(&st.db, p).await?;
        let admin = if p.can(Action::ManageReference) {
            Some((
                crate::directory::list_named(&st.db, "services").await?,
                crate::operation::resolution::request::list_types(&st.db).await?,
                crate::directory::list_named(&st.db, "customers").await?,
            ))
        } else {
            None
        };
        Ok::<_, AppError>((list, admin))
    }
    .await;
    match r {
        Ok((list, admin)) => {
            let (field, msg) = form_error(&error);
            let (services, types, customers) = admin.unwrap_or_default();
            let resp = clear_flash(st.ui.render(
                "catalogue.html",
                context! { me => viewer(p), flash => flash_msg, offerings => V::from(Serde(&list)), can_manage => p.can(Action::ManageReference),
                           services => V::from(Serde(&services)), types => V::from(Serde(&types)), customers => V::from(Serde(&customers)),
                           values => V::from(Serde(&values)), error => msg, error_field => field },
            ));
            unprocessable_if(resp, error.is_some())
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

const OFFERING_FIELDS: &[&str] = &[
    "name",
    "summary",
    "category",
    "service_id",
    "request_type_id",
    "form",
];
const ASSET_FIELDS: &[&str] = &[
    "name",
    "kind",
    "state",
    "owner_id",
    "location",
    "cost",
    "currency",
    "supplier",
    "purchase_date",
    "warranty_end",
    "expiry_date",
    "entitlements",
    "ci",
];

/// What a form sent back, every field present (empty when not sent), to show it again.
fn form_values(f: &[(String, String)], keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    Value::String(
                        f.iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default(),
                    ),
                )
            })
            .collect(),
    )
}

async fn offering_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        p.require(Action::ManageReference)?;
        let form = keel_core::operation::portfolio::form::parse_lines(&value(&f, "form"), "form")?;
        let id = |k: &str| {
            value(&f, k)
                .parse::<i64>()
                .map_err(|_| AppError::invalid(k, "choose one"))
        };
        catalogue::create(
            &st.db,
            &p,
            catalogue::NewOffering {
                name: value(&f, "name"),
                summary: value(&f, "summary"),
                description: String::new(),
                category: value(&f, "category"),
                service_id: id("service_id")?,
                request_type_id: id("request_type_id")?,
                form: serde_json::to_value(&form).unwrap_or_default(),
                roles: vec![],
                customer_ids: f
                    .iter()
                    .filter(|(k, _)| k == "customer_id")
                    .filter_map(|(_, v)| v.parse().ok())
                    .collect(),
            },
        )
        .await
    }
    .await;
    match r {
        Ok(o) => redirect_with_flash(
            &format!("/catalogue/{}", o.id),
            "Offering added to the catalogue.",
        ),
        Err(e @ AppError::Invalid { .. }) => {
            render_catalogue(&st, &p, None, form_values(&f, OFFERING_FIELDS), Some(e)).await
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn offering_active_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        let active = value(&f, "active") == "true";
        catalogue::update(
            &st.db,
            &p,
            id,
            catalogue::OfferingPatch {
                active: Some(active),
                ..Default::default()
            },
        )
        .await
    }
    .await;
    match r {
        Ok(o) => redirect_with_flash(
            &format!("/catalogue/{id}"),
            if o.active {
                "Offered again."
            } else {
                "Withdrawn from the catalogue."
            },
        ),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

/// People a `user` field may name: a requester's organisation, or every active user for staff.
async fn people(
    st: &AppState,
    p: &crate::platform::auth::Principal,
) -> AppResult<Vec<(i64, String)>> {
    let users = crate::directory::list_users(&st.db).await?;
    Ok(users
        .into_iter()
        .filter(|u| u.disabled == 0)
        .filter(|u| {
            p.can(Action::ReadDirectory)
                || u.id == p.user_id
                || (p.customer_id.is_some() && u.customer_id == p.customer_id)
        })
        .map(|u| (u.id, u.name))
        .collect())
}

async fn render_offering(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    id: i64,
    values: &Map<String, Value>,
    error: Option<AppError>,
    headers: Option<&HeaderMap>,
) -> Response {
    let r = async {
        let o = catalogue::get(&st.db, p, id).await?;
        let users = if o.form.iter().any(|f| f.kind == FieldKind::User) {
            people(st, p).await?
        } else {
            vec![]
        };
        Ok::<_, AppError>((o, users))
    }
    .await;
    match r {
        Ok((o, users)) => {
            let (field, msg) = form_error(&error);
            let resp = st.ui.render(
                "offering.html",
                context! {
                    me => viewer(p), flash => headers.and_then(flash), o => V::from(Serde(&o)), users => V::from(Serde(&users)),
                    values => V::from(Serde(values)), error => msg, error_field => field, can_manage => p.can(Action::ManageReference),
                },
            );
            clear_flash(unprocessable_if(resp, error.is_some()))
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

async fn offering_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    render_offering(&st, &p, id, &Map::new(), None, Some(&headers)).await
}

async fn order_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let get = |k: &str| value(&f, k);
    let mut answers = Map::new();
    for (k, v) in &f {
        if let Some(name) = k.strip_prefix("answer.") {
            answers.insert(name.to_string(), Value::String(v.clone()));
        }
    }
    let r = async {
        check_csrf(&p, &get("csrf"))?;
        catalogue::order(
            &st.db,
            &p,
            id,
            Order {
                answers: answers.clone(),
                title: None,
                notes: get("notes"),
                requester_id: None,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(row) => redirect_with_flash(
            &format!("/requests/{}", row.number),
            &format!("{} ordered.", row.number),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            render_offering(&st, &p, id, &answers, Some(e), None).await
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn services_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadDirectory)?;
        Ok::<_, AppError>((
            service::list(&st.db).await?,
            service::list_plans(&st.db).await?,
        ))
    }
    .await;
    match r {
        Ok((services, plans)) => clear_flash(st.ui.render(
            "services.html",
            context! { me => viewer(&p), flash => flash(&headers), services => V::from(Serde(&services)), plans => V::from(Serde(&plans)) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn service_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let r = async {
        p.require(Action::ReadDirectory)?;
        let s = service::get(&st.db, id).await?;
        let cis = if p.can(Action::ReadConfiguration) {
            configuration::list_cis(&st.db, &CiParams { class: None, status: None, q: None, service_id: Some(id), cursor: None, after: None, limit: Some(200) }).await?.items
        } else {
            vec![]
        };
        let open: Vec<(String, String, String, Option<i64>)> = st
            .db
            .all(Q::new("SELECT number, title, state, priority FROM work_items WHERE service_id = $1 AND kind = 'incident' AND state NOT IN ('resolved', 'closed', 'cancelled') ORDER BY priority, id DESC LIMIT 100").bind(id))
            .await?;
        let offerings: Vec<(i64, String)> = st.db.all(Q::new("SELECT id, name FROM catalogue_offerings WHERE service_id = $1 AND active = 1 ORDER BY name").bind(id)).await?;
        let staff: Vec<_> = if p.can(Action::ManageReference) {
            crate::directory::list_users(&st.db).await?.into_iter().filter(|u| !matches!(u.role.as_str(), "requester" | "auditor") && u.disabled == 0).collect()
        } else {
            vec![]
        };
        // The forward schedule of change for this service (8.5.1), for staff.
        let changes = if p.can(Action::ReadInternalItems) {
            let now = crate::platform::db::now_ms();
            crate::operation::transition::calendar::calendar(&st.db, now - 86_400_000, now + 366 * 86_400_000, Some(id)).await?.changes
        } else {
            vec![]
        };
        // Agreements, suppliers, availability, capacity, continuity and budget (8.3, 8.4, 8.7).
        let panels = crate::operation::ui::service_panels(&st.db, &p, id).await?;
        Ok::<_, AppError>((s, cis, open, offerings, staff, changes, panels))
    }
    .await;
    match r {
        Ok((s, cis, open, offerings, staff, changes, panels)) => clear_flash(st.ui.render(
            "service.html",
            context! { me => viewer(&p), flash => flash(&headers), s => V::from(Serde(&s)), cis => V::from(Serde(&cis)), panels => V::from(Serde(&panels)),
                       changes => V::from(Serde(&changes)), show_changes => p.can(Action::ReadInternalItems),
                       incidents => V::from(Serde(&open)), offerings => V::from(Serde(&offerings)), staff => V::from(Serde(&staff)),
                       can_manage => p.can(Action::ManageReference), stages => V::from(Serde(keel_core::operation::portfolio::service::STAGES)) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

#[derive(Debug, Deserialize, Default)]
struct CiListForm {
    #[serde(default)]
    class: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    after: Option<i64>,
}

async fn cis_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(f): Query<CiListForm>,
) -> Response {
    let r = async {
        p.require(Action::ReadConfiguration)?;
        let params = CiParams {
            class: Some(f.class.clone()),
            status: Some(f.status.clone()),
            q: Some(f.q.clone()),
            service_id: None,
            cursor: None,
            after: f.after,
            limit: Some(100),
        };
        Ok::<_, AppError>((
            configuration::list_cis(&st.db, &params).await?,
            configuration::list_classes(&st.db).await?,
        ))
    }
    .await;
    match r {
        Ok((page, classes)) => clear_flash(st.ui.render(
            "cis.html",
            context! { me => viewer(&p), flash => flash(&headers), page => V::from(Serde(&page)), classes => V::from(Serde(&classes)),
                       f => context! { class => f.class, q => f.q, status => f.status }, can_manage => p.can(Action::ManageConfiguration),
                       statuses => V::from(Serde(keel_core::operation::portfolio::configuration::STATUSES)) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

/// A node of the drawn neighbourhood.
#[derive(Debug, Serialize)]
struct Node {
    id: i64,
    name: String,
    /// The name cut to fit in its circle.
    label: String,
    x: f64,
    y: f64,
}

/// An edge of the drawing, from source to target, labelled with its kind.
#[derive(Debug, Serialize)]
struct Edge {
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
    kind: String,
    lx: f64,
    ly: f64,
}

const SIZE: f64 = 520.0;
const MAX_NEIGHBOURS: usize = 24;

/// Lay the CI's neighbours on a circle around it. Edges stop short of the nodes so arrowheads
/// stay visible.
fn neighbourhood(
    ci: &configuration::Ci,
    rels: &[configuration::Relationship],
) -> (Vec<Node>, Vec<Edge>) {
    let c = SIZE / 2.0;
    let label = |n: &str| -> String {
        if n.chars().count() > 14 {
            n.chars().take(13).chain(['…']).collect()
        } else {
            n.to_string()
        }
    };
    let mut nodes = vec![Node {
        id: ci.id,
        name: ci.name.clone(),
        label: label(&ci.name),
        x: c,
        y: c,
    }];
    let mut edges = vec![];
    let shown: Vec<&configuration::Relationship> = rels.iter().take(MAX_NEIGHBOURS).collect();
    let n = shown.len().max(1) as f64;
    for (i, r) in shown.iter().enumerate() {
        let (other, other_name, outgoing) = if r.source_id == ci.id {
            (r.target_id, &r.target, true)
        } else {
            (r.source_id, &r.source, false)
        };
        let a = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
        let (x, y) = (c + 190.0 * a.cos(), c + 190.0 * a.sin());
        let idx = match nodes.iter().position(|m| m.id == other) {
            Some(j) => j,
            None => {
                nodes.push(Node {
                    id: other,
                    name: other_name.clone(),
                    label: label(other_name),
                    x,
                    y,
                });
                nodes.len() - 1
            }
        };
        let (ox, oy) = (nodes[idx].x, nodes[idx].y);
        let ((sx, sy), (tx, ty)) = if outgoing {
            ((c, c), (ox, oy))
        } else {
            ((ox, oy), (c, c))
        };
        let len = ((tx - sx).powi(2) + (ty - sy).powi(2)).sqrt().max(1.0);
        let (ux, uy) = ((tx - sx) / len, (ty - sy) / len);
        let gap = 34.0;
        edges.push(Edge {
            x1: sx + ux * gap,
            y1: sy + uy * gap,
            x2: tx - ux * gap,
            y2: ty - uy * gap,
            kind: r.kind.replace('_', " "),
            lx: (sx + tx) / 2.0,
            ly: (sy + ty) / 2.0 - 4.0,
        });
    }
    (nodes, edges)
}

/// An audit entry as the CI page lists it.
#[derive(Debug, Serialize)]
struct HistoryLine {
    at: String,
    actor: String,
    action: String,
    /// `field old → new; …`
    changes: String,
}

fn describe_changes(raw: &str) -> String {
    let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} → {}",
                c["field"].as_str().unwrap_or_default(),
                c["old"],
                c["new"]
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn ci_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let r = async {
        p.require(Action::ReadConfiguration)?;
        let ci = configuration::get_ci(&st.db, id).await?;
        let rels = configuration::list_rels(
            &st.db,
            &configuration::RelParams {
                ci: Some(id),
                kind: None,
                after: None,
                limit: Some(500),
            },
        )
        .await?;
        let impact = configuration::impact(
            &st,
            id,
            &ImpactParams {
                direction: None,
                depth: None,
                limit: Some(50),
            },
        )
        .await?;
        let upstream = configuration::impact(
            &st,
            id,
            &ImpactParams {
                direction: Some("upstream".into()),
                depth: None,
                limit: Some(50),
            },
        )
        .await?;
        let history: Vec<HistoryLine> = if p.can(Action::ReadAudit) {
            audit::page(&st.db, None, 50, Some(("ci", Some(&id.to_string()))))
                .await?
                .into_iter()
                .map(|a| HistoryLine {
                    at: iso(a.at),
                    actor: a.actor,
                    action: a.action,
                    changes: describe_changes(&a.changes),
                })
                .collect()
        } else {
            vec![]
        };
        let open = crate::operation::portfolio::affected::open_items_on(&st.db, id).await?;
        Ok::<_, AppError>((ci, rels, impact, upstream, history, open))
    }
    .await;
    match r {
        Ok((ci, rels, impact, upstream, history, open)) => {
            let (nodes, edges) = neighbourhood(&ci, &rels);
            clear_flash(st.ui.render(
                "ci.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), ci => V::from(Serde(&ci)), rels => V::from(Serde(&rels)),
                    impact => V::from(Serde(&impact)), upstream => V::from(Serde(&upstream)), history => V::from(Serde(&history)),
                    open => V::from(Serde(&open)), nodes => V::from(Serde(&nodes)), edges => V::from(Serde(&edges)),
                    more => rels.len() > MAX_NEIGHBOURS, size => SIZE, can_manage => p.can(Action::ManageConfiguration),
                    kinds => V::from(Serde(keel_core::operation::portfolio::configuration::RelKind::ALL.map(|k| k.as_str()))),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_sit_on_a_circle_and_edges_point_source_to_target() {
        let ci = configuration::Ci {
            id: 1,
            class: "server".into(),
            class_id: 1,
            name: "srv".into(),
            identity_key: "srv".into(),
            status: "active".into(),
            attributes: Map::new(),
            service_id: None,
            service: None,
            owner_group_id: None,
            owner_group: None,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        };
        let rel = |id, s, t| configuration::Relationship {
            id,
            source_id: s,
            source: format!("n{s}"),
            kind: "runs_on".into(),
            target_id: t,
            target: format!("n{t}"),
        };
        let (nodes, edges) = neighbourhood(&ci, &[rel(1, 2, 1), rel(2, 1, 3), rel(3, 1, 2)]);
        assert_eq!(nodes.len(), 3, "a neighbour related twice is drawn once");
        for n in &nodes[1..] {
            let r = ((n.x - SIZE / 2.0).powi(2) + (n.y - SIZE / 2.0).powi(2)).sqrt();
            assert!((r - 190.0).abs() < 1e-6);
        }
        // The first relationship points into the centre: its end is nearer the centre.
        let d = |x: f64, y: f64| ((x - SIZE / 2.0).powi(2) + (y - SIZE / 2.0).powi(2)).sqrt();
        assert!(d(edges[0].x2, edges[0].y2) < d(edges[0].x1, edges[0].y1));
        assert!(d(edges[1].x2, edges[1].y2) > d(edges[1].x1, edges[1].y1));
    }
}

// ---------------------------------------------------------------------------------------------
// Writing CIs from the UI

type Pairs = Vec<(String, String)>;

fn pairs(raw: &[u8]) -> Pairs {
    serde_urlencoded::from_bytes(raw).unwrap_or_default()
}

fn value(pairs: &Pairs, k: &str) -> String {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The `attr.<name>` fields of a form, as the API would get them. Every declared field is
/// present: empty clears it, an unticked box is false.
fn attributes_of(
    pairs: &Pairs,
    defs: &[keel_core::operation::portfolio::form::FieldDef],
) -> Map<String, Value> {
    defs.iter()
        .map(|d| {
            let v = pairs
                .iter()
                .find(|(n, _)| n.strip_prefix("attr.") == Some(d.name.as_str()))
                .map(|(_, v)| v.trim().to_string());
            let v = match (d.kind, v) {
                (FieldKind::Boolean, Some(_)) => Value::Bool(true),
                (FieldKind::Boolean, None) => Value::Bool(false),
                (_, Some(v)) if !v.is_empty() => Value::String(v),
                _ => Value::Null,
            };
            (d.name.clone(), v)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn render_ci_form(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    class: Option<&str>,
    ci: Option<&configuration::Ci>,
    values: serde_json::Value,
    attributes: &Map<String, Value>,
    error: Option<AppError>,
) -> Response {
    let r = async {
        p.require(Action::ManageConfiguration)?;
        let classes = configuration::list_classes(&st.db).await?;
        let class = match class {
            Some(c) => Some(
                classes
                    .iter()
                    .find(|k| k.name == c)
                    .cloned()
                    .ok_or_else(|| AppError::NotFound(format!("CI class {c}")))?,
            ),
            None => None,
        };
        let services = crate::directory::list_named(&st.db, "services").await?;
        let users = people(st, p).await?;
        Ok::<_, AppError>((classes, class, services, users))
    }
    .await;
    match r {
        Ok((classes, class, services, users)) => {
            let (field, msg) = form_error(&error);
            let resp = st.ui.render(
                "ci_form.html",
                context! {
                    me => viewer(p), flash => (), classes => V::from(Serde(&classes)), class => class.as_ref().map(|c| V::from(Serde(c))),
                    ci => ci.map(|c| V::from(Serde(c))), services => V::from(Serde(&services)), users => V::from(Serde(&users)),
                    statuses => V::from(Serde(keel_core::operation::portfolio::configuration::STATUSES)),
                    values => V::from(Serde(&values)), attributes => V::from(Serde(attributes)), error => msg, error_field => field,
                },
            );
            unprocessable_if(resp, error.is_some())
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

#[derive(Debug, Deserialize, Default)]
struct ClassQuery {
    class: Option<String>,
}

async fn new_ci_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Query(q): Query<ClassQuery>,
) -> Response {
    let values = serde_json::json!({"name": "", "status": "active", "service_id": ""});
    render_ci_form(
        &st,
        &p,
        q.class.as_deref().filter(|c| !c.is_empty()),
        None,
        values,
        &Map::new(),
        None,
    )
    .await
}

async fn new_ci_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Query(q): Query<ClassQuery>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let class = q.class.unwrap_or_default();
    let mut attributes = Map::new();
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        p.require(Action::ManageConfiguration)?;
        let defs = configuration::class_named(&st.db, &class, "class")
            .await?
            .attributes;
        attributes = attributes_of(&f, &defs);
        attributes.retain(|_, v| !v.is_null());
        configuration::create_ci(
            &st.db,
            &p,
            configuration::NewCi {
                class: class.clone(),
                name: value(&f, "name"),
                status: Some(value(&f, "status")),
                attributes: attributes.clone(),
                service_id: value(&f, "service_id").parse().ok(),
                owner_group_id: None,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(ci) => redirect_with_flash(&format!("/cis/{}", ci.id), "Configuration item created."),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let values = serde_json::json!({"name": value(&f, "name"), "status": value(&f, "status"), "service_id": value(&f, "service_id")});
            render_ci_form(&st, &p, Some(&class), None, values, &attributes, Some(e)).await
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

fn ci_values(ci: &configuration::Ci) -> serde_json::Value {
    serde_json::json!({"name": ci.name, "status": ci.status, "service_id": ci.service_id.map(|s| s.to_string()).unwrap_or_default()})
}

async fn edit_ci_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Response {
    match configuration::get_ci(&st.db, id).await {
        Ok(ci) => {
            render_ci_form(
                &st,
                &p,
                Some(&ci.class),
                Some(&ci),
                ci_values(&ci),
                &ci.attributes,
                None,
            )
            .await
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn edit_ci_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let ci = match configuration::get_ci(&st.db, id).await {
        Ok(ci) => ci,
        Err(e) => return page_error(&st, Some(&p), e),
    };
    let mut attrs = Map::new();
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        p.require(Action::ManageConfiguration)?;
        let defs = configuration::class_named(&st.db, &ci.class, "class")
            .await?
            .attributes;
        attrs = attributes_of(&f, &defs);
        let service = value(&f, "service_id");
        configuration::update_ci(
            &st.db,
            &p,
            id,
            configuration::CiPatch {
                name: Some(value(&f, "name")),
                status: Some(value(&f, "status")),
                attributes: Some(attrs.clone()),
                service_id: Some(service.parse().ok()),
                owner_group_id: None,
                version: value(&f, "version").parse().ok(),
            },
        )
        .await
    }
    .await;
    match r {
        Ok(_) => redirect_with_flash(&format!("/cis/{id}"), "Saved."),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Stale { .. })) => {
            let values = serde_json::json!({"name": value(&f, "name"), "status": value(&f, "status"), "service_id": value(&f, "service_id")});
            let shown: Map<String, Value> =
                attrs.into_iter().filter(|(_, v)| !v.is_null()).collect();
            render_ci_form(&st, &p, Some(&ci.class), Some(&ci), values, &shown, Some(e)).await
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn relationship_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        p.require(Action::ManageConfiguration)?;
        let remove = value(&f, "remove");
        if !remove.is_empty() {
            let rel: i64 = remove
                .parse()
                .map_err(|_| AppError::invalid("remove", "is not a relationship id"))?;
            configuration::delete_rel(&st.db, &p, rel).await?;
            return Ok("Relationship removed.");
        }
        let other = crate::operation::portfolio::affected::resolve(&st.db, &value(&f, "other"))
            .await
            .map_err(|e| match e {
                AppError::Invalid { detail, .. } => AppError::invalid("other", detail),
                e => e,
            })?;
        let (source_id, target_id) = if value(&f, "direction") == "in" {
            (other, id)
        } else {
            (id, other)
        };
        configuration::create_rel(
            &st.db,
            &p,
            configuration::NewRelationship {
                source_id,
                kind: value(&f, "kind"),
                target_id,
            },
        )
        .await?;
        Ok::<_, AppError>("Relationship added.")
    }
    .await;
    match r {
        Ok(msg) => redirect_with_flash(&format!("/cis/{id}"), msg),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn service_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
    RawForm(raw): RawForm,
) -> Response {
    let f = pairs(&raw);
    let r = async {
        check_csrf(&p, &value(&f, "csrf"))?;
        service::update(
            &st.db,
            &p,
            id,
            service::ServicePatch {
                stage: Some(value(&f, "stage")),
                owner_id: Some(value(&f, "owner_id").parse().ok()),
                requirements: Some(value(&f, "requirements")),
                version: value(&f, "version").parse().ok(),
                ..Default::default()
            },
        )
        .await
    }
    .await;
    match r {
        Ok(_) => redirect_with_flash(&format!("/services/{id}"), "Saved."),
        Err(e) => page_error(&st, Some(&p), e),
    }
}
