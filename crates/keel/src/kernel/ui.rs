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

/// The pages of every kind a process registered.
pub fn routes() -> Router<AppState> {
    kernel::process::kinds()
        .into_iter()
        .fold(Router::new(), |r, kind| r.merge(routes_for(kind)))
}

/// The pages of one kind, under `/incidents`, `/problems`, `/known-errors`.
fn routes_for(k: Kind) -> Router<AppState> {
    let base = format!("/{}", k.collection());
    Router::new()
        .route(
            &base,
            get(
                move |s: State<AppState>, u: WebUser, h: HeaderMap, q: Query<ListParams>| {
                    list_page(s, u, h, q, k)
                },
            )
            .post(move |s: State<AppState>, u: WebUser, f: Form<NewForm>| {
                create_submit(s, u, f, k)
            }),
        )
        .route(
            &format!("{base}/new"),
            get(move |s: State<AppState>, u: WebUser| new_page(s, u, k)),
        )
        .route(
            &format!("{base}/{{number}}"),
            get(
                move |s: State<AppState>, u: WebUser, h: HeaderMap, n: Path<String>| {
                    detail_page(s, u, h, n, k)
                },
            )
            .post(
                move |s: State<AppState>, u: WebUser, n: Path<String>, f: Form<UpdateForm>| {
                    update_submit(s, u, n, f, k)
                },
            ),
        )
        .route(
            &format!("{base}/{{number}}/comments"),
            post(
                move |s: State<AppState>, u: WebUser, n: Path<String>, f: Form<CommentForm>| {
                    comment_submit(s, u, n, f, k)
                },
            ),
        )
        .route(
            &format!("{base}/{{number}}/attachments"),
            post(
                move |s: State<AppState>,
                      u: WebUser,
                      n: Path<String>,
                      m: axum::extract::Multipart| upload_submit(s, u, n, m, k),
            ),
        )
        .route(
            &format!("{base}/{{number}}/attachments/{{id}}"),
            get(move |s: State<AppState>, u: WebUser, n: Path<(String, i64)>| download(s, u, n, k)),
        )
        .route(
            &format!("{base}/bulk"),
            post(
                move |s: State<AppState>, u: WebUser, f: axum::extract::RawForm| {
                    bulk_submit(s, u, f, k)
                },
            ),
        )
}

/// How the UI names a kind: (plural heading, singular).
fn labels(k: Kind) -> (&'static str, &'static str) {
    k.spec().label
}

pub fn base(k: Kind) -> String {
    format!("/{}", k.collection())
}

/// A kind's detail fields with their current values, for display and the edit form.
/// `options` are the choices a process keeps in the database for some fields (value, label).
fn detail_fields(
    k: Kind,
    values: &serde_json::Map<String, serde_json::Value>,
    options: &[(&'static str, Vec<(String, String)>)],
) -> V {
    let fields: Vec<V> = k
        .details()
        .iter()
        .map(|f| {
            let opts = options.iter().find(|(n, _)| *n == f.name).map(|(_, o)| V::from(Serde(o)));
            context! {
                name => f.name, label => f.label, choices => f.choices.map(|c| V::from(Serde(c))), date => f.date,
                options => opts,
                value => values.get(f.name).and_then(|v| v.as_str()).unwrap_or_default(),
            }
        })
        .collect();
    V::from(fields)
}

async fn list_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(q): Query<ListParams>,
    k: Kind,
) -> Response {
    if let Err(e) = crate::kernel::api::require_read(&p, k) {
        return page_error(&st, Some(&p), e);
    }
    let result = async {
        let limit = page::limit(q.limit).map_err(|e| AppError::invalid("limit", e))?;
        let cursor = q
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| AppError::invalid("cursor", e))?;
        let filter: Filter = q.filter(k, &p)?;
        let sort: (SortKey, bool) = q.sort()?;
        kernel::list(&st.db, k, Scope::of(&p), &filter, sort, cursor, limit).await
    }
    .await;
    // A filter that does not parse shows the page again with the error, not an error page.
    let (page, error) = match result {
        Ok(page) => (page, None),
        Err(e @ AppError::BadQuery { .. }) => (kernel::Page::default(), Some(e.to_string())),
        Err(e) => return page_error(&st, Some(&p), e),
    };
    let extras = async {
        let groups = if p.can(Action::ReadDirectory) {
            directory::list_groups(&st.db).await?
        } else {
            vec![]
        };
        let views = crate::kernel::views::visible(&st.db, &p, Some(k)).await?;
        Ok::<_, AppError>((groups, views))
    }
    .await;
    let (groups, views) = match extras {
        Ok(x) => x,
        Err(e) => return page_error(&st, Some(&p), e),
    };
    let items: Vec<ItemView> = page.items.into_iter().map(ItemView::from).collect();
    let pages = kernel::process::pages(k);
    let base_q = q.to_query();
    let next = page.next_cursor.as_ref().map(|c| {
        let sep = if base_q.is_empty() { "" } else { "&" };
        format!("{}?{base_q}{sep}cursor={c}", base(k))
    });
    let mut r = st.ui.render(
        "items.html",
        context! {
            me => viewer(&p), flash => flash(&headers), kind => k.as_str(), base => base(k), label => labels(k).0, singular => labels(k).1,
            heading => pages.for_requesters.filter(|_| p.role.is_scoped_to_own_records()).map(|w| w.0),
            raised_from_nav => pages.raised_from_nav, list_links => V::from(Serde(pages.list_links)),
            can_create_kind => crate::kernel::api::require_create(&p, k).is_ok(), can_save_views => p.can(Action::OwnViews), can_share_views => p.can(Action::ManageReference),
            items => V::from(Serde(&items)), next => next, error => error.clone(), current_query => base_q.clone(),
            export => format!("/api/v1/{}?{base_q}{}format=csv", k.collection(), if base_q.is_empty() { "" } else { "&" }),
            views => V::from(Serde(&views)),
            states => V::from(Serde(k.lifecycle().states)), groups => V::from(Serde(&groups)),
            f => context! { state => q.state.clone().unwrap_or_default(), sort => q.sort.clone().unwrap_or_else(|| "-created_at".into()), q => q.q.clone().unwrap_or_default(),
                            assignee => q.assignee.clone().unwrap_or_default(), group => q.assignment_group_id, open => q.open, unassigned => q.unassigned.unwrap_or(false),
                            filter => q.filter.clone().unwrap_or_default(), sla => q.sla.clone().unwrap_or_default(),
                            my_groups => q.group.as_deref() == Some("mine") },
        },
    );
    if error.is_some() {
        *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    clear_flash(r)
}

async fn new_page(State(st): State<AppState>, WebUser(p): WebUser, k: Kind) -> Response {
    if let Err(e) = crate::kernel::api::require_create(&p, k) {
        return page_error(&st, Some(&p), e);
    }
    render_new(&st, &p, None, &NewForm::default(), k).await
}

async fn render_new(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    error: Option<AppError>,
    f: &NewForm,
    k: Kind,
) -> Response {
    let services = directory::list_named(&st.db, "services")
        .await
        .unwrap_or_default();
    let (field, msg) = crate::platform::ui::form_error(&error);
    let pages = kernel::process::pages(k);
    let options = kernel::process::choices(st, k).await.unwrap_or_default();
    let mut r = st.ui.render(
        "item_new.html",
        context! { me => viewer(p), flash => (), kind => k.as_str(), base => base(k), label => labels(k).0, singular => labels(k).1, services => V::from(Serde(&services)), categories => V::from(Serde(kernel::vocabulary(k).categories)),
                   heading => pages.for_requesters.filter(|_| p.role.is_scoped_to_own_records()).map(|w| w.1), knowledge_first => pages.knowledge_first && p.role.is_scoped_to_own_records(),
                   details => if pages.details_after_raise { V::from(Vec::<V>::new()) } else { detail_fields(k, &f.details(), &options) },
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
    /// Detail fields arrive as `d_<name>`.
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

impl NewForm {
    fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        form_details(&self.rest)
    }
}

/// `d_<name>` form fields as a details patch (an empty value clears the field).
fn form_details(
    rest: &std::collections::HashMap<String, String>,
) -> serde_json::Map<String, serde_json::Value> {
    rest.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("d_")
                .map(|name| (name.to_string(), serde_json::Value::String(v.clone())))
        })
        .collect()
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
    k: Kind,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        crate::kernel::api::require_create(&p, k)?;
        let input = kernel::NewItem {
            title: f.title.clone(),
            description: f.description.clone(),
            impact: opt_num("impact", &f.impact)?,
            urgency: opt_num("urgency", &f.urgency)?,
            category: opt_text(&f.category),
            service_id: opt_num("service_id", &f.service_id)?,
            details: f.details(),
            ..Default::default()
        };
        kernel::raise(&st.db, k, &p, input).await
    }
    .await;
    match result {
        Ok(row) => redirect_with_flash(
            &format!("{}/{}", base(k), row.number),
            &format!("{} created.", row.number),
        ),
        Err(e @ AppError::Invalid { .. }) => render_new(&st, &p, Some(e), &f, k).await,
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn detail_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
    k: Kind,
) -> Response {
    match load_detail(&st, &p, &number, k).await {
        Ok(ctx) => clear_flash(render_detail(&st, &p, ctx, flash(&headers), None, k)),
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
    approvals: Vec<crate::kernel::approvals::Approval>,
    tasks: Vec<crate::kernel::tasks::Task>,
    /// What the processes show on the page.
    panels: Vec<kernel::process::Panel>,
}

async fn load_detail(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    number: &str,
    k: Kind,
) -> Result<Detail, AppError> {
    crate::kernel::api::require_read(p, k)?;
    let row = kernel::get(&st.db, k, number, Scope::of(p)).await?;
    let comments = kernel::comments(&st.db, &row, p.can(Action::InternalNotes)).await?;
    let history = if p.can(Action::ReadAudit) {
        let mut h: Vec<crate::kernel::api::HistoryEntry> =
            crate::platform::audit::for_entity(&st.db, k.as_str(), &row.number)
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
    let (approvals, tasks) = if k.approval_moves().is_some() || !k.spec().tasks_label.is_empty() {
        (
            crate::kernel::approvals::list(&st.db, &row).await?,
            crate::kernel::tasks::list(&st.db, &row).await?,
        )
    } else {
        (vec![], vec![])
    };
    let panels = kernel::process::panels(st, p, &row, k).await?;
    Ok(Detail {
        panels,
        approvals,
        tasks,
        row,
        comments,
        history,
        links,
        attachments,
        groups,
        agents,
        services,
    })
}

fn render_detail(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    d: Detail,
    flash: Option<String>,
    error: Option<AppError>,
    k: Kind,
) -> Response {
    let vocab = kernel::vocabulary(k);
    let (field, msg) = crate::platform::ui::form_error(&error);
    let mut r = st.ui.render(
        "item.html",
        context! {
            me => viewer(p), flash => flash, kind => k.as_str(), base => base(k), label => labels(k).0, singular => labels(k).1,
            details => detail_fields(k, &d.row.details_map(), &[]),
            panels => V::from(Serde(&d.panels)),
            approvals => V::from(Serde(&d.approvals)), tasks => V::from(Serde(&d.tasks)), my_id => p.user_id,
            approval_state => k.approval_moves().map(|m| m.0).unwrap_or_default(),
            tasks_label => k.spec().tasks_label, priority_override => k.spec().priority_override,
            item => V::from(Serde(&ItemView::from(d.row))),
            comments => V::from(Serde(&d.comments)), history => V::from(Serde(&d.history)), links => V::from(Serde(&d.links)), attachments => V::from(Serde(&d.attachments)),
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
    /// Text, not a number: `serde(flatten)` below hands every value over as a string.
    version: Option<String>,
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
    /// `""` for the matrix, `1`–`5` to override (incidents).
    priority_override: Option<String>,
    priority_reason: Option<String>,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

async fn update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    Form(f): Form<UpdateForm>,
    k: Kind,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::UpdateWorkItems)?;
        let details = form_details(&f.rest);
        // The override select: a level overrides (with the reason); "from the matrix" returns
        // the item to it. An unchanged choice changes nothing (the kernel diffs).
        let priority = match opt_num("priority_override", &f.priority_override)? {
            Some(level) => Some(Some(level)),
            None if f.priority_override.is_some() => Some(None),
            None => None,
        };
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
            details: (!details.is_empty()).then_some(details),
            priority,
            priority_reason: opt_text(&f.priority_reason),
        };
        let version = opt_num("version", &f.version)?;
        kernel::update(
            &st.db,
            k,
            &number,
            Scope::of(&p),
            &p.actor(),
            patch,
            version,
        )
        .await
    }
    .await;
    match result {
        Ok(row) => redirect_with_flash(&format!("{}/{}", base(k), row.number), "Saved."),
        Err(e) => detail_with_error(&st, &p, &number, e, k).await,
    }
}

/// "Update selected" on a list: one change applied to each checked item in turn, each in its own
/// transaction and audited as usual; what could not be changed is reported, not hidden.
async fn bulk_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    axum::extract::RawForm(raw): axum::extract::RawForm,
    k: Kind,
) -> Response {
    // Several `n` values: parse the pairs by hand (serde_urlencoded keeps only one).
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&raw).unwrap_or_default();
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let back = format!("{}?{}", base(k), get("back"));
    let result = async {
        check_csrf(&p, &get("csrf"))?;
        p.require(Action::UpdateWorkItems)?;
        let numbers: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "n")
            .map(|(_, v)| v.clone())
            .collect();
        if numbers.is_empty() {
            return Err(AppError::invalid("n", "select at least one item"));
        }
        let state = Some(get("state")).filter(|s| !s.is_empty());
        let group = opt_num("assignment_group_id", &Some(get("assignment_group_id")))?;
        let to_me = get("assign_to_me") == "1";
        if state.is_none() && group.is_none() && !to_me {
            return Err(AppError::invalid("state", "choose what to change"));
        }
        let (mut done, mut failed) = (0, vec![]);
        for n in &numbers {
            let patch = Patch {
                state: state.clone(),
                assignment_group_id: group.map(Some),
                assignee_id: to_me.then_some(Some(p.user_id)),
                ..Default::default()
            };
            match kernel::update(&st.db, k, n, Scope::of(&p), &p.actor(), patch, None).await {
                Ok(_) => done += 1,
                Err(
                    e @ (AppError::Invalid { .. }
                    | AppError::Conflict(_)
                    | AppError::NotFound(_)
                    | AppError::Stale { .. }),
                ) => failed.push(format!("{n}: {e}")),
                Err(e) => return Err(e),
            }
        }
        Ok((done, failed))
    }
    .await;
    match result {
        Ok((done, failed)) if failed.is_empty() => {
            redirect_with_flash(&back, &format!("Updated {done}."))
        }
        Ok((done, failed)) => redirect_with_flash(
            &back,
            &format!("Updated {done}; not changed: {}", failed.join("; ")),
        ),
        Err(e @ AppError::Invalid { .. }) => {
            redirect_with_flash(&back, &format!("Nothing changed: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
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
    k: Kind,
) -> Response {
    let result = async {
        check_csrf(&p, &f.csrf)?;
        p.require(Action::CommentPublic)?;
        crate::kernel::api::require_read(&p, k)?;
        let row = kernel::get(&st.db, k, &number, Scope::of(&p)).await?;
        kernel::add_comment(&st.db, &row, &p, &p.actor(), &f.body, f.internal.is_some()).await
    }
    .await;
    match result {
        Ok(_) => redirect_with_flash(&format!("{}/{number}#comments", base(k)), "Comment added."),
        Err(e) => detail_with_error(&st, &p, &number, e, k).await,
    }
}

/// A form on the detail page failed: show the page again with the error next to the form when
/// the user can fix it (a field, an illegal move, a stale version); otherwise an error page.
pub async fn detail_with_error(
    st: &AppState,
    p: &crate::platform::auth::Principal,
    number: &str,
    e: AppError,
    k: Kind,
) -> Response {
    if !matches!(
        e,
        AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Stale { .. }
    ) {
        return page_error(st, Some(p), e);
    }
    match load_detail(st, p, number, k).await {
        Ok(d) => render_detail(st, p, d, None, Some(e), k),
        Err(e2) => page_error(st, Some(p), e2),
    }
}

/// Upload a file from the detail page (multipart form with `csrf` and `file`).
async fn upload_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    mut mp: axum::extract::Multipart,
    k: Kind,
) -> Response {
    let result = async {
        p.require(Action::Attach)?;
        crate::kernel::api::require_read(&p, k)?;
        let row = kernel::get(&st.db, k, &number, Scope::of(&p)).await?;
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
            &format!("{}/{number}", base(k)),
            &format!("Attached {}.", a.filename),
        ),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn download(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    k: Kind,
) -> Response {
    match crate::kernel::api::download(&st, &p, k, &number, id).await {
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
