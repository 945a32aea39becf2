//! The audit pack: one self-contained zip an auditor opens without Keel — an HTML index
//! (`index.html`), the readiness assessment for the period, every evidence check with the
//! records it examined and those failing, the assessments taken, the registers
//! (nonconformities, improvements, the gap plan) as CSV and JSON, the assessor's evidence files,
//! and `MANIFEST.sha256` (checkable with `sha256sum -c`).
//!
//! Built by `GET /api/v1/audit-pack`, the compliance page and `keel audit-pack`.

use super::evidence::Period;
use super::{Readiness, assessment, readiness};
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::web::iso;
use keel_core::management::compliance::catalogue::Catalogue;
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;

const INDEX: &str = include_str!("../../../templates/audit_pack.html");

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("audit pack: {e}"))
}

/// `keel-audit-pack-2026-01-01-to-2026-12-31.zip`.
pub fn file_name(p: Period) -> String {
    let day = |ms: i64| iso(ms).get(..10).unwrap_or("").to_string();
    format!("keel-audit-pack-{}-to-{}.zip", day(p.from), day(p.to - 1))
}

/// A register row for CSV and JSON: number, title, state, dates and the kind's own fields.
#[derive(Debug, Serialize)]
struct RegisterRow {
    number: String,
    title: String,
    state: String,
    created_at: String,
    closed_at: Option<String>,
    #[serde(flatten)]
    details: Map<String, Value>,
}

async fn register(db: &Db, kind: &str) -> AppResult<Vec<RegisterRow>> {
    let rows: Vec<(String, String, String, i64, Option<i64>, String)> = db
        .all(Q::new("SELECT number, title, state, created_at, closed_at, details FROM work_items WHERE kind = $1 ORDER BY seq").bind(kind))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(number, title, state, created, closed, d)| RegisterRow {
            number,
            title,
            state,
            created_at: iso(created),
            closed_at: closed.map(iso),
            details: serde_json::from_str(&d).unwrap_or_default(),
        })
        .collect())
}

/// CSV of JSON objects: the columns are every key seen, in first-seen order.
fn csv_of<T: Serialize>(rows: &[T]) -> AppResult<Vec<u8>> {
    let objects: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        })
        .collect();
    let mut cols: Vec<String> = Vec::new();
    for o in &objects {
        for k in o.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    // Identity first, then the rest alphabetically (as the JSON objects hold them).
    const FIRST: &[&str] = &[
        "number",
        "requirement",
        "title",
        "state",
        "created_at",
        "closed_at",
    ];
    cols.sort_by_key(|c| FIRST.iter().position(|f| f == c).unwrap_or(FIRST.len()));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&cols).map_err(internal)?;
    for o in &objects {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match o.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        w.write_record(&cells).map_err(internal)?;
    }
    w.into_inner().map_err(internal)
}

fn pretty<T: Serialize>(v: &T) -> AppResult<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(internal)
}

/// Safe inside an archive: no separators, no leading dots.
fn safe_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.trim_start_matches('.').to_string()
}

struct Pack {
    files: Vec<(String, Vec<u8>)>,
}

impl Pack {
    fn add(&mut self, path: impl Into<String>, bytes: Vec<u8>) {
        self.files.push((path.into(), bytes));
    }
}

/// Build the pack for a period.
pub async fn build(
    db: &Db,
    cat: &Catalogue,
    period: Period,
    generated_by: &str,
) -> AppResult<Vec<u8>> {
    let r: Readiness = readiness(db, cat, period).await?;
    let mut pack = Pack { files: Vec::new() };

    // Checks: one JSON each (with failing records), and a summary CSV.
    let mut seen = std::collections::BTreeMap::new();
    for req in &r.requirements {
        for c in &req.checks {
            seen.entry(c.id.clone()).or_insert_with(|| c.clone());
        }
    }
    let checks: Vec<super::CheckResult> = seen.into_values().collect();
    for c in &checks {
        pack.add(format!("checks/{}.json", safe_name(&c.id)), pretty(c)?);
    }
    let check_rows: Vec<Value> = checks
        .iter()
        .map(|c| json!({"id": c.id, "title": c.title, "requirements": c.requirements.join(" "), "status": c.status, "examined": c.examined, "passed": c.passed, "failed": c.failed, "percent": c.percent, "shortfall": c.shortfall}))
        .collect();
    pack.add("checks.csv", csv_of(&check_rows)?);

    // The readiness assessment.
    pack.add("assessment/readiness.json", pretty(&r)?);
    let req_rows: Vec<Value> = r
        .requirements
        .iter()
        .map(|q| json!({"requirement": q.id, "title": q.title, "process": q.process, "automatic": q.automatic, "judged": q.judgement.as_ref().map(|j| j.rating.clone()), "rating": q.rating, "notes": q.judgement.as_ref().map(|j| j.notes.clone()), "open_actions": q.open_actions, "evidence_files": q.evidence_files}))
        .collect();
    pack.add("assessment/requirements.csv", csv_of(&req_rows)?);
    let proc_rows: Vec<Value> = r
        .processes
        .iter()
        .map(|p| json!({"process": p.id, "name": p.name, "conformity_percent": p.conformity.percent, "level": p.level, "ratings": serde_json::to_string(&p.ratings).unwrap_or_default()}))
        .collect();
    pack.add("assessment/processes.csv", csv_of(&proc_rows)?);
    pack.add("catalogue.json", pretty(cat)?);

    // Assessments taken before.
    let taken = assessment::list(db).await?;
    pack.add("assessments/index.json", pretty(&taken)?);
    for a in &taken {
        let full = assessment::get(db, &a.number).await?;
        pack.add(
            format!("assessments/{}.json", safe_name(&a.number)),
            pretty(&full)?,
        );
    }

    // Registers.
    let ncs = register(db, "nonconformity").await?;
    let imps = register(db, "improvement").await?;
    let actions = assessment::actions(db, None).await?;
    pack.add("registers/nonconformities.json", pretty(&ncs)?);
    pack.add("registers/nonconformities.csv", csv_of(&ncs)?);
    pack.add("registers/improvements.json", pretty(&imps)?);
    pack.add("registers/improvements.csv", csv_of(&imps)?);
    pack.add("registers/gap-plan.json", pretty(&actions)?);
    let audits = crate::management::evaluation::list(db).await?;
    let findings = crate::management::evaluation::findings(db, None).await?;
    pack.add("registers/audits.json", pretty(&audits)?);
    pack.add("registers/audits.csv", csv_of(&audits)?);
    pack.add("registers/audit-findings.json", pretty(&findings)?);
    pack.add("registers/audit-findings.csv", csv_of(&findings)?);
    let mut reviews = Vec::new();
    for r in crate::management::evaluation::review::list(db).await? {
        reviews.push(crate::management::evaluation::review::get(db, &r.number).await?);
    }
    pack.add("registers/management-reviews.json", pretty(&reviews)?);
    let documents = crate::management::support::documents::list(db).await?;
    pack.add("registers/documents.json", pretty(&documents)?);
    pack.add("registers/documents.csv", csv_of(&documents)?);
    // The text of every document version in force.
    let mut in_force = Vec::new();
    for d in documents
        .iter()
        .filter(|d| d.state == "active" && d.current_version.is_some())
    {
        let full = crate::management::support::documents::get(db, &d.number).await?;
        if let Some(v) = full
            .versions
            .iter()
            .find(|v| Some(v.version_no) == full.current_version)
        {
            let path = format!("documents/{}-v{}.txt", safe_name(&d.number), v.version_no);
            let text = format!(
                "{} — {}\nVersion {}, approved by {} on {}\n\n{}\n",
                d.number,
                d.title,
                v.version_no,
                v.decided_by.clone().unwrap_or_default(),
                v.decided_at.clone().unwrap_or_default(),
                v.body
            );
            in_force.push(json!({"number": d.number, "title": d.title, "file": path}));
            pack.add(path, text.into_bytes());
        }
    }
    pack.add("registers/gap-plan.csv", csv_of(&actions)?);
    // The audit trail's latest anchors and its head now: kept with the pack, outside the
    // database, they let a later `keel audit verify --anchors` show the chain was not cut back.
    let mut anchors: Vec<String> = crate::platform::audit::recent_anchors(db, 50)
        .await?
        .into_iter()
        .rev()
        .map(|a| a.line())
        .collect();
    anchors.push(crate::platform::audit::head(db).await?.line());
    pack.add(
        "audit-anchors.jsonl",
        (anchors.join("\n") + "\n").into_bytes(),
    );

    // The assessor's evidence files.
    let files: Vec<(i64, String, String, String, Vec<u8>)> = db
        .all(Q::new("SELECT id, requirement, filename, sha256, data FROM requirement_evidence WHERE edition = $1 ORDER BY id").bind(cat.id.as_str()))
        .await?;
    let mut evidence_index = Vec::new();
    for (id, req, name, sha, data) in files {
        let path = format!("evidence/{}/{id}-{}", safe_name(&req), safe_name(&name));
        evidence_index.push(json!({"requirement": req, "file": path, "sha256": sha}));
        pack.add(path, data);
    }

    // The index an auditor opens first.
    let mut env = Environment::new();
    // Register rows carry only the fields each record has; a missing one renders empty.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.add_template("audit_pack.html", INDEX)
        .map_err(internal)?;
    let html = env
        .get_template("audit_pack.html")
        .and_then(|t| {
            t.render(context! {
                r => minijinja::Value::from(minijinja::value::Serde(&r)),
                catalogue => minijinja::Value::from(minijinja::value::Serde(cat)),
                checks => minijinja::Value::from(minijinja::value::Serde(&checks)),
                assessments => minijinja::Value::from(minijinja::value::Serde(&taken)),
                ncs => minijinja::Value::from(minijinja::value::Serde(&ncs)),
                imps => minijinja::Value::from(minijinja::value::Serde(&imps)),
                actions => minijinja::Value::from(minijinja::value::Serde(&actions)),
                audits => minijinja::Value::from(minijinja::value::Serde(&audits)),
                reviews => minijinja::Value::from(minijinja::value::Serde(&reviews)),
                documents => minijinja::Value::from(minijinja::value::Serde(&in_force)),
                findings => minijinja::Value::from(minijinja::value::Serde(&findings)),
                evidence => minijinja::Value::from(minijinja::value::Serde(&evidence_index)),
                generated_by => generated_by,
                generated_at => iso(now_ms()),
            })
        })
        .map_err(internal)?;
    pack.add("index.html", html.into_bytes());

    // The manifest, in `sha256sum` format.
    let mut manifest = String::new();
    for (path, bytes) in &pack.files {
        manifest.push_str(&format!("{}  {path}\n", hex::encode(Sha256::digest(bytes))));
    }
    pack.add("MANIFEST.sha256", manifest.into_bytes());

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in &pack.files {
        zip.start_file(path.as_str(), options).map_err(internal)?;
        zip.write_all(bytes).map_err(internal)?;
    }
    Ok(zip.finish().map_err(internal)?.into_inner())
}
