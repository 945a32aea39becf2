//! Clause 8.5.1 — the change calendar: every planned change in a period with its clashes and the
//! blackouts it falls into (`/api/v1/changes/calendar`), and the forward schedule of change as
//! an iCalendar feed (`/api/v1/changes/calendar.ics`) that calendar clients subscribe to with a
//! feed token — a token that reads the feed and nothing else, so a leaked calendar URL exposes
//! no API access.

use super::policy::{BlackoutRow, BlackoutView, blackout_view, blackouts_between};
use crate::kernel::api::require_read;
use crate::platform::audit::append;
use crate::platform::auth::{Principal, random_secret, sha256_hex};
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::instant;
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_core::access::{Action, Role};
use keel_core::audit::FieldChange;
use keel_core::operation::transition::calendar::{Event, render};
use keel_core::operation::transition::change::{Blackout, Window, blackouts_hit, clashes};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A planned change in the calendar.
#[derive(Debug, Clone)]
pub struct Entry {
    pub number: String,
    pub title: String,
    pub state: String,
    pub change_type: String,
    pub version: i64,
    pub window: Window,
}

type EntryRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);

/// Changes planned to overlap `[from, to)`, not rejected or cancelled, with what they touch.
pub async fn entries(db: &Db, from: i64, to: i64) -> AppResult<Vec<Entry>> {
    let rows: Vec<EntryRow> = db
        .all(
            Q::new("SELECT w.id, w.number, w.title, w.state, w.details, w.version, p.planned_start, p.planned_end, w.service_id \
                    FROM change_plans p JOIN work_items w ON w.id = p.item_id \
                    WHERE p.planned_start < $2 AND p.planned_end > $1 AND w.state NOT IN ('rejected', 'cancelled') \
                    ORDER BY p.planned_start, w.id")
                .bind(from)
                .bind(to),
        )
        .await?;
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let mut q = Q::new("");
    let ids: Vec<String> = rows.iter().map(|r| q.arg(r.0)).collect();
    q.sql = format!(
        "SELECT w.item_id, w.ci_id, c.service_id FROM work_item_cis w JOIN cis c ON c.id = w.ci_id WHERE w.item_id IN ({})",
        ids.join(", ")
    );
    let touched: Vec<(i64, i64, Option<i64>)> = db.all(q).await?;
    let mut by_item: BTreeMap<i64, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for (item, ci, service) in touched {
        let e = by_item.entry(item).or_default();
        e.0.push(ci);
        e.1.extend(service);
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, number, title, state, details, version, start, end, service)| {
                let (cis, mut services) = by_item.remove(&id).unwrap_or_default();
                services.extend(service);
                let d: Map<String, Value> = serde_json::from_str(&details).unwrap_or_default();
                Entry {
                    number,
                    title,
                    state,
                    change_type: d
                        .get("change_type")
                        .and_then(Value::as_str)
                        .unwrap_or("normal")
                        .to_string(),
                    version,
                    window: Window {
                        id,
                        start,
                        end,
                        cis,
                        services,
                    },
                }
            },
        )
        .collect())
}

/// Blackout rows as the rules see them.
pub fn blackouts(rows: &[BlackoutRow]) -> Vec<Blackout> {
    rows.iter()
        .map(|r| Blackout {
            id: r.0,
            start: r.3,
            end: r.4,
            services: r.5.into_iter().collect(),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarEntry {
    pub number: String,
    pub title: String,
    pub state: String,
    pub change_type: String,
    pub planned_start: String,
    pub planned_end: String,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
    /// Changes it clashes with (overlapping, sharing a CI or a service).
    pub clashes: Vec<String>,
    /// Blackouts it falls into (their ids).
    pub blackouts: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Calendar {
    pub from: String,
    pub to: String,
    pub changes: Vec<CalendarEntry>,
    pub blackouts: Vec<BlackoutView>,
}

/// The calendar of `[from, to)`, conflicts marked. Clashes are looked for among every change
/// overlapping the period, so an entry near the edge still shows its clash.
pub async fn calendar(db: &Db, from: i64, to: i64, service: Option<i64>) -> AppResult<Calendar> {
    let list = entries(db, from, to).await?;
    let windows: Vec<Window> = list.iter().map(|e| e.window.clone()).collect();
    let rows: Vec<BlackoutRow> = db.all(blackouts_between(from, to)).await?;
    let bl = blackouts(&rows);
    // With a service, clashes still count every change; the listing keeps the service's own.
    let wanted = |services: &[i64]| service.is_none_or(|s| services.contains(&s));
    Ok(Calendar {
        from: iso(from),
        to: iso(to),
        changes: list
            .iter()
            .filter(|e| wanted(&e.window.services))
            .map(|e| entry(e, &windows, &list, &bl))
            .collect(),
        blackouts: rows
            .iter()
            .filter(|r| r.5.is_none_or(|x| wanted(&[x])))
            .map(blackout_view)
            .collect(),
    })
}

fn entry(e: &Entry, windows: &[Window], named: &[Entry], bl: &[Blackout]) -> CalendarEntry {
    CalendarEntry {
        number: e.number.clone(),
        title: e.title.clone(),
        state: e.state.clone(),
        change_type: e.change_type.clone(),
        planned_start: iso(e.window.start),
        planned_end: iso(e.window.end),
        start_ms: e.window.start,
        end_ms: e.window.end,
        clashes: clashes(&e.window, windows)
            .into_iter()
            .filter_map(|c| {
                named
                    .iter()
                    .find(|x| x.window.id == c.other)
                    .map(|x| x.number.clone())
            })
            .collect(),
        blackouts: if e.change_type == "emergency" {
            vec![]
        } else {
            blackouts_hit(&e.window, bl)
        },
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// Start (RFC 3339 or YYYY-MM-DD); default today.
    pub from: Option<String>,
    /// End, exclusive; default 31 days after `from`. At most 400 days.
    pub to: Option<String>,
    /// Only changes touching this service (itself or through their CIs).
    pub service_id: Option<i64>,
}

/// Planned changes in a period, with clashes and blackouts (the change calendar).
#[utoipa::path(get, path = "/api/v1/changes/calendar", tag = "changes", params(CalendarParams),
    responses((status = 200, body = Calendar), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_calendar(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<CalendarParams>,
) -> AppResult<Json<Calendar>> {
    require_read(&p, keel_core::operation::transition::change::KIND)?;
    let from = match &q.from {
        Some(v) => instant("from", v)?,
        None => now_ms() / 86_400_000 * 86_400_000,
    };
    let to = match &q.to {
        Some(v) => instant("to", v)?,
        None => from + 31 * 86_400_000,
    };
    if to <= from {
        return Err(AppError::invalid("to", "must be after `from`"));
    }
    if to - from > 400 * 86_400_000 {
        return Err(AppError::invalid("to", "at most 400 days after `from`"));
    }
    Ok(Json(calendar(&st.db, from, to, q.service_id).await?))
}

// ---------------------------------------------------------------------------------------------
// The iCalendar feed

/// The events of the forward schedule: every change planned from 90 days ago on.
pub async fn feed(db: &Db, now: i64) -> AppResult<String> {
    let list = entries(db, now - 90 * 86_400_000, i64::MAX / 2).await?;
    let events: Vec<Event> = list
        .iter()
        .map(|e| Event {
            uid: format!("{}@keel", e.number),
            start_ms: e.window.start,
            end_ms: e.window.end,
            summary: format!("{} {}", e.number, e.title),
            description: format!("{} change, {}", e.change_type, e.state.replace('_', " ")),
            status: match e.state.as_str() {
                "new" | "assess" | "authorize" => "TENTATIVE",
                _ => "CONFIRMED",
            },
            categories: vec![e.change_type.clone()],
            url: None,
            sequence: e.version,
        })
        .collect();
    Ok(render("Keel forward schedule of change", &events, now))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// A calendar feed token (from `POST /api/v1/changes/calendar-feeds`); without one, the
    /// caller's own session or bearer token is used (a download).
    pub token: Option<String>,
}

/// The role of a feed token's owner, if the token is live.
async fn feed_owner(db: &Db, token: &str) -> AppResult<Option<(Role, bool)>> {
    let row: Option<(String, i64)> = db
        .opt(
            Q::new("SELECT u.role, u.disabled FROM calendar_feeds f JOIN users u ON u.id = f.user_id WHERE f.token_hash = $1 AND f.revoked_at IS NULL")
                .bind(sha256_hex(token)),
        )
        .await?;
    Ok(row.and_then(|(role, disabled)| role.parse().ok().map(|r| (r, disabled != 0))))
}

/// The forward schedule of change as iCalendar (RFC 5545), for calendar clients: authenticated
/// by the feed token in the URL, since clients cannot send headers (or, for a download, by the
/// caller's session or bearer token).
#[utoipa::path(get, path = "/api/v1/changes/calendar.ics", tag = "changes", params(FeedParams),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 401, body = Problem)))]
pub async fn api_ics(
    State(st): State<AppState>,
    parts: axum::http::request::Parts,
    ApiQuery(q): ApiQuery<FeedParams>,
) -> AppResult<Response> {
    let (role, disabled) = match &q.token {
        Some(t) => feed_owner(&st.db, t)
            .await?
            .ok_or(AppError::Unauthenticated)?,
        None => {
            let p = crate::platform::auth::authenticate(&parts, &st)
                .await?
                .ok_or(AppError::Unauthenticated)?;
            (p.role, false)
        }
    };
    // The feed shows what its owner may read now: a disabled or demoted owner's feed stops.
    if disabled || !keel_core::access::allows(role, Action::ReadInternalItems) {
        return Err(AppError::Forbidden(
            "changes are for service-provider staff".into(),
        ));
    }
    let body = feed(&st.db, now_ms()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Feed {
    pub id: i64,
    pub label: String,
    #[serde(skip)]
    pub created_at: i64,
    /// The subscription path with its token: shown once, when the feed is created.
    #[sqlx(skip)]
    pub url: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFeed {
    /// What the feed is for, e.g. "Outlook at work".
    pub label: String,
}

/// A feed is a credential of its owner: staff who may hold tokens (not auditors, who change
/// nothing) create and revoke their own.
fn may_hold_feeds(p: &Principal) -> AppResult<()> {
    require_read(p, keel_core::operation::transition::change::KIND)?;
    p.require(Action::OwnTokens)
}

pub async fn create_feed(db: &Db, p: &Principal, label: &str) -> AppResult<Feed> {
    may_hold_feeds(p)?;
    let label = Line::parse(label, 100).map_err(|e| AppError::invalid("label", e))?;
    let token = random_secret();
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO calendar_feeds (user_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(p.user_id)
                .bind(label.as_str())
                .bind(sha256_hex(&token))
                .bind(now_ms()),
        )
        .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "calendar_feed",
        &id.to_string(),
        vec![FieldChange {
            field: "label".into(),
            old: Value::Null,
            new: json!(label.as_str()),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(Feed {
        id,
        label: label.into_string(),
        created_at: now_ms(),
        url: Some(format!("/api/v1/changes/calendar.ics?token={token}")),
    })
}

pub async fn list_feeds(db: &Db, user_id: i64) -> AppResult<Vec<Feed>> {
    Ok(db
        .all(Q::new("SELECT id, label, created_at FROM calendar_feeds WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id").bind(user_id))
        .await?)
}

pub async fn revoke_feed(db: &Db, p: &Principal, id: i64) -> AppResult<()> {
    may_hold_feeds(p)?;
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE calendar_feeds SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .bind(p.user_id),
        )
        .await?;
    if n == 0 {
        return Err(AppError::NotFound(format!("calendar feed {id}")));
    }
    append(
        &mut tx,
        &p.actor(),
        "revoke",
        "calendar_feed",
        &id.to_string(),
        vec![],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Your calendar feed subscriptions.
#[utoipa::path(get, path = "/api/v1/changes/calendar-feeds", tag = "changes", responses((status = 200, body = Vec<Feed>)), security(("bearer" = [])))]
pub async fn api_list_feeds(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Feed>>> {
    require_read(&p, keel_core::operation::transition::change::KIND)?;
    Ok(Json(list_feeds(&st.db, p.user_id).await?))
}

/// Create a calendar feed: the answer's `url` carries its token, shown only this once.
#[utoipa::path(post, path = "/api/v1/changes/calendar-feeds", tag = "changes", request_body = NewFeed,
    responses((status = 201, body = Feed), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_feed(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewFeed>,
) -> AppResult<(StatusCode, Json<Feed>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_feed(&st.db, &p, &b.label).await?),
    ))
}

/// Revoke one of your calendar feeds.
#[utoipa::path(delete, path = "/api/v1/changes/calendar-feeds/{id}", tag = "changes", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_revoke_feed(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    revoke_feed(&st.db, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
