//! The durable job queue and scheduler, kept in the database so several `keel serve` nodes share
//! it: a job is claimed by exactly one node (`FOR UPDATE SKIP LOCKED` on PostgreSQL; the single
//! writer on SQLite), retried with exponential back-off, and reclaimed if its node dies
//! (`locked_until` expires). Recurring work is a `schedules` row that exactly one node advances
//! per due time. Jobs must be idempotent: a node can die after the work and before `done`.

use crate::platform::auth::Principal;
use crate::platform::db::{Backend, Db, DbResult, Q, now_ms};
use crate::platform::error::AppResult;
use crate::platform::part::{self, JobKind, Sweep};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use keel_core::access::Action;
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

/// Run one job's work: the part that declared its kind does it.
pub async fn run(st: &AppState, job: &Job) -> Result<(), String> {
    match part::job_kinds().find(|k| k.kind == job.kind) {
        Some(k) => (k.run)(st, job).await,
        None => Err(format!("unknown job kind `{}`", job.kind)),
    }
}

/// The platform's own jobs: housekeeping, and two that tests and operators use to check the queue.
pub const JOBS: &[JobKind] = &[
    JobKind {
        kind: "housekeeping",
        every: Some(|_| Some(60 * 60 * 1000)),
        run: |st, _| Box::pin(async move { housekeeping(&st.db).await.map_err(|e| e.to_string()) }),
    },
    JobKind {
        kind: "audit.anchor",
        every: Some(|cfg| {
            cfg.audit
                .anchor_file
                .as_ref()
                .map(|_| cfg.audit.anchor_every_minutes.unwrap_or(60).max(1) * 60 * 1000)
        }),
        run: |st, _| {
            Box::pin(async move {
                match &st.cfg.audit.anchor_file {
                    Some(f) => crate::platform::audit::anchor_to(&st.db, f)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            })
        },
    },
    JobKind {
        kind: "noop",
        every: None,
        run: |_, _| Box::pin(async { Ok(()) }),
    },
    JobKind {
        kind: "fail",
        every: None,
        run: |_, _| Box::pin(async { Err("asked to fail".into()) }),
    },
];

/// Every part's sweeps, then the planner's statistics. None of what is swept is a record of
/// the SMS, so none of it is audited.
pub async fn housekeeping(db: &Db) -> DbResult<()> {
    for sweep in part::parts().iter().flat_map(|p| p.sweeps) {
        sweep(db).await?;
    }
    // Keep the SQLite planner's statistics current (PostgreSQL's autovacuum does this), so
    // large lists keep choosing the right index.
    if db.backend() == crate::platform::db::Backend::Sqlite {
        db.exec(Q::new("PRAGMA optimize")).await?;
    }
    Ok(())
}

/// The platform's sweep: expired sessions, old login failures, finished jobs older than 30 days.
pub const SWEEPS: &[Sweep] = &[|db| {
    Box::pin(async move {
        let now = now_ms();
        db.exec(Q::new("DELETE FROM sessions WHERE expires_at < $1").bind(now))
            .await?;
        db.exec(Q::new("DELETE FROM login_failures WHERE at < $1").bind(now - 86_400_000))
            .await?;
        db.exec(
            Q::new("DELETE FROM jobs WHERE state = 'done' AND finished_at < $1")
                .bind(now - 30 * 86_400_000),
        )
        .await?;
        Ok(())
    })
}];

/// The worker loop of one node: advance schedules, then drain due jobs, then sleep a little.
pub async fn worker(st: AppState, node: String, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        // Each part's scheduled kinds; some exist only when configured.
        let due = part::job_kinds()
            .filter_map(|k| Some((k.kind, k.every?(&st.cfg)?)))
            .collect::<Vec<_>>();
        for (kind, interval) in due {
            let name = kind;
            match tick_schedule(&st.db, name, interval).await {
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
