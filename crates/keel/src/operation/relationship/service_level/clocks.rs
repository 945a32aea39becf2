//! SLA clocks on work items (8.3.3, measured on the processes of 8.6): started when an item is
//! created under a service level target, paused, resumed and stopped as the item moves through
//! its lifecycle, re-targeted when its priority, service or customer — or the target or calendar
//! itself — changes. Every step is a row of the append-only `sla_clock_events` ledger, and the
//! `sla_clocks` row is the fold of that ledger (`keel_core`'s `Clock`), kept in the same
//! transaction as the change that caused it.

use super::{Calendars, TARGET_SQL, TargetRow};
use crate::kernel::ItemRow;
use crate::kernel::process::{Panel, Process};
use crate::platform::audit::Actor;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::AppResult;
use crate::platform::outbox::{self, Event as Outbound, workers};
use crate::platform::part::JobKind;
use crate::platform::web::AppState;
use crate::platform::web::iso;
use keel_core::kernel::Kind;
use keel_core::operation::relationship::service_level::clock::{
    CalendarKey, Clock, Event, EventKind, Metric, Reading, Status, desired_status, events_for,
};
use keel_core::operation::relationship::service_level::{Scope, select_target};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClockRow {
    pub id: i64,
    pub item_id: i64,
    pub metric: String,
    pub target_id: i64,
    pub status: String,
    pub target_ms: i64,
    pub warn_percent: i64,
    pub calendar_id: i64,
    pub calendar_version: i64,
    pub elapsed_ms: i64,
    pub since: i64,
    pub breached_at: Option<i64>,
    pub due_at: Option<i64>,
    pub warn_at: Option<i64>,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
}

const CLOCK_COLS: &str = "id, item_id, metric, target_id, status, target_ms, warn_percent, calendar_id, calendar_version, \
    elapsed_ms, since, breached_at, due_at, warn_at, started_at, stopped_at";

impl ClockRow {
    pub fn clock(&self) -> Clock {
        Clock {
            status: Status::parse(&self.status).unwrap_or(Status::Stopped),
            target_ms: self.target_ms,
            calendar: self.key(),
            elapsed_ms: self.elapsed_ms,
            since: self.since,
            breached_at: self.breached_at,
        }
    }

    pub fn key(&self) -> CalendarKey {
        CalendarKey {
            id: self.calendar_id,
            version: self.calendar_version,
        }
    }

    pub fn metric(&self) -> Metric {
        Metric::parse(&self.metric).unwrap_or(Metric::Resolution)
    }
}

/// Where the scan should next look at a clock: its warning and breach instants while they are
/// still ahead of a running clock, read at the clock's last event.
fn schedule(
    c: &Clock,
    warn_percent: i64,
    cal: &keel_core::operation::relationship::service_level::calendar::Calendar,
) -> (Option<i64>, Option<i64>) {
    let r = c.read(c.since, cal, warn_percent);
    (r.due_at, r.warn_at)
}

async fn active_targets(tx: &mut Tx, kind: Kind) -> AppResult<Vec<TargetRow>> {
    Ok(tx
        .all(
            Q::new(format!(
                "{TARGET_SQL} WHERE t.kind = $1 AND t.active = 1 ORDER BY t.id"
            ))
            .bind(kind.as_str()),
        )
        .await?)
}

fn choose(targets: &[TargetRow], metric: Metric, scope: Scope) -> Option<&TargetRow> {
    let of_metric: Vec<(i64, Scope)> = targets
        .iter()
        .filter(|t| t.metric == metric.as_str())
        .map(|t| (t.id, t.scope()))
        .collect();
    let id = select_target(&of_metric, scope)?;
    targets.iter().find(|t| t.id == id)
}

fn scope_of(item: &ItemRow) -> Scope {
    Scope {
        service_id: item.service_id,
        customer_id: item.customer_id,
        priority: Some(item.priority),
    }
}

/// Start the clocks of the items of `kind` just created with sequence numbers `first..=last`
/// (one statement for the clocks, one for the ledger). Costs one query when no target exists.
pub async fn start(tx: &mut Tx, kind: Kind, first: i64, last: i64) -> AppResult<()> {
    let targets = active_targets(tx, kind).await?;
    if targets.is_empty() {
        return Ok(());
    }
    let items: Vec<ItemRow> = tx
        .all(
            Q::new(format!(
                "{} WHERE w.kind = $1 AND w.seq >= $2 AND w.seq <= $3",
                crate::kernel::SELECT_ITEM
            ))
            .bind(kind.as_str())
            .bind(first)
            .bind(last),
        )
        .await?;
    let mut cals = Calendars::default();
    let mut q = Q::new("");
    let mut rows = vec![];
    for item in &items {
        for metric in Metric::ALL {
            let Some(t) = choose(&targets, metric, scope_of(item)) else {
                continue;
            };
            if desired_status(metric, &item.state, item.hold_reason.as_deref()) == Status::Stopped {
                continue;
            }
            let c = Clock::start(item.created_at, t.target_ms(), t.calendar());
            let cal = cals.load_tx(tx, t.calendar()).await?;
            let (due, warn) = schedule(&c, t.warn_percent, cal);
            let v = [
                q.arg(item.id),
                q.arg(metric.as_str()),
                q.arg(t.id),
                q.arg(c.target_ms),
                q.arg(t.warn_percent),
                q.arg(t.calendar_id),
                q.arg(t.calendar_version),
                q.arg(c.since),
                q.arg(c.breached_at),
                q.arg(due),
                q.arg(warn),
            ];
            rows.push(format!(
                "({}, {}, {}, 'running', {}, {}, {}, {}, 0, {}, {}, {}, {}, {})",
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[7]
            ));
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    q.sql = format!(
        "INSERT INTO sla_clocks (item_id, metric, target_id, status, target_ms, warn_percent, calendar_id, calendar_version, elapsed_ms, since, breached_at, due_at, warn_at, started_at) VALUES {}",
        rows.join(", ")
    );
    tx.exec(q).await?;
    tx.exec(
        Q::new(
            "INSERT INTO sla_clock_events (clock_id, kind, at, target_ms, calendar_id, calendar_version, reason, actor_id) \
             SELECT c.id, 'start', c.since, c.target_ms, c.calendar_id, c.calendar_version, 'created under target ' || t.name, w.created_by \
             FROM sla_clocks c JOIN service_level_targets t ON t.id = c.target_id JOIN work_items w ON w.id = c.item_id \
             WHERE w.kind = $1 AND w.seq >= $2 AND w.seq <= $3 ORDER BY c.id",
        )
        .bind(kind.as_str())
        .bind(first)
        .bind(last),
    )
    .await?;
    Ok(())
}

/// One pending ledger entry.
struct Step {
    event: Event,
    reason: String,
}

/// Apply steps to a stored clock, write the fold and the ledger, and announce a breach that
/// happened by the last step.
async fn advance(
    tx: &mut Tx,
    cals: &mut Calendars,
    row: &ClockRow,
    target: Option<&TargetRow>,
    steps: Vec<Step>,
    actor: &Actor,
    item: &ItemRow,
) -> AppResult<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut c = row.clock();
    for s in &steps {
        let cal = cals.load_tx(tx, c.calendar).await?;
        c = c.apply(&s.event, cal).map_err(|e| {
            crate::platform::error::AppError::Internal(anyhow::anyhow!("clock {}: {e}", row.id))
        })?;
    }
    let warn_percent = target.map_or(row.warn_percent, |t| t.warn_percent);
    let cal = cals.load_tx(tx, c.calendar).await?;
    let (due, warn) = schedule(&c, warn_percent, cal);
    let stopped_at = (c.status == Status::Stopped).then_some(c.since);
    tx.exec(
        Q::new("UPDATE sla_clocks SET status = $1, target_id = $2, target_ms = $3, warn_percent = $4, calendar_id = $5, calendar_version = $6, \
                elapsed_ms = $7, since = $8, breached_at = $9, due_at = $10, warn_at = $11, stopped_at = $12 WHERE id = $13")
            .bind(c.status.as_str())
            .bind(target.map_or(row.target_id, |t| t.id))
            .bind(c.target_ms)
            .bind(warn_percent)
            .bind(c.calendar.id)
            .bind(c.calendar.version)
            .bind(c.elapsed_ms)
            .bind(c.since)
            .bind(c.breached_at)
            .bind(due)
            .bind(warn)
            .bind(stopped_at)
            .bind(row.id),
    )
    .await?;
    let mut q = Q::new("");
    let (clock, who) = (q.arg(row.id), q.arg(actor.user_id));
    let values: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "({clock}, {}, {}, {}, {}, {}, {}, {who})",
                q.arg(s.event.kind.as_str()),
                q.arg(s.event.at),
                q.arg(s.event.target_ms),
                q.arg(s.event.calendar.id),
                q.arg(s.event.calendar.version),
                q.arg(s.reason.as_str()),
            )
        })
        .collect();
    q.sql = format!(
        "INSERT INTO sla_clock_events (clock_id, kind, at, target_ms, calendar_id, calendar_version, reason, actor_id) VALUES {}",
        values.join(", ")
    );
    tx.exec(q).await?;
    if row.breached_at.is_none() && c.breached_at.is_some() && row.due_at.is_some() {
        announce_breach(tx, item, row.metric(), c.breached_at.unwrap_or(c.since)).await?;
    }
    Ok(())
}

async fn announce_breach(tx: &mut Tx, item: &ItemRow, metric: Metric, at: i64) -> AppResult<()> {
    let recipients = workers(tx, item.assignee_id, item.assignment_group_id).await?;
    outbox::emit(
        tx,
        Outbound {
            event: "sla.breached",
            item_id: Some(item.id),
            title: format!("{} breached its {} target: {}", item.number, metric.as_str(), item.title),
            payload: json!({"number": item.number, "metric": metric.as_str(), "breached_at": iso(at)}),
            recipients,
        },
    )
    .await?;
    Ok(())
}

fn describe_change(before: &ItemRow, after: &ItemRow) -> String {
    let mut parts = vec![];
    if before.priority != after.priority {
        parts.push(format!("priority {} → {}", before.priority, after.priority));
    }
    if before.service_id != after.service_id {
        parts.push("service changed".to_string());
    }
    if before.customer_id != after.customer_id {
        parts.push("customer changed".to_string());
    }
    parts.join(", ")
}

/// Bring an item's clocks in line with a change to it, at `now`, inside the change's transaction.
pub async fn follow(
    tx: &mut Tx,
    kind: Kind,
    before: &ItemRow,
    after: &ItemRow,
    actor: &Actor,
    now: i64,
) -> AppResult<()> {
    let rescoped = scope_of(before) != scope_of(after);
    let moved = before.state != after.state || before.hold_reason != after.hold_reason;
    if !rescoped && !moved {
        return Ok(());
    }
    let rows: Vec<ClockRow> = tx
        .all(
            Q::new(format!(
                "SELECT {CLOCK_COLS} FROM sla_clocks WHERE item_id = $1 ORDER BY id"
            ))
            .bind(after.id),
        )
        .await?;
    let targets = if rescoped {
        active_targets(tx, kind).await?
    } else {
        vec![]
    };
    let mut cals = Calendars::default();
    for metric in Metric::ALL {
        let desired = desired_status(metric, &after.state, after.hold_reason.as_deref());
        let row = rows.iter().find(|r| r.metric() == metric);
        let chosen = choose(&targets, metric, scope_of(after));
        let Some(row) = row else {
            // A target applies only now (e.g. the service was set during triage): its clock
            // starts now, not retroactively.
            if let Some(t) = chosen.filter(|_| rescoped && desired != Status::Stopped) {
                start_one(tx, &mut cals, after, metric, t, desired, actor, now).await?;
            }
            continue;
        };
        let mut steps = vec![];
        let mut c = row.clock();
        let mut target = None;
        if let Some(t) = chosen.filter(|t| t.id != row.target_id) {
            let e = Event {
                kind: EventKind::Retarget,
                at: now,
                target_ms: t.target_ms(),
                calendar: t.calendar(),
            };
            steps.push(Step {
                event: e,
                reason: format!(
                    "{}: now under target {}",
                    describe_change(before, after),
                    t.name
                ),
            });
            c.target_ms = t.target_ms();
            c.calendar = t.calendar();
            target = Some(t);
        }
        for k in events_for(metric, c.status, desired) {
            steps.push(Step {
                event: Event {
                    kind: *k,
                    at: now,
                    target_ms: c.target_ms,
                    calendar: c.calendar,
                },
                reason: match after.hold_reason.as_deref() {
                    Some(r) if *k == EventKind::Pause => format!("on hold: {r}"),
                    _ => format!("state {} → {}", before.state, after.state),
                },
            });
        }
        advance(tx, &mut cals, row, target, steps, actor, after).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn start_one(
    tx: &mut Tx,
    cals: &mut Calendars,
    item: &ItemRow,
    metric: Metric,
    t: &TargetRow,
    desired: Status,
    actor: &Actor,
    now: i64,
) -> AppResult<()> {
    let c = Clock::start(now, t.target_ms(), t.calendar());
    let cal = cals.load_tx(tx, t.calendar()).await?;
    let (due, warn) = schedule(&c, t.warn_percent, cal);
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO sla_clocks (item_id, metric, target_id, status, target_ms, warn_percent, calendar_id, calendar_version, elapsed_ms, since, due_at, warn_at, started_at) \
                    VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, 0, $8, $9, $10, $8) RETURNING id")
                .bind(item.id)
                .bind(metric.as_str())
                .bind(t.id)
                .bind(c.target_ms)
                .bind(t.warn_percent)
                .bind(t.calendar_id)
                .bind(t.calendar_version)
                .bind(now)
                .bind(due)
                .bind(warn),
        )
        .await?;
    tx.exec(
        Q::new("INSERT INTO sla_clock_events (clock_id, kind, at, target_ms, calendar_id, calendar_version, reason, actor_id) VALUES ($1, 'start', $2, $3, $4, $5, $6, $7)")
            .bind(id)
            .bind(now)
            .bind(c.target_ms)
            .bind(t.calendar_id)
            .bind(t.calendar_version)
            .bind(format!("target {} applies from now", t.name))
            .bind(actor.user_id),
    )
    .await?;
    if desired == Status::Paused {
        let row: ClockRow = tx
            .one(Q::new(format!("SELECT {CLOCK_COLS} FROM sla_clocks WHERE id = $1")).bind(id))
            .await?;
        let e = Event {
            kind: EventKind::Pause,
            at: now,
            target_ms: c.target_ms,
            calendar: c.calendar,
        };
        let reason = format!("on hold: {}", item.hold_reason.as_deref().unwrap_or("-"));
        advance(
            tx,
            cals,
            &row,
            None,
            vec![Step { event: e, reason }],
            actor,
            item,
        )
        .await?;
    }
    Ok(())
}

/// A target (or its calendar) changed: re-target every open clock it governs from now on.
pub async fn retarget(tx: &mut Tx, t: &TargetRow, actor: &Actor, reason: &str) -> AppResult<()> {
    let rows: Vec<ClockRow> = tx
        .all(Q::new(format!("SELECT {CLOCK_COLS} FROM sla_clocks WHERE target_id = $1 AND status <> 'stopped' ORDER BY id")).bind(t.id))
        .await?;
    let now = now_ms();
    let mut cals = Calendars::default();
    for row in rows {
        let item = crate::kernel::get_by_id_tx(tx, row.item_id).await?;
        let step = Step {
            event: Event {
                kind: EventKind::Retarget,
                at: now,
                target_ms: t.target_ms(),
                calendar: t.calendar(),
            },
            reason: reason.to_string(),
        };
        advance(tx, &mut cals, &row, Some(t), vec![step], actor, &item).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading clocks

/// A clock as the API shows it, with its live reading and its ledger.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub metric: String,
    pub target: TargetRef,
    /// running, paused or stopped.
    pub status: String,
    pub target_minutes: i64,
    pub elapsed_ms: i64,
    /// Negative once breached.
    pub remaining_ms: i64,
    pub percent: i64,
    /// When it breaches if it keeps running.
    pub due_at: Option<String>,
    /// When it passes the warning threshold.
    pub warn_at: Option<String>,
    pub warn_percent: i64,
    pub breached: bool,
    pub breached_at: Option<String>,
    pub calendar_id: i64,
    pub calendar_version: i64,
    pub started_at: String,
    pub stopped_at: Option<String>,
    pub ledger: Vec<LedgerView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct LedgerEntry {
    #[serde(skip)]
    pub clock_id: i64,
    /// start, pause, resume, retarget or stop.
    pub kind: String,
    #[serde(skip)]
    pub at_ms: i64,
    /// Target in force after this entry.
    pub target_ms: i64,
    pub calendar_id: i64,
    pub calendar_version: i64,
    pub reason: String,
    pub actor: Option<String>,
}

impl LedgerEntry {
    fn event(&self) -> Option<Event> {
        Some(Event {
            kind: EventKind::parse(&self.kind)?,
            at: self.at_ms,
            target_ms: self.target_ms,
            calendar: CalendarKey {
                id: self.calendar_id,
                version: self.calendar_version,
            },
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerView {
    pub kind: String,
    pub at: String,
    pub target_ms: i64,
    pub calendar_id: i64,
    pub calendar_version: i64,
    pub reason: String,
    pub actor: Option<String>,
}

/// The clocks of an item, read at `now`. Each clock is also replayed from its ledger, and a
/// disagreement with the stored fold is reported as an error rather than shown.
pub async fn read(db: &Db, item: &ItemRow, now: i64) -> AppResult<Vec<ClockView>> {
    let rows: Vec<(ClockRow, String)> = {
        let clocks: Vec<ClockRow> = db
            .all(
                Q::new(format!(
                    "SELECT {CLOCK_COLS} FROM sla_clocks WHERE item_id = $1 ORDER BY id"
                ))
                .bind(item.id),
            )
            .await?;
        // The targets' names, in one read.
        let names: Vec<(i64, String)> = db
            .all(
                Q::new("SELECT t.id, t.name FROM service_level_targets t JOIN sla_clocks c ON c.target_id = t.id WHERE c.item_id = $1")
                    .bind(item.id),
            )
            .await?;
        clocks
            .into_iter()
            .map(|c| {
                let name = names
                    .iter()
                    .find(|(id, _)| *id == c.target_id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                (c, name)
            })
            .collect()
    };
    let mut cals = Calendars::default();
    let mut views = vec![];
    for (row, target_name) in rows {
        let ledger: Vec<LedgerEntry> = db
            .all(
                Q::new("SELECT e.clock_id, e.kind, e.at AS at_ms, e.target_ms, e.calendar_id, e.calendar_version, e.reason, u.name AS actor \
                        FROM sla_clock_events e LEFT JOIN users u ON u.id = e.actor_id WHERE e.clock_id = $1 ORDER BY e.id")
                    .bind(row.id),
            )
            .await?;
        let events: Vec<Event> = ledger.iter().filter_map(LedgerEntry::event).collect();
        for e in &events {
            cals.load(db, e.calendar).await?;
        }
        let replayed = Clock::replay(&events, |k| {
            cals.get(k).unwrap_or_else(|_| unreachable_calendar())
        });
        let stored = row.clock();
        // The scan records breaches the ledger does not carry; compare the rest.
        let agrees = replayed.as_ref().is_ok_and(|r| {
            Clock {
                breached_at: stored.breached_at,
                ..*r
            } == stored
        });
        if !agrees {
            return Err(crate::platform::error::AppError::Internal(anyhow::anyhow!(
                "SLA clock {} of {} does not match its ledger",
                row.id,
                item.number
            )));
        }
        let cal = cals.load(db, row.key()).await?;
        let r: Reading = stored.read(now, cal, row.warn_percent);
        views.push(ClockView {
            metric: row.metric.clone(),
            target: TargetRef {
                id: row.target_id,
                name: target_name,
            },
            status: row.status.clone(),
            target_minutes: row.target_ms / 60_000,
            elapsed_ms: r.elapsed_ms,
            remaining_ms: r.remaining_ms,
            percent: r.percent,
            due_at: r.due_at.map(iso),
            warn_at: r.warn_at.map(iso),
            warn_percent: row.warn_percent,
            breached: r.breached,
            breached_at: r.breached_at.map(iso),
            calendar_id: row.calendar_id,
            calendar_version: row.calendar_version,
            started_at: iso(row.started_at),
            stopped_at: row.stopped_at.map(iso),
            ledger: ledger
                .into_iter()
                .map(|l| LedgerView {
                    at: iso(l.at_ms),
                    kind: l.kind,
                    target_ms: l.target_ms,
                    calendar_id: l.calendar_id,
                    calendar_version: l.calendar_version,
                    reason: l.reason,
                    actor: l.actor,
                })
                .collect(),
        });
    }
    Ok(views)
}

fn unreachable_calendar()
-> &'static keel_core::operation::relationship::service_level::calendar::Calendar {
    static ALWAYS: std::sync::OnceLock<
        keel_core::operation::relationship::service_level::calendar::Calendar,
    > = std::sync::OnceLock::new();
    ALWAYS
        .get_or_init(keel_core::operation::relationship::service_level::calendar::Calendar::always)
}

// ---------------------------------------------------------------------------------------------
// The scan: warnings and breaches as they fall due

/// Result of one scan pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scanned {
    pub warned: u64,
    pub breached: u64,
}

/// Clocks claimed per transaction in a scan.
const SCAN_BATCH: i64 = 1000;

/// Announce the warnings and breaches that have fallen due by `now`. Reads only the clocks whose
/// stored warning or due instant has passed (two partial-index ranges). Each batch is claimed by
/// one `UPDATE … RETURNING` whose condition is re-checked under the row lock, so concurrent scans
/// on several nodes announce each event once. The breach instant recorded is the stored due
/// instant: both are `calendar.add(since, target − elapsed)` of an unchanged clock (any change to
/// a clock recomputes `due_at`), so it is exact however late the scan runs.
pub async fn scan(db: &Db, now: i64) -> AppResult<Scanned> {
    let mut out = Scanned::default();
    for (event, claim) in [
        (
            "sla.warning",
            "UPDATE sla_clocks SET warn_at = NULL WHERE id IN (SELECT id FROM sla_clocks WHERE warn_at <= $1 ORDER BY warn_at LIMIT $2) \
             AND warn_at IS NOT NULL AND warn_at <= $1 RETURNING id, item_id, metric, warn_percent",
        ),
        (
            "sla.breached",
            "UPDATE sla_clocks SET breached_at = COALESCE(breached_at, due_at), due_at = NULL WHERE id IN (SELECT id FROM sla_clocks WHERE due_at <= $1 ORDER BY due_at LIMIT $2) \
             AND due_at IS NOT NULL AND due_at <= $1 RETURNING id, item_id, metric, warn_percent",
        ),
    ] {
        loop {
            let mut tx = db.begin().await?;
            let claimed: Vec<(i64, i64, String, i64)> =
                tx.all(Q::new(claim).bind(now).bind(SCAN_BATCH)).await?;
            let n = claimed.len() as i64;
            announce_due(&mut tx, event, &claimed).await?;
            tx.commit().await?;
            if event == "sla.warning" {
                out.warned += n as u64;
            } else {
                out.breached += n as u64;
            }
            if n < SCAN_BATCH {
                break;
            }
        }
    }
    Ok(out)
}

/// Outbox events for claimed clocks `(clock id, item id, metric, warn percent)`, in three
/// statements however many there are: the items, their groups' members, the events.
async fn announce_due(
    tx: &mut Tx,
    event: &'static str,
    claimed: &[(i64, i64, String, i64)],
) -> AppResult<()> {
    if claimed.is_empty() {
        return Ok(());
    }
    let mut q = Q::new("");
    let ids: Vec<String> = claimed.iter().map(|c| q.arg(c.1)).collect();
    q.sql = format!(
        "{} WHERE w.id IN ({})",
        crate::kernel::SELECT_ITEM,
        ids.join(", ")
    );
    let items: std::collections::HashMap<i64, ItemRow> = tx
        .all::<ItemRow>(q)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    let mut groups: Vec<i64> = items
        .values()
        .filter(|i| i.assignee_id.is_none())
        .filter_map(|i| i.assignment_group_id)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let members = outbox::members_of(tx, &groups).await?;
    let events = claimed
        .iter()
        .filter_map(|(_, item_id, metric, warn_percent)| {
            let item = items.get(item_id)?;
            let recipients = match (item.assignee_id, item.assignment_group_id) {
                (Some(a), _) => vec![a],
                (None, Some(g)) => members.get(&g).cloned().unwrap_or_default(),
                (None, None) => vec![],
            };
            let title = if event == "sla.warning" {
                format!(
                    "{} has used {warn_percent}% of its {metric} target: {}",
                    item.number, item.title
                )
            } else {
                format!(
                    "{} breached its {metric} target: {}",
                    item.number, item.title
                )
            };
            Some(Outbound {
                event,
                item_id: Some(item.id),
                title,
                payload: json!({"number": item.number, "metric": metric}),
                recipients,
            })
        })
        .collect();
    outbox::emit_many(tx, events).await?;
    Ok(())
}

/// SLA clocks on every kind of work item: started with the item, following its changes, shown
/// on its page; the breach and warning scan runs every 30 s.
pub const PROCESS: Process = Process {
    created: Some(|tx, kind, first, last| Box::pin(start(tx, kind, first, last))),
    changed: Some(|tx, kind, before, after, actor, now| {
        Box::pin(follow(tx, kind, before, after, actor, now))
    }),
    panels: Some(|st, _, item| Box::pin(panel(st, item))),
    ..Process::NONE
};

pub const JOBS: &[JobKind] = &[JobKind {
    kind: "sla.scan",
    every: Some(|_| Some(30 * 1000)),
    run: |st, _| {
        Box::pin(async move {
            scan(&st.db, now_ms())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    },
}];

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

impl From<ClockView> for SlaLine {
    fn from(c: ClockView) -> Self {
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

/// The item page's "Service levels" lines, with the item's facts.
async fn panel(st: &AppState, item: &ItemRow) -> AppResult<Vec<Panel>> {
    let lines: Vec<SlaLine> = read(&st.db, item, now_ms())
        .await?
        .into_iter()
        .map(SlaLine::from)
        .collect();
    if lines.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Panel {
        template: "sla_panel.html",
        top: true,
        data: minijinja::Value::from(minijinja::value::Serde(&lines)),
    }])
}

/// An item's SLA clocks (response, resolution) read now, each with its event ledger.
pub async fn api_read(
    st: &AppState,
    p: &Principal,
    kind: Kind,
    number: &str,
) -> AppResult<axum::Json<Vec<ClockView>>> {
    crate::kernel::api::require_read(p, kind)?;
    let row = crate::kernel::get(&st.db, kind, number, crate::kernel::Scope::of(p)).await?;
    Ok(axum::Json(read(&st.db, &row, now_ms()).await?))
}

/// `clock_routes!(kind: K, tag: "incidents", sla: "/api/v1/incidents/{number}/sla")`: a kind's
/// SLA clock readings in the API, declared by the kind's own module next to its other routes
/// (OpenAPI paths are literals, hence a macro).
#[macro_export]
macro_rules! clock_routes {
    (kind: $kind:expr, tag: $tag:literal, sla: $sla:literal $(,)?) => {
        pub mod clock_routes {
            use $crate::operation::relationship::service_level::clocks::{ClockView, api_read};
            use $crate::platform::auth::Principal;
            use $crate::platform::error::{AppResult, Problem};
            use $crate::platform::web::AppState;
            use axum::Json;
            use axum::extract::{Path, State};
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;

            pub fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new().routes(routes!(sla))
            }

            /// SLA clocks (response, resolution) read now, each with its event ledger.
            #[utoipa::path(get, path = $sla, tag = $tag, operation_id = concat!("sla_", $tag), params(("number" = String, Path)),
                responses((status = 200, body = Vec<ClockView>), (status = 404, body = Problem)), security(("bearer" = [])))]
            pub async fn sla(State(st): State<AppState>, p: Principal, Path(number): Path<String>) -> AppResult<Json<Vec<ClockView>>> {
                api_read(&st, &p, $kind, &number).await
            }
        }
    };
}
