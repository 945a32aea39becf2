//! The work-item pages: list with filters and sorting, detail with timeline, edit, comment,
//! new-item form. Generic over the kind; incidents are mounted at `/incidents`.

use super::{Filter, ItemRow, Patch, Scope, SortKey};
use crate::kernel::api::{ItemView, ListParams};
use crate::platform::error::AppError;
use crate::platform::ui::{
    WebUser, check_csrf, clear_flash, flash, page_error, redirect_with_flash, viewer,
};
use crate::platform::web::AppState;
use crate::{directory, kernel};
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::Action;
use keel_core::kernel::Kind;
use keel_core::page::{self, Cursor};
use minijinja::value::Serde;
use minijinja::{Value as V, context};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(list_page).post(create_submit))
        .route("/incidents/new", get(new_page))
        .route("/incidents/{number}", get(detail_page).post(update_submit))
        .route("/incidents/{number}/comments", post(comment_submit))
        .route("/incidents/{number}/attachments", post(upload_submit))
        .route("/incidents/{number}/attachments/{id}", get(download))
}

const K: Kind = Kind::Incident;

async fn list_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(q): Query<ListParams>,
) -> Response {
    let result = async {
        p.require(Action::ReadWorkItems)?;
        let limit = page::limit(q.limit).map_err(|e| AppError::invalid("limit", e))?;
        let cursor = q
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| AppError::invalid("cursor", e))?;
        let filter: Filter = q.filter(K, &p)?;
        let sort: (SortKey, bool) = q.sort()?;
        let page = kernel::list(&st.db, K, Scope::of(&p), &filter, sort, cursor, limit).await?;
        let groups = if p.can(Action::ReadDirectory) {
            directory::list_groups(&st.db).await?
        } else {
            vec![]
        };
        Ok::<_, AppError>((page, groups))
    }
    .await;
    match result {
        Ok((page, groups)) => {
            let items: Vec<ItemView> = page.items.into_iter().map(ItemView::from).collect();
            let base_q = q.to_query();
            let next = page.next_cursor.as_ref().map(|c| {
                let sep = if base_q.is_empty() { "" } else { "&" };
                format!("/incidents?{base_q}{sep}cursor={c}")
            });
            let r = st.ui.render(
                "items.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), kind => K.as_str(), base => "/incidents",
                    items => V::from(Serde(&items)), next => next,
                    states => V::from(Serde(K.lifecycle().states)), groups => V::from(Serde(&groups)),
                    f => context! { state => q.state.clone().unwrap_or_default(), sort => q.sort.clone().unwrap_or_else(|| "-created_at".into()), q => q.q.clone().unwrap_or_default(),
                                    assignee => q.assignee.clone().unwrap_or_default(), group => q.assignment_group_id, open => q.open, unassigned => q.unassigned.unwrap_or(false) },
                },
            );
            clear_flash(r)
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn new_page(State(st): State<AppState>, WebUser(p): WebUser) -> Response {
    if let Err(e) = p.require(Action::CreateIncident) {
        return page_error(&st, Some(&p), e);
    }
    render_new(&st, &p, None, &NewForm::default()).await
}

async fn render_new(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    error: Option<AppError>,
    f: &NewForm,
) -> Response {
    let services = directory::list_named(&st.db, "services")
        .await
        .unwrap_or_default();
    let (field, msg) = match &error {
        Some(AppError::Invalid { field, detail }) => {
            (Some(field.clone()), Some(format!("{field}: {detail}")))
        }
        Some(e) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let mut r = st.ui.render(
        "item_new.html",
        context! { me => viewer(p), flash => (), kind => K.as_str(), base => "/incidents", services => V::from(Serde(&services)), categories => V::from(Serde(kernel::vocabulary(K).categories)),
                   error => msg, error_field => field, f => context! { title => f.title.clone(), description => f.description.clone(), impact => f.impact.clone().unwrap_or_else(|| "3".into()), urgency => f.urgency.clone().unwrap_or_else(|| "3".into()), category => f.category.clone(), service_id => f.service_id.clone() } },
    );
    if let Some(e) = error {
        *r.status_mut() = e.status();
    }
    r
}

#[derive(Deserialize, Default)]
struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    impact: Option<String>,
    urgency: Option<String>,
    category: Option<String>,
    service_id: Option<String>,
}

fn opt_num(field: &str, v: &Option<String>) -> Result<Option<i64>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(field, "must be a number")),
    }
}

fn opt_text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

async fn create_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Form(f): Form<NewForm>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::CreateIncident)?;
        let input = kernel::NewItem {
            title: f.title.clone(),
            description: f.description.clone(),
            impact: opt_num("impact", &f.impact)?,
            urgency: opt_num("urgency", &f.urgency)?,
            category: opt_text(&f.category),
            service_id: opt_num("service_id", &f.service_id)?,
            ..Default::default()
        };
        kernel::create(&st.db, K, &p.actor(), &p, input).await
    }
    .await;
    match result {
        Ok(row) => redirect_with_flash(
            &format!("/incidents/{}", row.number),
            &format!("{} created.", row.number),
        ),
        Err(e @ AppError::Invalid { .. }) => render_new(&st, &p, Some(e), &f).await,
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn detail_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    match load_detail(&st, &p, &number).await {
        Ok(ctx) => clear_flash(render_detail(&st, &p, ctx, flash(&headers), None)),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

struct Detail {
    row: ItemRow,
    comments: Vec<kernel::Comment>,
    history: Vec<crate::kernel::api::HistoryEntry>,
    links: Vec<kernel::Link>,
    attachments: Vec<kernel::Attachment>,
    groups: Vec<directory::Group>,
    agents: Vec<directory::User>,
    services: Vec<directory::Named>,
    clocks: Vec<SlaLine>,
}

/// An SLA clock as the item page shows it.
#[derive(serde::Serialize)]
struct SlaLine {
    metric: String,
    target: String,
    status: String,
    percent: i64,
    breached: bool,
    /// "due 2026-11-25 14:00 (in 1 h 20 min)", "breached 2026-11-25 10:00", "met", "paused, 2 h 10 min left".
    summary: String,
}

/// "1 d 2 h", "3 h 05 min", "12 min" — working time, so days are rarely shown.
fn human_ms(ms: i64) -> String {
    let m = ms.abs() / 60_000;
    let (d, h, min) = (m / 1440, (m % 1440) / 60, m % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {min:02} min")
    } else {
        format!("{min} min")
    }
}

fn when(iso: &str) -> String {
    iso.get(..16).unwrap_or(iso).replace('T', " ")
}

impl From<kernel::clocks::ClockView> for SlaLine {
    fn from(c: kernel::clocks::ClockView) -> Self {
        let summary = match (c.status.as_str(), &c.breached_at, &c.due_at) {
            (_, Some(b), _) => format!("breached {} UTC", when(b)),
            ("stopped", None, _) => "met".to_string(),
            ("paused", None, _) => format!("paused, {} left", human_ms(c.remaining_ms)),
            (_, None, Some(d)) => format!(
                "due {} UTC ({} of working time left)",
                when(d),
                human_ms(c.remaining_ms)
            ),
            _ => format!("{} left", human_ms(c.remaining_ms)),
        };
        SlaLine {
            metric: c.metric,
            target: format!(
                "{} ({})",
                c.target.name,
                human_ms(c.target_minutes * 60_000)
            ),
            status: c.status,
            percent: c.percent.clamp(0, 100),
            breached: c.breached,
            summary,
        }
    }
}

async fn load_detail(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    number: &str,
) -> Result<Detail, AppError> {
    p.require(Action::ReadWorkItems)?;
    let row = kernel::get(&st.db, K, number, Scope::of(p)).await?;
    let comments = kernel::comments(&st.db, &row, p.can(Action::InternalNotes)).await?;
    let history = if p.can(Action::ReadAudit) {
        let mut h: Vec<crate::kernel::api::HistoryEntry> =
            crate::management::support::audit_trail::for_entity(&st.db, K.as_str(), &row.number)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
        if !p.can(Action::InternalNotes) {
            h.retain(|e| e.action != "comment.internal");
        }
        name_references(st, &mut h).await?;
        h
    } else {
        vec![]
    };
    let links = kernel::visible_links(&st.db, &row, p).await?;
    let attachments = kernel::attachments(&st.db, &row).await?;
    let clocks = kernel::clocks::read(&st.db, &row, crate::platform::db::now_ms())
        .await?
        .into_iter()
        .map(SlaLine::from)
        .collect();
    let (groups, agents, services) = if p.can(Action::UpdateWorkItems) {
        let agents = directory::list_users(&st.db)
            .await?
            .into_iter()
            .filter(|u| !matches!(u.role.as_str(), "requester" | "auditor") && u.disabled == 0)
            .collect();
        (
            directory::list_groups(&st.db).await?,
            agents,
            directory::list_named(&st.db, "services").await?,
        )
    } else {
        (vec![], vec![], vec![])
    };
    Ok(Detail {
        row,
        comments,
        history,
        links,
        attachments,
        groups,
        agents,
        services,
        clocks,
    })
}

fn render_detail(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    d: Detail,
    flash: Option<String>,
    error: Option<AppError>,
) -> Response {
    let vocab = kernel::vocabulary(K);
    let (field, msg) = match &error {
        Some(AppError::Invalid { field, detail }) => {
            (Some(field.clone()), Some(format!("{field}: {detail}")))
        }
        Some(e) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let mut r = st.ui.render(
        "item.html",
        context! {
            me => viewer(p), flash => flash, kind => K.as_str(), base => "/incidents", item => V::from(Serde(&ItemView::from(d.row))),
            clocks => V::from(Serde(&d.clocks)), comments => V::from(Serde(&d.comments)), history => V::from(Serde(&d.history)), links => V::from(Serde(&d.links)), attachments => V::from(Serde(&d.attachments)),
            groups => V::from(Serde(&d.groups)), agents => V::from(Serde(&d.agents)), services => V::from(Serde(&d.services)),
            categories => V::from(Serde(&vocab.categories)), hold_reasons => V::from(Serde(&vocab.hold_reasons)), resolution_codes => V::from(Serde(&vocab.resolution_codes)),
            error => msg, error_field => field,
        },
    );
    if let Some(e) = error {
        *r.status_mut() = e.status();
    }
    r
}

#[derive(Deserialize)]
struct UpdateForm {
    #[serde(default)]
    csrf: String,
    version: Option<i64>,
    title: Option<String>,
    description: Option<String>,
    impact: Option<String>,
    urgency: Option<String>,
    category: Option<String>,
    service_id: Option<String>,
    assignment_group_id: Option<String>,
    assignee_id: Option<String>,
    state: Option<String>,
    hold_reason: Option<String>,
    resolution_code: Option<String>,
    resolution_notes: Option<String>,
}

async fn update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<UpdateForm>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::UpdateWorkItems)?;
        let patch = Patch {
            title: f.title.clone(),
            description: f.description.clone(),
            impact: opt_num("impact", &f.impact)?,
            urgency: opt_num("urgency", &f.urgency)?,
            category: f.category.as_ref().map(|_| opt_text(&f.category)),
            service_id: f
                .service_id
                .as_ref()
                .map(|_| opt_num("service_id", &f.service_id))
                .transpose()?,
            assignment_group_id: f
                .assignment_group_id
                .as_ref()
                .map(|_| opt_num("assignment_group_id", &f.assignment_group_id))
                .transpose()?,
            assignee_id: f
                .assignee_id
                .as_ref()
                .map(|_| opt_num("assignee_id", &f.assignee_id))
                .transpose()?,
            state: opt_text(&f.state),
            hold_reason: f.hold_reason.as_ref().map(|_| opt_text(&f.hold_reason)),
            resolution_code: f
                .resolution_code
                .as_ref()
                .map(|_| opt_text(&f.resolution_code)),
            resolution_notes: f
                .resolution_notes
                .as_ref()
                .map(|_| opt_text(&f.resolution_notes)),
            details: None,
        };
        kernel::update(
            &st.db,
            K,
            &number,
            Scope::of(&p),
            &p.actor(),
            patch,
            f.version,
        )
        .await
    }
    .await;
    match result {
        Ok(row) => redirect_with_flash(&format!("/incidents/{}", row.number), "Saved."),
        Err(e) => detail_with_error(&st, &p, &number, e).await,
    }
}

#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    internal: Option<String>,
}

async fn comment_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<CommentForm>,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::CommentPublic)?;
        let row = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
        kernel::add_comment(&st.db, &row, &p, &p.actor(), &f.body, f.internal.is_some()).await
    }
    .await;
    match result {
        Ok(_) => redirect_with_flash(&format!("/incidents/{number}#comments"), "Comment added."),
        Err(e) => detail_with_error(&st, &p, &number, e).await,
    }
}

/// A form on the detail page failed: show the page again with the error next to the form when
/// the user can fix it (a field, an illegal move, a stale version); otherwise an error page.
async fn detail_with_error(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    number: &str,
    e: AppError,
) -> Response {
    if !matches!(
        e,
        AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Stale { .. }
    ) {
        return page_error(st, Some(p), e);
    }
    match load_detail(st, p, number).await {
        Ok(d) => render_detail(st, p, d, None, Some(e)),
        Err(e2) => page_error(st, Some(p), e2),
    }
}

/// Upload a file from the detail page (multipart form with `csrf` and `file`).
async fn upload_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    mut mp: axum::extract::Multipart,
) -> Response {
    let result = async {
        p.require(Action::Attach)?;
        let row = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
        let mut csrf = String::new();
        let mut file: Option<(String, String, Vec<u8>)> = None;
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?
        {
            match field.name() {
                Some("csrf") => {
                    csrf = field
                        .text()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?
                }
                Some("file") => {
                    let name = field.file_name().unwrap_or("file").to_string();
                    let ct = field
                        .content_type()
                        .unwrap_or("application/octet-stream")
                        .to_string();
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?;
                    file = Some((name, ct, bytes.to_vec()));
                }
                _ => {}
            }
        }
        check_csrf(&p, &csrf)?;
        let (name, ct, bytes) = file
            .filter(|f| !f.2.is_empty())
            .ok_or_else(|| AppError::invalid("file", "choose a non-empty file"))?;
        if bytes.len() > st.cfg.max_attachment_bytes {
            return Err(AppError::TooLarge {
                limit: st.cfg.max_attachment_bytes,
            });
        }
        kernel::add_attachment(
            &st.db,
            st.cfg.attachments_dir.as_deref(),
            &row,
            &p.actor(),
            &name,
            &ct,
            bytes,
        )
        .await
    }
    .await;
    match result {
        Ok(a) => redirect_with_flash(
            &format!("/incidents/{number}"),
            &format!("Attached {}.", a.filename),
        ),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn download(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
) -> Response {
    match crate::kernel::api::download(&st, &p, K, &number, id).await {
        Ok(r) => r,
        Err(e) => page_error(&st, Some(&p), e),
    }
}

/// Show referenced records by name in the history table (`assignee_id: 4` → `Alex Agent (#4)`);
/// the API keeps the raw ids.
async fn name_references(
    st: &AppState,
    history: &mut [crate::kernel::api::HistoryEntry],
) -> Result<(), AppError> {
    use std::collections::HashMap;
    let mut tables: HashMap<&str, HashMap<i64, String>> = HashMap::new();
    for (field, table) in [
        ("requester_id", "users"),
        ("assignee_id", "users"),
        ("assignment_group_id", "support_groups"),
        ("service_id", "services"),
        ("customer_id", "customers"),
    ] {
        let used = history.iter().any(|e| {
            e.changes
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["field"] == field))
        });
        if used && !tables.contains_key(table) {
            let rows = directory::list_named(&st.db, table).await?;
            tables.insert(table, rows.into_iter().map(|n| (n.id, n.name)).collect());
        }
    }
    let table_of = |f: &str| match f {
        "requester_id" | "assignee_id" => Some("users"),
        "assignment_group_id" => Some("support_groups"),
        "service_id" => Some("services"),
        "customer_id" => Some("customers"),
        _ => None,
    };
    for e in history.iter_mut() {
        let Some(cs) = e.changes.as_array_mut() else {
            continue;
        };
        for c in cs.iter_mut() {
            let Some(t) = c["field"]
                .as_str()
                .and_then(table_of)
                .and_then(|t| tables.get(t))
            else {
                continue;
            };
            for side in ["old", "new"] {
                if let Some(id) = c[side].as_i64() {
                    let name = t.get(&id).cloned().unwrap_or_else(|| "unknown".into());
                    c[side] = serde_json::Value::String(format!("{name} (#{id})"));
                }
            }
        }
    }
    Ok(())
}
