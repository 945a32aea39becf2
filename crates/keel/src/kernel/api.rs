//! The work-item kernel's HTTP conventions, shared by every process's routes: the JSON view,
//! list parameters, ETag/If-Match, Idempotency-Key replay, comments, links, attachments and
//! history. A process's handlers are thin wrappers that add only their OpenAPI annotation.

use super::{ItemRow, Scope, SortKey};
use crate::platform::audit::{self, AuditRow};
use crate::platform::auth::Principal;
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::{double_option, empty_as_none};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_core::access::Action;
use keel_core::kernel::Kind;
use keel_core::page::{self, Cursor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ref {
    pub id: i64,
    pub name: String,
}

fn r(id: Option<i64>, name: Option<String>) -> Option<Ref> {
    id.map(|id| Ref {
        id,
        name: name.unwrap_or_default(),
    })
}

/// A work item as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub number: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub state: String,
    /// 1 high … 3 low.
    pub impact: i64,
    pub urgency: i64,
    /// 1 critical … 5 planning, from the impact × urgency matrix unless overridden.
    pub priority: i64,
    /// Why the priority was overridden; null when it follows the matrix.
    pub priority_reason: Option<String>,
    /// Moves between assignment groups so far.
    pub reassignment_count: i64,
    pub category: Option<String>,
    pub requester: Option<Ref>,
    pub customer: Option<Ref>,
    pub service: Option<Ref>,
    pub assignment_group: Option<Ref>,
    pub assignee: Option<Ref>,
    pub hold_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_notes: Option<String>,
    /// Channel the item was raised through.
    pub channel: String,
    /// Increases with every change; also the ETag.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// States the lifecycle allows next.
    pub next_states: Vec<String>,
    /// The kind's own fields (e.g. a problem's `root_cause`); `{}` for kinds without any.
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl From<ItemRow> for ItemView {
    fn from(w: ItemRow) -> Self {
        let next = super::process::kind(&w.kind)
            .map(|k| {
                k.lifecycle()
                    .next_states(&w.state)
                    .into_iter()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let details = w.details_map();
        ItemView {
            details,
            number: w.number,
            kind: w.kind,
            title: w.title,
            description: w.description,
            state: w.state,
            impact: w.impact,
            urgency: w.urgency,
            priority: w.priority,
            priority_reason: w.priority_reason,
            reassignment_count: w.reassignment_count,
            category: w.category,
            requester: r(w.requester_id, w.requester_name),
            customer: r(w.customer_id, w.customer_name),
            service: r(w.service_id, w.service_name),
            assignment_group: r(w.assignment_group_id, w.assignment_group_name),
            assignee: r(w.assignee_id, w.assignee_name),
            hold_reason: w.hold_reason,
            resolution_code: w.resolution_code,
            resolution_notes: w.resolution_notes,
            channel: w.channel,
            version: w.version,
            created_at: iso(w.created_at),
            updated_at: iso(w.updated_at),
            resolved_at: w.resolved_at.map(iso),
            closed_at: w.closed_at.map(iso),
            next_states: next,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemPage {
    pub items: Vec<ItemView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List parameters shared by every work-item list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–500 (default 50).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// `created_at`, `updated_at`, `priority` or `number`; prefix `-` for descending (default `-created_at`).
    pub sort: Option<String>,
    /// Comma-separated states.
    pub state: Option<String>,
    /// `true`: only open items; `false`: only resolved, closed or cancelled.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub open: Option<bool>,
    /// Only priorities up to this (1 = critical only).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub priority_max: Option<i64>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub assignment_group_id: Option<i64>,
    /// A user id, or `me`.
    pub assignee: Option<String>,
    /// `mine`: only items assigned to one of the caller's groups.
    pub group: Option<String>,
    /// `true`: only items without an assignee.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub unassigned: Option<bool>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub requester_id: Option<i64>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub customer_id: Option<i64>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub service_id: Option<i64>,
    /// Text contained in the title or number.
    pub q: Option<String>,
    /// A filter expression, e.g. `state in (new, in_progress) and priority <= 2 and
    /// assignment_group = "Network"`; a bad one gets a 400 naming the position.
    pub filter: Option<String>,
    /// SLA queue: `due_soon` (a running clock breaches within 4 hours) or `breached` (a clock
    /// that has not stopped has breached).
    pub sla: Option<String>,
    /// `csv`: every matching item (not one page) as CSV, at most 100,000.
    pub format: Option<String>,
}

/// How far ahead "due soon" looks.
pub const DUE_SOON_MS: i64 = 4 * 3_600_000;

impl ListParams {
    /// The filters and sort as a query string (without `cursor`), for "next page" links and
    /// saved views, so paging never drops a filter.
    pub fn to_query(&self) -> String {
        let mut q: Vec<String> = Vec::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                q.push(format!("{k}={}", crate::platform::ui::urlencode(&v)));
            }
        };
        put("limit", self.limit.map(|v| v.to_string()));
        put("sort", self.sort.clone());
        put("state", self.state.clone());
        put("open", self.open.map(|v| v.to_string()));
        put("priority_max", self.priority_max.map(|v| v.to_string()));
        put(
            "assignment_group_id",
            self.assignment_group_id.map(|v| v.to_string()),
        );
        put("assignee", self.assignee.clone());
        put("group", self.group.clone());
        put(
            "unassigned",
            self.unassigned.filter(|u| *u).map(|v| v.to_string()),
        );
        put("requester_id", self.requester_id.map(|v| v.to_string()));
        put("customer_id", self.customer_id.map(|v| v.to_string()));
        put("service_id", self.service_id.map(|v| v.to_string()));
        put("q", self.q.clone());
        put("sla", self.sla.clone());
        put("filter", self.filter.clone());
        q.join("&")
    }

    pub fn filter(&self, kind: Kind, p: &Principal) -> AppResult<super::Filter> {
        let lc = kind.lifecycle();
        let mut states = Vec::new();
        for s in self
            .state
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let st = lc.state(s).ok_or_else(|| {
                AppError::invalid(
                    "state",
                    format!("unknown state `{s}` (states: {})", lc.states.join(", ")),
                )
            })?;
            states.push(st.to_string());
        }
        let assignee_id = match self.assignee.as_deref() {
            None | Some("") => None,
            Some("me") => Some(p.user_id),
            Some(v) => Some(
                v.parse()
                    .map_err(|_| AppError::invalid("assignee", "must be a user id or `me`"))?,
            ),
        };
        if let Some(pm) = self.priority_max
            && !(1..=5).contains(&pm)
        {
            return Err(AppError::invalid("priority_max", "must be between 1 and 5"));
        }
        let now = crate::platform::db::now_ms();
        let sla = match self.sla.as_deref() {
            None | Some("") => None,
            Some("due_soon") => Some(super::SlaFilter::DueBefore(now + DUE_SOON_MS)),
            Some("breached") => Some(super::SlaFilter::BreachedBy(now)),
            Some(v) => {
                return Err(AppError::invalid(
                    "sla",
                    format!("`{v}` is not one of due_soon, breached"),
                ));
            }
        };
        let expr = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(src) => Some((
                keel_core::kernel::query::parse(src, kind.lifecycle().states).map_err(|e| {
                    AppError::BadQuery {
                        field: "filter".into(),
                        position: e.position,
                        detail: e.message,
                    }
                })?,
                p.user_id,
            )),
        };
        let my_groups = match self.group.as_deref() {
            None | Some("") => None,
            Some("mine") => Some(p.user_id),
            Some(v) => return Err(AppError::invalid("group", format!("`{v}` is not `mine`"))),
        };
        Ok(super::Filter {
            my_groups,
            expr,
            sla,
            states,
            open: self.open,
            priority_max: self.priority_max,
            assignment_group_id: self.assignment_group_id,
            assignee_id,
            unassigned: self.unassigned.unwrap_or(false),
            requester_id: self.requester_id,
            customer_id: self.customer_id,
            service_id: self.service_id,
            text: self.q.clone(),
        })
    }

    pub fn sort(&self) -> AppResult<(SortKey, bool)> {
        match self.sort.as_deref() {
            None | Some("") => Ok((SortKey::Created, true)),
            Some(s) => SortKey::parse(s).ok_or_else(|| AppError::invalid("sort", "must be one of created_at, updated_at, priority, number, optionally prefixed with -")),
        }
    }
}

pub async fn list(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    params: ListParams,
) -> AppResult<Response> {
    match params.format.as_deref() {
        None | Some("json") => Ok(page(st, p, kind, params).await?.into_response()),
        Some("csv") => export_csv(st, p, kind, params).await,
        Some(other) => Err(AppError::invalid(
            "format",
            format!("`{other}` is not json or csv"),
        )),
    }
}

/// The most rows one CSV export holds.
const MAX_EXPORT: usize = 100_000;

/// Every item the list's filters match, as CSV, following the cursor page by page.
async fn export_csv(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    params: ListParams,
) -> AppResult<Response> {
    require_read(p, kind)?;
    let filter = params.filter(kind, p)?;
    let sort = params.sort()?;
    let header: Vec<String> = [
        "number",
        "title",
        "state",
        "priority",
        "impact",
        "urgency",
        "category",
        "service",
        "customer",
        "requester",
        "assignment_group",
        "assignee",
        "created_at",
        "updated_at",
        "resolved_at",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    let mut rows = vec![];
    let mut cursor = None;
    loop {
        let page = super::list(&st.db, kind, Scope::of(p), &filter, sort, cursor, 500).await?;
        for i in page.items {
            rows.push(vec![
                i.number.clone(),
                i.title.clone(),
                i.state.clone(),
                i.priority.to_string(),
                i.impact.to_string(),
                i.urgency.to_string(),
                i.category.clone().unwrap_or_default(),
                i.service_name.clone().unwrap_or_default(),
                i.customer_name.clone().unwrap_or_default(),
                i.requester_name.clone().unwrap_or_default(),
                i.assignment_group_name.clone().unwrap_or_default(),
                i.assignee_name.clone().unwrap_or_default(),
                crate::platform::web::iso(i.created_at),
                crate::platform::web::iso(i.updated_at),
                i.resolved_at
                    .map(crate::platform::web::iso)
                    .unwrap_or_default(),
            ]);
        }
        if rows.len() >= MAX_EXPORT {
            return Err(AppError::invalid(
                "format",
                format!("more than {MAX_EXPORT} items match; narrow the filter"),
            ));
        }
        match page.next_cursor.as_deref().map(Cursor::decode) {
            Some(Ok(c)) => cursor = Some(c),
            _ => break,
        }
    }
    Ok(crate::platform::csv::csv_response(
        kind.collection(),
        crate::platform::csv::csv(&header, &rows),
    ))
}

/// One page of a list, as JSON.
pub async fn page(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    params: ListParams,
) -> AppResult<Json<ItemPage>> {
    require_read(p, kind)?;
    let limit = page::limit(params.limit).map_err(|e| AppError::invalid("limit", e))?;
    let cursor = params
        .cursor
        .as_deref()
        .map(Cursor::decode)
        .transpose()
        .map_err(|e| AppError::invalid("cursor", e))?;
    let filter = params.filter(kind, p)?;
    let page = super::list(
        &st.db,
        kind,
        Scope::of(p),
        &filter,
        params.sort()?,
        cursor,
        limit,
    )
    .await?;
    Ok(Json(ItemPage {
        items: page.items.into_iter().map(ItemView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Body of a create request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub category: Option<String>,
    /// Agents may raise on someone's behalf; requesters always raise for themselves.
    pub requester_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub service_id: Option<i64>,
    pub assignment_group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// The kind's own fields, e.g. a problem's `root_cause` and `workaround`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Reading a kind: requesters see incidents (their own), never the provider's internal records.
pub fn require_read(p: &Principal, kind: Kind) -> AppResult<()> {
    p.require(Action::ReadWorkItems)?;
    if kind.is_internal() {
        p.require(Action::ReadInternalItems)?;
    }
    Ok(())
}

/// Raising a kind: anyone may raise what requesters see (report an incident, ask for something);
/// the provider's internal records are staff work.
pub fn require_create(p: &Principal, kind: Kind) -> AppResult<()> {
    if kind.is_internal() {
        p.require(Action::UpdateWorkItems)
    } else {
        p.require(Action::CreateIncident)
    }
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"v0\""))
}

/// `200 OK` with the item and its ETag.
pub fn item_response(status: StatusCode, row: ItemRow) -> Response {
    let tag = etag(row.version);
    let loc = format!(
        "/api/v1/{}/{}",
        super::process::kind(&row.kind).map_or("items", Kind::collection),
        row.number
    );
    let mut resp = (status, Json(ItemView::from(row))).into_response();
    resp.headers_mut().insert(header::ETAG, tag);
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&loc)
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Create. With an `Idempotency-Key` (`platform::idempotency`) the create runs in its own
/// transaction, which also writes the key, instead of joining the group commit.
pub async fn create(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    headers: &HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    require_create(p, kind)?;
    let keyed = headers.contains_key(crate::platform::idempotency::HEADER);
    let b: CreateBody = parse_json(&body)?;
    let input = super::NewItem {
        title: b.title,
        description: b.description,
        impact: b.impact,
        urgency: b.urgency,
        category: b.category,
        requester_id: b.requester_id,
        customer_id: b.customer_id,
        service_id: b.service_id,
        assignment_group_id: b.assignment_group_id,
        assignee_id: b.assignee_id,
        details: b.details,
    };
    let draft = super::draft(kind, &p.actor(), p, input)?;
    // A kind whose process checks a create (a request against its type, a change against its
    // type and template) and takes first steps after it is not a group-commit create either.
    let steps = super::process::raises_with_steps(kind);
    if steps {
        super::process::check(&st.db, kind, &draft.details()).await?;
    }
    let row = if keyed || steps {
        let mut tx = st.db.begin().await?;
        let number = super::create_in(&mut tx, draft).await?;
        tx.commit().await?;
        super::get(&st.db, kind, &number, Scope::All).await?
    } else {
        // The create joins the group commit; the new item is read back after the commit.
        let number = super::batch::creator(st).create(draft).await?;
        super::get(&st.db, kind, &number, Scope::All).await?
    };
    st.metrics.created(kind.as_str());
    let row = super::process::start(&st.db, kind, row, &p.actor()).await?;
    Ok(item_response(StatusCode::CREATED, row))
}

pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> AppResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            AppError::BadRequest(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            let msg = inner.to_string();
            let field = msg.split('`').nth(1).unwrap_or("body").to_string();
            AppError::invalid(&field, msg)
        } else {
            AppError::invalid(&path, inner)
        }
    })
}

pub async fn get(st: &AppState, p: &Principal, kind: Kind, number: &str) -> AppResult<Response> {
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    Ok(item_response(StatusCode::OK, row))
}

/// Body of a PATCH: only the fields present change; `null` clears a field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// Cannot be cleared.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub impact: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub urgency: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignment_group_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    /// Target state; the lifecycle decides whether the move is allowed (409 if not).
    pub state: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub hold_reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub resolution_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub resolution_notes: Option<Option<String>>,
    /// Detail fields to set (a string) or clear (`null`); fields not named stay as they are.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    /// Override the matrix priority (1–5; needs `priority_reason`), or `null` to return to it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub priority: Option<Option<i64>>,
    pub priority_reason: Option<String>,
}

impl PatchBody {
    /// The kernel's patch; `null` on a field that cannot be cleared is refused, naming it.
    pub fn into_patch(self) -> AppResult<super::Patch> {
        let b = self;
        let required = |field: &str| {
            AppError::invalid(
                field,
                "cannot be cleared; leave it out to keep it, or give a value",
            )
        };
        Ok(super::Patch {
            title: match b.title {
                Some(None) => return Err(required("title")),
                t => t.flatten(),
            },
            description: b.description.map(Option::unwrap_or_default),
            impact: match b.impact {
                Some(None) => return Err(required("impact")),
                v => v.flatten(),
            },
            urgency: match b.urgency {
                Some(None) => return Err(required("urgency")),
                v => v.flatten(),
            },
            category: b.category,
            service_id: b.service_id,
            assignment_group_id: b.assignment_group_id,
            assignee_id: b.assignee_id,
            state: b.state,
            hold_reason: b.hold_reason,
            resolution_code: b.resolution_code,
            resolution_notes: b.resolution_notes,
            details: b.details,
            priority: b.priority,
            priority_reason: b.priority_reason,
        })
    }
}

/// Parse `If-Match: "v7"` (or `*`).
pub fn if_match(headers: &HeaderMap) -> AppResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| AppError::invalid("If-Match", "must be an ETag"))?
        .trim();
    if s == "*" {
        return Ok(None);
    }
    s.trim_start_matches("W/")
        .trim_matches('"')
        .strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            AppError::invalid("If-Match", "must be an ETag this API issued, like \"v3\"")
        })
}

pub async fn patch(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    headers: &HeaderMap,
    body: PatchBody,
) -> AppResult<Response> {
    p.require(Action::UpdateWorkItems)?;
    let expected = if_match(headers)?;
    let row = super::update(
        &st.db,
        kind,
        number,
        Scope::of(p),
        &p.actor(),
        body.into_patch()?,
        expected,
    )
    .await?;
    Ok(item_response(StatusCode::OK, row))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub channel: String,
    pub action: String,
    pub changes: serde_json::Value,
}

impl From<AuditRow> for HistoryEntry {
    fn from(a: AuditRow) -> Self {
        HistoryEntry {
            seq: a.seq,
            at: iso(a.at),
            actor: a.actor,
            channel: a.channel,
            action: a.action,
            changes: serde_json::from_str(&a.changes).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    pub entries: Vec<HistoryEntry>,
    /// When each state was entered.
    pub states: Vec<super::StateEntry>,
}

pub async fn history(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<Json<History>> {
    p.require(Action::ReadAudit)?;
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    let mut entries: Vec<HistoryEntry> = audit::for_entity(&st.db, kind.as_str(), &row.number)
        .await?
        .into_iter()
        .map(HistoryEntry::from)
        .collect();
    if !p.can(Action::InternalNotes) {
        entries.retain(|e| e.action != "comment.internal");
    }
    let states = super::transitions(&st.db, &row).await?;
    Ok(Json(History { entries, states }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    pub body: String,
    /// Internal notes are visible to agents only.
    #[serde(default)]
    pub internal: bool,
}

pub async fn comments(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<Json<Vec<super::Comment>>> {
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    Ok(Json(
        super::comments(&st.db, &row, p.can(Action::InternalNotes)).await?,
    ))
}

pub async fn add_comment(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    b: CommentBody,
) -> AppResult<(StatusCode, Json<super::Comment>)> {
    p.require(Action::CommentPublic)?;
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    let c = super::add_comment(&st.db, &row, p, &p.actor(), &b.body, b.internal).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// `parent_of`, `relates_to`, `duplicates` or `caused_by`.
    pub kind: String,
    /// The other item's number.
    pub to: String,
}

pub async fn links(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<Json<Vec<super::Link>>> {
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    Ok(Json(super::visible_links(&st.db, &row, p).await?))
}

pub async fn add_link(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    b: LinkBody,
) -> AppResult<(StatusCode, Json<Vec<super::Link>>)> {
    p.require(Action::UpdateWorkItems)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    super::add_link(&st.db, &row, &p.actor(), &b.kind, &b.to, Scope::of(p)).await?;
    Ok((StatusCode::CREATED, Json(super::links(&st.db, &row).await?)))
}

pub async fn attachments(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<Json<Vec<super::Attachment>>> {
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    Ok(Json(super::attachments(&st.db, &row).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name.
    pub filename: String,
}

/// Upload the raw request body as an attachment (`Content-Type` is kept).
pub async fn upload(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    filename: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> AppResult<(StatusCode, Json<super::Attachment>)> {
    p.require(Action::Attach)?;
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    if body.len() > st.cfg.max_attachment_bytes {
        return Err(AppError::TooLarge {
            limit: st.cfg.max_attachment_bytes,
        });
    }
    if body.is_empty() {
        return Err(AppError::invalid("body", "the file is empty"));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let a = super::add_attachment(
        &st.db,
        st.cfg.attachments_dir.as_deref(),
        &row,
        &p.actor(),
        filename,
        ct,
        body.to_vec(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

pub async fn download(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
    id: i64,
) -> AppResult<Response> {
    require_read(p, kind)?;
    let row = super::get(&st.db, kind, number, Scope::of(p)).await?;
    let (meta, bytes) =
        super::attachment_data(&st.db, st.cfg.attachments_dir.as_deref(), &row, id).await?;
    let disposition = format!("attachment; filename*=UTF-8''{}", pct(&meta.filename));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(&meta.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// RFC 5987 percent-encoding for file names in headers.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
