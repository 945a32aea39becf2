//! Transition pages (8.5): the change page's own panel (risk questions with the CMDB impact,
//! schedule with clashes and blackouts, CI updates), the approval inbox, the change calendar
//! (week and month, clashes highlighted, feed subscription), and releases with their changes
//! and deployments.

use super::calendar::{self, CalendarEntry};
use super::change::{self, CiUpdate, RiskView, Schedule};
use super::release;
use crate::kernel::{self, ItemRow, Scope};
use crate::platform::auth::Principal;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    WebUser, back_with_flash, check_csrf, clear_flash, flash, page_error, redirect_with_flash,
    viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use jiff::civil::Date;
use jiff::{ToSpan, tz::TimeZone};
use keel_core::access::Action;
use minijinja::value::Serde;
use minijinja::{Value as V, context};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Change management's pages: the assessment panel's forms and the change calendar.
pub fn change_routes() -> Router<AppState> {
    Router::new()
        .route("/changes/{number}/risk", post(risk_submit))
        .route("/changes/{number}/schedule", post(schedule_submit))
        .route("/changes/{number}/ci-updates", post(ci_update_submit))
        .route("/changes/calendar", get(calendar_page))
        .route("/changes/calendar/feeds", post(feed_submit))
}

/// Release and deployment management's pages.
pub fn release_routes() -> Router<AppState> {
    Router::new()
        .route("/releases", get(releases_page).post(release_submit))
        .route(
            "/releases/{number}",
            get(release_page).post(release_update_submit),
        )
        .route("/releases/{number}/changes", post(bundle_submit))
        .route("/releases/{number}/deployments", post(deployment_submit))
        .route(
            "/releases/{number}/deployments/{id}/outcome",
            post(outcome_submit),
        )
}

/// A risk question as the form shows it, with the answer given.
#[derive(Debug, Serialize)]
pub struct QuestionLine {
    pub key: &'static str,
    pub label: &'static str,
    pub answers: Vec<&'static str>,
    pub selected: String,
}

/// What the change page shows beyond the kernel's fields.
#[derive(Debug, Serialize)]
pub struct Panel {
    pub questions: Vec<QuestionLine>,
    pub risk: RiskView,
    pub schedule: Schedule,
    pub ci_updates: Vec<CiUpdate>,
    pub release: Option<String>,
    /// The window as `datetime-local` values (UTC), for the schedule form.
    pub start_local: String,
    pub end_local: String,
}

pub async fn panel(st: &AppState, row: &ItemRow) -> AppResult<Panel> {
    let schedule = change::schedule(&st.db, row).await?;
    let local = |v: &Option<String>| {
        v.as_deref()
            .map(|s| s[..16].to_string())
            .unwrap_or_default()
    };
    let risk = change::risk_view(st, row).await?;
    Ok(Panel {
        questions: risk
            .questions
            .iter()
            .map(|q| QuestionLine {
                key: q.key,
                label: q.label,
                answers: q.answers.iter().map(|a| a.0).collect(),
                selected: risk
                    .answers
                    .get(q.key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect(),
        risk,
        start_local: local(&schedule.planned_start),
        end_local: local(&schedule.planned_end),
        schedule,
        ci_updates: change::ci_updates(&st.db, row).await?,
        release: release::release_of(&st.db, row.id).await?,
    })
}

fn fields(raw: &RawForm) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&raw.0)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn csrf(p: &Principal, f: &BTreeMap<String, String>) -> AppResult<()> {
    check_csrf(p, f.get("csrf").map(String::as_str).unwrap_or_default())
}

/// `2030-01-10T20:00` from a `datetime-local` input, read as UTC.
fn utc(field: &str, v: Option<&String>) -> AppResult<String> {
    let v = v
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::invalid(field, "required"))?;
    let dt: jiff::civil::DateTime = v
        .parse()
        .map_err(|_| AppError::invalid(field, "a date and time, e.g. 2030-01-10T20:00"))?;
    let ts = TimeZone::UTC
        .to_timestamp(dt)
        .map_err(|e| AppError::invalid(field, e))?;
    Ok(ts.to_string())
}

async fn risk_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let answers = keel_core::operation::transition::change::QUESTIONS
            .iter()
            .filter_map(|q| {
                f.get(q.key)
                    .filter(|a| !a.is_empty())
                    .map(|a| (q.key.to_string(), a.clone()))
            })
            .collect();
        let v = change::assess(&st, &p, &number, change::RiskBody { answers }).await?;
        Ok(format!("Risk assessed: {}.", v.level.unwrap_or_default()))
    }
    .await;
    back_with_flash(&st, &p, &format!("/changes/{number}"), r)
}

async fn schedule_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let body = change::ScheduleBody {
            planned_start: utc("planned_start", f.get("planned_start"))?,
            planned_end: utc("planned_end", f.get("planned_end"))?,
        };
        let s = change::set_schedule(&st.db, &p, &number, body).await?;
        Ok(if s.clashes.is_empty() {
            "Scheduled.".to_string()
        } else {
            format!(
                "Scheduled — clashes with {}.",
                s.clashes
                    .iter()
                    .map(|c| c.number.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
    .await;
    back_with_flash(&st, &p, &format!("/changes/{number}"), r)
}

/// One `name = value` per line.
fn attribute_lines(text: &str) -> AppResult<Map<String, Value>> {
    let mut out = Map::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (k, v) = line.split_once('=').ok_or_else(|| {
            AppError::invalid("attributes", format!("line {}: write name = value", i + 1))
        })?;
        out.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(out)
}

async fn ci_update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let item = kernel::get(
            &st.db,
            keel_core::operation::transition::change::KIND,
            &number,
            Scope::of(&p),
        )
        .await?;
        let ci = crate::operation::portfolio::affected::resolve(
            &st.db,
            f.get("ci").map(String::as_str).unwrap_or_default(),
        )
        .await?;
        let body = change::CiUpdateBody {
            ci_id: ci,
            status: f.get("status").filter(|s| !s.is_empty()).cloned(),
            attributes: attribute_lines(
                f.get("attributes").map(String::as_str).unwrap_or_default(),
            )?,
        };
        change::add_ci_update(&st.db, &p, &item.number, body).await?;
        Ok("CI update planned; it applies when the change closes successfully.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &format!("/changes/{number}"), r)
}

// ---------------------------------------------------------------------------------------------
// Change calendar

#[derive(Debug, Deserialize, Default)]
struct CalendarQuery {
    /// week (default) or month.
    view: Option<String>,
    /// Any day in the period, YYYY-MM-DD; default today.
    date: Option<String>,
}

#[derive(Serialize)]
struct Day {
    date: String,
    label: String,
    in_period: bool,
    changes: Vec<CalendarEntry>,
    blackout: Vec<String>,
}

async fn calendar_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Query(q): Query<CalendarQuery>,
) -> Response {
    let r = async {
        crate::kernel::api::require_read(&p, keel_core::operation::transition::change::KIND)?;
        let today = TimeZone::UTC.to_datetime(jiff::Timestamp::now()).date();
        let day: Date = match q.date.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => d.parse().map_err(|_| AppError::invalid("date", "YYYY-MM-DD"))?,
            None => today,
        };
        let month = q.view.as_deref() == Some("month");
        // Weeks start on Monday; a month view shows whole weeks around the month.
        let monday = |d: Date| d.checked_sub((d.weekday().to_monday_zero_offset() as i64).days());
        let (start, days, period_start, period_end) = if month {
            let first = day.first_of_month();
            let last = day.last_of_month();
            let s = monday(first).map_err(|e| AppError::Internal(e.into()))?;
            let n = (last - s).get_days() + 1;
            (s, ((n + 6) / 7) * 7, first, last)
        } else {
            let s = monday(day).map_err(|e| AppError::Internal(e.into()))?;
            (s, 7, s, s.checked_add(6.days()).map_err(|e| AppError::Internal(e.into()))?)
        };
        let ms = |d: Date| -> AppResult<i64> {
            Ok(TimeZone::UTC
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .map_err(|e| AppError::Internal(e.into()))?
                .as_millisecond())
        };
        let from = ms(start)?;
        let to = from + i64::from(days) * 86_400_000;
        let cal = calendar::calendar(&st.db, from, to, None).await?;
        let mut grid = vec![];
        for i in 0..days {
            let d = start.checked_add(i64::from(i).days()).map_err(|e| AppError::Internal(e.into()))?;
            let (a, b) = (ms(d)?, ms(d)? + 86_400_000);
            grid.push(Day {
                date: d.to_string(),
                label: d.strftime("%a %-d %b").to_string(),
                in_period: d >= period_start && d <= period_end,
                changes: cal
                    .changes
                    .iter()
                    .filter(|c| c.start_ms < b && c.end_ms > a)
                    .cloned()
                    .collect(),
                blackout: cal
                    .blackouts
                    .iter()
                    .filter(|x| x.starts_at.as_str() < iso_of(b).as_str() && x.ends_at.as_str() > iso_of(a).as_str())
                    .map(|x| x.name.clone())
                    .collect(),
            });
        }
        let step = if month { 1.month() } else { 1.week() };
        let prev = day.checked_sub(step).map_err(|e| AppError::Internal(e.into()))?;
        let next = day.checked_add(step).map_err(|e| AppError::Internal(e.into()))?;
        let feeds = if p.can(Action::OwnTokens) {
            calendar::list_feeds(&st.db, p.user_id).await?
        } else {
            vec![]
        };
        let clashes = cal.changes.iter().filter(|c| !c.clashes.is_empty()).count();
        Ok(st.ui.render(
            "change_calendar.html",
            context! {
                me => viewer(&p), flash => flash(&headers),
                view => if month { "month" } else { "week" },
                title => if month { day.strftime("%B %Y").to_string() } else { format!("Week of {}", start.strftime("%-d %B %Y")) },
                days => V::from(Serde(&grid)), date => day.to_string(), prev => prev.to_string(), next => next.to_string(),
                today => today.to_string(), clashes => clashes,
                feeds => V::from(Serde(&feeds)), can_feed => p.can(Action::OwnTokens),
            },
        ))
    }
    .await;
    match r {
        Ok(resp) => clear_flash(resp),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

fn iso_of(ms: i64) -> String {
    crate::platform::web::iso(ms)
}

async fn feed_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let feed = calendar::create_feed(
            &st.db,
            &p,
            f.get("label").map(String::as_str).unwrap_or_default(),
        )
        .await?;
        Ok(format!(
            "Feed “{}” created. Subscribe your calendar to {} — this address is shown only once.",
            feed.label,
            feed.url.unwrap_or_default()
        ))
    }
    .await;
    back_with_flash(&st, &p, "/changes/calendar", r)
}

// ---------------------------------------------------------------------------------------------
// Releases

async fn releases_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadInternalItems)?;
        release::list(&st.db).await
    }
    .await;
    match r {
        Ok(rows) => clear_flash(st.ui.render(
            "releases.html",
            context! {
                me => viewer(&p), flash => flash(&headers), releases => V::from(Serde(&rows)),
                kinds => V::from(Serde(keel_core::operation::transition::release::TYPES)),
                can_edit => p.can(Action::UpdateWorkItems),
            },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn release_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = fields(&raw);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let r = async {
        csrf(&p, &f)?;
        let changes = get("changes")
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        release::create(
            &st.db,
            &p,
            release::NewRelease {
                name: get("name"),
                kind: get("kind"),
                description: get("description"),
                planned_at: get("planned_at"),
                changes,
            },
        )
        .await
    }
    .await;
    match r {
        Ok(rel) => redirect_with_flash(
            &format!("/releases/{}", rel.number),
            &format!("{} planned.", rel.number),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            redirect_with_flash("/releases", &format!("Not planned: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn release_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadInternalItems)?;
        release::get(&st.db, &number).await
    }
    .await;
    match r {
        Ok(rel) => clear_flash(st.ui.render(
            "release.html",
            context! {
                me => viewer(&p), flash => flash(&headers), r => V::from(Serde(&rel)),
                can_edit => p.can(Action::UpdateWorkItems),
            },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn release_update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let rel = release::update(
            &st.db,
            &p,
            &number,
            release::ReleasePatch {
                state: f.get("state").filter(|s| !s.is_empty()).cloned(),
                acceptance_notes: f.get("acceptance_notes").filter(|s| !s.is_empty()).cloned(),
                ..Default::default()
            },
        )
        .await?;
        Ok(format!(
            "{} is {}.",
            rel.number,
            rel.state.replace('_', " ")
        ))
    }
    .await;
    back_with_flash(&st, &p, &format!("/releases/{number}"), r)
}

async fn bundle_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let change = f
            .get("change")
            .map(|s| s.trim().to_uppercase())
            .unwrap_or_default();
        release::bundle(
            &st.db,
            &p,
            &number,
            release::BundleBody {
                change: change.clone(),
            },
        )
        .await?;
        Ok(format!("{change} added."))
    }
    .await;
    back_with_flash(&st, &p, &format!("/releases/{number}"), r)
}

async fn deployment_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        release::plan_deployment(
            &st.db,
            &p,
            &number,
            release::NewDeployment {
                environment: f.get("environment").cloned().unwrap_or_default(),
                planned_start: utc("planned_start", f.get("planned_start"))?,
                planned_end: utc("planned_end", f.get("planned_end"))?,
                cis: vec![],
            },
        )
        .await?;
        Ok("Deployment planned.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &format!("/releases/{number}"), r)
}

async fn outcome_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let rel = release::record_outcome(
            &st.db,
            &p,
            &number,
            id,
            release::OutcomeBody {
                state: f.get("state").cloned().unwrap_or_default(),
                notes: f.get("notes").filter(|s| !s.is_empty()).cloned(),
            },
        )
        .await?;
        Ok(match &rel.problem {
            Some(pr) if rel.state == "failed" => {
                format!("Recorded. The release failed; {pr} opened for the analysis.")
            }
            _ => format!(
                "Recorded; {} is {}.",
                rel.number,
                rel.state.replace('_', " ")
            ),
        })
    }
    .await;
    back_with_flash(&st, &p, &format!("/releases/{number}"), r)
}

// ---------------------------------------------------------------------------------------------
// Service designs (8.5.2)

pub fn design_routes() -> Router<AppState> {
    Router::new()
        .route("/service-designs", get(designs_page).post(design_submit))
        .route(
            "/service-designs/{number}",
            get(design_page).post(design_update_submit),
        )
        .route(
            "/service-designs/{number}/criteria/{id}",
            post(criterion_submit),
        )
        .route("/service-designs/{number}/tasks", post(design_task_submit))
        .route(
            "/service-designs/{number}/tasks/{id}/complete",
            post(design_task_done_submit),
        )
}

async fn designs_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadInternalItems)?;
        Ok::<_, AppError>((
            super::design::list(&st.db).await?,
            crate::directory::list_named(&st.db, "services").await?,
        ))
    }
    .await;
    match r {
        Ok((designs, services)) => clear_flash(st.ui.render(
            "designs.html",
            context! {
                me => viewer(&p), flash => flash(&headers), designs => V::from(Serde(&designs)),
                services => V::from(Serde(&services)), can_manage => p.can(Action::ManageReference),
            },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

fn lines(text: Option<&String>) -> Vec<String> {
    text.map(|t| {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

async fn design_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let service = f
            .get("service_id")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| AppError::invalid("service_id", "choose the service"))?;
        super::design::create(
            &st.db,
            &p,
            super::design::DesignBody {
                service_id: Some(service),
                title: f.get("title").cloned(),
                resources: f.get("resources").cloned(),
                capabilities: f.get("capabilities").cloned(),
                service_levels: f.get("service_levels").cloned(),
                dependencies: f.get("dependencies").cloned(),
                transition_plan: f.get("transition_plan").cloned(),
                acceptance_criteria: lines(f.get("acceptance_criteria")),
                ..Default::default()
            },
        )
        .await
    }
    .await;
    match r {
        Ok(d) => redirect_with_flash(
            &format!("/service-designs/{}", d.number),
            &format!("{} recorded.", d.number),
        ),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            redirect_with_flash("/service-designs", &format!("Not recorded: {e}"))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn design_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadInternalItems)?;
        Ok::<_, AppError>((
            super::design::get(&st.db, &number).await?,
            crate::directory::list_users(&st.db).await?,
        ))
    }
    .await;
    match r {
        Ok((d, users)) => {
            let staff: Vec<_> = users
                .into_iter()
                .filter(|u| !matches!(u.role.as_str(), "requester" | "auditor") && u.disabled == 0)
                .collect();
            clear_flash(st.ui.render(
                "design.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), d => V::from(Serde(&d)), staff => V::from(Serde(&staff)),
                    can_manage => p.can(Action::ManageReference), can_test => p.can(Action::UpdateWorkItems),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn design_update_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        let d = super::design::update(
            &st.db,
            &p,
            &number,
            super::design::DesignBody {
                state: f.get("state").filter(|s| !s.is_empty()).cloned(),
                acceptance_criteria: lines(f.get("acceptance_criteria")),
                ..Default::default()
            },
        )
        .await?;
        Ok(if d.state == "accepted" && d.service_stage == "live" {
            format!("{} accepted; {} is live.", d.number, d.service)
        } else {
            format!("{} is {}.", d.number, d.state.replace('_', " "))
        })
    }
    .await;
    back_with_flash(&st, &p, &format!("/service-designs/{number}"), r)
}

async fn criterion_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        super::design::record_result(
            &st.db,
            &p,
            &number,
            id,
            super::design::ResultBody {
                result: f.get("result").cloned().unwrap_or_default(),
                notes: f.get("notes").filter(|s| !s.is_empty()).cloned(),
            },
        )
        .await?;
        Ok("Test result recorded.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &format!("/service-designs/{number}"), r)
}

async fn design_task_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        super::design::add_task(
            &st.db,
            &p,
            &number,
            super::design::NewTask {
                name: f.get("name").cloned().unwrap_or_default(),
                owner_id: f.get("owner_id").and_then(|o| o.parse().ok()),
                due_date: f.get("due_date").filter(|s| !s.is_empty()).cloned(),
            },
        )
        .await?;
        Ok("Task added.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &format!("/service-designs/{number}"), r)
}

async fn design_task_done_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path((number, id)): Path<(String, i64)>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        csrf(&p, &f)?;
        super::design::complete_task(&st.db, &p, &number, id).await?;
        Ok("Task done.".to_string())
    }
    .await;
    back_with_flash(&st, &p, &format!("/service-designs/{number}"), r)
}
