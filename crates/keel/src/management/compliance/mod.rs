//! The compliance engine (ISO/IEC 20000-1 clauses 4–10 as a whole): the live readiness view
//! (requirements rated from evidence checks and the assessor's judgements), process capability
//! ratings, dated assessments and their comparison, the gap plan, and the audit pack. The rules
//! are in `keel_core::management::compliance`; this module stores and gathers.
//!
//! - [`evidence`] — loading the records checks examine and running the checks.
//! - [`assessment`] — dated snapshots, comparison, the gap plan (implementation actions).
//! - [`pack`] — the audit pack: one self-contained archive for an auditor.
//! - [`api`] and [`ui`] — HTTP and web pages.

pub mod api;
pub mod assessment;
pub mod evidence;
pub mod pack;
pub mod ui;

use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::web::iso;
use evidence::Period;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::management::compliance::capability::{self, Achievement, Attribute};
use keel_core::management::compliance::catalogue::{self, Catalogue, Requirement, top_clause};
use keel_core::management::compliance::checks;
use keel_core::management::compliance::conformity::{self, Judgement, Rating, Score, Scores};
use keel_core::management::compliance::evidence::{Outcome, Status};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;

/// The default evidence period: the last twelve months up to now.
pub fn default_period(now: i64) -> Period {
    Period {
        from: now - 365 * DAY_MS,
        to: now + 1,
    }
}

/// Parse `from`/`to` query values (RFC 3339 or YYYY-MM-DD; `to` is inclusive of its day).
pub fn period(from: Option<&str>, to: Option<&str>, now: i64) -> AppResult<Period> {
    use crate::platform::extract::instant;
    let d = default_period(now);
    let from = match from.filter(|s| !s.is_empty()) {
        Some(f) => instant("from", f)?,
        None => d.from,
    };
    let to = match to.filter(|s| !s.is_empty()) {
        Some(t) if t.len() == 10 => instant("to", t)? + DAY_MS,
        Some(t) => instant("to", t)?,
        None => d.to,
    };
    if to <= from {
        return Err(AppError::invalid("to", "must be after from"));
    }
    Ok(Period { from, to })
}

/// The catalogue edition named in a path or query (`iso20000-1:2018` when absent).
pub fn edition(id: Option<&str>) -> AppResult<&'static Catalogue> {
    let id = id.unwrap_or(catalogue::CURRENT);
    catalogue::edition(id).ok_or_else(|| {
        AppError::invalid(
            "edition",
            format!(
                "unknown edition (editions: {})",
                catalogue::editions().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

pub fn requirement<'a>(cat: &'a Catalogue, id: &str) -> AppResult<&'a Requirement> {
    cat.requirement(id)
        .ok_or_else(|| AppError::NotFound(format!("requirement {id} in {}", cat.id)))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub rationale: String,
    pub requirements: Vec<String>,
    /// The record set examined, e.g. `closed_incidents`.
    pub population: String,
    /// pass, fail or not_exercised (nothing to examine, none required).
    pub status: String,
    pub examined: usize,
    pub passed: usize,
    pub failed: usize,
    pub percent: f64,
    /// Why the check fails as a whole (too few records), if it does.
    pub shortfall: Option<String>,
    /// Failing records (at most 200; `failed` is exact).
    #[schema(value_type = Vec<Object>)]
    pub failures: Vec<keel_core::management::compliance::evidence::Failure>,
}

pub fn check_result(c: &checks_ty::Check, o: &Outcome) -> CheckResult {
    CheckResult {
        id: c.id.to_string(),
        title: c.title.to_string(),
        rationale: c.rationale.to_string(),
        requirements: c.requirements.iter().map(|r| r.to_string()).collect(),
        population: c.population.as_str().to_string(),
        status: status_str(o.status).to_string(),
        examined: o.examined,
        passed: o.passed,
        failed: o.examined - o.passed,
        percent: (o.percent() * 10.0).round() / 10.0,
        shortfall: o.shortfall.clone(),
        failures: o.failures.clone(),
    }
}

mod checks_ty {
    pub use keel_core::management::compliance::evidence::Check;
}

pub fn status_str(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::NotExercised => "not_exercised",
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JudgementView {
    pub rating: String,
    pub notes: String,
    pub judged_by: String,
    pub judged_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequirementStatus {
    pub id: String,
    pub title: String,
    pub process: String,
    /// The top clause (4 … 10).
    pub clause: String,
    /// What the checks say (null: no check exercised).
    pub automatic: Option<String>,
    pub judgement: Option<JudgementView>,
    /// The rating that counts: the assessor's, else the checks' (null: unassessed).
    pub rating: Option<String>,
    pub checks: Vec<CheckResult>,
    pub open_actions: i64,
    pub evidence_files: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreView {
    /// A clause (4 … 10), a process id, or `overall`.
    pub key: String,
    pub title: String,
    pub met: usize,
    pub partially_met: usize,
    pub not_met: usize,
    pub not_applicable: usize,
    pub unassessed: usize,
    pub percent: f64,
}

fn score_view(key: &str, title: &str, s: &Score) -> ScoreView {
    ScoreView {
        key: key.to_string(),
        title: title.to_string(),
        met: s.met,
        partially_met: s.partially_met,
        not_met: s.not_met,
        not_applicable: s.not_applicable,
        unassessed: s.unassessed,
        percent: s.percent,
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcessStatus {
    pub id: String,
    pub name: String,
    pub purpose: String,
    pub requirements: Vec<String>,
    pub conformity: ScoreView,
    /// The PA 1.1 rating the conformity score suggests (N/P/L/F bands over its percentage).
    pub suggested_performance: String,
    /// The assessor's attribute ratings, e.g. {"PA1.1": "F", "PA2.1": "L"}.
    pub ratings: BTreeMap<String, String>,
    /// Capability level 0–5 from the ratings (null: not rated yet).
    pub level: Option<u8>,
    pub level_name: Option<String>,
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub edition: String,
    pub standard: String,
    pub period_from: String,
    pub period_to: String,
    pub generated_at: String,
    pub overall: ScoreView,
    pub clauses: Vec<ScoreView>,
    pub processes: Vec<ProcessStatus>,
    pub requirements: Vec<RequirementStatus>,
}

type JudgementRow = (String, String, String, String, i64);

async fn judgements(
    db: &Db,
    cat: &Catalogue,
) -> AppResult<BTreeMap<String, (Judgement, JudgementView)>> {
    let rows: Vec<JudgementRow> = db
        .all(Q::new("SELECT j.requirement, j.rating, j.notes, u.name, j.judged_at FROM requirement_judgements j JOIN users u ON u.id = j.judged_by WHERE j.edition = $1").bind(cat.id.as_str()))
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(req, rating, notes, by, at)| {
            let r = Rating::parse(&rating)?;
            Some((
                req,
                (
                    Judgement {
                        rating: r,
                        notes: notes.clone(),
                    },
                    JudgementView {
                        rating,
                        notes,
                        judged_by: by,
                        judged_at: iso(at),
                    },
                ),
            ))
        })
        .collect())
}

async fn counts(db: &Db, cat: &Catalogue, sql: &str) -> AppResult<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = db.all(Q::new(sql).bind(cat.id.as_str())).await?;
    Ok(rows.into_iter().collect())
}

type RatingRow = (String, String, i64, String);

async fn process_ratings(
    db: &Db,
    cat: &Catalogue,
) -> AppResult<BTreeMap<String, (BTreeMap<String, String>, u8, String)>> {
    let rows: Vec<RatingRow> = db
        .all(
            Q::new("SELECT process, ratings, level, notes FROM process_ratings WHERE edition = $1")
                .bind(cat.id.as_str()),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(p, r, l, n)| {
            let ratings: BTreeMap<String, String> = serde_json::from_str(&r).unwrap_or_default();
            (p, (ratings, u8::try_from(l).unwrap_or(0), n))
        })
        .collect())
}

/// The live readiness view: every check run over the period, every requirement rated.
pub async fn readiness(db: &Db, cat: &Catalogue, period: Period) -> AppResult<Readiness> {
    let now = now_ms();
    let outcomes = evidence::run_all(db, period, now).await?;
    let judged = judgements(db, cat).await?;
    let actions = counts(db, cat, "SELECT requirement, COUNT(*) FROM compliance_actions WHERE edition = $1 AND state IN ('open', 'in_progress') GROUP BY requirement").await?;
    let files = counts(db, cat, "SELECT requirement, COUNT(*) FROM requirement_evidence WHERE edition = $1 GROUP BY requirement").await?;
    let rated = process_ratings(db, cat).await?;
    let mut ratings: BTreeMap<String, Option<Rating>> = BTreeMap::new();
    let mut requirements = Vec::new();
    for r in &cat.requirements {
        let mine: Vec<&(&keel_core::management::compliance::evidence::Check, Outcome)> = outcomes
            .iter()
            .filter(|(c, _)| c.requirements.contains(&r.id.as_str()))
            .collect();
        let auto = conformity::automatic(mine.iter().map(|(_, o)| o));
        let j = judged.get(&r.id);
        let rating = conformity::effective(auto, j.map(|(j, _)| j));
        ratings.insert(r.id.clone(), rating);
        requirements.push(RequirementStatus {
            id: r.id.clone(),
            title: r.title.clone(),
            process: r.process.clone(),
            clause: top_clause(&r.id).to_string(),
            automatic: auto.map(|a| a.as_str().to_string()),
            judgement: j.map(|(_, v)| v.clone()),
            rating: rating.map(|a| a.as_str().to_string()),
            checks: mine.iter().map(|(c, o)| check_result(c, o)).collect(),
            open_actions: actions.get(&r.id).copied().unwrap_or(0),
            evidence_files: files.get(&r.id).copied().unwrap_or(0),
        });
    }
    let sc = conformity::scores(cat, &ratings);
    Ok(Readiness {
        edition: cat.id.clone(),
        standard: format!("{}:{}", cat.standard, cat.edition),
        period_from: iso(period.from),
        period_to: iso(period.to),
        generated_at: iso(now),
        overall: score_view("overall", "Overall", &sc.overall),
        clauses: clause_views(cat, &sc),
        processes: process_views(cat, &sc, &rated),
        requirements,
    })
}

pub fn clause_views(cat: &Catalogue, sc: &Scores) -> Vec<ScoreView> {
    sc.by_clause
        .iter()
        .map(|(c, s)| {
            let title = cat.heading(c).map(|h| h.title.as_str()).unwrap_or("");
            score_view(c, title, s)
        })
        .collect()
}

pub fn process_views(
    cat: &Catalogue,
    sc: &Scores,
    rated: &BTreeMap<String, (BTreeMap<String, String>, u8, String)>,
) -> Vec<ProcessStatus> {
    sc.by_process
        .iter()
        .filter_map(|(id, s)| {
            let p = cat.process(id)?;
            let r = rated.get(id);
            Some(ProcessStatus {
                id: id.clone(),
                name: p.name.clone(),
                purpose: p.purpose.clone(),
                requirements: cat.of_process(id).map(|r| r.id.clone()).collect(),
                conformity: score_view(id, &p.name, s),
                suggested_performance: Achievement::from_percent(s.percent).as_str().to_string(),
                ratings: r.map(|r| r.0.clone()).unwrap_or_default(),
                level: r.map(|r| r.1),
                level_name: r.map(|r| capability::LEVEL_NAMES[usize::from(r.1.min(5))].to_string()),
                notes: r.map(|r| r.2.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

/// One requirement with its catalogue text, checks and judgement.
pub async fn requirement_status(
    db: &Db,
    cat: &Catalogue,
    id: &str,
    period: Period,
) -> AppResult<RequirementStatus> {
    let r = requirement(cat, id)?;
    let outcomes = evidence::run(db, checks::for_requirement(&r.id), period, now_ms()).await?;
    let judged = judgements(db, cat).await?;
    let auto = conformity::automatic(outcomes.iter().map(|(_, o)| o));
    let j = judged.get(&r.id);
    let actions = counts(db, cat, "SELECT requirement, COUNT(*) FROM compliance_actions WHERE edition = $1 AND state IN ('open', 'in_progress') GROUP BY requirement").await?;
    let files = counts(db, cat, "SELECT requirement, COUNT(*) FROM requirement_evidence WHERE edition = $1 GROUP BY requirement").await?;
    Ok(RequirementStatus {
        id: r.id.clone(),
        title: r.title.clone(),
        process: r.process.clone(),
        clause: top_clause(&r.id).to_string(),
        automatic: auto.map(|a| a.as_str().to_string()),
        judgement: j.map(|(_, v)| v.clone()),
        rating: conformity::effective(auto, j.map(|(j, _)| j)).map(|a| a.as_str().to_string()),
        checks: outcomes.iter().map(|(c, o)| check_result(c, o)).collect(),
        open_actions: actions.get(&r.id).copied().unwrap_or(0),
        evidence_files: files.get(&r.id).copied().unwrap_or(0),
    })
}

/// Record the assessor's judgement of a requirement (replacing any earlier one).
pub async fn judge(
    db: &Db,
    p: &Principal,
    cat: &Catalogue,
    id: &str,
    rating: &str,
    notes: &str,
) -> AppResult<RequirementStatus> {
    p.require(Action::ManageCompliance)?;
    let r = requirement(cat, id)?;
    let now = now_ms();
    let outcomes =
        evidence::run(db, checks::for_requirement(&r.id), default_period(now), now).await?;
    let auto = conformity::automatic(outcomes.iter().map(|(_, o)| o));
    let j = Judgement::parse(rating, notes, auto).map_err(|e| {
        let msg = e.0;
        match msg.strip_prefix("notes: ") {
            Some(rest) => AppError::invalid("notes", rest),
            None => AppError::invalid("rating", msg),
        }
    })?;
    let before: Option<(String, String)> = db
        .opt(Q::new("SELECT rating, notes FROM requirement_judgements WHERE edition = $1 AND requirement = $2").bind(cat.id.as_str()).bind(r.id.as_str()))
        .await?;
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("INSERT INTO requirement_judgements (edition, requirement, rating, notes, judged_by, judged_at) VALUES ($1, $2, $3, $4, $5, $6) \
                ON CONFLICT (edition, requirement) DO UPDATE SET rating = excluded.rating, notes = excluded.notes, judged_by = excluded.judged_by, judged_at = excluded.judged_at")
            .bind(cat.id.as_str())
            .bind(r.id.as_str())
            .bind(j.rating.as_str())
            .bind(j.notes.as_str())
            .bind(p.user_id)
            .bind(now),
    )
    .await?;
    let (old_rating, old_notes) = before
        .map(|(a, b)| (json!(a), json!(b)))
        .unwrap_or_default();
    append(
        &mut tx,
        &p.actor(),
        "judge",
        "requirement",
        &format!("{}/{}", cat.id, r.id),
        diff(
            &[("rating", old_rating), ("notes", old_notes)],
            &[
                ("rating", json!(j.rating.as_str())),
                ("notes", json!(j.notes)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    requirement_status(db, cat, &r.id, default_period(now)).await
}

/// Withdraw the assessor's judgement: the checks decide again.
pub async fn unjudge(db: &Db, p: &Principal, cat: &Catalogue, id: &str) -> AppResult<()> {
    p.require(Action::ManageCompliance)?;
    let r = requirement(cat, id)?;
    let before: Option<(String, String)> = db
        .opt(Q::new("SELECT rating, notes FROM requirement_judgements WHERE edition = $1 AND requirement = $2").bind(cat.id.as_str()).bind(r.id.as_str()))
        .await?;
    let Some((rating, notes)) = before else {
        return Err(AppError::NotFound(format!("a judgement of {}", r.id)));
    };
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("DELETE FROM requirement_judgements WHERE edition = $1 AND requirement = $2")
            .bind(cat.id.as_str())
            .bind(r.id.as_str()),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "unjudge",
        "requirement",
        &format!("{}/{}", cat.id, r.id),
        diff(
            &[("rating", json!(rating)), ("notes", json!(notes))],
            &[("rating", json!(null)), ("notes", json!(null))],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rate a process's attributes (ISO/IEC 33020); the level follows from the ratings.
pub async fn rate_process(
    db: &Db,
    p: &Principal,
    cat: &Catalogue,
    process: &str,
    ratings: &BTreeMap<String, String>,
    notes: &str,
) -> AppResult<(BTreeMap<String, String>, u8)> {
    p.require(Action::ManageCompliance)?;
    if cat.process(process).is_none() {
        return Err(AppError::NotFound(format!(
            "process {process} in {}",
            cat.id
        )));
    }
    let mut parsed = BTreeMap::new();
    for (code, r) in ratings {
        let field = format!("ratings.{code}");
        let a = Attribute::parse(code).ok_or_else(|| {
            AppError::invalid(
                &field,
                "unknown attribute (PA1.1, PA2.1, PA2.2, PA3.1, PA3.2, PA4.1, PA4.2, PA5.1, PA5.2)",
            )
        })?;
        let v = Achievement::parse(r)
            .ok_or_else(|| AppError::invalid(&field, "must be N, P, L or F"))?;
        parsed.insert(a, v);
    }
    let notes =
        keel_core::text::bounded(notes, 20_000).map_err(|e| AppError::invalid("notes", e))?;
    let level = capability::level(&parsed);
    let clean: BTreeMap<String, String> = parsed
        .iter()
        .map(|(a, v)| (a.code().to_string(), v.as_str().to_string()))
        .collect();
    let text = serde_json::to_string(&clean).map_err(|e| AppError::Internal(e.into()))?;
    let before: Option<(String, i64)> = db
        .opt(
            Q::new(
                "SELECT ratings, level FROM process_ratings WHERE edition = $1 AND process = $2",
            )
            .bind(cat.id.as_str())
            .bind(process),
        )
        .await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    tx.exec(
        Q::new("INSERT INTO process_ratings (edition, process, ratings, level, notes, rated_by, rated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                ON CONFLICT (edition, process) DO UPDATE SET ratings = excluded.ratings, level = excluded.level, notes = excluded.notes, rated_by = excluded.rated_by, rated_at = excluded.rated_at")
            .bind(cat.id.as_str())
            .bind(process)
            .bind(text.as_str())
            .bind(i64::from(level))
            .bind(notes.as_str())
            .bind(p.user_id)
            .bind(now),
    )
    .await?;
    let (old_r, old_l) = before
        .map(|(r, l)| (json!(r), json!(l)))
        .unwrap_or_default();
    append(
        &mut tx,
        &p.actor(),
        "rate",
        "process",
        &format!("{}/{process}", cat.id),
        diff(
            &[("ratings", old_r), ("level", old_l)],
            &[("ratings", json!(text)), ("level", json!(level))],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((clean, level))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "compliance",
    api: part_api,
    pages: ui::routes,
    templates: &[
        (
            "compliance.html",
            include_str!("../../../templates/compliance.html"),
        ),
        (
            "requirement.html",
            include_str!("../../../templates/requirement.html"),
        ),
        (
            "process.html",
            include_str!("../../../templates/process.html"),
        ),
        (
            "assessments.html",
            include_str!("../../../templates/assessments.html"),
        ),
        (
            "assessment.html",
            include_str!("../../../templates/assessment.html"),
        ),
    ],
    tags: &[(
        "compliance",
        "The compliance engine: requirement catalogue, live evidence checks, readiness, assessments, the gap plan and the audit pack (clauses 4–10)",
    )],
    nav: &[crate::platform::part::Nav {
        order: 130,
        label: "Compliance",
        requester_label: None,
        href: "/compliance",
        shown: |p| p.can(keel_core::access::Action::ReadCompliance),
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(api::list_requirements))
        .routes(routes!(api::get_requirement))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api::put_judgement, api::delete_judgement),
        ))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api::upload_evidence),
        ))
        .routes(routes!(api::download_evidence))
        .routes(routes!(api::list_checks))
        .routes(routes!(api::get_check))
        .routes(routes!(api::get_readiness))
        .routes(gate(Action::ManageCompliance, routes!(api::put_capability)))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api::list_assessments, api::create_assessment),
        ))
        .routes(routes!(api::get_assessment))
        .routes(routes!(api::compare_assessment))
        .routes(gate(
            Action::ManageCompliance,
            routes!(api::list_actions, api::create_action),
        ))
        .routes(gate(Action::ManageCompliance, routes!(api::patch_action)))
        .routes(routes!(api::audit_pack))
}
