//! Clause 8.2.6 — baselines (named snapshots of CIs and their relationships, compared with each
//! other or with now) and configuration verification (a discovery file compared with the CMDB,
//! kept as an audit record whose differences can be accepted into the CMDB one by one).

use super::configuration::{self, CiPatch, NewCi, parse_kind};
use super::graph;
use super::transfer::{ImportParams, parse_document};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::operation::portfolio::configuration::{
    CiState, Configuration, Difference, compare, identity_key,
};
use keel_core::operation::portfolio::form;
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The CMDB now, optionally one class's CIs, with the relationships among them when asked.
pub async fn current(
    db: &Db,
    class_id: Option<i64>,
    with_rels: bool,
) -> AppResult<(Configuration, BTreeMap<String, i64>)> {
    let mut q = Q::new(
        "SELECT c.id, k.name, c.identity_key, c.name, c.status, c.attributes FROM cis c JOIN ci_classes k ON k.id = c.class_id",
    );
    if let Some(k) = class_id {
        let a = q.arg(k);
        q.sql.push_str(&format!(" WHERE c.class_id = {a}"));
    }
    let rows: Vec<(i64, String, String, String, String, String)> = db.all(q).await?;
    let mut conf = Configuration::default();
    let mut ids = BTreeMap::new();
    let mut key_of = std::collections::HashMap::new();
    for (id, class, key, name, status, attributes) in rows {
        let k = format!("{class}/{key}");
        key_of.insert(id, k.clone());
        ids.insert(k.clone(), id);
        conf.cis.insert(
            k,
            CiState {
                name,
                status,
                attributes: serde_json::from_str(&attributes).unwrap_or_default(),
            },
        );
    }
    if !with_rels {
        return Ok((conf, ids));
    }
    let rels: Vec<(i64, String, i64)> = db
        .all(Q::new(
            "SELECT source_id, kind, target_id FROM ci_relationships",
        ))
        .await?;
    for (s, kind, t) in rels {
        if let (Some(sk), Some(tk), Ok(kind)) = (key_of.get(&s), key_of.get(&t), parse_kind(&kind))
        {
            conf.rels.insert((sk.clone(), kind, tk.clone()));
        }
    }
    Ok((conf, ids))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Baseline {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub class_id: Option<i64>,
    pub ci_count: i64,
    pub rel_count: i64,
    #[serde(skip)]
    pub created_at: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBaseline {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Only this class's CIs (a class name); all CIs otherwise.
    pub class: Option<String>,
}

pub async fn create_baseline(db: &Db, p: &Principal, b: NewBaseline) -> AppResult<Baseline> {
    p.require(Action::ManageConfiguration)?;
    let name = Line::parse(&b.name, 200)
        .map_err(|e| AppError::invalid("name", e))?
        .into_string();
    let class_id = match b.class.as_deref() {
        Some(c) => Some(configuration::class_named(db, c, "class").await?.id),
        None => None,
    };
    // Taken outside the writing transaction: a baseline is as of the moment it is read.
    let (conf, ids) = current(db, class_id, true).await?;
    let mut tx = db.begin().await?;
    let id = tx
        .insert(
            Q::new("INSERT INTO baselines (name, description, class_id, ci_count, rel_count, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                .bind(name.as_str())
                .bind(b.description.trim())
                .bind(class_id)
                .bind(conf.cis.len() as i64)
                .bind(conf.rels.len() as i64)
                .bind(p.user_id)
                .bind(now_ms()),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::invalid("name", format!("a baseline named {name} exists")),
            e => e.into(),
        })?;
    let cis: Vec<(&String, &CiState)> = conf.cis.iter().collect();
    for chunk in cis.chunks(200) {
        let mut q = Q::new("");
        let values: Vec<String> = chunk
            .iter()
            .map(|(k, c)| {
                format!(
                    "({}, {}, {}, {}, {}, {})",
                    q.arg(id),
                    q.arg(k.as_str()),
                    q.arg(ids.get(*k).copied().unwrap_or_default()),
                    q.arg(c.name.as_str()),
                    q.arg(c.status.as_str()),
                    q.arg(Value::Object(c.attributes.clone()).to_string())
                )
            })
            .collect();
        q.sql = format!(
            "INSERT INTO baseline_cis (baseline_id, ci_key, ci_id, name, status, attributes) VALUES {}",
            values.join(", ")
        );
        tx.exec(q).await?;
    }
    let rels: Vec<_> = conf.rels.iter().collect();
    for chunk in rels.chunks(300) {
        let mut q = Q::new("");
        let values: Vec<String> = chunk
            .iter()
            .map(|(s, k, t)| {
                format!(
                    "({}, {}, {}, {})",
                    q.arg(id),
                    q.arg(s.as_str()),
                    q.arg(k.as_str()),
                    q.arg(t.as_str())
                )
            })
            .collect();
        q.sql = format!(
            "INSERT INTO baseline_rels (baseline_id, source_key, kind, target_key) VALUES {}",
            values.join(", ")
        );
        tx.exec(q).await?;
    }
    let ch = |f: &str, v: Value| FieldChange {
        field: f.into(),
        old: Value::Null,
        new: v,
    };
    append(
        &mut tx,
        &p.actor(),
        "create",
        "baseline",
        &id.to_string(),
        vec![
            ch("name", json!(name)),
            ch("class_id", json!(class_id)),
            ch("ci_count", json!(conf.cis.len())),
            ch("rel_count", json!(conf.rels.len())),
        ],
    )
    .await?;
    tx.commit().await?;
    get_baseline(db, id).await
}

const BASELINE_SQL: &str =
    "SELECT id, name, description, class_id, ci_count, rel_count, created_at FROM baselines";

/// Every baseline, newest first.
pub async fn list_baselines(db: &Db) -> AppResult<Vec<Baseline>> {
    Ok(db
        .all(Q::new(format!("{BASELINE_SQL} ORDER BY id DESC")))
        .await?)
}

pub async fn get_baseline(db: &Db, id: i64) -> AppResult<Baseline> {
    db.opt(Q::new(format!("{BASELINE_SQL} WHERE id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("baseline {id}")))
}

async fn baseline_configuration(db: &Db, id: i64) -> AppResult<Configuration> {
    let cis: Vec<(String, String, String, String)> = db
        .all(
            Q::new(
                "SELECT ci_key, name, status, attributes FROM baseline_cis WHERE baseline_id = $1",
            )
            .bind(id),
        )
        .await?;
    let rels: Vec<(String, String, String)> = db
        .all(
            Q::new("SELECT source_key, kind, target_key FROM baseline_rels WHERE baseline_id = $1")
                .bind(id),
        )
        .await?;
    let mut conf = Configuration::default();
    for (k, name, status, attributes) in cis {
        conf.cis.insert(
            k,
            CiState {
                name,
                status,
                attributes: serde_json::from_str(&attributes).unwrap_or_default(),
            },
        );
    }
    for (s, k, t) in rels {
        if let Ok(k) = parse_kind(&k) {
            conf.rels.insert((s, k, t));
        }
    }
    Ok(conf)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    /// Another baseline's id, or `now` (default).
    pub with: Option<String>,
}

/// How a baseline differs from another or from now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BaselineComparison)]
pub struct Comparison {
    pub baseline: Baseline,
    /// `now` or the other baseline's name.
    pub with: String,
    /// CI keys (`class/identity key`) gone since the baseline.
    pub removed: Vec<String>,
    pub added: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub changed: Value,
    #[schema(value_type = Vec<Object>)]
    pub relationships_removed: Value,
    #[schema(value_type = Vec<Object>)]
    pub relationships_added: Value,
}

pub async fn compare_baseline(db: &Db, id: i64, with: Option<&str>) -> AppResult<Comparison> {
    let b = get_baseline(db, id).await?;
    let before = baseline_configuration(db, id).await?;
    let (after, label) = match with.unwrap_or("now") {
        "now" => (current(db, b.class_id, true).await?.0, "now".to_string()),
        other => {
            let other_id: i64 = other.parse().map_err(|_| {
                AppError::invalid("with", format!("`{other}` is not `now` or a baseline id"))
            })?;
            let o = get_baseline(db, other_id)
                .await
                .map_err(|_| AppError::invalid("with", format!("no baseline {other_id}")))?;
            (baseline_configuration(db, other_id).await?, o.name)
        }
    };
    let d: Difference = compare(&before, &after);
    Ok(Comparison {
        baseline: b,
        with: label,
        removed: d.removed,
        added: d.added,
        changed: json!(d.changed),
        relationships_removed: json!(d.rels_removed),
        relationships_added: json!(d.rels_added),
    })
}

// ---------------------------------------------------------------------------------------------
// Configuration verification

/// One difference between a discovery file and the CMDB.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = VerificationFinding)]
pub struct Finding {
    /// Refer to it when accepting.
    pub id: usize,
    /// missing (in the CMDB, not discovered), unexpected (discovered, not in the CMDB) or changed.
    pub kind: String,
    /// `class/identity key`.
    pub key: String,
    pub ci_id: Option<i64>,
    /// For changed: each field with the CMDB's value (`before`) and the discovered one (`after`).
    #[schema(value_type = Vec<Object>)]
    pub changes: Value,
    /// For unexpected: the discovered CI, ready to create.
    #[schema(value_type = Option<Object>)]
    pub discovered: Option<Value>,
}

/// A discovery row that could not be compared.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    pub row: usize,
    pub field: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Differences {
    pub findings: Vec<Finding>,
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigurationAudit {
    pub number: String,
    pub source: String,
    pub classes: Vec<String>,
    /// open until every finding is accepted (then reconciled).
    pub state: String,
    pub findings: Vec<Finding>,
    pub errors: Vec<RowError>,
    /// Ids of accepted findings.
    pub accepted: Vec<usize>,
    pub created_at: String,
}

type AuditRow = (String, String, String, String, String, String, i64);

fn audit_view(
    (number, source, classes, differences, accepted, state, at): AuditRow,
) -> ConfigurationAudit {
    let d: Differences = serde_json::from_str(&differences).unwrap_or(Differences {
        findings: vec![],
        errors: vec![],
    });
    ConfigurationAudit {
        number,
        source,
        classes: classes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        state,
        findings: d.findings,
        errors: d.errors,
        accepted: serde_json::from_str(&accepted).unwrap_or_default(),
        created_at: iso(at),
    }
}

const AUDIT_SQL: &str = "SELECT number, source, classes, differences, accepted, state, created_at FROM configuration_audits";

/// The latest 200 configuration audits, newest first.
pub async fn list_audits(db: &Db) -> AppResult<Vec<ConfigurationAudit>> {
    let rows: Vec<AuditRow> = db
        .all(Q::new(format!("{AUDIT_SQL} ORDER BY id DESC LIMIT 200")))
        .await?;
    Ok(rows.into_iter().map(audit_view).collect())
}

pub async fn get_audit(db: &Db, number: &str) -> AppResult<ConfigurationAudit> {
    db.opt(Q::new(format!("{AUDIT_SQL} WHERE number = $1")).bind(number.to_uppercase()))
        .await?
        .map(audit_view)
        .ok_or_else(|| AppError::NotFound(format!("configuration audit {number}")))
}

/// Compare discovered CIs with the CMDB's CIs of the same classes. Only what discovery reports
/// is compared: the name, the status when given, and the attributes present in the file.
pub async fn verify(
    db: &Db,
    p: &Principal,
    source: &str,
    discovered: Vec<NewCi>,
) -> AppResult<ConfigurationAudit> {
    p.require(Action::ManageConfiguration)?;
    let source = Line::parse(source, 200)
        .map_err(|e| AppError::invalid("source", e))?
        .into_string();
    if discovered.is_empty() {
        return Err(AppError::invalid("cis", "the discovery file lists no CIs"));
    }
    let mut classes: BTreeMap<String, configuration::CiClass> = BTreeMap::new();
    let mut found: BTreeMap<String, (CiState, bool)> = BTreeMap::new();
    let mut errors = vec![];
    // Keys of rows that could not be compared: not reported missing (they were discovered).
    let mut unverified: BTreeSet<String> = BTreeSet::new();
    for (i, c) in discovered.iter().enumerate() {
        let row = i + 1;
        let r = async {
            let class = match classes.get(&c.class) {
                Some(k) => k.clone(),
                None => {
                    let k = configuration::class_named(db, &c.class, "class").await?;
                    classes.insert(c.class.clone(), k.clone());
                    k
                }
            };
            // Discovery reports what it sees: the attributes are typed, but none is required.
            let defs: Vec<_> = class
                .attributes
                .iter()
                .cloned()
                .map(|mut d| {
                    d.required = false;
                    d
                })
                .collect();
            let attributes = form::validate(&defs, &c.attributes, "attributes")?;
            let name = Line::parse(&c.name, 200)
                .map_err(|e| AppError::invalid("name", e))?
                .into_string();
            let key = identity_key(&class.identity, &name, &attributes)?;
            let status = c
                .status
                .as_deref()
                .map(configuration::parse_status)
                .transpose()?;
            Ok::<_, AppError>((
                format!("{}/{key}", class.name),
                CiState {
                    name,
                    status: status.clone().unwrap_or_default(),
                    attributes,
                },
                status.is_some(),
            ))
        }
        .await;
        match r {
            Ok((key, state, has_status)) => {
                found.insert(key, (state, has_status));
            }
            Err(AppError::Invalid { field, detail }) => {
                // Its key, if the raw values give one, so a bad attribute does not make the
                // CI look missing (and accepting that would retire a CI that was seen).
                if let Some(k) = classes.get(&c.class) {
                    let raw: Map<String, Value> = c.attributes.clone();
                    if let Ok(key) = identity_key(&k.identity, &c.name, &raw) {
                        unverified.insert(format!("{}/{}", k.name, key.trim_matches('"')));
                    }
                }
                errors.push(RowError { row, field, detail })
            }
            Err(e) => return Err(e),
        }
    }
    let mut cmdb = Configuration::default();
    let mut ids = BTreeMap::new();
    for k in classes.values() {
        let (conf, i) = current(db, Some(k.id), false).await?;
        cmdb.cis.extend(conf.cis);
        ids.extend(i);
    }
    // Project the CMDB onto what discovery reports, so unreported fields are not "changes".
    let mut before = Configuration::default();
    let mut after = Configuration::default();
    for (k, c) in &cmdb.cis {
        // Retired CIs are expected to be gone; unverified ones were seen.
        if (c.status == "retired" && !found.contains_key(k)) || unverified.contains(k) {
            continue;
        }
        let mut c = c.clone();
        if let Some((d, has_status)) = found.get(k) {
            c.attributes.retain(|a, _| d.attributes.contains_key(a));
            if !has_status {
                c.status = String::new();
            }
        }
        before.cis.insert(k.clone(), c);
    }
    for (k, (c, _)) in &found {
        after.cis.insert(k.clone(), c.clone());
    }
    let d = compare(&before, &after);
    let mut findings = vec![];
    for k in d.removed {
        findings.push(Finding {
            id: findings.len() + 1,
            kind: "missing".into(),
            ci_id: ids.get(&k).copied(),
            key: k,
            changes: json!([]),
            discovered: None,
        });
    }
    for k in d.added {
        let (c, _) = &found[&k];
        let class = k
            .split_once('/')
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        findings.push(Finding {
            id: findings.len() + 1,
            kind: "unexpected".into(),
            ci_id: None,
            discovered: Some(json!({"class": class, "name": c.name, "status": if c.status.is_empty() { None } else { Some(&c.status) }, "attributes": c.attributes})),
            key: k,
            changes: json!([]),
        });
    }
    for c in d.changed {
        findings.push(Finding {
            id: findings.len() + 1,
            kind: "changed".into(),
            ci_id: ids.get(&c.key).copied(),
            key: c.key,
            changes: json!(c.changes),
            discovered: None,
        });
    }
    let diffs = Differences { findings, errors };
    let now = now_ms();
    let mut tx = db.begin().await?;
    let number = crate::platform::db::next_number(&mut tx, "configuration_audit", "CA").await?;
    let class_list = classes.keys().cloned().collect::<Vec<_>>().join(",");
    let state = if diffs.findings.is_empty() {
        "reconciled"
    } else {
        "open"
    };
    tx.exec(
        Q::new("INSERT INTO configuration_audits (number, source, classes, differences, accepted, state, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, '[]', $5, $6, $7, $7)")
            .bind(number.as_str())
            .bind(source.as_str())
            .bind(class_list.as_str())
            .bind(json!(diffs).to_string())
            .bind(state)
            .bind(p.user_id)
            .bind(now),
    )
    .await?;
    let count = |k: &str| diffs.findings.iter().filter(|f| f.kind == k).count();
    let ch = |f: &str, v: Value| FieldChange {
        field: f.into(),
        old: Value::Null,
        new: v,
    };
    append(
        &mut tx,
        &p.actor(),
        "create",
        "configuration_audit",
        &number,
        vec![
            ch("source", json!(source)),
            ch("classes", json!(class_list)),
            ch("discovered", json!(discovered.len())),
            ch("missing", json!(count("missing"))),
            ch("unexpected", json!(count("unexpected"))),
            ch("changed", json!(count("changed"))),
            ch("errors", json!(diffs.errors.len())),
        ],
    )
    .await?;
    tx.commit().await?;
    get_audit(db, &number).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// Finding ids to accept into the CMDB: a missing CI is retired, an unexpected one created,
    /// a changed one updated to what was discovered.
    pub findings: Vec<usize>,
}

async fn accept_one(tx: &mut Tx, f: &Finding) -> AppResult<(i64, &'static str, Vec<FieldChange>)> {
    match f.kind.as_str() {
        "missing" => {
            let id = f
                .ci_id
                .ok_or_else(|| AppError::Conflict(format!("{} is no longer in the CMDB", f.key)))?;
            let changes = configuration::patch_ci_tx(
                tx,
                id,
                &CiPatch {
                    status: Some("retired".into()),
                    ..Default::default()
                },
            )
            .await?;
            Ok((id, "update", changes))
        }
        "unexpected" => {
            let d: NewCi = serde_json::from_value(f.discovered.clone().unwrap_or(Value::Null))
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored finding: {e}")))?;
            let parsed = configuration::parse_ci(tx, &d).await?;
            let id = configuration::insert_ci(tx, &parsed, now_ms()).await?;
            Ok((id, "create", configuration::created_changes(&parsed)))
        }
        _ => {
            let id = f
                .ci_id
                .ok_or_else(|| AppError::Conflict(format!("{} is no longer in the CMDB", f.key)))?;
            let mut patch = CiPatch::default();
            let mut attrs = Map::new();
            for c in f.changes.as_array().into_iter().flatten() {
                let field = c["field"].as_str().unwrap_or_default();
                let after = c["after"].clone();
                match field {
                    "name" => patch.name = after.as_str().map(str::to_string),
                    "status" => {
                        patch.status = after.as_str().filter(|s| !s.is_empty()).map(str::to_string)
                    }
                    f => {
                        if let Some(a) = f.strip_prefix("attributes.") {
                            attrs.insert(a.to_string(), after);
                        }
                    }
                }
            }
            if !attrs.is_empty() {
                patch.attributes = Some(attrs);
            }
            let changes = configuration::patch_ci_tx(tx, id, &patch).await?;
            Ok((id, "update", changes))
        }
    }
}

pub async fn accept(
    db: &Db,
    p: &Principal,
    number: &str,
    a: Accept,
) -> AppResult<ConfigurationAudit> {
    p.require(Action::ManageConfiguration)?;
    let audit = get_audit(db, number).await?;
    if a.findings.is_empty() {
        return Err(AppError::invalid("findings", "name at least one finding"));
    }
    let mut accepted: BTreeSet<usize> = audit.accepted.iter().copied().collect();
    let mut tx = db.begin().await?;
    let mut touched = vec![];
    let mut entries = vec![];
    for id in &a.findings {
        let f = audit.findings.iter().find(|f| f.id == *id).ok_or_else(|| {
            AppError::invalid("findings", format!("{} has no finding {id}", audit.number))
        })?;
        if accepted.contains(id) {
            return Err(AppError::Conflict(format!(
                "finding {id} of {} is already accepted",
                audit.number
            )));
        }
        let (ci, action, mut changes) = accept_one(&mut tx, f).await?;
        changes.push(FieldChange {
            field: "configuration_audit".into(),
            old: Value::Null,
            new: json!(format!("{} #{id}", audit.number)),
        });
        touched.push(ci);
        entries.push((ci, action, changes));
        accepted.insert(*id);
    }
    graph::record(&mut tx, &touched, &[]).await?;
    for (ci, action, changes) in entries {
        append(&mut tx, &p.actor(), action, "ci", &ci.to_string(), changes).await?;
    }
    let state = if accepted.len() == audit.findings.len() {
        "reconciled"
    } else {
        "open"
    };
    tx.exec(
        Q::new("UPDATE configuration_audits SET accepted = $1, state = $2, updated_at = $3 WHERE number = $4 AND accepted = $5")
            .bind(json!(accepted).to_string())
            .bind(state)
            .bind(now_ms())
            .bind(audit.number.as_str())
            .bind(json!(audit.accepted).to_string()),
    )
    .await
    .and_then(|n| if n == 0 { Err(crate::platform::db::DbError::NotFound) } else { Ok(n) })
    .map_err(|e| match e {
        crate::platform::db::DbError::NotFound => AppError::Conflict(format!("{} changed while accepting; read it again", audit.number)),
        e => e.into(),
    })?;
    append(
        &mut tx,
        &p.actor(),
        "accept",
        "configuration_audit",
        &audit.number,
        vec![FieldChange {
            field: "accepted".into(),
            old: json!(audit.accepted),
            new: json!(accepted),
        }],
    )
    .await?;
    tx.commit().await?;
    get_audit(db, &audit.number).await
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Baselines.
#[utoipa::path(get, path = "/api/v1/baselines", tag = "configuration", responses((status = 200, body = Vec<Baseline>)), security(("bearer" = [])))]
pub async fn api_list_baselines(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Baseline>>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(list_baselines(&st.db).await?))
}

/// Take a baseline of all CIs (or one class's) and their relationships.
#[utoipa::path(post, path = "/api/v1/baselines", tag = "configuration", request_body = NewBaseline, responses((status = 201, body = Baseline)), security(("bearer" = [])))]
pub async fn api_create_baseline(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewBaseline>,
) -> AppResult<(StatusCode, Json<Baseline>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_baseline(&st.db, &p, b).await?),
    ))
}

/// One baseline.
#[utoipa::path(get, path = "/api/v1/baselines/{id}", tag = "configuration", params(("id" = i64, Path)), responses((status = 200, body = Baseline)), security(("bearer" = [])))]
pub async fn api_get_baseline(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Baseline>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(get_baseline(&st.db, id).await?))
}

/// Compare a baseline with now or with another baseline.
#[utoipa::path(get, path = "/api/v1/baselines/{id}/compare", tag = "configuration", params(("id" = i64, Path), CompareParams), responses((status = 200, body = Comparison)), security(("bearer" = [])))]
pub async fn api_compare(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<CompareParams>,
) -> AppResult<Json<Comparison>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(compare_baseline(&st.db, id, q.with.as_deref()).await?))
}

/// Configuration audits (verification runs), newest first.
#[utoipa::path(get, path = "/api/v1/configuration-audits", tag = "configuration", responses((status = 200, body = Vec<ConfigurationAudit>)), security(("bearer" = [])))]
pub async fn api_list_audits(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<ConfigurationAudit>>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(list_audits(&st.db).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// Where the file came from (the discovery tool), recorded with the audit.
    pub source: Option<String>,
    /// For a CSV: the class of its CIs.
    pub class: Option<String>,
}

/// Verify the CMDB against a discovery file (JSON `{"cis": […]}`, or CSV with `class`): the
/// differences are recorded as a configuration audit.
#[utoipa::path(post, path = "/api/v1/configuration-audits", tag = "configuration", params(VerifyParams), request_body(content = super::transfer::Document, description = "JSON, or text/csv"),
    responses((status = 201, body = ConfigurationAudit)), security(("bearer" = [])))]
pub async fn api_verify(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<VerifyParams>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<(StatusCode, Json<ConfigurationAudit>)> {
    p.require(Action::ManageConfiguration)?;
    let doc = parse_document(
        &headers,
        &ImportParams {
            dry_run: true,
            class: q.class.clone(),
            section: None,
        },
        &body,
    )?;
    let source = q.source.unwrap_or_else(|| "discovery file".into());
    Ok((
        StatusCode::CREATED,
        Json(verify(&st.db, &p, &source, doc.cis).await?),
    ))
}

/// One configuration audit.
#[utoipa::path(get, path = "/api/v1/configuration-audits/{number}", tag = "configuration", params(("number" = String, Path)), responses((status = 200, body = ConfigurationAudit)), security(("bearer" = [])))]
pub async fn api_get_audit(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<ConfigurationAudit>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(get_audit(&st.db, &number).await?))
}

/// Accept selected findings into the CMDB.
#[utoipa::path(post, path = "/api/v1/configuration-audits/{number}/accept", tag = "configuration", params(("number" = String, Path)), request_body = Accept, responses((status = 200, body = ConfigurationAudit)), security(("bearer" = [])))]
pub async fn api_accept(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(a): ApiJson<Accept>,
) -> AppResult<Json<ConfigurationAudit>> {
    Ok(Json(accept(&st.db, &p, &number, a).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "baselines",
    api: part_api,
    pages: super::ui::baseline_routes,
    templates: &[
        (
            "baselines.html",
            include_str!("../../../templates/baselines.html"),
        ),
        (
            "comparison.html",
            include_str!("../../../templates/comparison.html"),
        ),
        (
            "configuration_audit.html",
            include_str!("../../../templates/configuration_audit.html"),
        ),
    ],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_list_baselines, api_create_baseline),
        ))
        .routes(routes!(api_get_baseline))
        .routes(routes!(api_compare))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_list_audits, api_verify),
        ))
        .routes(routes!(api_get_audit))
        .routes(gate(Action::ManageConfiguration, routes!(api_accept)))
}
