//! The durable job queue and scheduler, kept in the database so several `keel serve` nodes share
//! it: a job is claimed by exactly one node (`FOR UPDATE SKIP LOCKED` on PostgreSQL; the single
//! writer on SQLite), retried with exponential back-off, and reclaimed if its node dies
//! (`locked_until` expires). Recurring work is a `schedules` row that exactly one node advances
//! per due time. Jobs must be idempotent: a node can die after the work and before `done`.

use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Backend, Db, DbResult, Q, now_ms};
use crate::platform::error::AppResult;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use keel_core::access::Action;
use keel_core::management::support::audit_trail::FieldChange;
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// How long a claimed job stays locked before another node may take it over.
pub const LEASE_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub run_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
}

const JOB_COLS: &str = "id, kind, payload, state, run_at, attempts, max_attempts, last_error";

pub async fn enqueue(
    db: &Db,
    kind: &str,
    payload: serde_json::Value,
    run_at: i64,
    max_attempts: i64,
) -> DbResult<i64> {
    let mut tx = db.begin().await?;
    let id = tx
        .insert(
            Q::new("INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, created_at) VALUES ($1, $2, 'queued', $3, 0, $4, $5) RETURNING id")
                .bind(kind)
                .bind(payload.to_string())
                .bind(run_at)
                .bind(max_attempts)
                .bind(now_ms()),
        )
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Claim the next due job for `node`, if any.
pub async fn claim(db: &Db, node: &str) -> DbResult<Option<Job>> {
    let now = now_ms();
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = db.begin().await?;
    let job: Option<Job> = tx
        .opt(
            Q::new(format!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2 \
                 WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until < $3) \
                 ORDER BY run_at, id LIMIT 1{lock}) RETURNING {JOB_COLS}"
            ))
            .bind(node)
            .bind(now + LEASE_MS)
            .bind(now),
        )
        .await?;
    tx.commit().await?;
    Ok(job)
}

/// Mark done, or schedule a retry after `2^attempts` seconds (capped at an hour); after the last
/// attempt the job is `failed` and stays for an operator to inspect.
pub async fn finish(db: &Db, job: &Job, node: &str, result: Result<(), String>) -> DbResult<()> {
    let now = now_ms();
    let q = match result {
        Ok(()) => Q::new("UPDATE jobs SET state = 'done', finished_at = $1, locked_by = NULL, locked_until = NULL WHERE id = $2 AND locked_by = $3")
            .bind(now)
            .bind(job.id)
            .bind(node),
        Err(e) if job.attempts >= job.max_attempts => Q::new("UPDATE jobs SET state = 'failed', last_error = $1, finished_at = $2, locked_by = NULL, locked_until = NULL WHERE id = $3 AND locked_by = $4")
            .bind(e)
            .bind(now)
            .bind(job.id)
            .bind(node),
        Err(e) => Q::new("UPDATE jobs SET state = 'queued', last_error = $1, run_at = $2, locked_by = NULL, locked_until = NULL WHERE id = $3 AND locked_by = $4")
            .bind(e)
            .bind(now + backoff_ms(job.attempts))
            .bind(job.id)
            .bind(node),
    };
    db.exec(q).await?;
    Ok(())
}

pub fn backoff_ms(attempts: i64) -> i64 {
    1000 * (1i64 << attempts.clamp(0, 12)).min(3600)
}

/// Advance a recurring schedule if due; returns true on the one node that won.
pub async fn tick_schedule(db: &Db, name: &str, interval_ms: i64) -> DbResult<bool> {
    let now = now_ms();
    db.exec(Q::new("INSERT INTO schedules (name, interval_ms, next_run_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING").bind(name).bind(interval_ms).bind(now))
        .await?;
    let n = db
        .exec(Q::new("UPDATE schedules SET next_run_at = $1, interval_ms = $2 WHERE name = $3 AND next_run_at <= $4").bind(now + interval_ms).bind(interval_ms).bind(name).bind(now))
        .await?;
    Ok(n == 1)
}

/// The recurring jobs: (schedule name, interval, job kind).
pub const SCHEDULES: &[(&str, i64, &str)] = &[
    ("incident.auto_close", 15 * 60 * 1000, "incident.auto_close"),
    ("housekeeping", 60 * 60 * 1000, "housekeeping"),
    ("sla.scan", 30 * 1000, "sla.scan"),
    ("knowledge.review", 24 * 60 * 60 * 1000, "knowledge.review"),
    ("assets.expiry", 24 * 60 * 60 * 1000, "assets.expiry"),
    ("kpi.measure", 6 * 60 * 60 * 1000, "kpi.measure"),
    (
        "contracts.renewal",
        24 * 60 * 60 * 1000,
        "contracts.renewal",
    ),
    ("surveys.send", 60 * 60 * 1000, "surveys.send"),
    ("mail.send", 10 * 1000, "mail.send"),
    (
        "service_reports.generate",
        6 * 60 * 60 * 1000,
        "service_reports.generate",
    ),
];

/// Run one job's work.
pub async fn run(st: &AppState, job: &Job) -> Result<(), String> {
    match job.kind.as_str() {
        "incident.auto_close" => auto_close(&st.db, st.cfg.auto_close_days)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "housekeeping" => housekeeping(&st.db).await.map_err(|e| e.to_string()),
        "knowledge.review" => crate::management::support::knowledge::remind_reviews(&st.db)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "assets.expiry" => crate::operation::portfolio::asset::warn_expiring(&st.db)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "contracts.renewal" => crate::operation::relationship::supplier::warn_renewals(&st.db)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "surveys.send" => crate::operation::relationship::business::send_due(&st.db)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "kpi.measure" => crate::management::evaluation::kpi::measure_due(&st.db)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "service_reports.generate" => crate::management::evaluation::report::generate_due(
            &st.db,
            &crate::platform::audit::Actor::system("service reporting"),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string()),
        "sla.scan" => crate::kernel::clocks::scan(&st.db, now_ms())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "webhook.deliver" => crate::integration::webhooks::deliver(&st.db, job).await,
        "mail.send" => crate::integration::smtp::send_due(&st.db, &st.cfg)
            .await
            .map(|_| ()),
        "directory.sync" => match &st.cfg.ldap {
            Some(c) => crate::directory::ldap::sync(&st.db, c)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Ok(()),
        },
        "noop" => Ok(()),
        "fail" => Err("asked to fail".into()),
        other => Err(format!("unknown job kind `{other}`")),
    }
}

/// Close incidents resolved more than `days` ago (8.6.1: closure after confirmation or a set time).
pub async fn auto_close(db: &Db, days: i64) -> DbResult<u64> {
    let cutoff = now_ms() - days * 86_400_000;
    let due: Vec<(i64, String, i64)> = db
        // A major incident waits for its review (8.6.1), however long it has been resolved.
        .all(Q::new("SELECT id, number, version FROM work_items w WHERE kind = 'incident' AND state = 'resolved' AND resolved_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM major_incidents m WHERE m.item_id = w.id AND m.review IS NULL) ORDER BY resolved_at LIMIT 500").bind(cutoff))
        .await?;
    let actor = Actor::system("auto-close");
    let mut closed = 0;
    for (id, number, version) in due {
        let now = now_ms();
        let mut tx = db.begin().await?;
        let n = tx
            .exec(Q::new("UPDATE work_items SET state = 'closed', closed_at = $1, updated_at = $1, version = version + 1 WHERE id = $2 AND version = $3 AND state = 'resolved'").bind(now).bind(id).bind(version))
            .await?;
        if n == 1 {
            tx.exec(Q::new("INSERT INTO work_item_transitions (item_id, from_state, to_state, at, actor_id) VALUES ($1, 'resolved', 'closed', $2, NULL)").bind(id).bind(now)).await?;
            append(
                &mut tx,
                &actor,
                "update",
                "incident",
                &number,
                vec![FieldChange {
                    field: "state".into(),
                    old: json!("resolved"),
                    new: json!("closed"),
                }],
            )
            .await?;
            closed += 1;
        }
        tx.commit().await?;
    }
    Ok(closed)
}

/// Drop expired sessions, old login failures, idempotency keys older than a day and finished
/// jobs older than 30 days, and the CMDB change log no node still needs. None of these is a record of the SMS, so none is audited.
pub async fn housekeeping(db: &Db) -> DbResult<()> {
    let now = now_ms();
    db.exec(Q::new("DELETE FROM sessions WHERE expires_at < $1").bind(now))
        .await?;
    db.exec(Q::new("DELETE FROM login_failures WHERE at < $1").bind(now - 86_400_000))
        .await?;
    db.exec(Q::new("DELETE FROM idempotency_keys WHERE created_at < $1").bind(now - 86_400_000))
        .await?;
    // Mail out once sent (or given up) is kept a month for whoever asks whether it went.
    db.exec(
        Q::new("DELETE FROM mail_outgoing WHERE state IN ('sent', 'skipped', 'expired', 'failed') AND created_at < $1")
            .bind(now - 30 * 86_400_000),
    )
    .await?;
    db.exec(
        Q::new("DELETE FROM jobs WHERE state = 'done' AND finished_at < $1")
            .bind(now - 30 * 86_400_000),
    )
    .await?;
    // The CMDB change log only serves nodes catching up their graph (a node further behind
    // reloads it).
    db.exec(
        Q::new("DELETE FROM cmdb_changes WHERE revision < (SELECT revision FROM cmdb_state WHERE id = 1) - $1")
            .bind(crate::operation::portfolio::graph::KEEP_REVISIONS),
    )
    .await?;
    // Keep the SQLite planner's statistics current (PostgreSQL's autovacuum does this), so
    // large lists keep choosing the right index.
    if db.backend() == crate::platform::db::Backend::Sqlite {
        db.exec(Q::new("PRAGMA optimize")).await?;
    }
    Ok(())
}

/// The worker loop of one node: advance schedules, then drain due jobs, then sleep a little.
pub async fn worker(st: AppState, node: String, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        // Schedules that exist only when configured.
        let ldap = st.cfg.ldap.as_ref().map(|c| {
            (
                "directory.sync",
                c.interval_minutes.unwrap_or(60).max(5) * 60 * 1000,
                "directory.sync",
            )
        });
        for (name, interval, kind) in SCHEDULES.iter().chain(ldap.as_ref()) {
            match tick_schedule(&st.db, name, *interval).await {
                Ok(true) => {
                    if let Err(e) = enqueue(&st.db, kind, json!({}), now_ms(), 3).await {
                        tracing::warn!(error = %e, "could not enqueue {kind}");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "schedule {name}"),
            }
        }
        loop {
            if *stop.borrow() {
                return;
            }
            match claim(&st.db, &node).await {
                Ok(Some(job)) => {
                    let result = run(&st, &job).await;
                    match &result {
                        Ok(()) => st
                            .metrics
                            .jobs_done
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        Err(e) => {
                            tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
                            st.metrics
                                .jobs_failed
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        }
                    };
                    if let Err(e) = finish(&st.db, &job, &node, result).await {
                        tracing::warn!(error = %e, "could not record job {}", job.id);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Recent jobs, newest first (operators).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "operations", responses((status = 200, body = Vec<Job>)), security(("bearer" = [])))]
pub async fn list_jobs(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Job>>> {
    p.require(Action::ReadOperations)?;
    Ok(Json(
        st.db
            .all(Q::new(format!(
                "SELECT {JOB_COLS} FROM jobs ORDER BY id DESC LIMIT 200"
            )))
            .await?,
    ))
}
