//! Clause 8.3.3 — service level management: business calendars and service level targets.
//!
//! The rules (calendar arithmetic, clocks, which target governs an item) are pure code in
//! `keel_core::operation::relationship::service_level`; this module stores definitions, and
//! [`clocks`] runs the clocks they drive on every work item. A
//! calendar is versioned — every change writes a new immutable version — so each SLA clock's
//! ledger can be replayed against the calendar that was in force. Changing a calendar or a target
//! re-targets the open clocks that use it from that instant on (`clocks::retarget`).

pub mod api;
pub mod clocks;

use crate::directory::exists;
use crate::platform::audit::{Actor, append};
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::web::iso;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use keel_core::audit::diff;
use keel_core::operation::relationship::service_level::calendar::{Calendar, Week, WindowSpec};
use keel_core::operation::relationship::service_level::clock::{CalendarKey, Metric};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// One working window, as the API shows and takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `monday` … `sunday`.
    pub weekday: String,
    /// `HH:MM`, local time.
    pub start: String,
    /// `HH:MM`, local time; `24:00` for the end of the day.
    pub end: String,
}

impl From<WindowSpec> for Window {
    fn from(w: WindowSpec) -> Self {
        Window {
            weekday: w.weekday,
            start: w.start,
            end: w.end,
        }
    }
}

/// A calendar as written by an administrator.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    pub windows: Vec<Window>,
    /// Dates (`YYYY-MM-DD`) with no working time.
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarView {
    pub id: i64,
    pub name: String,
    /// Increases with every change; clocks record the version they ran on.
    pub version: i64,
    pub time_zone: String,
    pub windows: Vec<Window>,
    pub holidays: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A checked calendar definition, normalized for storage.
struct Parsed {
    name: String,
    time_zone: String,
    windows: Vec<WindowSpec>,
    holidays: Vec<String>,
}

fn parse_calendar(c: &CalendarInput) -> AppResult<Parsed> {
    let name = Line::parse(&c.name, 100).map_err(|e| AppError::invalid("name", e))?;
    let tz = c.time_zone.trim();
    TimeZone::get(tz).map_err(|_| {
        AppError::invalid(
            "time_zone",
            format!("unknown time zone `{tz}` (expected an IANA name such as Europe/Paris)"),
        )
    })?;
    let specs: Vec<WindowSpec> = c
        .windows
        .iter()
        .map(|w| WindowSpec {
            weekday: w.weekday.clone(),
            start: w.start.clone(),
            end: w.end.clone(),
        })
        .collect();
    let week = Week::parse(&specs).map_err(|e| AppError::invalid("windows", e))?;
    let mut holidays = BTreeSet::new();
    for (i, h) in c.holidays.iter().enumerate() {
        let d: Date = h.trim().parse().map_err(|_| {
            AppError::invalid(
                &format!("holidays[{i}]"),
                format!("`{h}` is not a date (expected YYYY-MM-DD)"),
            )
        })?;
        holidays.insert(d);
    }
    Ok(Parsed {
        name: name.into_string(),
        time_zone: tz.to_string(),
        windows: week.specs(),
        holidays: holidays.iter().map(ToString::to_string).collect(),
    })
}

/// Build the arithmetic calendar from a stored version.
pub fn build_calendar(time_zone: &str, windows: &str, holidays: &str) -> AppResult<Calendar> {
    let corrupt = |what: &str| AppError::Internal(anyhow::anyhow!("stored calendar: {what}"));
    let tz = TimeZone::get(time_zone).map_err(|_| corrupt("time zone"))?;
    let specs: Vec<WindowSpec> = serde_json::from_str(windows).map_err(|_| corrupt("windows"))?;
    let week = Week::parse(&specs).map_err(|_| corrupt("windows"))?;
    let days: Vec<String> = serde_json::from_str(holidays).map_err(|_| corrupt("holidays"))?;
    let holidays = days
        .iter()
        .map(|d| d.parse::<Date>())
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|_| corrupt("holidays"))?;
    Calendar::new(tz, week, holidays).map_err(|_| corrupt("no working time"))
}

type VersionRow = (String, String, String);
const VERSION_SQL: &str = "SELECT time_zone, windows, holidays FROM calendar_versions WHERE calendar_id = $1 AND version = $2";

/// Calendars loaded for one operation, by key (versions never change, so this never goes stale).
#[derive(Default)]
pub struct Calendars(HashMap<CalendarKey, Calendar>);

impl Calendars {
    pub async fn load_tx(&mut self, tx: &mut Tx, key: CalendarKey) -> AppResult<&Calendar> {
        if !self.0.contains_key(&key) {
            let row: Option<VersionRow> = tx
                .opt(Q::new(VERSION_SQL).bind(key.id).bind(key.version))
                .await?;
            self.insert(key, row)?;
        }
        self.get(key)
    }

    pub async fn load(&mut self, db: &Db, key: CalendarKey) -> AppResult<&Calendar> {
        if !self.0.contains_key(&key) {
            let row: Option<VersionRow> = db
                .opt(Q::new(VERSION_SQL).bind(key.id).bind(key.version))
                .await?;
            self.insert(key, row)?;
        }
        self.get(key)
    }

    fn insert(&mut self, key: CalendarKey, row: Option<VersionRow>) -> AppResult<()> {
        let (tz, w, h) = row.ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "calendar {} version {} missing",
                key.id,
                key.version
            ))
        })?;
        self.0.insert(key, build_calendar(&tz, &w, &h)?);
        Ok(())
    }

    pub fn get(&self, key: CalendarKey) -> AppResult<&Calendar> {
        self.0
            .get(&key)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("calendar {} not loaded", key.id)))
    }
}

#[derive(sqlx::FromRow)]
struct CalendarRow {
    id: i64,
    name: String,
    version: i64,
    time_zone: String,
    windows: String,
    holidays: String,
    created_at: i64,
    updated_at: i64,
}

const CALENDAR_SQL: &str = "SELECT c.id, c.name, c.version, v.time_zone, v.windows, v.holidays, c.created_at, c.updated_at \
    FROM calendars c JOIN calendar_versions v ON v.calendar_id = c.id AND v.version = c.version";

impl From<CalendarRow> for CalendarView {
    fn from(r: CalendarRow) -> Self {
        let windows: Vec<WindowSpec> = serde_json::from_str(&r.windows).unwrap_or_default();
        CalendarView {
            id: r.id,
            name: r.name,
            version: r.version,
            time_zone: r.time_zone,
            windows: windows.into_iter().map(Window::from).collect(),
            holidays: serde_json::from_str(&r.holidays).unwrap_or_default(),
            created_at: iso(r.created_at),
            updated_at: iso(r.updated_at),
        }
    }
}

impl CalendarView {
    fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("name", json!(self.name)),
            ("version", json!(self.version)),
            ("time_zone", json!(self.time_zone)),
            ("windows", json!(self.windows)),
            ("holidays", json!(self.holidays)),
        ]
    }
}

pub async fn list_calendars(db: &Db) -> AppResult<Vec<CalendarView>> {
    let rows: Vec<CalendarRow> = db
        .all(Q::new(format!("{CALENDAR_SQL} ORDER BY c.name")))
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn get_calendar(db: &Db, id: i64) -> AppResult<CalendarView> {
    let row: Option<CalendarRow> = db
        .opt(Q::new(format!("{CALENDAR_SQL} WHERE c.id = $1")).bind(id))
        .await?;
    row.map(Into::into)
        .ok_or_else(|| AppError::NotFound(format!("calendar {id}")))
}

async fn get_calendar_tx(tx: &mut Tx, id: i64) -> AppResult<CalendarView> {
    let row: Option<CalendarRow> = tx
        .opt(Q::new(format!("{CALENDAR_SQL} WHERE c.id = $1")).bind(id))
        .await?;
    row.map(Into::into)
        .ok_or_else(|| AppError::NotFound(format!("calendar {id}")))
}

async fn insert_version(
    tx: &mut Tx,
    id: i64,
    version: i64,
    p: &Parsed,
    actor: &Actor,
) -> AppResult<()> {
    tx.exec(
        Q::new("INSERT INTO calendar_versions (calendar_id, version, time_zone, windows, holidays, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id)
            .bind(version)
            .bind(p.time_zone.as_str())
            .bind(json!(p.windows).to_string())
            .bind(json!(p.holidays).to_string())
            .bind(now_ms())
            .bind(actor.user_id),
    )
    .await?;
    Ok(())
}

fn name_taken(e: crate::platform::db::DbError) -> AppError {
    match e {
        crate::platform::db::DbError::Unique(_) => {
            AppError::Conflict("a calendar with that name exists".into())
        }
        other => other.into(),
    }
}

pub async fn create_calendar(
    db: &Db,
    actor: &Actor,
    input: &CalendarInput,
) -> AppResult<CalendarView> {
    let p = parse_calendar(input)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO calendars (name, version, created_at, updated_at) VALUES ($1, 1, $2, $2) RETURNING id")
                .bind(p.name.as_str())
                .bind(now),
        )
        .await
        .map_err(name_taken)?;
    insert_version(&mut tx, id, 1, &p, actor).await?;
    let view = get_calendar_tx(&mut tx, id).await?;
    append(
        &mut tx,
        actor,
        "create",
        "calendar",
        &id.to_string(),
        diff(&[], &view.fields()),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Replace a calendar's definition: a new version, and every open clock on it re-targeted.
pub async fn update_calendar(
    db: &Db,
    actor: &Actor,
    id: i64,
    input: &CalendarInput,
) -> AppResult<CalendarView> {
    let p = parse_calendar(input)?;
    let mut tx = db.begin().await?;
    let before = get_calendar_tx(&mut tx, id).await?;
    let version = before.version + 1;
    let n = tx
        .exec(
            Q::new("UPDATE calendars SET name = $1, version = $2, updated_at = $3 WHERE id = $4 AND version = $5")
                .bind(p.name.as_str())
                .bind(version)
                .bind(now_ms())
                .bind(id)
                .bind(before.version),
        )
        .await
        .map_err(name_taken)?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    insert_version(&mut tx, id, version, &p, actor).await?;
    let after = get_calendar_tx(&mut tx, id).await?;
    append(
        &mut tx,
        actor,
        "update",
        "calendar",
        &id.to_string(),
        diff(&before.fields(), &after.fields()),
    )
    .await?;
    let targets: Vec<TargetRow> = tx
        .all(Q::new(format!("{TARGET_SQL} WHERE calendar_id = $1")).bind(id))
        .await?;
    for t in targets {
        clocks::retarget(
            &mut tx,
            &t,
            actor,
            &format!("calendar {} changed to version {version}", after.name),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

// ---------------------------------------------------------------------------------------------
// Service level targets

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub metric: String,
    pub service_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub priority: Option<i64>,
    pub target_minutes: i64,
    pub warn_percent: i64,
    pub calendar_id: i64,
    /// The calendar's current version (joined).
    pub calendar_version: i64,
    pub active: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const TARGET_SQL: &str = "SELECT t.id, t.name, t.kind, t.metric, t.service_id, t.customer_id, t.priority, t.target_minutes, t.warn_percent, \
    t.calendar_id, c.version AS calendar_version, t.active, t.version, t.created_at, t.updated_at \
    FROM service_level_targets t JOIN calendars c ON c.id = t.calendar_id";

impl TargetRow {
    pub fn target_ms(&self) -> i64 {
        self.target_minutes * 60_000
    }

    pub fn calendar(&self) -> CalendarKey {
        CalendarKey {
            id: self.calendar_id,
            version: self.calendar_version,
        }
    }

    pub fn scope(&self) -> keel_core::operation::relationship::service_level::Scope {
        keel_core::operation::relationship::service_level::Scope {
            service_id: self.service_id,
            customer_id: self.customer_id,
            priority: self.priority,
        }
    }

    fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("name", json!(self.name)),
            ("kind", json!(self.kind)),
            ("metric", json!(self.metric)),
            ("service_id", json!(self.service_id)),
            ("customer_id", json!(self.customer_id)),
            ("priority", json!(self.priority)),
            ("target_minutes", json!(self.target_minutes)),
            ("warn_percent", json!(self.warn_percent)),
            ("calendar_id", json!(self.calendar_id)),
            ("active", json!(self.active != 0)),
        ]
    }
}

/// A service level target as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetView {
    pub id: i64,
    pub name: String,
    /// Work-item kind it applies to (`incident`).
    pub kind: String,
    /// `response` or `resolution`.
    pub metric: String,
    pub service_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// 1 critical … 5 planning; null for any.
    pub priority: Option<i64>,
    pub target_minutes: i64,
    /// Warn when this share of the target has passed.
    pub warn_percent: i64,
    pub calendar_id: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TargetRow> for TargetView {
    fn from(t: TargetRow) -> Self {
        TargetView {
            id: t.id,
            name: t.name,
            kind: t.kind,
            metric: t.metric,
            service_id: t.service_id,
            customer_id: t.customer_id,
            priority: t.priority,
            target_minutes: t.target_minutes,
            warn_percent: t.warn_percent,
            calendar_id: t.calendar_id,
            active: t.active != 0,
            version: t.version,
            created_at: iso(t.created_at),
            updated_at: iso(t.updated_at),
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    pub name: String,
    /// Work-item kind; `incident` if omitted.
    pub kind: Option<String>,
    /// `response` or `resolution`.
    pub metric: String,
    pub service_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub priority: Option<i64>,
    pub target_minutes: i64,
    /// 1–99; 75 if omitted.
    pub warn_percent: Option<i64>,
    pub calendar_id: i64,
}

/// Changes to a target; a new target time, warning share or calendar re-targets open clocks.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetPatch {
    pub name: Option<String>,
    pub target_minutes: Option<i64>,
    pub warn_percent: Option<i64>,
    pub calendar_id: Option<i64>,
    /// An inactive target governs no new items; clocks it already runs keep running.
    pub active: Option<bool>,
}

/// Up to a year of working minutes.
const MAX_TARGET_MINUTES: i64 = 366 * 24 * 60;

fn check_minutes(v: i64) -> AppResult<i64> {
    if (1..=MAX_TARGET_MINUTES).contains(&v) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            "target_minutes",
            format!("must be between 1 and {MAX_TARGET_MINUTES}"),
        ))
    }
}

fn check_warn(v: i64) -> AppResult<i64> {
    if (1..=99).contains(&v) {
        Ok(v)
    } else {
        Err(AppError::invalid(
            "warn_percent",
            "must be between 1 and 99",
        ))
    }
}

pub async fn list_targets(db: &Db) -> AppResult<Vec<TargetView>> {
    let rows: Vec<TargetRow> = db
        .all(Q::new(format!("{TARGET_SQL} ORDER BY t.id")))
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

async fn target_tx(tx: &mut Tx, id: i64) -> AppResult<TargetRow> {
    tx.opt(Q::new(format!("{TARGET_SQL} WHERE t.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("service level target {id}")))
}

pub async fn get_target(db: &Db, id: i64) -> AppResult<TargetView> {
    let row: Option<TargetRow> = db
        .opt(Q::new(format!("{TARGET_SQL} WHERE t.id = $1")).bind(id))
        .await?;
    row.map(Into::into)
        .ok_or_else(|| AppError::NotFound(format!("service level target {id}")))
}

pub async fn create_target(db: &Db, actor: &Actor, t: &TargetInput) -> AppResult<TargetView> {
    let name = Line::parse(&t.name, 100).map_err(|e| AppError::invalid("name", e))?;
    let kind = t.kind.as_deref().unwrap_or("incident");
    crate::kernel::process::kind(kind)
        .ok_or_else(|| AppError::invalid("kind", format!("unknown work-item kind `{kind}`")))?;
    Metric::parse(&t.metric)
        .ok_or_else(|| AppError::invalid("metric", "must be `response` or `resolution`"))?;
    if let Some(p) = t.priority
        && !(1..=5).contains(&p)
    {
        return Err(AppError::invalid("priority", "must be between 1 and 5"));
    }
    let minutes = check_minutes(t.target_minutes)?;
    let warn = check_warn(t.warn_percent.unwrap_or(75))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(s) = t.service_id {
        exists(&mut tx, "services", s, "service_id").await?;
    }
    if let Some(c) = t.customer_id {
        exists(&mut tx, "customers", c, "customer_id").await?;
    }
    exists(&mut tx, "calendars", t.calendar_id, "calendar_id").await?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO service_level_targets (name, kind, metric, service_id, customer_id, priority, target_minutes, warn_percent, calendar_id, active, version, created_at, updated_at) \
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, 1, $10, $10) RETURNING id")
                .bind(name.as_str())
                .bind(kind)
                .bind(t.metric.as_str())
                .bind(t.service_id)
                .bind(t.customer_id)
                .bind(t.priority)
                .bind(minutes)
                .bind(warn)
                .bind(t.calendar_id)
                .bind(now),
        )
        .await?;
    let row = target_tx(&mut tx, id).await?;
    append(
        &mut tx,
        actor,
        "create",
        "service_level_target",
        &id.to_string(),
        diff(&[], &row.fields()),
    )
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn update_target(
    db: &Db,
    actor: &Actor,
    id: i64,
    p: &TargetPatch,
) -> AppResult<TargetView> {
    let mut tx = db.begin().await?;
    let before = target_tx(&mut tx, id).await?;
    let mut after = before.clone();
    if let Some(n) = &p.name {
        after.name = Line::parse(n, 100)
            .map_err(|e| AppError::invalid("name", e))?
            .into_string();
    }
    if let Some(m) = p.target_minutes {
        after.target_minutes = check_minutes(m)?;
    }
    if let Some(w) = p.warn_percent {
        after.warn_percent = check_warn(w)?;
    }
    if let Some(c) = p.calendar_id {
        exists(&mut tx, "calendars", c, "calendar_id").await?;
        after.calendar_id = c;
    }
    if let Some(a) = p.active {
        after.active = i64::from(a);
    }
    let changes = diff(&before.fields(), &after.fields());
    if changes.is_empty() {
        return Ok(before.into());
    }
    tx.exec(
        Q::new("UPDATE service_level_targets SET name = $1, target_minutes = $2, warn_percent = $3, calendar_id = $4, active = $5, version = version + 1, updated_at = $6 WHERE id = $7")
            .bind(after.name.as_str())
            .bind(after.target_minutes)
            .bind(after.warn_percent)
            .bind(after.calendar_id)
            .bind(after.active)
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    append(
        &mut tx,
        actor,
        "update",
        "service_level_target",
        &id.to_string(),
        changes,
    )
    .await?;
    let after = target_tx(&mut tx, id).await?;
    if (after.target_minutes, after.warn_percent, after.calendar_id)
        != (
            before.target_minutes,
            before.warn_percent,
            before.calendar_id,
        )
    {
        clocks::retarget(
            &mut tx,
            &after,
            actor,
            &format!("target {} changed", after.name),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after.into())
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "service levels",
    api: part_api,
    pages: api::pages,
    templates: &[
        (
            "service_levels.html",
            include_str!("../../../../templates/service_levels.html"),
        ),
        (
            "sla_panel.html",
            include_str!("../../../../templates/sla_panel.html"),
        ),
    ],
    tags: &[(
        "service-levels",
        "Business calendars, service level targets, SLA attainment (8.3.3)",
    )],
    jobs: clocks::JOBS,
    nav: &[crate::platform::part::Nav {
        order: 150,
        label: "Service levels",
        requester_label: None,
        href: "/service-levels",
        shown: |p| {
            p.can(keel_core::access::Action::ReadServiceLevels)
                && !p.role.is_scoped_to_own_records()
        },
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageServiceLevels,
            routes!(api::list_calendars, api::create_calendar),
        ))
        .routes(gate(
            Action::ManageServiceLevels,
            routes!(api::get_calendar, api::update_calendar),
        ))
        .routes(gate(
            Action::ManageServiceLevels,
            routes!(api::list_targets, api::create_target),
        ))
        .routes(gate(
            Action::ManageServiceLevels,
            routes!(api::get_target, api::update_target),
        ))
        .routes(routes!(api::attainment))
}
