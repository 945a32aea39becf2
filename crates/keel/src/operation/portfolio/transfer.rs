//! Clause 8.2.6 — bulk import and export of CIs and relationships, as JSON or CSV. Imports
//! upsert by identity key; a dry run reports every row's outcome and error and changes nothing;
//! a real run with any error changes nothing either (all or nothing), so a file is never half
//! applied.

use super::configuration::{
    self, CiPatch, NewCi, insert_ci, insert_rel, parse_ci, parse_kind, patch_ci_tx,
};
use super::graph;
use crate::platform::audit::{Actor, Pending, append_many};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::ApiQuery;
use crate::platform::web::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_core::access::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

pub const MAX_ROWS: usize = 50_000;

/// A relationship in a file: its ends as `class/identity key`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelRow {
    pub source: String,
    pub kind: String,
    pub target: String,
}

/// What an import file holds (and an export gives).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CmdbDocument)]
pub struct Document {
    #[serde(default)]
    pub cis: Vec<NewCi>,
    #[serde(default)]
    pub relationships: Vec<RelRow>,
}

/// One row's outcome.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowOutcome {
    /// 1-based: CI rows first, then relationship rows (each its own sequence; see `section`).
    pub row: usize,
    /// cis or relationships.
    pub section: String,
    /// created, updated, unchanged or error.
    pub action: String,
    /// The CI's `class/identity key`, or the relationship.
    pub key: Option<String>,
    pub field: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Nothing was changed (a dry run, or a file with errors).
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub relationships_created: usize,
    pub relationships_unchanged: usize,
    pub errors: usize,
    pub rows: Vec<RowOutcome>,
}

fn outcome(section: &str, row: usize, action: &str, key: Option<String>) -> RowOutcome {
    RowOutcome {
        row,
        section: section.into(),
        action: action.into(),
        key,
        field: None,
        detail: None,
    }
}

fn error_row(section: &str, row: usize, key: Option<String>, e: AppError) -> RowOutcome {
    let (field, detail) = match e {
        AppError::Invalid { field, detail } => (Some(field), detail),
        other => (None, other.to_string()),
    };
    RowOutcome {
        row,
        section: section.into(),
        action: "error".into(),
        key,
        field,
        detail: Some(detail),
    }
}

/// Parse a CSV of one class's CIs: `name`, optional `status`, `service_id`, `owner_group_id`,
/// and one column per attribute (empty cells are left unset).
pub fn cis_from_csv(class: &str, body: &[u8]) -> AppResult<Vec<NewCi>> {
    let mut rd = csv::ReaderBuilder::new().flexible(false).from_reader(body);
    let headers = rd
        .headers()
        .map_err(|e| AppError::BadRequest(format!("CSV header: {e}")))?
        .clone();
    if !headers.iter().any(|h| h == "name") {
        return Err(AppError::BadRequest("the CSV needs a `name` column".into()));
    }
    let mut out = vec![];
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| AppError::BadRequest(format!("CSV row {}: {e}", i + 1)))?;
        let mut ci = NewCi {
            class: class.into(),
            name: String::new(),
            status: None,
            attributes: Map::new(),
            service_id: None,
            owner_group_id: None,
        };
        for (h, v) in headers.iter().zip(rec.iter()) {
            let v = v.trim();
            match h {
                "name" => ci.name = v.into(),
                "status" if !v.is_empty() => ci.status = Some(v.into()),
                "service_id" if !v.is_empty() => {
                    ci.service_id = Some(v.parse().map_err(|_| {
                        AppError::BadRequest(format!(
                            "CSV row {}: service_id `{v}` is not an id",
                            i + 1
                        ))
                    })?)
                }
                "owner_group_id" if !v.is_empty() => {
                    ci.owner_group_id = Some(v.parse().map_err(|_| {
                        AppError::BadRequest(format!(
                            "CSV row {}: owner_group_id `{v}` is not an id",
                            i + 1
                        ))
                    })?)
                }
                "status" | "service_id" | "owner_group_id" => {}
                attr if !v.is_empty() => {
                    ci.attributes.insert(attr.into(), Value::String(v.into()));
                }
                _ => {}
            }
        }
        out.push(ci);
    }
    Ok(out)
}

/// Parse a CSV of relationships: `source`, `kind`, `target` (ends as `class/identity key`).
pub fn rels_from_csv(body: &[u8]) -> AppResult<Vec<RelRow>> {
    let mut rd = csv::Reader::from_reader(body);
    rd.deserialize()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| AppError::BadRequest(format!("CSV row {}: {e}", i + 1))))
        .collect()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check every row and report; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// For a CSV of CIs: their class.
    pub class: Option<String>,
    /// For a CSV: `cis` (default) or `relationships`.
    pub section: Option<String>,
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/csv"))
}

pub fn parse_document(
    headers: &HeaderMap,
    params: &ImportParams,
    body: &[u8],
) -> AppResult<Document> {
    let doc = if is_csv(headers) {
        match params.section.as_deref().unwrap_or("cis") {
            "cis" => {
                let class = params
                    .class
                    .as_deref()
                    .ok_or_else(|| AppError::invalid("class", "a CSV of CIs names their class"))?;
                Document {
                    cis: cis_from_csv(class, body)?,
                    relationships: vec![],
                }
            }
            "relationships" => Document {
                cis: vec![],
                relationships: rels_from_csv(body)?,
            },
            other => {
                return Err(AppError::invalid(
                    "section",
                    format!("`{other}` is not cis or relationships"),
                ));
            }
        }
    } else {
        let mut de = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            AppError::invalid(if path == "." { "body" } else { &path }, e.into_inner())
        })?
    };
    if doc.cis.len() + doc.relationships.len() > MAX_ROWS {
        return Err(AppError::invalid(
            "cis",
            format!("at most {MAX_ROWS} rows per file"),
        ));
    }
    Ok(doc)
}

/// Resolve `class/identity key` to a CI id within `tx` (so rows created earlier in the file count).
async fn ci_by_key(tx: &mut Tx, key: &str, field: &str) -> AppResult<i64> {
    let (class, ident) = key
        .split_once('/')
        .ok_or_else(|| AppError::invalid(field, format!("`{key}` is not `class/identity key`")))?;
    let row: Option<(i64,)> = tx
        .opt(Q::new("SELECT c.id FROM cis c JOIN ci_classes k ON k.id = c.class_id WHERE k.name = $1 AND c.identity_key = $2").bind(class).bind(ident.to_lowercase()))
        .await?;
    row.map(|r| r.0)
        .ok_or_else(|| AppError::invalid(field, format!("no CI `{key}`")))
}

/// Import a document: upsert CIs by identity key, then add relationships (existing ones are
/// left alone). Everything runs in one transaction, committed only for a real run without errors.
/// The caller has checked the right to (`ManageConfiguration`; the CLI is an operator).
pub async fn import(
    db: &Db,
    actor: &Actor,
    doc: Document,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let mut report = ImportReport {
        dry_run,
        ..Default::default()
    };
    let mut tx = db.begin().await?;
    let now = now_ms();
    let mut audits: Vec<Pending> = vec![];
    let mut touched_cis = vec![];
    let mut touched_rels = vec![];
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, row) in doc.cis.iter().enumerate() {
        let n = i + 1;
        let parsed = match parse_ci(&mut tx, row).await {
            Ok(c) => c,
            Err(e) => {
                report.rows.push(error_row("cis", n, None, e));
                continue;
            }
        };
        let key = format!("{}/{}", parsed.class.name, parsed.key);
        if let Some(first) = seen.insert(key.clone(), n) {
            report.rows.push(error_row(
                "cis",
                n,
                Some(key),
                AppError::invalid("name", format!("the same CI as row {first}")),
            ));
            continue;
        }
        let existing: Option<(i64,)> = tx
            .opt(
                Q::new("SELECT id FROM cis WHERE class_id = $1 AND identity_key = $2")
                    .bind(parsed.class.id)
                    .bind(parsed.key.as_str()),
            )
            .await?;
        match existing {
            None => {
                let id = insert_ci(&mut tx, &parsed, now).await?;
                touched_cis.push(id);
                audits.push(Pending {
                    actor: actor.clone(),
                    action: "create",
                    entity_type: "ci".into(),
                    entity_id: id.to_string(),
                    changes: configuration::created_changes(&parsed),
                });
                report.created += 1;
                report.rows.push(outcome("cis", n, "created", Some(key)));
            }
            Some((id,)) => {
                let patch = CiPatch {
                    name: Some(parsed.name.clone()),
                    status: row.status.clone(),
                    attributes: Some(parsed.attributes.clone()),
                    service_id: row.service_id.map(Some),
                    owner_group_id: row.owner_group_id.map(Some),
                    version: None,
                };
                match patch_ci_tx(&mut tx, id, &patch).await {
                    Ok(changes) if changes.is_empty() => {
                        report.unchanged += 1;
                        report.rows.push(outcome("cis", n, "unchanged", Some(key)));
                    }
                    Ok(changes) => {
                        touched_cis.push(id);
                        audits.push(Pending {
                            actor: actor.clone(),
                            action: "update",
                            entity_type: "ci".into(),
                            entity_id: id.to_string(),
                            changes,
                        });
                        report.updated += 1;
                        report.rows.push(outcome("cis", n, "updated", Some(key)));
                    }
                    Err(e) => report.rows.push(error_row("cis", n, Some(key), e)),
                }
            }
        }
    }
    for (i, r) in doc.relationships.iter().enumerate() {
        let n = i + 1;
        let label = format!("{} {} {}", r.source, r.kind, r.target);
        let resolved = async {
            let kind = parse_kind(&r.kind)?;
            let s = ci_by_key(&mut tx, &r.source, "source").await?;
            let t = ci_by_key(&mut tx, &r.target, "target").await?;
            Ok::<_, AppError>((s, kind, t))
        }
        .await;
        let (s, kind, t) = match resolved {
            Ok(x) => x,
            Err(e) => {
                report
                    .rows
                    .push(error_row("relationships", n, Some(label), e));
                continue;
            }
        };
        let exists: Option<(i64,)> = tx
            .opt(Q::new("SELECT id FROM ci_relationships WHERE source_id = $1 AND kind = $2 AND target_id = $3").bind(s).bind(kind.as_str()).bind(t))
            .await?;
        if exists.is_some() {
            report.relationships_unchanged += 1;
            report
                .rows
                .push(outcome("relationships", n, "unchanged", Some(label)));
            continue;
        }
        match insert_rel(&mut tx, s, kind, t, now).await {
            Ok(id) => {
                touched_rels.push(id);
                audits.push(Pending {
                    actor: actor.clone(),
                    action: "create",
                    entity_type: "relationship".into(),
                    entity_id: id.to_string(),
                    changes: configuration::rel_audit(s, kind, t, true),
                });
                report.relationships_created += 1;
                report
                    .rows
                    .push(outcome("relationships", n, "created", Some(label)));
            }
            Err(e) => report
                .rows
                .push(error_row("relationships", n, Some(label), e)),
        }
    }
    report.errors = report.rows.iter().filter(|r| r.action == "error").count();
    if dry_run || report.errors > 0 {
        // Dropping the transaction rolls everything back.
        return Ok(report);
    }
    if !touched_cis.is_empty() || !touched_rels.is_empty() {
        graph::record(&mut tx, &touched_cis, &touched_rels).await?;
    }
    append_many(&mut tx, audits).await?;
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// json (default) or csv.
    pub format: Option<String>,
    /// Only CIs of this class (required for a CSV of CIs).
    pub class: Option<String>,
    /// For a CSV: `cis` (default) or `relationships`.
    pub section: Option<String>,
}

/// The CMDB as an import document: re-importing an export changes nothing.
pub async fn export(db: &Db, class: Option<&str>) -> AppResult<Document> {
    let mut q = Q::new(
        "SELECT c.id, k.name, c.name, c.identity_key, c.status, c.attributes, c.service_id, c.owner_group_id FROM cis c JOIN ci_classes k ON k.id = c.class_id",
    );
    if let Some(c) = class {
        let a = q.arg(c);
        q.sql.push_str(&format!(" WHERE k.name = {a}"));
    }
    q.sql.push_str(" ORDER BY c.id");
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = db.all(q).await?;
    let mut keys: BTreeMap<i64, String> = BTreeMap::new();
    let mut cis = Vec::with_capacity(rows.len());
    for (id, class, name, key, status, attributes, service_id, owner_group_id) in rows {
        keys.insert(id, format!("{class}/{key}"));
        cis.push(NewCi {
            class,
            name,
            status: Some(status),
            attributes: serde_json::from_str(&attributes).unwrap_or_default(),
            service_id,
            owner_group_id,
        });
    }
    let rels: Vec<(i64, String, i64)> = db
        .all(Q::new(
            "SELECT source_id, kind, target_id FROM ci_relationships ORDER BY id",
        ))
        .await?;
    let relationships = rels
        .into_iter()
        .filter_map(|(s, kind, t)| {
            Some(RelRow {
                source: keys.get(&s)?.clone(),
                kind,
                target: keys.get(&t)?.clone(),
            })
        })
        .collect();
    Ok(Document { cis, relationships })
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn export_csv(db: &Db, params: &ExportParams) -> AppResult<String> {
    let doc = export(db, params.class.as_deref()).await?;
    let mut w = csv::Writer::from_writer(vec![]);
    let io = |e: csv::Error| AppError::Internal(e.into());
    match params.section.as_deref().unwrap_or("cis") {
        "relationships" => {
            w.write_record(["source", "kind", "target"]).map_err(io)?;
            for r in &doc.relationships {
                w.write_record([&r.source, &r.kind, &r.target])
                    .map_err(io)?;
            }
        }
        "cis" => {
            let class = params
                .class
                .as_deref()
                .ok_or_else(|| AppError::invalid("class", "a CSV of CIs is one class's"))?;
            let defs = configuration::class_named(db, class, "class")
                .await?
                .attributes;
            let mut head = vec![
                "name".to_string(),
                "status".into(),
                "service_id".into(),
                "owner_group_id".into(),
            ];
            head.extend(defs.iter().map(|d| d.name.clone()));
            w.write_record(&head).map_err(io)?;
            for c in &doc.cis {
                let mut rec = vec![
                    c.name.clone(),
                    c.status.clone().unwrap_or_default(),
                    c.service_id.map(|s| s.to_string()).unwrap_or_default(),
                    c.owner_group_id.map(|s| s.to_string()).unwrap_or_default(),
                ];
                rec.extend(
                    defs.iter()
                        .map(|d| c.attributes.get(&d.name).map(csv_cell).unwrap_or_default()),
                );
                w.write_record(&rec).map_err(io)?;
            }
        }
        other => {
            return Err(AppError::invalid(
                "section",
                format!("`{other}` is not cis or relationships"),
            ));
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
    String::from_utf8(bytes).map_err(|e| AppError::Internal(e.into()))
}

/// Import CIs and relationships (JSON, or CSV with `class` / `section`), upserting by identity
/// key. With `dry_run=true` nothing changes; a file with any error changes nothing and is
/// answered 422 with the same per-row report.
#[utoipa::path(post, path = "/api/v1/cis/import", tag = "configuration", params(ImportParams), request_body(content = Document, description = "JSON, or text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport)), security(("bearer" = [])))]
pub async fn api_import(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    p.require(Action::ManageConfiguration)?;
    let doc = parse_document(&headers, &params, &body)?;
    let report = import(&st.db, &p.actor(), doc, params.dry_run).await?;
    let status = if report.errors > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(report)).into_response())
}

/// Export CIs and relationships as JSON (an import document) or CSV.
#[utoipa::path(get, path = "/api/v1/cis/export", tag = "configuration", params(ExportParams), responses((status = 200, body = Document)), security(("bearer" = [])))]
pub async fn api_export(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> AppResult<Response> {
    p.require(Action::ReadConfiguration)?;
    match params.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(export(&st.db, params.class.as_deref()).await?).into_response()),
        "csv" => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            export_csv(&st.db, &params).await?,
        )
            .into_response()),
        other => Err(AppError::invalid(
            "format",
            format!("`{other}` is not json or csv"),
        )),
    }
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "CMDB import and export",
    api: part_api,
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(Action::ManageConfiguration, routes!(api_import)))
        .routes(routes!(api_export))
}
