//! Import from other tools: a CSV export of incidents, users, services or configuration items,
//! its columns mapped onto Keel's fields (and their values onto Keel's values), checked row by
//! row. `POST /api/v1/imports/{target}`.
//!
//! **All or nothing:** every row runs in one transaction, committed only when no row has an
//! error and it is not a dry run; a dry run reports exactly what a real run would do. Rows are
//! checked before anything is written (names resolved, duplicates found), so one bad row is
//! reported with all the others instead of aborting the transaction.

use crate::directory::NewUser;
use crate::kernel::{self, NewItem};
use crate::operation::portfolio::configuration::NewCi;
use crate::operation::portfolio::service::NewService;
use crate::platform::audit::Actor;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use keel_core::access::Action;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Rows per file.
const MAX_ROWS: usize = 20_000;

/// What may be imported, and the fields of each (`*` required).
pub const TARGETS: &[(&str, &[&str])] = &[
    (
        "incidents",
        &[
            "title*",
            "description",
            "impact",
            "urgency",
            "category",
            "requester",
            "customer",
            "service",
            "assignment_group",
            "assignee",
            "state",
            "external_id",
            "opened_at",
        ],
    ),
    ("users", &["email*", "name*", "role", "customer"]),
    (
        "services",
        &[
            "name*",
            "description",
            "owner",
            "stage",
            "requirements",
            "customers",
        ],
    ),
    (
        "cis",
        &[
            "class*",
            "name*",
            "status",
            "service",
            "owner_group",
            "attributes.<name>",
        ],
    ),
];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The CSV file's text, with a header row.
    pub csv: String,
    /// Keel field → the file's column header, e.g. `{"title": "Short description"}`.
    pub mapping: BTreeMap<String, String>,
    /// Keel field → (the file's value → Keel's value), e.g.
    /// `{"impact": {"1 - High": "1"}, "state": {"Closed": "closed"}}`.
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Keel field → the value used when the column is unmapped or the cell empty.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Check every row and report; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The tool the file comes from, noted on imported incidents (e.g. "ServiceNow").
    pub source: Option<String>,
    /// One character; default `,`.
    pub delimiter: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowResult {
    /// 1-based data row (the header is row 0).
    pub row: usize,
    /// created, skipped or error (in a dry run: what a real run would do).
    pub action: String,
    /// The record's number, e-mail, name or `class/name`.
    pub key: Option<String>,
    /// The Keel field at fault, and the file's column it came from.
    pub field: Option<String>,
    pub column: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[schema(as = ToolImportReport)]
pub struct Report {
    pub target: String,
    pub dry_run: bool,
    /// Whether anything was written (a real run without errors).
    pub applied: bool,
    pub created: usize,
    pub skipped: usize,
    pub errors: usize,
    pub rows: Vec<RowResult>,
}

/// A parsed file with its mapping applied: each row as Keel field → value.
struct Mapped {
    rows: Vec<BTreeMap<String, String>>,
}

fn fields_of(target: &str) -> AppResult<&'static [&'static str]> {
    TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "import target `{target}` (one of: {})",
                TARGETS
                    .iter()
                    .map(|(t, _)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn known(fields: &[&str], name: &str) -> bool {
    fields.iter().any(|f| {
        let f = f.trim_end_matches('*');
        f == name
            || (f == "attributes.<name>" && name.starts_with("attributes.") && name.len() > 11)
    })
}

fn map_file(target: &str, b: &ImportBody) -> AppResult<Mapped> {
    let fields = fields_of(target)?;
    let delimiter = match b.delimiter.as_deref() {
        None => b',',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(_) => return Err(AppError::invalid("delimiter", "must be one character")),
    };
    for k in b
        .mapping
        .keys()
        .chain(b.values.keys())
        .chain(b.defaults.keys())
    {
        if !known(fields, k) {
            return Err(AppError::invalid(
                &format!("mapping.{k}"),
                format!(
                    "`{k}` is not a field of {target} (fields: {})",
                    fields.join(", ").replace('*', "")
                ),
            ));
        }
    }
    for f in fields.iter().filter(|f| f.ends_with('*')) {
        let f = f.trim_end_matches('*');
        if !b.mapping.contains_key(f) && !b.defaults.contains_key(f) {
            return Err(AppError::invalid(
                &format!("mapping.{f}"),
                format!("{f} is required: map a column to it or give a default"),
            ));
        }
    }
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(b.csv.as_bytes());
    let headers: Vec<String> = rd
        .headers()
        .map_err(|e| AppError::invalid("csv", format!("header row: {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut index = BTreeMap::new();
    for (field, column) in &b.mapping {
        let i = headers.iter().position(|h| h == column).ok_or_else(|| {
            AppError::invalid(
                &format!("mapping.{field}"),
                format!(
                    "the file has no column `{column}` (columns: {})",
                    headers.join(", ")
                ),
            )
        })?;
        index.insert(field.clone(), i);
    }
    let mut rows = vec![];
    for (n, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| AppError::invalid("csv", format!("row {}: {e}", n + 1)))?;
        if rows.len() >= MAX_ROWS {
            return Err(AppError::invalid(
                "csv",
                format!("at most {MAX_ROWS} rows per file"),
            ));
        }
        let mut row = BTreeMap::new();
        for (field, i) in &index {
            let raw = rec.get(*i).unwrap_or_default().trim().to_string();
            let v = b
                .values
                .get(field)
                .and_then(|m| m.get(&raw))
                .cloned()
                .unwrap_or(raw);
            if !v.is_empty() {
                row.insert(field.clone(), v);
            }
        }
        for (field, v) in &b.defaults {
            row.entry(field.clone()).or_insert_with(|| v.clone());
        }
        rows.push(row);
    }
    Ok(Mapped { rows })
}

/// Names and addresses resolved once per import.
struct Lookup {
    users: HashMap<String, i64>,
    customers: HashMap<String, i64>,
    services: HashMap<String, i64>,
    groups: HashMap<String, i64>,
}

async fn lookup(db: &Db) -> AppResult<Lookup> {
    let pairs = |rows: Vec<(i64, String)>| {
        rows.into_iter()
            .map(|(i, n)| (n.to_lowercase(), i))
            .collect()
    };
    Ok(Lookup {
        users: pairs(db.all(Q::new("SELECT id, email FROM users")).await?),
        customers: pairs(db.all(Q::new("SELECT id, name FROM customers")).await?),
        services: pairs(db.all(Q::new("SELECT id, name FROM services")).await?),
        groups: pairs(
            db.all(Q::new("SELECT id, name FROM support_groups"))
                .await?,
        ),
    })
}

/// A row's error, naming the Keel field and the file's column.
fn row_error(b: &ImportBody, row: usize, key: Option<String>, e: AppError) -> RowResult {
    let (field, detail) = match e {
        AppError::Invalid { field, detail } => (Some(field), detail),
        other => (None, other.to_string()),
    };
    RowResult {
        row,
        action: "error".into(),
        key,
        column: field.as_ref().and_then(|f| b.mapping.get(f).cloned()),
        field,
        detail: Some(detail),
    }
}

fn pick(
    map: &HashMap<String, i64>,
    row: &BTreeMap<String, String>,
    field: &str,
    what: &str,
) -> AppResult<Option<i64>> {
    match row.get(field) {
        None => Ok(None),
        Some(v) => map
            .get(&v.to_lowercase())
            .copied()
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, format!("no {what} `{v}`"))),
    }
}

fn level(row: &BTreeMap<String, String>, field: &str) -> AppResult<Option<i64>> {
    row.get(field)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (1..=3).contains(n))
                .ok_or_else(|| {
                    AppError::invalid(
                        field,
                        format!("`{v}` is not 1, 2 or 3; map the file's values with `values`"),
                    )
                })
        })
        .transpose()
}

pub async fn import(db: &Db, p: &Principal, target: &str, b: ImportBody) -> AppResult<Report> {
    p.require(Action::ManageIntegrations)?;
    let file = map_file(target, &b)?;
    let actor = Actor {
        label: format!(
            "{} (import{})",
            p.email,
            b.source
                .as_deref()
                .map(|s| format!(" from {s}"))
                .unwrap_or_default()
        ),
        ..p.actor()
    };
    if target == "cis" {
        return import_cis(db, &actor, &b, file).await;
    }
    let names = lookup(db).await?;
    let mut report = Report {
        target: target.into(),
        dry_run: b.dry_run,
        ..Default::default()
    };
    let mut tx = db.begin().await?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut drafts = vec![];
    for (i, row) in file.rows.iter().enumerate() {
        let n = i + 1;
        let result: AppResult<(String, Option<String>)> = async {
            match target {
                "users" => {
                    let email = row.get("email").cloned().unwrap_or_default();
                    let key = email.to_lowercase();
                    if names.users.contains_key(&key) || !seen.insert(key.clone()) {
                        return Ok(("skipped".to_string(), Some(format!("{email}: a user with this e-mail exists"))));
                    }
                    let customer = pick(&names.customers, row, "customer", "customer")?;
                    let u = NewUser::parse(
                        &email,
                        row.get("name").map_or("", String::as_str),
                        row.get("role").map_or("requester", String::as_str),
                        customer,
                        None,
                    )?;
                    crate::directory::insert_user(&mut tx, &actor, &u, None).await?;
                    Ok(("created".to_string(), Some(email)))
                }
                "services" => {
                    let name = row.get("name").cloned().unwrap_or_default();
                    let key = name.to_lowercase();
                    if names.services.contains_key(&key) || !seen.insert(key) {
                        return Ok(("skipped".to_string(), Some(format!("{name}: a service with this name exists"))));
                    }
                    let owner = pick(&names.users, row, "owner", "user with e-mail")?;
                    let mut customer_ids = vec![];
                    for c in row.get("customers").map(|c| c.split(';')).into_iter().flatten() {
                        let c = c.trim();
                        if c.is_empty() {
                            continue;
                        }
                        customer_ids.push(*names.customers.get(&c.to_lowercase()).ok_or_else(|| AppError::invalid("customers", format!("no customer `{c}`")))?);
                    }
                    let s = NewService {
                        name: name.clone(),
                        description: row.get("description").cloned().unwrap_or_default(),
                        owner_id: owner,
                        stage: row.get("stage").cloned(),
                        requirements: row.get("requirements").cloned().unwrap_or_default(),
                        customer_ids,
                        depends_on_ids: vec![],
                        parties: vec![],
                    };
                    crate::operation::portfolio::service::create_in(&mut tx, &actor, s).await?;
                    Ok(("created".to_string(), Some(name)))
                }
                _ => {
                    // Incidents: open work is imported; what the old tool closed stays history there.
                    if let Some(s) = row.get("state") {
                        match s.as_str() {
                            "resolved" | "closed" | "cancelled" => {
                                return Ok(("skipped".to_string(), Some(format!("{s} in the source: only open incidents are imported"))));
                            }
                            "new" | "in_progress" | "on_hold" => {}
                            other => {
                                return Err(AppError::invalid("state", format!("`{other}` is not an incident state; map the file's values with `values`")));
                            }
                        }
                    }
                    let mut description = row.get("description").cloned().unwrap_or_default();
                    let origin: Vec<String> = [
                        row.get("external_id").map(|x| format!("reference {x}")),
                        row.get("opened_at").map(|x| format!("opened {x}")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    if !origin.is_empty() || b.source.is_some() {
                        description = format!(
                            "{description}\n\nImported from {}{}{}.",
                            b.source.as_deref().unwrap_or("another tool"),
                            if origin.is_empty() { "" } else { ": " },
                            origin.join(", ")
                        );
                    }
                    let item = NewItem {
                        title: row.get("title").cloned().unwrap_or_default(),
                        description: description.trim().to_string(),
                        impact: level(row, "impact")?,
                        urgency: level(row, "urgency")?,
                        category: row.get("category").cloned(),
                        requester_id: pick(&names.users, row, "requester", "user with e-mail")?,
                        customer_id: pick(&names.customers, row, "customer", "customer")?,
                        service_id: pick(&names.services, row, "service", "service")?,
                        assignment_group_id: pick(&names.groups, row, "assignment_group", "support group")?,
                        assignee_id: pick(&names.users, row, "assignee", "user with e-mail")?,
                        ..Default::default()
                    };
                    let mut d = kernel::system_draft(keel_core::operation::resolution::incident::KIND, &actor, item)?;
                    kernel::resolve(&mut tx, &mut d).await?;
                    drafts.push((n, d));
                    Ok(("created".to_string(), None))
                }
            }
        }
        .await;
        match result {
            Ok((action, key)) => {
                if action == "created" {
                    report.created += 1;
                } else {
                    report.skipped += 1;
                }
                report.rows.push(RowResult {
                    row: n,
                    action: action.clone(),
                    key: if action == "skipped" {
                        None
                    } else {
                        key.clone()
                    },
                    field: None,
                    column: None,
                    detail: if action == "skipped" { key } else { None },
                });
            }
            Err(e) => {
                report.errors += 1;
                report.rows.push(row_error(&b, n, None, e));
            }
        }
    }
    if report.errors > 0 || b.dry_run {
        // Dropping the transaction rolls back whatever the checks wrote.
        return Ok(report);
    }
    if !drafts.is_empty() {
        let (rows, ds): (Vec<usize>, Vec<_>) = drafts.into_iter().unzip();
        let numbers = kernel::insert_drafts(&mut tx, ds).await?;
        for (row, number) in rows.into_iter().zip(numbers) {
            if let Some(r) = report.rows.iter_mut().find(|r| r.row == row) {
                r.key = Some(number);
            }
        }
    }
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

/// CIs go through the CMDB's own import (upsert by identity key, class rules, audit).
async fn import_cis(db: &Db, actor: &Actor, b: &ImportBody, file: Mapped) -> AppResult<Report> {
    let names = lookup(db).await?;
    let mut errors = vec![];
    let mut cis = vec![];
    for (i, row) in file.rows.iter().enumerate() {
        let parsed: AppResult<NewCi> = (|| {
            let mut attributes = serde_json::Map::new();
            for (k, v) in row {
                if let Some(a) = k.strip_prefix("attributes.") {
                    attributes.insert(a.to_string(), serde_json::Value::String(v.clone()));
                }
            }
            Ok(NewCi {
                class: row.get("class").cloned().unwrap_or_default(),
                name: row.get("name").cloned().unwrap_or_default(),
                status: row.get("status").cloned(),
                attributes,
                service_id: pick(&names.services, row, "service", "service")?,
                owner_group_id: pick(&names.groups, row, "owner_group", "support group")?,
            })
        })();
        match parsed {
            Ok(c) => cis.push(c),
            Err(e) => errors.push(row_error(b, i + 1, None, e)),
        }
    }
    let mut report = Report {
        target: "cis".into(),
        dry_run: b.dry_run,
        ..Default::default()
    };
    if !errors.is_empty() {
        report.errors = errors.len();
        report.rows = errors;
        return Ok(report);
    }
    let doc = crate::operation::portfolio::transfer::Document {
        cis,
        relationships: vec![],
    };
    let r = crate::operation::portfolio::transfer::import(db, actor, doc, b.dry_run).await?;
    report.applied = r.applied;
    report.created = r.created + r.updated;
    report.skipped = r.unchanged;
    report.errors = r.errors;
    report.rows = r
        .rows
        .into_iter()
        .map(|o| RowResult {
            row: o.row,
            action: match o.action.as_str() {
                "created" | "updated" => "created".into(),
                "unchanged" => "skipped".into(),
                other => other.into(),
            },
            key: o.key,
            column: o.field.as_ref().and_then(|f| b.mapping.get(f).cloned()),
            field: o.field,
            detail: o.detail,
        })
        .collect();
    Ok(report)
}

/// Import a CSV export of another tool: `incidents`, `users`, `services` or `cis`.
#[utoipa::path(post, path = "/api/v1/imports/{target}", tag = "integrations", params(("target" = String, Path)), request_body = ImportBody, responses((status = 200, body = Report), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_import(
    State(st): State<AppState>,
    p: Principal,
    Path(target): Path<String>,
    ApiJson(b): ApiJson<ImportBody>,
) -> AppResult<Json<Report>> {
    Ok(Json(import(&st.db, &p, &target, b).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "imports",
    api: part_api,
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(crate::platform::gate::gate(
        keel_core::access::Action::ManageIntegrations,
        routes!(api_import),
    ))
}
