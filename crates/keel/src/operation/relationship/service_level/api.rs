//! Service level management over HTTP: `/api/v1/calendars`, `/api/v1/service-level-targets`
//! and `/api/v1/sla/attainment`.

use super::{self as sl, CalendarInput, CalendarView, TargetInput, TargetPatch, TargetView};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery, instant};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::operation::relationship::service_level::clock::Metric;
use serde::{Deserialize, Serialize};

/// List business calendars.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "service-levels", responses((status = 200, body = Vec<CalendarView>)), security(("bearer" = [])))]
pub async fn list_calendars(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<CalendarView>>> {
    p.require(Action::ReadServiceLevels)?;
    Ok(Json(sl::list_calendars(&st.db).await?))
}

/// Create a business calendar: working windows per weekday in a time zone, and holidays.
#[utoipa::path(post, path = "/api/v1/calendars", tag = "service-levels", request_body = CalendarInput,
    responses((status = 201, body = CalendarView), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_calendar(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<CalendarInput>,
) -> AppResult<(StatusCode, Json<CalendarView>)> {
    p.require(Action::ManageServiceLevels)?;
    Ok((
        StatusCode::CREATED,
        Json(sl::create_calendar(&st.db, &p.actor(), &b).await?),
    ))
}

/// Get a calendar (its current version).
#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "service-levels", params(("id" = i64, Path)),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_calendar(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<CalendarView>> {
    p.require(Action::ReadServiceLevels)?;
    Ok(Json(sl::get_calendar(&st.db, id).await?))
}

/// Replace a calendar's definition. Writes a new version; open SLA clocks on it continue on the
/// new version from now, keeping the time they have measured and their paused time.
#[utoipa::path(put, path = "/api/v1/calendars/{id}", tag = "service-levels", params(("id" = i64, Path)), request_body = CalendarInput,
    responses((status = 200, body = CalendarView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_calendar(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<CalendarInput>,
) -> AppResult<Json<CalendarView>> {
    p.require(Action::ManageServiceLevels)?;
    Ok(Json(sl::update_calendar(&st.db, &p.actor(), id, &b).await?))
}

/// List service level targets.
#[utoipa::path(get, path = "/api/v1/service-level-targets", tag = "service-levels", responses((status = 200, body = Vec<TargetView>)), security(("bearer" = [])))]
pub async fn list_targets(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<TargetView>>> {
    p.require(Action::ReadServiceLevels)?;
    Ok(Json(sl::list_targets(&st.db).await?))
}

/// Create a service level target (response or resolution time for a kind of work item, by
/// service, customer and priority, measured on a calendar). The most specific active target
/// governs each new item.
#[utoipa::path(post, path = "/api/v1/service-level-targets", tag = "service-levels", request_body = TargetInput,
    responses((status = 201, body = TargetView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_target(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<TargetInput>,
) -> AppResult<(StatusCode, Json<TargetView>)> {
    p.require(Action::ManageServiceLevels)?;
    Ok((
        StatusCode::CREATED,
        Json(sl::create_target(&st.db, &p.actor(), &b).await?),
    ))
}

/// Get a service level target.
#[utoipa::path(get, path = "/api/v1/service-level-targets/{id}", tag = "service-levels", params(("id" = i64, Path)),
    responses((status = 200, body = TargetView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_target(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<TargetView>> {
    p.require(Action::ReadServiceLevels)?;
    Ok(Json(sl::get_target(&st.db, id).await?))
}

/// Change a service level target. A new time, warning share or calendar re-targets the open
/// clocks it governs from now on.
#[utoipa::path(patch, path = "/api/v1/service-level-targets/{id}", tag = "service-levels", params(("id" = i64, Path)), request_body = TargetPatch,
    responses((status = 200, body = TargetView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_target(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<TargetPatch>,
) -> AppResult<Json<TargetView>> {
    p.require(Action::ManageServiceLevels)?;
    Ok(Json(sl::update_target(&st.db, &p.actor(), id, &b).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttainmentParams {
    /// Start of the period (RFC 3339 instant or `YYYY-MM-DD`, UTC); default the first of this month.
    pub from: Option<String>,
    /// End of the period, exclusive; default now.
    pub to: Option<String>,
    /// Group by `service`, `customer`, `priority` or `none` (default).
    pub by: Option<String>,
    /// Work-item kind; default `incident`.
    pub kind: Option<String>,
}

/// Attainment of one group for one metric over the period (clocks started in it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attainment {
    /// The group's id (service, customer) or priority; null for "none" or unset.
    pub key: Option<i64>,
    pub name: Option<String>,
    pub metric: String,
    pub total: i64,
    /// Stopped within target.
    pub met: i64,
    pub breached: i64,
    /// Still running or paused, not yet breached.
    pub open: i64,
    /// met ÷ (met + breached), in percent; null when nothing has finished or breached.
    pub attainment_percent: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttainmentReport {
    pub from: String,
    pub to: String,
    pub by: String,
    pub rows: Vec<Attainment>,
}

/// Group key, group name, metric, total, met, breached.
type AttainmentRow = (Option<i64>, Option<String>, String, i64, i64, i64);

/// SLA attainment per service, customer or priority over a period (8.3.3; the input to service
/// reporting, 9.4).
#[utoipa::path(get, path = "/api/v1/sla/attainment", tag = "service-levels", params(AttainmentParams),
    responses((status = 200, body = AttainmentReport), (status = 400, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn attainment(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AttainmentParams>,
) -> AppResult<Json<AttainmentReport>> {
    p.require(Action::ReadServiceLevels)?;
    Ok(Json(attainment_report(&st.db, q).await?))
}

/// The attainment report itself (also an input to management reviews, 9.3).
pub async fn attainment_report(db: &Db, q: AttainmentParams) -> AppResult<AttainmentReport> {
    let now = now_ms();
    let to = match &q.to {
        Some(v) => instant("to", v)?,
        None => now,
    };
    let from = match &q.from {
        Some(v) => instant("from", v)?,
        None => {
            let today = jiff::tz::TimeZone::UTC
                .to_datetime(
                    jiff::Timestamp::from_millisecond(now)
                        .map_err(|e| AppError::Internal(e.into()))?,
                )
                .date();
            instant("from", &today.first_of_month().to_string())?
        }
    };
    if to <= from {
        return Err(AppError::invalid("to", "must be after `from`"));
    }
    let kind = q.kind.as_deref().unwrap_or("incident");
    crate::kernel::process::kind(kind)
        .ok_or_else(|| AppError::invalid("kind", format!("unknown work-item kind `{kind}`")))?;
    let by = q.by.as_deref().unwrap_or("none");
    let (key, name, join) = match by {
        "none" => ("CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)", ""),
        "service" => (
            "w.service_id",
            "g.name",
            "LEFT JOIN services g ON g.id = w.service_id",
        ),
        "customer" => (
            "w.customer_id",
            "g.name",
            "LEFT JOIN customers g ON g.id = w.customer_id",
        ),
        "priority" => ("w.priority", "CAST(NULL AS TEXT)", ""),
        other => {
            return Err(AppError::invalid(
                "by",
                format!("`{other}` is not one of service, customer, priority, none"),
            ));
        }
    };
    let sql = format!(
        "SELECT {key} AS k, {name} AS n, c.metric, COUNT(*) AS total, \
         CAST(SUM(CASE WHEN c.status = 'stopped' AND c.breached_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS met, \
         CAST(SUM(CASE WHEN c.breached_at IS NOT NULL OR c.due_at <= $1 THEN 1 ELSE 0 END) AS BIGINT) AS breached \
         FROM sla_clocks c JOIN work_items w ON w.id = c.item_id {join} \
         WHERE w.kind = $2 AND c.started_at >= $3 AND c.started_at < $4 \
         GROUP BY {key}, {name}, c.metric ORDER BY 1, 3"
    );
    let rows: Vec<AttainmentRow> = db
        .all(Q::new(sql).bind(now).bind(kind).bind(from).bind(to))
        .await?;
    let rows = rows
        .into_iter()
        .filter(|r| Metric::parse(&r.2).is_some())
        .map(|(key, name, metric, total, met, breached)| Attainment {
            key,
            name,
            metric,
            total,
            met,
            breached,
            open: total - met - breached,
            attainment_percent: (met + breached > 0)
                .then(|| (met as f64 * 1000.0 / (met + breached) as f64).round() / 10.0),
        })
        .collect();
    Ok(AttainmentReport {
        from: iso(from),
        to: iso(to),
        by: by.to_string(),
        rows,
    })
}

/// Service level management's pages: the overview and its forms for calendars and targets.
pub fn pages() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/service-levels", get(page))
        .route("/service-levels/calendars", post(calendar_submit))
        .route("/service-levels/targets", post(target_submit))
        .route(
            "/service-levels/targets/{id}/active",
            post(target_active_submit),
        )
}

/// The service-levels page: this month's attainment by priority, the targets, the calendars.
pub async fn page(
    State(st): State<AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use minijinja::value::Serde;
    use minijinja::{Value as V, context};
    let result = async {
        p.require(Action::ReadServiceLevels)?;
        let report = attainment_report(
            &st.db,
            AttainmentParams {
                from: None,
                to: None,
                by: Some("priority".into()),
                kind: None,
            },
        )
        .await?;
        let targets = sl::list_targets(&st.db).await?;
        let calendars = sl::list_calendars(&st.db).await?;
        let services = crate::directory::list_named(&st.db, "services").await?;
        let customers = crate::directory::list_named(&st.db, "customers").await?;
        Ok::<_, AppError>((report, targets, calendars, services, customers))
    }
    .await;
    match result {
        Ok((report, targets, calendars, services, customers)) => {
            let by_id: std::collections::BTreeMap<String, String> = calendars
                .iter()
                .map(|c| (c.id.to_string(), c.name.clone()))
                .collect();
            crate::platform::ui::clear_flash(st.ui.render(
                "service_levels.html",
                context! {
                    me => crate::platform::ui::viewer(&p), flash => crate::platform::ui::flash(&headers),
                    can_manage => p.can(Action::ManageServiceLevels),
                    services => V::from(Serde(&services)), customers => V::from(Serde(&customers)),
                    report => V::from(Serde(&report)), targets => V::from(Serde(&targets)),
                    calendars => V::from(Serde(&calendars)), calendars_by_id => V::from(Serde(&by_id)),
                },
            ))
        }
        Err(e) => crate::platform::ui::page_error(&st, Some(&p), e),
    }
}

// ---------------------------------------------------------------------------------------------
// The page's forms

#[derive(Debug, Deserialize)]
pub struct CalendarForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    windows: String,
    #[serde(default)]
    holidays: String,
}

/// `monday 08:00-18:00` lines → windows (a line that does not parse is refused by name).
fn parse_windows(text: &str) -> AppResult<Vec<sl::Window>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let bad =
                || AppError::invalid("windows", format!("`{l}` is not like `monday 08:00-18:00`"));
            let (day, hours) = l.split_once(char::is_whitespace).ok_or_else(bad)?;
            let (start, end) = hours.trim().split_once('-').ok_or_else(bad)?;
            Ok(sl::Window {
                weekday: day.trim().to_lowercase(),
                start: start.trim().to_string(),
                end: end.trim().to_string(),
            })
        })
        .collect()
}

fn back_to_page(msg: String) -> axum::response::Response {
    crate::platform::ui::redirect_with_flash("/service-levels", &msg)
}

/// Save a calendar from the page (new, or a new version of an existing one).
pub async fn calendar_submit(
    State(st): State<AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    axum::Form(f): axum::Form<CalendarForm>,
) -> axum::response::Response {
    let r = async {
        crate::platform::ui::check_csrf(&p, &f.csrf)?;
        p.require(Action::ManageServiceLevels)?;
        let input = CalendarInput {
            name: f.name.clone(),
            time_zone: f.time_zone.clone(),
            windows: parse_windows(&f.windows)?,
            holidays: f
                .holidays
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        };
        match f.id.trim() {
            "" => sl::create_calendar(&st.db, &p.actor(), &input).await,
            id => {
                let id = id
                    .parse()
                    .map_err(|_| AppError::invalid("id", "not a calendar"))?;
                sl::update_calendar(&st.db, &p.actor(), id, &input).await
            }
        }
    }
    .await;
    match r {
        Ok(c) => back_to_page(format!(
            "Saved calendar {} (version {}).",
            c.name, c.version
        )),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Stale { .. })) => {
            back_to_page(format!("Not saved: {e}"))
        }
        Err(e) => crate::platform::ui::page_error(&st, Some(&p), e),
    }
}

#[derive(Debug, Deserialize)]
pub struct TargetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metric: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    target_minutes: String,
    #[serde(default)]
    warn_percent: String,
    #[serde(default)]
    calendar_id: String,
}

fn num(field: &str, v: &str) -> AppResult<Option<i64>> {
    match v.trim() {
        "" => Ok(None),
        s => s
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(field, "must be a number")),
    }
}

/// Add a target from the page.
pub async fn target_submit(
    State(st): State<AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    axum::Form(f): axum::Form<TargetForm>,
) -> axum::response::Response {
    let r = async {
        crate::platform::ui::check_csrf(&p, &f.csrf)?;
        p.require(Action::ManageServiceLevels)?;
        let input = TargetInput {
            name: f.name.clone(),
            kind: Some(f.kind.clone()).filter(|k| !k.is_empty()),
            metric: f.metric.clone(),
            service_id: num("service_id", &f.service_id)?,
            customer_id: num("customer_id", &f.customer_id)?,
            priority: num("priority", &f.priority)?,
            target_minutes: num("target_minutes", &f.target_minutes)?
                .ok_or_else(|| AppError::invalid("target_minutes", "give the target"))?,
            warn_percent: num("warn_percent", &f.warn_percent)?,
            calendar_id: num("calendar_id", &f.calendar_id)?
                .ok_or_else(|| AppError::invalid("calendar_id", "choose a calendar"))?,
        };
        sl::create_target(&st.db, &p.actor(), &input).await
    }
    .await;
    match r {
        Ok(t) => back_to_page(format!("Added target {}.", t.name)),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            back_to_page(format!("Not saved: {e}"))
        }
        Err(e) => crate::platform::ui::page_error(&st, Some(&p), e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    active: String,
}

/// Activate or deactivate a target from the page.
pub async fn target_active_submit(
    State(st): State<AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<ActiveForm>,
) -> axum::response::Response {
    let r = async {
        crate::platform::ui::check_csrf(&p, &f.csrf)?;
        p.require(Action::ManageServiceLevels)?;
        let patch = TargetPatch {
            active: Some(f.active == "1"),
            ..Default::default()
        };
        sl::update_target(&st.db, &p.actor(), id, &patch).await
    }
    .await;
    match r {
        Ok(t) => back_to_page(format!(
            "{} is {}.",
            t.name,
            if t.active { "active" } else { "inactive" }
        )),
        Err(e @ (AppError::Invalid { .. } | AppError::NotFound(_))) => {
            back_to_page(format!("Not saved: {e}"))
        }
        Err(e) => crate::platform::ui::page_error(&st, Some(&p), e),
    }
}
