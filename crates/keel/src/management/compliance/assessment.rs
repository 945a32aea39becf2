//! Assessments: dated snapshots of readiness (each requirement's automatic and judged rating
//! with the check outcomes behind it, each process's capability), their comparison, and the gap
//! plan — actions with owners, due dates and progress that close the gaps, tracked to closure.

use super::{CheckResult, Readiness, ScoreView, clause_views, process_views, readiness};
use crate::directory::active_user;
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, next_number, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::day;
use crate::platform::web::iso;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::compliance::catalogue::{self, Catalogue};
use keel_core::management::compliance::conformity::{self, Rating};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct AssessmentSummary {
    pub number: String,
    pub title: String,
    pub edition: String,
    #[serde(skip)]
    pub from_ms: i64,
    #[serde(skip)]
    pub to_ms: i64,
    #[serde(skip)]
    pub taken_ms: i64,
    #[serde(skip)]
    pub score_tenths: i64,
    pub taken_by: String,
    #[sqlx(skip)]
    pub period_from: String,
    #[sqlx(skip)]
    pub period_to: String,
    #[sqlx(skip)]
    pub taken_at: String,
    /// Overall conformity score, 0–100.
    #[sqlx(skip)]
    pub score: f64,
}

impl AssessmentSummary {
    fn finish(mut self) -> Self {
        self.period_from = iso(self.from_ms);
        self.period_to = iso(self.to_ms);
        self.taken_at = iso(self.taken_ms);
        self.score = self.score_tenths as f64 / 10.0;
        self
    }
}

const SUMMARY: &str = "SELECT a.number, a.title, a.edition, a.period_from AS from_ms, a.period_to AS to_ms, a.taken_at AS taken_ms, a.score AS score_tenths, u.name AS taken_by \
    FROM assessments a JOIN users u ON u.id = a.taken_by";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssessment {
    /// e.g. "Readiness before stage 1".
    pub title: String,
    /// Evidence period start (RFC 3339 or YYYY-MM-DD); default twelve months ago.
    pub from: Option<String>,
    /// Evidence period end (inclusive day, or an instant); default now.
    pub to: Option<String>,
    /// Catalogue edition; default `iso20000-1:2018`.
    pub edition: Option<String>,
}

/// Freeze the live readiness view as a dated assessment.
pub async fn take(db: &Db, p: &Principal, b: NewAssessment) -> AppResult<Assessment> {
    p.require(Action::ManageCompliance)?;
    let title = Line::parse(&b.title, 200).map_err(|e| AppError::invalid("title", e))?;
    let cat = super::edition(b.edition.as_deref())?;
    let now = now_ms();
    let period = super::period(b.from.as_deref(), b.to.as_deref(), now)?;
    let r = readiness(db, cat, period).await?;
    let score = (r.overall.percent * 10.0).round() as i64;
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "assessment", "ASM").await?;
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO assessments (number, title, edition, period_from, period_to, score, taken_by, taken_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                .bind(number.as_str())
                .bind(title.as_str())
                .bind(cat.id.as_str())
                .bind(period.from)
                .bind(period.to)
                .bind(score)
                .bind(p.user_id)
                .bind(now),
        )
        .await?;
    for req in &r.requirements {
        let checks =
            serde_json::to_string(&req.checks).map_err(|e| AppError::Internal(e.into()))?;
        tx.exec(
            Q::new("INSERT INTO assessment_requirements (assessment_id, requirement, automatic, judged, rating, notes, checks) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id)
                .bind(req.id.as_str())
                .bind(req.automatic.clone())
                .bind(req.judgement.as_ref().map(|j| j.rating.clone()))
                .bind(req.rating.clone())
                .bind(req.judgement.as_ref().map(|j| j.notes.clone()).unwrap_or_default())
                .bind(checks),
        )
        .await?;
    }
    for proc in &r.processes {
        if let Some(level) = proc.level {
            let ratings =
                serde_json::to_string(&proc.ratings).map_err(|e| AppError::Internal(e.into()))?;
            tx.exec(
                Q::new("INSERT INTO assessment_processes (assessment_id, process, ratings, level) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(proc.id.as_str())
                    .bind(ratings)
                    .bind(i64::from(level)),
            )
            .await?;
        }
    }
    append(
        &mut tx,
        &p.actor(),
        "create",
        "assessment",
        &number,
        diff(
            &[],
            &[
                ("title", json!(title.as_str())),
                ("edition", json!(cat.id)),
                ("period_from", json!(r.period_from)),
                ("period_to", json!(r.period_to)),
                ("score", json!(r.overall.percent)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &number).await
}

pub async fn list(db: &Db) -> AppResult<Vec<AssessmentSummary>> {
    let rows: Vec<AssessmentSummary> = db
        .all(Q::new(format!(
            "{SUMMARY} ORDER BY a.taken_at DESC, a.id DESC LIMIT 500"
        )))
        .await?;
    Ok(rows.into_iter().map(AssessmentSummary::finish).collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssessedRequirement {
    pub id: String,
    pub title: String,
    pub process: String,
    pub automatic: Option<String>,
    pub judged: Option<String>,
    pub rating: Option<String>,
    pub notes: String,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Assessment {
    #[serde(flatten)]
    pub summary: AssessmentSummary,
    pub overall: ScoreView,
    pub clauses: Vec<ScoreView>,
    pub processes: Vec<super::ProcessStatus>,
    pub requirements: Vec<AssessedRequirement>,
}

type StoredRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

async fn summary(db: &Db, number: &str) -> AppResult<(i64, AssessmentSummary)> {
    let s: AssessmentSummary = db
        .opt(Q::new(format!("{SUMMARY} WHERE a.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("assessment {number}")))?;
    let (id,): (i64,) = db
        .one(Q::new("SELECT id FROM assessments WHERE number = $1").bind(number))
        .await?;
    Ok((id, s.finish()))
}

/// The stored ratings of an assessment, requirement id → rating.
async fn stored(db: &Db, id: i64) -> AppResult<Vec<StoredRow>> {
    Ok(db
        .all(Q::new("SELECT requirement, automatic, judged, rating, notes, checks FROM assessment_requirements WHERE assessment_id = $1").bind(id))
        .await?)
}

fn ratings_of(rows: &[StoredRow]) -> BTreeMap<String, Option<Rating>> {
    rows.iter()
        .map(|r| (r.0.clone(), r.3.as_deref().and_then(Rating::parse)))
        .collect()
}

pub async fn get(db: &Db, number: &str) -> AppResult<Assessment> {
    let (id, summary) = summary(db, number).await?;
    let cat = super::edition(Some(&summary.edition))?;
    let rows = stored(db, id).await?;
    let ratings = ratings_of(&rows);
    let sc = conformity::scores(cat, &ratings);
    let procs: Vec<(String, String, i64)> = db
        .all(
            Q::new(
                "SELECT process, ratings, level FROM assessment_processes WHERE assessment_id = $1",
            )
            .bind(id),
        )
        .await?;
    let rated = procs
        .into_iter()
        .map(|(p, r, l)| {
            (
                p,
                (
                    serde_json::from_str(&r).unwrap_or_default(),
                    u8::try_from(l).unwrap_or(0),
                    String::new(),
                ),
            )
        })
        .collect();
    let by_id: BTreeMap<&str, &StoredRow> = rows.iter().map(|r| (r.0.as_str(), r)).collect();
    let requirements = cat
        .requirements
        .iter()
        .map(|req| {
            let row = by_id.get(req.id.as_str());
            AssessedRequirement {
                id: req.id.clone(),
                title: req.title.clone(),
                process: req.process.clone(),
                automatic: row.and_then(|r| r.1.clone()),
                judged: row.and_then(|r| r.2.clone()),
                rating: row.and_then(|r| r.3.clone()),
                notes: row.map(|r| r.4.clone()).unwrap_or_default(),
                checks: row
                    .and_then(|r| serde_json::from_str(&r.5).ok())
                    .unwrap_or_default(),
            }
        })
        .collect();
    Ok(Assessment {
        overall: super::score_view("overall", "Overall", &sc.overall),
        clauses: clause_views(cat, &sc),
        processes: process_views(cat, &sc, &rated),
        requirements,
        summary,
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreDelta {
    pub key: String,
    pub title: String,
    pub before: f64,
    pub after: f64,
    pub delta: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MovementView {
    pub requirement: String,
    pub title: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// improved, worsened or changed.
    pub direction: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AssessmentComparison)]
pub struct Comparison {
    pub before: String,
    pub after: String,
    pub overall: ScoreDelta,
    pub clauses: Vec<ScoreDelta>,
    pub movements: Vec<MovementView>,
}

/// Compare an assessment with a later one, or with the live readiness (`with` = `now`).
pub async fn compare(db: &Db, number: &str, with: &str) -> AppResult<Comparison> {
    let (id, before_summary) = summary(db, number).await?;
    let cat: &Catalogue = super::edition(Some(&before_summary.edition))?;
    let before = ratings_of(&stored(db, id).await?);
    let after: BTreeMap<String, Option<Rating>> = if with == "now" {
        let live: Readiness = readiness(db, cat, super::default_period(now_ms())).await?;
        live.requirements
            .iter()
            .map(|r| (r.id.clone(), r.rating.as_deref().and_then(Rating::parse)))
            .collect()
    } else {
        let (other, s) = summary(db, with)
            .await
            .map_err(|_| AppError::invalid("with", format!("no assessment {with}")))?;
        if s.edition != cat.id {
            return Err(AppError::invalid(
                "with",
                "assessments of different editions do not compare requirement by requirement",
            ));
        }
        ratings_of(&stored(db, other).await?)
    };
    let (sb, sa) = (
        conformity::scores(cat, &before),
        conformity::scores(cat, &after),
    );
    let delta = |key: &str, title: &str, b: f64, a: f64| ScoreDelta {
        key: key.to_string(),
        title: title.to_string(),
        before: b,
        after: a,
        delta: ((a - b) * 10.0).round() / 10.0,
    };
    Ok(Comparison {
        before: number.to_string(),
        after: with.to_string(),
        overall: delta("overall", "Overall", sb.overall.percent, sa.overall.percent),
        clauses: sb
            .by_clause
            .iter()
            .zip(&sa.by_clause)
            .map(|((c, b), (_, a))| {
                delta(
                    c,
                    cat.heading(c).map(|h| h.title.as_str()).unwrap_or(""),
                    b.percent,
                    a.percent,
                )
            })
            .collect(),
        movements: conformity::compare(cat, &before, &after)
            .into_iter()
            .map(|m| MovementView {
                title: cat
                    .requirement(&m.requirement)
                    .map(|r| r.title.clone())
                    .unwrap_or_default(),
                requirement: m.requirement,
                before: m.before.map(|r| r.as_str().to_string()),
                after: m.after.map(|r| r.as_str().to_string()),
                direction: m.direction.to_string(),
            })
            .collect(),
    })
}

// ---- The gap plan ----

pub const ACTION_STATES: &[&str] = &["open", "in_progress", "done", "cancelled"];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct GapAction {
    pub number: String,
    pub requirement: String,
    pub assessment: Option<String>,
    pub title: String,
    pub description: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    /// YYYY-MM-DD.
    pub due_on: Option<String>,
    /// 0–100.
    pub progress: i64,
    /// open, in_progress, done or cancelled.
    pub state: String,
    pub version: i64,
    /// Open and past its due date.
    #[sqlx(skip)]
    pub overdue: bool,
}

const ACTIONS: &str = "SELECT c.number, c.requirement, a.number AS assessment, c.title, c.description, c.owner_id, u.name AS owner, c.due_on, c.progress, c.state, c.version \
    FROM compliance_actions c LEFT JOIN users u ON u.id = c.owner_id LEFT JOIN assessments a ON a.id = c.assessment_id";

fn today() -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string()
}

fn finish(mut a: GapAction, today: &str) -> GapAction {
    a.overdue = matches!(a.state.as_str(), "open" | "in_progress")
        && a.due_on.as_deref().is_some_and(|d| d < today);
    a
}

/// The gap plan, optionally for one requirement; open actions first, by due date.
pub async fn actions(db: &Db, requirement: Option<&str>) -> AppResult<Vec<GapAction>> {
    let q = match requirement {
        Some(r) => Q::new(format!(
            "{ACTIONS} WHERE c.edition = $1 AND c.requirement = $2 ORDER BY c.id"
        ))
        .bind(catalogue::CURRENT)
        .bind(r),
        None => {
            Q::new(format!("{ACTIONS} WHERE c.edition = $1 ORDER BY c.id")).bind(catalogue::CURRENT)
        }
    };
    let t = today();
    let mut rows: Vec<GapAction> = db.all(q).await?;
    rows.sort_by(|a, b| {
        let open = |x: &GapAction| !matches!(x.state.as_str(), "open" | "in_progress");
        (open(a), a.due_on.clone().unwrap_or_else(|| "9999".into()))
            .cmp(&(open(b), b.due_on.clone().unwrap_or_else(|| "9999".into())))
    });
    Ok(rows.into_iter().map(|a| finish(a, &t)).collect())
}

pub async fn action(db: &Db, number: &str) -> AppResult<GapAction> {
    let a: GapAction = db
        .opt(Q::new(format!("{ACTIONS} WHERE c.number = $1")).bind(number))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("action {number}")))?;
    Ok(finish(a, &today()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    /// The requirement the action closes a gap in, e.g. `9.2`.
    pub requirement: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub owner_id: Option<i64>,
    /// YYYY-MM-DD.
    pub due_on: Option<String>,
    /// The assessment that found the gap.
    pub assessment: Option<String>,
}

pub async fn add_action(db: &Db, p: &Principal, b: NewAction) -> AppResult<GapAction> {
    add_action_for(db, p, b, None).await
}

/// Add an action, naming the management review that decided it (if any).
pub async fn add_action_for(
    db: &Db,
    p: &Principal,
    b: NewAction,
    review_id: Option<i64>,
) -> AppResult<GapAction> {
    p.require(Action::ManageCompliance)?;
    let cat = catalogue::current();
    let req = super::requirement(cat, &b.requirement).map_err(|_| {
        AppError::invalid(
            "requirement",
            format!("no requirement {} in {}", b.requirement, cat.id),
        )
    })?;
    let title = Line::parse(&b.title, 200).map_err(|e| AppError::invalid("title", e))?;
    let description =
        bounded(&b.description, 20_000).map_err(|e| AppError::invalid("description", e))?;
    let due_on = day("due_on", b.due_on.as_deref().unwrap_or(""))?;
    let owner_id = active_user(db, "owner_id", b.owner_id).await?;
    let assessment = match &b.assessment {
        Some(n) => Some(
            summary(db, n)
                .await
                .map_err(|_| AppError::invalid("assessment", format!("no assessment {n}")))?
                .0,
        ),
        None => None,
    };
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = next_number(&mut tx, "compliance_action", "ACT").await?;
    tx.exec(
        Q::new("INSERT INTO compliance_actions (number, edition, requirement, assessment_id, title, description, owner_id, due_on, progress, state, created_by, created_at, updated_at, review_id) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 'open', $9, $10, $10, $11)")
            .bind(number.as_str())
            .bind(cat.id.as_str())
            .bind(req.id.as_str())
            .bind(assessment)
            .bind(title.as_str())
            .bind(description.as_str())
            .bind(owner_id)
            .bind(due_on.clone())
            .bind(p.user_id)
            .bind(now)
            .bind(review_id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "compliance_action",
        &number,
        diff(
            &[],
            &[
                ("requirement", json!(req.id)),
                ("title", json!(title.as_str())),
                ("owner_id", json!(owner_id)),
                ("due_on", json!(due_on)),
                ("review_id", json!(review_id)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    action(db, &number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `null` leaves the owner; use `0` to clear it.
    pub owner_id: Option<i64>,
    /// YYYY-MM-DD, or "" to clear.
    pub due_on: Option<String>,
    /// 0–100.
    pub progress: Option<i64>,
    /// open, in_progress, done or cancelled; done sets progress to 100.
    pub state: Option<String>,
    /// The `version` read; a stale one gets 412.
    pub version: Option<i64>,
}

pub async fn update_action(
    db: &Db,
    p: &Principal,
    number: &str,
    b: ActionPatch,
) -> AppResult<GapAction> {
    p.require(Action::ManageCompliance)?;
    let before = action(db, number).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let title = match &b.title {
        Some(t) => Line::parse(t, 200)
            .map_err(|e| AppError::invalid("title", e))?
            .into_string(),
        None => before.title.clone(),
    };
    let description = match &b.description {
        Some(d) => bounded(d, 20_000).map_err(|e| AppError::invalid("description", e))?,
        None => before.description.clone(),
    };
    let owner_id = match b.owner_id {
        Some(0) => None,
        Some(id) => active_user(db, "owner_id", Some(id)).await?,
        None => before.owner_id,
    };
    let due_on = match &b.due_on {
        Some(d) => day("due_on", d)?,
        None => before.due_on.clone(),
    };
    let state = match &b.state {
        Some(s) => ACTION_STATES
            .iter()
            .find(|x| **x == s.as_str())
            .map(|s| s.to_string())
            .ok_or_else(|| {
                AppError::invalid(
                    "state",
                    format!("must be one of: {}", ACTION_STATES.join(", ")),
                )
            })?,
        None => before.state.clone(),
    };
    let mut progress = b.progress.unwrap_or(before.progress);
    if !(0..=100).contains(&progress) {
        return Err(AppError::invalid("progress", "must be between 0 and 100"));
    }
    if state == "done" {
        progress = 100;
    }
    let closing = matches!(state.as_str(), "done" | "cancelled")
        && !matches!(before.state.as_str(), "done" | "cancelled");
    let now = now_ms();
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE compliance_actions SET title = $1, description = $2, owner_id = $3, due_on = $4, progress = $5, state = $6, \
                    closed_at = CASE WHEN $7 = 1 THEN $8 ELSE closed_at END, version = version + 1, updated_at = $8 WHERE number = $9 AND version = $10")
                .bind(title.as_str())
                .bind(description.as_str())
                .bind(owner_id)
                .bind(due_on.clone())
                .bind(progress)
                .bind(state.as_str())
                .bind(i64::from(closing))
                .bind(now)
                .bind(number)
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "compliance_action",
        number,
        diff(
            &[
                ("title", json!(before.title)),
                ("description", json!(before.description)),
                ("owner_id", json!(before.owner_id)),
                ("due_on", json!(before.due_on)),
                ("progress", json!(before.progress)),
                ("state", json!(before.state)),
            ],
            &[
                ("title", json!(title)),
                ("description", json!(description)),
                ("owner_id", json!(owner_id)),
                ("due_on", json!(due_on)),
                ("progress", json!(progress)),
                ("state", json!(state)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    action(db, number).await
}
