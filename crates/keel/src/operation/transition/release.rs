//! Clause 8.5.3 — release and deployment: releases `REL-…` (major, minor, emergency) bundling
//! changes, checked against the release policy; acceptance before any deployment; deployments
//! per environment with their dates and outcome; the CIs a successful deployment updates; and an
//! analysis record (a problem) opened when a release fails. Rules in
//! `keel_core::operation::transition::release`.

use super::policy;
use crate::kernel::{self, NewItem};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, next_number, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::extract::instant;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::{FieldChange, diff};
use keel_core::operation::transition::release::{
    DEPLOYMENT_STATES, LIFECYCLE, TYPES, after_deployments, policy_warnings,
};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    number: String,
    name: String,
    kind: String,
    state: String,
    description: String,
    planned_at: i64,
    acceptance_notes: Option<String>,
    accepted_by_name: Option<String>,
    accepted_at: Option<i64>,
    problem: Option<String>,
    version: i64,
}

const SQL: &str = "SELECT r.id, r.number, r.name, r.kind, r.state, r.description, r.planned_at, r.acceptance_notes, u.name AS accepted_by_name, r.accepted_at, p.number AS problem, r.version \
    FROM releases r LEFT JOIN users u ON u.id = r.accepted_by LEFT JOIN work_items p ON p.id = r.problem_id";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ReleaseChange {
    pub number: String,
    pub title: String,
    pub state: String,
    #[serde(skip)]
    pub details: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeploymentCi {
    pub ci_id: i64,
    pub ci_name: String,
    /// Attributes the deployment sets (a JSON object as text).
    pub attributes: String,
    pub applied: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deployment {
    pub id: i64,
    pub environment: String,
    pub planned_start: String,
    pub planned_end: String,
    /// planned, succeeded, failed or rolled_back.
    pub state: String,
    pub notes: Option<String>,
    pub done_by: Option<String>,
    pub done_at: Option<String>,
    pub cis: Vec<DeploymentCi>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Release {
    pub number: String,
    pub name: String,
    /// major, minor or emergency.
    pub kind: String,
    pub state: String,
    pub next_states: Vec<String>,
    pub description: String,
    pub planned_at: String,
    pub acceptance_notes: Option<String>,
    pub accepted_by: Option<String>,
    pub accepted_at: Option<String>,
    /// The analysis record opened when the release failed.
    pub problem: Option<String>,
    pub version: i64,
    pub changes: Vec<ReleaseChange>,
    pub deployments: Vec<Deployment>,
    /// Where the release breaks the release policy.
    pub policy_warnings: Vec<String>,
}

async fn row(db: &Db, number: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{SQL} WHERE r.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("release {number}")))
}

async fn row_tx(tx: &mut Tx, number: &str) -> AppResult<Row> {
    tx.opt(Q::new(format!("{SQL} WHERE r.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("release {number}")))
}

type DeploymentRow = (
    i64,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

async fn view(db: &Db, r: Row) -> AppResult<Release> {
    let changes: Vec<ReleaseChange> = db
        .all(Q::new("SELECT w.number, w.title, w.state, w.details FROM release_changes rc JOIN work_items w ON w.id = rc.item_id WHERE rc.release_id = $1 ORDER BY w.number").bind(r.id))
        .await?;
    let deps: Vec<DeploymentRow> = db
        .all(Q::new("SELECT d.id, d.environment, d.planned_start, d.planned_end, d.state, d.notes, u.name, d.done_at FROM deployments d LEFT JOIN users u ON u.id = d.done_by WHERE d.release_id = $1 ORDER BY d.planned_start, d.id").bind(r.id))
        .await?;
    let cis: Vec<(i64, i64, String, String, Option<i64>)> = db
        .all(Q::new("SELECT dc.deployment_id, dc.ci_id, c.name, dc.attributes, dc.applied_at FROM deployment_cis dc JOIN deployments d ON d.id = dc.deployment_id JOIN cis c ON c.id = dc.ci_id WHERE d.release_id = $1 ORDER BY c.name").bind(r.id))
        .await?;
    let last: Option<(i64,)> = db
        .opt(Q::new("SELECT planned_at FROM releases WHERE kind = $1 AND id <> $2 AND state <> 'cancelled' ORDER BY ABS(planned_at - $3) LIMIT 1").bind(r.kind.as_str()).bind(r.id).bind(r.planned_at))
        .await?;
    let pol = policy::load_db(db).await?;
    let mut warnings = policy_warnings(&pol.release, &r.kind, r.planned_at, last.map(|l| l.0));
    if r.kind == "emergency" && pol.release.emergency_only_emergency_changes {
        for c in &changes {
            let d: Map<String, Value> = serde_json::from_str(&c.details).unwrap_or_default();
            if d.get("change_type").and_then(Value::as_str) != Some("emergency") {
                warnings.push(format!(
                    "{} is not an emergency change; the release policy bundles only emergency changes in an emergency release",
                    c.number
                ));
            }
        }
    }
    Ok(Release {
        next_states: LIFECYCLE
            .next_states(&r.state)
            .into_iter()
            .map(String::from)
            .collect(),
        number: r.number,
        name: r.name,
        kind: r.kind,
        state: r.state,
        description: r.description,
        planned_at: iso(r.planned_at),
        acceptance_notes: r.acceptance_notes,
        accepted_by: r.accepted_by_name,
        accepted_at: r.accepted_at.map(iso),
        problem: r.problem,
        version: r.version,
        changes,
        deployments: deps
            .into_iter()
            .map(|(id, environment, s, e, state, notes, by, at)| Deployment {
                cis: cis
                    .iter()
                    .filter(|c| c.0 == id)
                    .map(|c| DeploymentCi {
                        ci_id: c.1,
                        ci_name: c.2.clone(),
                        attributes: c.3.clone(),
                        applied: c.4.is_some(),
                    })
                    .collect(),
                id,
                environment,
                planned_start: iso(s),
                planned_end: iso(e),
                state,
                notes,
                done_by: by,
                done_at: at.map(iso),
            })
            .collect(),
        policy_warnings: warnings,
    })
}

pub async fn get(db: &Db, number: &str) -> AppResult<Release> {
    view(db, row(db, number).await?).await
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ReleaseSummary {
    pub number: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    #[serde(skip)]
    pub planned_ms: i64,
    #[sqlx(skip)]
    pub planned_at: String,
    pub changes: i64,
}

pub async fn list(db: &Db) -> AppResult<Vec<ReleaseSummary>> {
    let mut rows: Vec<ReleaseSummary> = db
        .all(Q::new("SELECT r.number, r.name, r.kind, r.state, r.planned_at AS planned_ms, (SELECT COUNT(*) FROM release_changes c WHERE c.release_id = r.id) AS changes FROM releases r ORDER BY r.planned_at DESC, r.id DESC LIMIT 500"))
        .await?;
    for r in &mut rows {
        r.planned_at = iso(r.planned_ms);
    }
    Ok(rows)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    pub name: String,
    /// major, minor or emergency.
    pub kind: String,
    #[serde(default)]
    pub description: String,
    /// When it is planned to go out (RFC 3339 or YYYY-MM-DD).
    pub planned_at: String,
    /// Changes it bundles, by number.
    #[serde(default)]
    pub changes: Vec<String>,
}

fn parse_kind(k: &str) -> AppResult<&'static str> {
    TYPES
        .iter()
        .copied()
        .find(|t| *t == k)
        .ok_or_else(|| AppError::invalid("kind", format!("must be one of: {}", TYPES.join(", "))))
}

async fn bundle_tx(tx: &mut Tx, release_id: i64, number: &str, field: &str) -> AppResult<i64> {
    let row: Option<(i64, String)> = tx
        .opt(
            Q::new("SELECT id, state FROM work_items WHERE kind = 'change' AND number = $1")
                .bind(number),
        )
        .await?;
    let (id, state) = row.ok_or_else(|| AppError::invalid(field, format!("no change {number}")))?;
    if matches!(state.as_str(), "rejected" | "cancelled") {
        return Err(AppError::invalid(field, format!("{number} is {state}")));
    }
    let taken: Option<(String,)> = tx
        .opt(Q::new("SELECT r.number FROM release_changes c JOIN releases r ON r.id = c.release_id WHERE c.item_id = $1").bind(id))
        .await?;
    if let Some((r,)) = taken {
        return Err(AppError::Conflict(format!(
            "{number} is already in release {r}"
        )));
    }
    tx.exec(
        Q::new("INSERT INTO release_changes (release_id, item_id) VALUES ($1, $2)")
            .bind(release_id)
            .bind(id),
    )
    .await?;
    Ok(id)
}

pub async fn create(db: &Db, p: &Principal, b: NewRelease) -> AppResult<Release> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    let name = Line::parse(&b.name, 200).map_err(|e| AppError::invalid("name", e))?;
    let kind = parse_kind(&b.kind)?;
    let planned = instant("planned_at", &b.planned_at)?;
    let description =
        bounded(&b.description, 20_000).map_err(|e| AppError::invalid("description", e))?;
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "release", "REL").await?;
    let now = now_ms();
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO releases (number, name, kind, state, description, planned_at, created_by, created_at, updated_at) VALUES ($1, $2, $3, 'planned', $4, $5, $6, $7, $7) RETURNING id")
                .bind(number.as_str())
                .bind(name.as_str())
                .bind(kind)
                .bind(description.as_str())
                .bind(planned)
                .bind(p.user_id)
                .bind(now),
        )
        .await?;
    for (i, c) in b.changes.iter().enumerate() {
        bundle_tx(&mut tx, id, c, &format!("changes[{i}]")).await?;
    }
    append(
        &mut tx,
        &p.actor(),
        "create",
        "release",
        &number,
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("kind", json!(kind)),
                ("planned_at", json!(iso(planned))),
                ("changes", json!(b.changes)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub planned_at: Option<String>,
    /// Move along the lifecycle: planned → built → accepted → deployed → closed …
    pub state: Option<String>,
    /// Required to accept the release: what was tested and by whom.
    pub acceptance_notes: Option<String>,
    /// The `version` read; a stale one gets 412.
    pub version: Option<i64>,
}

pub async fn update(db: &Db, p: &Principal, number: &str, b: ReleasePatch) -> AppResult<Release> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    let before = row(db, number).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let name = match &b.name {
        Some(n) => Line::parse(n, 200)
            .map_err(|e| AppError::invalid("name", e))?
            .into_string(),
        None => before.name.clone(),
    };
    let description = match &b.description {
        Some(d) => bounded(d, 20_000).map_err(|e| AppError::invalid("description", e))?,
        None => before.description.clone(),
    };
    let planned = match &b.planned_at {
        Some(v) => instant("planned_at", v)?,
        None => before.planned_at,
    };
    let notes = match &b.acceptance_notes {
        Some(n) => Some(bounded(n, 20_000).map_err(|e| AppError::invalid("acceptance_notes", e))?)
            .filter(|n| !n.trim().is_empty()),
        None => before.acceptance_notes.clone(),
    };
    let state = match b.state.as_deref().filter(|s| *s != before.state) {
        Some(to) => LIFECYCLE
            .check(&before.state, to, |f| {
                f == "acceptance_notes" && notes.is_some()
            })?
            .to_string(),
        None => before.state.clone(),
    };
    let accepting = state == "accepted" && before.state == "built";
    if state == "deployed" && before.state != "deployed" {
        return Err(AppError::Conflict(
            "a release is deployed when its deployments have succeeded; record their outcome"
                .into(),
        ));
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE releases SET name = $1, description = $2, planned_at = $3, state = $4, acceptance_notes = $5, \
                    accepted_by = COALESCE($6, accepted_by), accepted_at = COALESCE($7, accepted_at), \
                    version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10")
                .bind(name.as_str())
                .bind(description.as_str())
                .bind(planned)
                .bind(state.as_str())
                .bind(notes.clone())
                .bind(accepting.then_some(p.user_id))
                .bind(accepting.then_some(now))
                .bind(now)
                .bind(before.id)
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    let changes = diff(
        &[
            ("name", json!(before.name)),
            ("description", json!(before.description)),
            ("planned_at", json!(iso(before.planned_at))),
            ("state", json!(before.state)),
            ("acceptance_notes", json!(before.acceptance_notes)),
        ],
        &[
            ("name", json!(name)),
            ("description", json!(description)),
            ("planned_at", json!(iso(planned))),
            ("state", json!(state)),
            ("acceptance_notes", json!(notes)),
        ],
    );
    append(&mut tx, &p.actor(), "update", "release", number, changes).await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleBody {
    /// The change's number.
    pub change: String,
}

pub async fn bundle(db: &Db, p: &Principal, number: &str, b: BundleBody) -> AppResult<Release> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    let mut tx = db.begin().await?;
    let r = row_tx(&mut tx, number).await?;
    if !matches!(r.state.as_str(), "planned" | "built") {
        return Err(AppError::Conflict(format!(
            "{number} is {}: its content is fixed",
            r.state
        )));
    }
    bundle_tx(&mut tx, r.id, &b.change, "change").await?;
    append(
        &mut tx,
        &p.actor(),
        "bundle",
        "release",
        number,
        vec![FieldChange {
            field: "changes".into(),
            old: Value::Null,
            new: json!(b.change),
        }],
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentCiBody {
    pub ci_id: i64,
    /// Attributes the deployment sets, e.g. `{"version": "2.4.1"}`.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    /// e.g. test, staging, production.
    pub environment: String,
    pub planned_start: String,
    pub planned_end: String,
    /// The CIs the deployment updates, applied when it succeeds.
    #[serde(default)]
    pub cis: Vec<DeploymentCiBody>,
}

pub async fn plan_deployment(
    db: &Db,
    p: &Principal,
    number: &str,
    b: NewDeployment,
) -> AppResult<Release> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    let env = Line::parse(&b.environment, 60).map_err(|e| AppError::invalid("environment", e))?;
    let start = instant("planned_start", &b.planned_start)?;
    let end = instant("planned_end", &b.planned_end)?;
    if end <= start {
        return Err(AppError::invalid(
            "planned_end",
            "must be after planned_start",
        ));
    }
    // Check each CI's attributes against its class now, in a transaction rolled back.
    {
        let mut probe = db.begin().await?;
        for (i, c) in b.cis.iter().enumerate() {
            crate::directory::exists(&mut probe, "cis", c.ci_id, &format!("cis[{i}].ci_id"))
                .await?;
            crate::operation::portfolio::configuration::patch_ci_tx(
                &mut probe,
                c.ci_id,
                &crate::operation::portfolio::configuration::CiPatch {
                    attributes: Some(c.attributes.clone()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| match e {
                AppError::Invalid { field, detail } => AppError::Invalid {
                    field: format!("cis[{i}].{field}"),
                    detail,
                },
                e => e,
            })?;
        }
        drop(probe);
    }
    let mut tx = db.begin().await?;
    let r = row_tx(&mut tx, number).await?;
    if !matches!(
        r.state.as_str(),
        "planned" | "built" | "accepted" | "failed"
    ) {
        return Err(AppError::Conflict(format!("{number} is {}", r.state)));
    }
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO deployments (release_id, environment, planned_start, planned_end, state, created_at) VALUES ($1, $2, $3, $4, 'planned', $5) RETURNING id")
                .bind(r.id)
                .bind(env.as_str())
                .bind(start)
                .bind(end)
                .bind(now_ms()),
        )
        .await?;
    for c in &b.cis {
        tx.exec(
            Q::new("INSERT INTO deployment_cis (deployment_id, ci_id, attributes) VALUES ($1, $2, $3) ON CONFLICT (deployment_id, ci_id) DO UPDATE SET attributes = $3")
                .bind(id)
                .bind(c.ci_id)
                .bind(Value::Object(c.attributes.clone()).to_string()),
        )
        .await?;
    }
    append(
        &mut tx,
        &p.actor(),
        "deployment.plan",
        "release",
        number,
        vec![FieldChange {
            field: format!("deployment.{id}"),
            old: Value::Null,
            new: json!({"environment": env.as_str(), "planned_start": iso(start), "planned_end": iso(end),
                        "cis": b.cis.iter().map(|c| json!({"ci_id": c.ci_id, "attributes": c.attributes})).collect::<Vec<_>>()}),
        }],
    )
    .await?;
    tx.commit().await?;
    get(db, number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// succeeded, failed or rolled_back.
    pub state: String,
    pub notes: Option<String>,
}

/// Record a deployment's outcome. Deploying needs an accepted release (409 otherwise). A
/// success applies its CI updates; the release becomes deployed when every deployment has
/// succeeded, failed when one failed — and a failure opens an analysis record (a problem).
pub async fn record_outcome(
    db: &Db,
    p: &Principal,
    number: &str,
    deployment: i64,
    b: OutcomeBody,
) -> AppResult<Release> {
    p.require(Action::UpdateWorkItems)?;
    p.require(Action::ReadInternalItems)?;
    if !DEPLOYMENT_STATES[1..].contains(&b.state.as_str()) {
        return Err(AppError::invalid(
            "state",
            "must be one of: succeeded, failed, rolled_back",
        ));
    }
    let notes = b
        .notes
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from);
    if b.state != "succeeded" && notes.is_none() {
        return Err(AppError::invalid("notes", "say what went wrong"));
    }
    let actor = p.actor();
    // The analysis record is drafted before the transaction (drafting reads nothing).
    let r0 = row(db, number).await?;
    let draft = kernel::draft(
        keel_core::operation::resolution::problem::PROBLEM,
        &actor,
        p,
        NewItem {
            title: format!("Release {} failed: {}", r0.number, r0.name),
            description: format!(
                "Deployment of release {} failed.\n\n{}",
                r0.number,
                notes.clone().unwrap_or_default()
            ),
            impact: Some(2),
            urgency: Some(2),
            details: [("origin".to_string(), json!("proactive"))]
                .into_iter()
                .collect(),
            ..Default::default()
        },
    )?;
    let mut tx = db.begin().await?;
    let r = row_tx(&mut tx, number).await?;
    let current: Option<(String, String)> = tx
        .opt(
            Q::new("SELECT state, environment FROM deployments WHERE id = $1 AND release_id = $2")
                .bind(deployment)
                .bind(r.id),
        )
        .await?;
    let (dstate, env) = current
        .ok_or_else(|| AppError::NotFound(format!("deployment {deployment} of {number}")))?;
    let allowed = matches!(
        (dstate.as_str(), b.state.as_str()),
        ("planned", "succeeded" | "failed") | ("failed" | "succeeded", "rolled_back")
    );
    if !allowed {
        return Err(AppError::Conflict(format!(
            "deployment {deployment} is {dstate}; it cannot become {}",
            b.state
        )));
    }
    if dstate == "planned" && r.state != "accepted" {
        return Err(AppError::Conflict(format!(
            "{number} is {}: a release is accepted before it is deployed",
            r.state
        )));
    }
    // A failure opens the analysis record first: numbering before the audit, the order every
    // writer takes those locks in.
    let mut problem_id = None;
    if b.state == "failed" && r.state != "failed" {
        let pn = kernel::create_in(&mut tx, draft).await?;
        let (pid,): (i64,) = tx
            .one(Q::new("SELECT id FROM work_items WHERE number = $1").bind(pn.as_str()))
            .await?;
        problem_id = Some(pid);
    }
    if b.state == "succeeded" {
        let rows: Vec<(i64, String)> = tx
            .all(Q::new("SELECT ci_id, attributes FROM deployment_cis WHERE deployment_id = $1 AND applied_at IS NULL ORDER BY ci_id").bind(deployment))
            .await?;
        let updates: Vec<_> = rows
            .into_iter()
            .map(|(ci, a)| (ci, None, serde_json::from_str(&a).unwrap_or_default()))
            .collect();
        super::apply_ci_updates(&mut tx, &actor, &updates, number).await?;
        tx.exec(
            Q::new("UPDATE deployment_cis SET applied_at = $1 WHERE deployment_id = $2")
                .bind(now_ms())
                .bind(deployment),
        )
        .await?;
    }
    let now = now_ms();
    tx.exec(
        Q::new("UPDATE deployments SET state = $1, notes = $2, done_by = $3, done_at = $4 WHERE id = $5")
            .bind(b.state.as_str())
            .bind(notes.clone())
            .bind(p.user_id)
            .bind(now)
            .bind(deployment),
    )
    .await?;
    append(
        &mut tx,
        &actor,
        "deployment.outcome",
        "release",
        number,
        vec![FieldChange {
            field: format!("deployment.{deployment}"),
            old: json!(dstate),
            new: json!({"environment": env, "state": b.state, "notes": notes}),
        }],
    )
    .await?;
    let states: Vec<(String,)> = tx
        .all(Q::new("SELECT state FROM deployments WHERE release_id = $1").bind(r.id))
        .await?;
    let next = if b.state == "rolled_back" && r.state == "failed" {
        Some("rolled_back")
    } else {
        after_deployments(states.iter().map(|s| s.0.as_str())).filter(|n| *n != r.state)
    };
    if let Some(next) = next {
        tx.exec(
            Q::new("UPDATE releases SET state = $1, problem_id = COALESCE($2, problem_id), version = version + 1, updated_at = $3 WHERE id = $4")
                .bind(next)
                .bind(problem_id)
                .bind(now)
                .bind(r.id),
        )
        .await?;
        append(
            &mut tx,
            &actor,
            "update",
            "release",
            number,
            vec![FieldChange {
                field: "state".into(),
                old: json!(r.state),
                new: json!(next),
            }],
        )
        .await?;
    }
    tx.commit().await?;
    get(db, number).await
}

/// Releases, newest first.
#[utoipa::path(get, path = "/api/v1/releases", tag = "releases", responses((status = 200, body = Vec<ReleaseSummary>)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<ReleaseSummary>>> {
    super::staff_read(&p)?;
    Ok(Json(list(&st.db).await?))
}

/// Plan a release, bundling changes.
#[utoipa::path(post, path = "/api/v1/releases", tag = "releases", request_body = NewRelease,
    responses((status = 201, body = Release), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewRelease>,
) -> AppResult<(StatusCode, Json<Release>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One release with its changes, deployments and policy warnings.
#[utoipa::path(get, path = "/api/v1/releases/{number}", tag = "releases", params(("number" = String, Path)),
    responses((status = 200, body = Release), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<Release>> {
    super::staff_read(&p)?;
    Ok(Json(get(&st.db, &number).await?))
}

/// Change a release or move it along its lifecycle (accepting needs `acceptance_notes`).
#[utoipa::path(patch, path = "/api/v1/releases/{number}", tag = "releases", params(("number" = String, Path)), request_body = ReleasePatch,
    responses((status = 200, body = Release), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ReleasePatch>,
) -> AppResult<Json<Release>> {
    Ok(Json(update(&st.db, &p, &number, b).await?))
}

/// Bundle a change into the release.
#[utoipa::path(post, path = "/api/v1/releases/{number}/changes", tag = "releases", params(("number" = String, Path)), request_body = BundleBody,
    responses((status = 200, body = Release), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_bundle(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<BundleBody>,
) -> AppResult<Json<Release>> {
    Ok(Json(bundle(&st.db, &p, &number, b).await?))
}

/// Plan a deployment to an environment, with the CIs it updates.
#[utoipa::path(post, path = "/api/v1/releases/{number}/deployments", tag = "releases", params(("number" = String, Path)), request_body = NewDeployment,
    responses((status = 201, body = Release), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_plan_deployment(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<NewDeployment>,
) -> AppResult<(StatusCode, Json<Release>)> {
    Ok((
        StatusCode::CREATED,
        Json(plan_deployment(&st.db, &p, &number, b).await?),
    ))
}

/// Record a deployment's outcome: succeeded, failed or rolled back.
#[utoipa::path(post, path = "/api/v1/releases/{number}/deployments/{id}/outcome", tag = "releases", params(("number" = String, Path), ("id" = i64, Path)), request_body = OutcomeBody,
    responses((status = 200, body = Release), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_outcome(
    State(st): State<AppState>,
    p: Principal,
    Path((number, id)): Path<(String, i64)>,
    ApiJson(b): ApiJson<OutcomeBody>,
) -> AppResult<Json<Release>> {
    Ok(Json(record_outcome(&st.db, &p, &number, id, b).await?))
}

/// The release a change is bundled in, for the change's page.
pub async fn release_of(db: &Db, item_id: i64) -> AppResult<Option<String>> {
    let r: Option<(String,)> = db
        .opt(Q::new("SELECT r.number FROM release_changes c JOIN releases r ON r.id = c.release_id WHERE c.item_id = $1").bind(item_id))
        .await?;
    Ok(r.map(|r| r.0))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "releases",
    api: part_api,
    pages: super::ui::release_routes,
    templates: &[
        (
            "releases.html",
            include_str!("../../../templates/releases.html"),
        ),
        (
            "release.html",
            include_str!("../../../templates/release.html"),
        ),
    ],
    tags: &[(
        "releases",
        "Release and deployment: releases, deployments per environment, outcomes (8.5.3)",
    )],
    nav: &[crate::platform::part::Nav {
        order: 52,
        label: "Releases",
        requester_label: None,
        href: "/releases",
        shown: |p| p.can(keel_core::access::Action::ReadInternalItems),
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(Action::UpdateWorkItems, routes!(api_list, api_create)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_get, api_update)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_bundle)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_plan_deployment)))
        .routes(gate(Action::UpdateWorkItems, routes!(api_outcome)))
}
