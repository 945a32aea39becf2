//! Clause 8.2.6 — configuration management: CI classes with administrator-defined attributes,
//! configuration items with identity keys, typed relationships, and impact analysis. Every
//! write is audited and logged for the nodes' in-memory graphs (`graph.rs`).

use super::graph::{self, Snapshot};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::{ApiJson, ApiQuery, double_option};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::operation::portfolio::configuration::{
    Direction, RelKind, STATUSES, Walk, identity_key,
};
use keel_core::operation::portfolio::form::{self, FieldDef, FieldKind};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn change(field: &str, old: Value, new: Value) -> Option<FieldChange> {
    (old != new).then(|| FieldChange {
        field: field.into(),
        old,
        new,
    })
}

fn parse_name(field: &str, s: &str) -> AppResult<String> {
    Ok(Line::parse(s, 200)
        .map_err(|e| AppError::invalid(field, e))?
        .into_string())
}

// ---------------------------------------------------------------------------------------------
// Classes

/// A CI class: the attributes its CIs carry and the fields that identify one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiClass {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Typed fields: `{name, label, type (text, number, date, boolean, choice, user, ci), required, options, max_length, min, max, help}`.
    #[schema(value_type = Vec<Object>)]
    pub attributes: Vec<FieldDef>,
    /// Field names whose values form the identity key (`name` is the CI's name).
    pub identity: Vec<String>,
    pub version: i64,
}

type ClassRow = (i64, String, String, String, String, i64);

fn class_view((id, name, description, attributes, identity, version): ClassRow) -> CiClass {
    CiClass {
        id,
        name,
        description,
        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        identity: serde_json::from_str(&identity).unwrap_or_default(),
        version,
    }
}

const CLASS_SQL: &str =
    "SELECT id, name, description, attributes, identity, version FROM ci_classes";

pub async fn list_classes(db: &Db) -> AppResult<Vec<CiClass>> {
    let rows: Vec<ClassRow> = db.all(Q::new(format!("{CLASS_SQL} ORDER BY name"))).await?;
    Ok(rows.into_iter().map(class_view).collect())
}

async fn class_tx(tx: &mut Tx, id: i64) -> AppResult<CiClass> {
    tx.opt(Q::new(format!("{CLASS_SQL} WHERE id = $1")).bind(id))
        .await?
        .map(class_view)
        .ok_or_else(|| AppError::NotFound(format!("CI class {id}")))
}

/// A class by name, read outside any transaction (no write lock on SQLite).
pub async fn class_named(db: &Db, name: &str, field: &str) -> AppResult<CiClass> {
    db.opt(Q::new(format!("{CLASS_SQL} WHERE name = $1")).bind(name.trim()))
        .await?
        .map(class_view)
        .ok_or_else(|| AppError::invalid(field, format!("no CI class named `{name}`")))
}

pub async fn class_by_name(tx: &mut Tx, name: &str, field: &str) -> AppResult<CiClass> {
    tx.opt(Q::new(format!("{CLASS_SQL} WHERE name = $1")).bind(name.trim()))
        .await?
        .map(class_view)
        .ok_or_else(|| AppError::invalid(field, format!("no CI class named `{name}`")))
}

fn check_identity(identity: &[String], defs: &[FieldDef]) -> AppResult<()> {
    if identity.is_empty() {
        return Err(AppError::invalid("identity", "name at least one field"));
    }
    for f in identity {
        if f != "name" {
            match defs.iter().find(|d| &d.name == f) {
                Some(d) if d.required => {}
                Some(_) => {
                    return Err(AppError::invalid(
                        "identity",
                        format!("`{f}` must be a required attribute to identify CIs"),
                    ));
                }
                None => {
                    return Err(AppError::invalid(
                        "identity",
                        format!("`{f}` is not an attribute of the class"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClass {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub attributes: Value,
    /// Defaults to `["name"]`.
    pub identity: Option<Vec<String>>,
}

pub async fn create_class(db: &Db, p: &Principal, b: NewClass) -> AppResult<CiClass> {
    p.require(Action::ManageConfiguration)?;
    let name = parse_name("name", &b.name)?;
    let attrs = if b.attributes.is_null() {
        json!([])
    } else {
        b.attributes
    };
    let defs = form::parse_defs(&attrs, "attributes")?;
    let identity = b.identity.unwrap_or_else(|| vec!["name".into()]);
    check_identity(&identity, &defs)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id = tx
        .insert(
            Q::new("INSERT INTO ci_classes (name, description, attributes, identity, version, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id")
                .bind(name.as_str())
                .bind(b.description.trim())
                .bind(json!(defs).to_string())
                .bind(json!(identity).to_string())
                .bind(now),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::invalid("name", format!("a CI class named {name} exists")),
            e => e.into(),
        })?;
    let changes = [
        change("name", Value::Null, json!(name)),
        change("description", Value::Null, json!(b.description.trim())),
        change("attributes", Value::Null, json!(defs)),
        change("identity", Value::Null, json!(identity)),
    ];
    graph::record(&mut tx, &[], &[]).await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "ci_class",
        &id.to_string(),
        changes.into_iter().flatten().collect(),
    )
    .await?;
    let c = class_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok(c)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassPatch {
    pub description: Option<String>,
    /// The whole new list of fields. Existing CIs keep their values; a removed field's values
    /// stay in history.
    #[schema(value_type = Option<Vec<Object>>)]
    pub attributes: Option<Value>,
    /// Only while the class has no CIs.
    pub identity: Option<Vec<String>>,
    pub version: Option<i64>,
}

pub async fn update_class(db: &Db, p: &Principal, id: i64, b: ClassPatch) -> AppResult<CiClass> {
    p.require(Action::ManageConfiguration)?;
    let mut tx = db.begin().await?;
    let before = class_tx(&mut tx, id).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let defs = match &b.attributes {
        Some(a) => form::parse_defs(a, "attributes")?,
        None => before.attributes.clone(),
    };
    let identity = b
        .identity
        .clone()
        .unwrap_or_else(|| before.identity.clone());
    check_identity(&identity, &defs)?;
    if identity != before.identity {
        let (n,): (i64,) = tx
            .one(Q::new("SELECT COUNT(*) FROM cis WHERE class_id = $1").bind(id))
            .await?;
        if n > 0 {
            return Err(AppError::Conflict(format!(
                "class {} has {n} CIs; its identity key cannot change",
                before.name
            )));
        }
    }
    let description = b
        .description
        .as_deref()
        .map(str::trim)
        .unwrap_or(&before.description)
        .to_string();
    let changes: Vec<FieldChange> = [
        change("description", json!(before.description), json!(description)),
        change("attributes", json!(before.attributes), json!(defs)),
        change("identity", json!(before.identity), json!(identity)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if changes.is_empty() {
        return Ok(before);
    }
    tx.exec(
        Q::new("UPDATE ci_classes SET description = $1, attributes = $2, identity = $3, version = version + 1, updated_at = $4 WHERE id = $5")
            .bind(description)
            .bind(json!(defs).to_string())
            .bind(json!(identity).to_string())
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    graph::record(&mut tx, &[], &[]).await?;
    append(
        &mut tx,
        &p.actor(),
        "update",
        "ci_class",
        &id.to_string(),
        changes,
    )
    .await?;
    let c = class_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Configuration items

/// A configuration item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ci {
    pub id: i64,
    pub class: String,
    pub class_id: i64,
    pub name: String,
    /// Unique within the class; upserts and discovery files match on it.
    pub identity_key: String,
    /// planned, active, maintenance or retired.
    pub status: String,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// The portfolio service this CI stands for.
    pub service_id: Option<i64>,
    pub service: Option<String>,
    pub owner_group_id: Option<i64>,
    pub owner_group: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct CiRow {
    id: i64,
    class_id: i64,
    class: String,
    name: String,
    identity_key: String,
    status: String,
    attributes: String,
    service_id: Option<i64>,
    service: Option<String>,
    owner_group_id: Option<i64>,
    owner_group: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

const CI_SQL: &str = "SELECT c.id, c.class_id, k.name AS class, c.name, c.identity_key, c.status, c.attributes, c.service_id, s.name AS service, \
    c.owner_group_id, g.name AS owner_group, c.version, c.created_at, c.updated_at FROM cis c JOIN ci_classes k ON k.id = c.class_id \
    LEFT JOIN services s ON s.id = c.service_id LEFT JOIN support_groups g ON g.id = c.owner_group_id";

fn ci_view(r: CiRow) -> Ci {
    Ci {
        id: r.id,
        class: r.class,
        class_id: r.class_id,
        name: r.name,
        identity_key: r.identity_key,
        status: r.status,
        attributes: serde_json::from_str(&r.attributes).unwrap_or_default(),
        service_id: r.service_id,
        service: r.service,
        owner_group_id: r.owner_group_id,
        owner_group: r.owner_group,
        version: r.version,
        created_at: iso(r.created_at),
        updated_at: iso(r.updated_at),
    }
}

pub async fn get_ci(db: &Db, id: i64) -> AppResult<Ci> {
    db.opt(Q::new(format!("{CI_SQL} WHERE c.id = $1")).bind(id))
        .await?
        .map(ci_view)
        .ok_or_else(|| AppError::NotFound(format!("CI {id}")))
}

async fn ci_tx(tx: &mut Tx, id: i64) -> AppResult<Ci> {
    tx.opt(Q::new(format!("{CI_SQL} WHERE c.id = $1")).bind(id))
        .await?
        .map(ci_view)
        .ok_or_else(|| AppError::NotFound(format!("CI {id}")))
}

pub fn parse_status(s: &str) -> AppResult<String> {
    STATUSES
        .iter()
        .find(|x| **x == s.trim())
        .map(|s| s.to_string())
        .ok_or_else(|| {
            AppError::invalid(
                "status",
                format!("`{s}` is not one of: {}", STATUSES.join(", ")),
            )
        })
}

/// Check the users and CIs an attribute names exist.
pub async fn check_references(
    tx: &mut Tx,
    defs: &[FieldDef],
    values: &Map<String, Value>,
    prefix: &str,
) -> AppResult<()> {
    for r in form::references(defs, values) {
        let table = match r.kind {
            FieldKind::User => "users",
            _ => "cis",
        };
        crate::directory::exists(tx, table, r.id, &format!("{prefix}.{}", r.field)).await?;
    }
    Ok(())
}

/// A CI to create (or, in an import, to upsert by identity key).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCi {
    /// The class's name.
    pub class: String,
    pub name: String,
    /// Defaults to active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub service_id: Option<i64>,
    pub owner_group_id: Option<i64>,
}

/// A CI checked against its class, ready to write.
pub struct ParsedCi {
    pub class: CiClass,
    pub name: String,
    pub status: String,
    pub attributes: Map<String, Value>,
    pub key: String,
    pub service_id: Option<i64>,
    pub owner_group_id: Option<i64>,
}

pub async fn parse_ci(tx: &mut Tx, b: &NewCi) -> AppResult<ParsedCi> {
    let class = class_by_name(tx, &b.class, "class").await?;
    let name = parse_name("name", &b.name)?;
    let status = b
        .status
        .as_deref()
        .map(parse_status)
        .transpose()?
        .unwrap_or_else(|| "active".into());
    let attributes = form::validate(&class.attributes, &b.attributes, "attributes")?;
    check_references(tx, &class.attributes, &attributes, "attributes").await?;
    let key = identity_key(&class.identity, &name, &attributes)?;
    if let Some(s) = b.service_id {
        crate::directory::exists(tx, "services", s, "service_id").await?;
    }
    if let Some(g) = b.owner_group_id {
        crate::directory::exists(tx, "support_groups", g, "owner_group_id").await?;
    }
    Ok(ParsedCi {
        class,
        name,
        status,
        attributes,
        key,
        service_id: b.service_id,
        owner_group_id: b.owner_group_id,
    })
}

fn ci_fields(c: &ParsedCi) -> Vec<(&'static str, Value)> {
    vec![
        ("class", json!(c.class.name)),
        ("name", json!(c.name)),
        ("identity_key", json!(c.key)),
        ("status", json!(c.status)),
        ("attributes", Value::Object(c.attributes.clone())),
        ("service_id", json!(c.service_id)),
        ("owner_group_id", json!(c.owner_group_id)),
    ]
}

/// Insert a parsed CI (no audit, no change log: the caller batches those).
pub async fn insert_ci(tx: &mut Tx, c: &ParsedCi, now: i64) -> AppResult<i64> {
    tx.insert(
        Q::new("INSERT INTO cis (class_id, name, identity_key, status, attributes, service_id, owner_group_id, version, created_at, updated_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) RETURNING id")
            .bind(c.class.id)
            .bind(c.name.as_str())
            .bind(c.key.as_str())
            .bind(c.status.as_str())
            .bind(Value::Object(c.attributes.clone()).to_string())
            .bind(c.service_id)
            .bind(c.owner_group_id)
            .bind(now),
    )
    .await
    .map_err(|e| match e {
        DbError::Unique(_) => AppError::Conflict(format!(
            "a {} CI with identity key `{}` exists",
            c.class.name, c.key
        )),
        e => e.into(),
    })
}

pub fn created_changes(c: &ParsedCi) -> Vec<FieldChange> {
    ci_fields(c)
        .into_iter()
        .filter_map(|(f, v)| change(f, Value::Null, v))
        .collect()
}

pub async fn create_ci(db: &Db, p: &Principal, b: NewCi) -> AppResult<Ci> {
    p.require(Action::ManageConfiguration)?;
    let mut tx = db.begin().await?;
    let c = parse_ci(&mut tx, &b).await?;
    let id = insert_ci(&mut tx, &c, now_ms()).await?;
    graph::record(&mut tx, &[id], &[]).await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "ci",
        &id.to_string(),
        created_changes(&c),
    )
    .await?;
    let out = ci_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok(out)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    /// Merged into the current attributes; `null` clears one.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub service_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_group_id: Option<Option<i64>>,
    /// The `version` you read; a stale one gets 412.
    pub version: Option<i64>,
}

/// Apply a patch inside `tx`; returns the audit changes (empty: nothing changed).
pub async fn patch_ci_tx(tx: &mut Tx, id: i64, b: &CiPatch) -> AppResult<Vec<FieldChange>> {
    let before = ci_tx(tx, id).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let class = class_tx(tx, before.class_id).await?;
    let name = b
        .name
        .as_deref()
        .map(|n| parse_name("name", n))
        .transpose()?
        .unwrap_or_else(|| before.name.clone());
    let status = b
        .status
        .as_deref()
        .map(parse_status)
        .transpose()?
        .unwrap_or_else(|| before.status.clone());
    let attributes = match &b.attributes {
        Some(patch) => {
            let merged = form::merge(&before.attributes, patch);
            let a = form::validate(&class.attributes, &merged, "attributes")?;
            check_references(tx, &class.attributes, &a, "attributes").await?;
            a
        }
        None => before.attributes.clone(),
    };
    let key = identity_key(&class.identity, &name, &attributes)?;
    let service_id = b.service_id.unwrap_or(before.service_id);
    if let Some(s) = service_id.filter(|s| Some(*s) != before.service_id) {
        crate::directory::exists(tx, "services", s, "service_id").await?;
    }
    let owner = b.owner_group_id.unwrap_or(before.owner_group_id);
    if let Some(g) = owner.filter(|g| Some(*g) != before.owner_group_id) {
        crate::directory::exists(tx, "support_groups", g, "owner_group_id").await?;
    }
    let changes: Vec<FieldChange> = [
        change("name", json!(before.name), json!(name)),
        change("identity_key", json!(before.identity_key), json!(key)),
        change("status", json!(before.status), json!(status)),
        change("service_id", json!(before.service_id), json!(service_id)),
        change("owner_group_id", json!(before.owner_group_id), json!(owner)),
    ]
    .into_iter()
    .flatten()
    .chain(
        before
            .attributes
            .keys()
            .chain(attributes.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|k| {
                change(
                    &format!("attributes.{k}"),
                    before.attributes.get(k).cloned().unwrap_or(Value::Null),
                    attributes.get(k).cloned().unwrap_or(Value::Null),
                )
            }),
    )
    .collect();
    if changes.is_empty() {
        return Ok(changes);
    }
    let n = tx
        .exec(
            Q::new("UPDATE cis SET name = $1, identity_key = $2, status = $3, attributes = $4, service_id = $5, owner_group_id = $6, \
                    version = version + 1, updated_at = $7 WHERE id = $8 AND version = $9")
                .bind(name.as_str())
                .bind(key.as_str())
                .bind(status.as_str())
                .bind(Value::Object(attributes).to_string())
                .bind(service_id)
                .bind(owner)
                .bind(now_ms())
                .bind(id)
                .bind(before.version),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::Conflict(format!("a {} CI with identity key `{key}` exists", class.name)),
            e => e.into(),
        })?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    Ok(changes)
}

/// Change one CI by hand. A CI under change control (its class or service is, by the change
/// policy, 8.5.1) changes only through a change, whose CI updates apply when it closes.
pub async fn update_ci(db: &Db, p: &Principal, id: i64, b: CiPatch) -> AppResult<Ci> {
    p.require(Action::ManageConfiguration)?;
    use crate::operation::transition::policy;
    if policy::controls_ci(db, &policy::load_db(db).await?, id).await? {
        return Err(AppError::Conflict(format!(
            "CI {id} is under change control: plan the update on a change (its CI updates apply when it closes successfully)"
        )));
    }
    let mut tx = db.begin().await?;
    let changes = patch_ci_tx(&mut tx, id, &b).await?;
    if !changes.is_empty() {
        graph::record(&mut tx, &[id], &[]).await?;
        append(
            &mut tx,
            &p.actor(),
            "update",
            "ci",
            &id.to_string(),
            changes,
        )
        .await?;
    }
    let out = ci_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CiParams {
    /// A class name.
    pub class: Option<String>,
    pub status: Option<String>,
    /// Name contains (case-insensitive).
    pub q: Option<String>,
    pub service_id: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Deprecated: CIs with ids above this (the previous page's `next_after`); use `cursor`.
    pub after: Option<i64>,
    /// 1–500, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CiPage {
    pub items: Vec<Ci>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
    /// Deprecated: the same page boundary as an id, for `after`.
    pub next_after: Option<i64>,
}

pub async fn list_cis(db: &Db, params: &CiParams) -> AppResult<CiPage> {
    let limit = keel_core::page::limit(params.limit).map_err(|e| AppError::invalid("limit", e))?;
    let mut q = Q::new("");
    let mut conds = vec![];
    if let Some(c) = params.class.as_deref().filter(|c| !c.is_empty()) {
        conds.push(format!("k.name = {}", q.arg(c)));
    }
    if let Some(s) = params.status.as_deref().filter(|c| !c.is_empty()) {
        conds.push(format!("c.status = {}", q.arg(parse_status(s)?)));
    }
    if let Some(t) = params.q.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        conds.push(format!(
            "LOWER(c.name) LIKE {}",
            q.arg(format!("%{}%", t.to_lowercase()))
        ));
    }
    if let Some(s) = params.service_id {
        conds.push(format!("c.service_id = {}", q.arg(s)));
    }
    let after = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            keel_core::page::Cursor::decode(c)
                .map_err(|e| AppError::invalid("cursor", e))?
                .id,
        ),
        None => params.after,
    };
    if let Some(a) = after {
        conds.push(format!("c.id > {}", q.arg(a)));
    }
    let wh = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let lim = q.arg(i64::from(limit) + 1);
    q.sql = format!("{CI_SQL}{wh} ORDER BY c.id LIMIT {lim}");
    let mut rows: Vec<CiRow> = db.all(q).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_after = more.then(|| rows.last().map(|r| r.id)).flatten();
    Ok(CiPage {
        items: rows.into_iter().map(ci_view).collect(),
        next_cursor: next_after.map(|id| {
            keel_core::page::Cursor {
                key: String::new(),
                id,
            }
            .encode()
        }),
        next_after,
    })
}

// ---------------------------------------------------------------------------------------------
// Relationships

/// `source —kind→ target`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Relationship {
    pub id: i64,
    pub source_id: i64,
    pub source: String,
    /// depends_on, runs_on, connects_to or part_of.
    pub kind: String,
    pub target_id: i64,
    pub target: String,
}

const REL_SQL: &str = "SELECT r.id, r.source_id, s.name AS source, r.kind, r.target_id, t.name AS target \
    FROM ci_relationships r JOIN cis s ON s.id = r.source_id JOIN cis t ON t.id = r.target_id";

pub fn parse_kind(k: &str) -> AppResult<RelKind> {
    RelKind::parse(k.trim()).ok_or_else(|| {
        AppError::invalid(
            "kind",
            format!(
                "`{k}` is not one of: {}",
                RelKind::ALL.map(RelKind::as_str).join(", ")
            ),
        )
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelationship {
    pub source_id: i64,
    pub kind: String,
    pub target_id: i64,
}

/// Insert one relationship in `tx` (no audit, no change log).
pub async fn insert_rel(
    tx: &mut Tx,
    source: i64,
    kind: RelKind,
    target: i64,
    now: i64,
) -> AppResult<i64> {
    if source == target {
        return Err(AppError::invalid(
            "target_id",
            "a CI cannot relate to itself",
        ));
    }
    tx.insert(
        Q::new("INSERT INTO ci_relationships (source_id, kind, target_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(source)
            .bind(kind.as_str())
            .bind(target)
            .bind(now),
    )
    .await
    .map_err(|e| match e {
        DbError::Unique(_) => AppError::Conflict(format!("CI {source} already {} CI {target}", kind.as_str())),
        e => e.into(),
    })
}

pub async fn create_rel(db: &Db, p: &Principal, b: NewRelationship) -> AppResult<Relationship> {
    p.require(Action::ManageConfiguration)?;
    let kind = parse_kind(&b.kind)?;
    let mut tx = db.begin().await?;
    crate::directory::exists(&mut tx, "cis", b.source_id, "source_id").await?;
    crate::directory::exists(&mut tx, "cis", b.target_id, "target_id").await?;
    let id = insert_rel(&mut tx, b.source_id, kind, b.target_id, now_ms()).await?;
    graph::record(&mut tx, &[], &[id]).await?;
    append(
        &mut tx,
        &p.actor(),
        "create",
        "relationship",
        &id.to_string(),
        rel_audit(b.source_id, kind, b.target_id, true),
    )
    .await?;
    let r: Relationship = tx
        .one(Q::new(format!("{REL_SQL} WHERE r.id = $1")).bind(id))
        .await?;
    tx.commit().await?;
    Ok(r)
}

pub fn rel_audit(source: i64, kind: RelKind, target: i64, created: bool) -> Vec<FieldChange> {
    [
        ("source_id", json!(source)),
        ("kind", json!(kind.as_str())),
        ("target_id", json!(target)),
    ]
    .into_iter()
    .map(|(f, v)| {
        let (old, new) = if created {
            (Value::Null, v)
        } else {
            (v, Value::Null)
        };
        FieldChange {
            field: f.into(),
            old,
            new,
        }
    })
    .collect()
}

pub async fn delete_rel_tx(tx: &mut Tx, id: i64) -> AppResult<Vec<FieldChange>> {
    let r: Option<(i64, String, i64)> = tx
        .opt(
            Q::new("SELECT source_id, kind, target_id FROM ci_relationships WHERE id = $1")
                .bind(id),
        )
        .await?;
    let (s, k, t) = r.ok_or_else(|| AppError::NotFound(format!("relationship {id}")))?;
    tx.exec(Q::new("DELETE FROM ci_relationships WHERE id = $1").bind(id))
        .await?;
    Ok(rel_audit(s, parse_kind(&k)?, t, false))
}

pub async fn delete_rel(db: &Db, p: &Principal, id: i64) -> AppResult<()> {
    p.require(Action::ManageConfiguration)?;
    let mut tx = db.begin().await?;
    let changes = delete_rel_tx(&mut tx, id).await?;
    graph::record(&mut tx, &[], &[id]).await?;
    append(
        &mut tx,
        &p.actor(),
        "delete",
        "relationship",
        &id.to_string(),
        changes,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RelParams {
    /// Relationships with this CI at either end.
    pub ci: Option<i64>,
    pub kind: Option<String>,
    pub after: Option<i64>,
    /// 1–500, default 50.
    pub limit: Option<u32>,
}

pub async fn list_rels(db: &Db, params: &RelParams) -> AppResult<Vec<Relationship>> {
    let limit = keel_core::page::limit(params.limit).map_err(|e| AppError::invalid("limit", e))?;
    let mut q = Q::new("");
    let mut conds = vec![];
    if let Some(c) = params.ci {
        let a = q.arg(c);
        conds.push(format!("(r.source_id = {a} OR r.target_id = {a})"));
    }
    if let Some(k) = params.kind.as_deref().filter(|k| !k.is_empty()) {
        conds.push(format!("r.kind = {}", q.arg(parse_kind(k)?.as_str())));
    }
    if let Some(a) = params.after {
        conds.push(format!("r.id > {}", q.arg(a)));
    }
    let wh = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let lim = q.arg(i64::from(limit));
    q.sql = format!("{REL_SQL}{wh} ORDER BY r.id LIMIT {lim}");
    Ok(db.all(q).await?)
}

// ---------------------------------------------------------------------------------------------
// Impact analysis

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImpactParams {
    /// downstream (what a failure impacts; default) or upstream (what it relies on).
    pub direction: Option<String>,
    /// Relationships to follow, 1–20 (default 10).
    pub depth: Option<u32>,
    /// Most CIs to list, 1–5000 (default 500); services and customers always count them all.
    pub limit: Option<usize>,
}

/// One step of a path: the relationship taken and the CI reached.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hop {
    pub relationship_id: i64,
    /// depends_on, runs_on, connects_to or part_of.
    pub kind: String,
    /// The relationship points along the walk (`previous —kind→ this`).
    pub forward: bool,
    pub ci_id: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImpactedCi {
    pub id: i64,
    pub name: String,
    pub class: String,
    pub status: String,
    pub depth: u32,
    /// From the starting CI to this one.
    pub path: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImpactedService {
    pub id: i64,
    pub name: String,
    pub stage: String,
    /// A CI through which it is reached (the service's own CI, or for a service that depends
    /// on an impacted service, that service's).
    pub through_ci: Option<i64>,
    /// Set when reached through the portfolio's service dependencies.
    pub through_service: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImpactedCustomer {
    pub id: i64,
    pub name: String,
    pub services: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Impact {
    pub ci_id: i64,
    pub direction: String,
    pub depth: u32,
    /// CIs lay beyond `depth`.
    pub depth_limited: bool,
    /// How many CIs were reached (the start included).
    pub total: usize,
    /// The list was cut at `limit`.
    pub truncated: bool,
    pub cis: Vec<ImpactedCi>,
    pub services: Vec<ImpactedService>,
    pub customers: Vec<ImpactedCustomer>,
}

fn hops(walk: &Walk, i: usize) -> Vec<Hop> {
    let mut out = vec![];
    let mut at = i;
    while let Some(s) = walk.step(at) {
        out.push(Hop {
            relationship_id: s.rel,
            kind: s.kind.as_str().into(),
            forward: s.forward,
            ci_id: walk.ci(at),
        });
        at = s.parent;
    }
    out.reverse();
    out
}

/// The services (with their dependants through the portfolio) and customers behind the CIs of
/// `walk`; shared by incidents (affected services) and changes (risk).
pub fn services_and_customers(
    snap: &Snapshot,
    ci_ids: impl Iterator<Item = i64>,
    follow_dependants: bool,
) -> (Vec<ImpactedService>, Vec<ImpactedCustomer>) {
    let pf = &snap.portfolio;
    let mut through: BTreeMap<i64, (Option<i64>, Option<i64>)> = BTreeMap::new();
    for ci in ci_ids {
        if let Some(&s) = snap.service_of.get(&ci) {
            through.entry(s).or_insert((Some(ci), None));
        }
    }
    if follow_dependants {
        let mut frontier: Vec<i64> = through.keys().copied().collect();
        while let Some(s) = frontier.pop() {
            for dependant in pf.dependants.get(&s).into_iter().flatten() {
                if !through.contains_key(dependant) {
                    through.insert(*dependant, (None, Some(s)));
                    frontier.push(*dependant);
                }
            }
        }
    }
    let mut services: Vec<ImpactedService> = through
        .iter()
        .filter_map(|(id, (through_ci, through_service))| {
            pf.services.get(id).map(|(name, stage)| ImpactedService {
                id: *id,
                name: name.clone(),
                stage: stage.clone(),
                through_ci: *through_ci,
                through_service: *through_service,
            })
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let mut by_customer: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for s in through.keys() {
        for c in pf.customers_of.get(s).into_iter().flatten() {
            by_customer.entry(*c).or_default().push(*s);
        }
    }
    let mut customers: Vec<ImpactedCustomer> = by_customer
        .into_iter()
        .map(|(id, services)| ImpactedCustomer {
            id,
            name: pf.customer_names.get(&id).cloned().unwrap_or_default(),
            services,
        })
        .collect();
    customers.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    (services, customers)
}

pub async fn impact(st: &AppState, id: i64, params: &ImpactParams) -> AppResult<Impact> {
    let dir = match params.direction.as_deref().unwrap_or("downstream") {
        "downstream" => Direction::Downstream,
        "upstream" => Direction::Upstream,
        other => {
            return Err(AppError::invalid(
                "direction",
                format!("`{other}` is not downstream or upstream"),
            ));
        }
    };
    let depth = params.depth.unwrap_or(10);
    if !(1..=20).contains(&depth) {
        return Err(AppError::invalid("depth", "must be between 1 and 20"));
    }
    let limit = params.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 5000"));
    }
    super::graph::cache(st)
        .read(&st.db, |snap| {
            let walk = snap
                .graph
                .walk(id, dir, depth)
                .ok_or_else(|| AppError::NotFound(format!("CI {id}")))?;
            let classes = &snap.portfolio.class_names;
            let cis = (0..walk.len().min(limit))
                .map(|i| {
                    let ci = walk.ci(i);
                    let m = snap.cis.get(&ci);
                    ImpactedCi {
                        id: ci,
                        name: m.map(|m| m.name.clone()).unwrap_or_default(),
                        class: m
                            .and_then(|m| classes.get(&m.class_id).cloned())
                            .unwrap_or_default(),
                        status: m.map(|m| m.status.clone()).unwrap_or_default(),
                        depth: walk.depth(i),
                        path: hops(&walk, i),
                    }
                })
                .collect();
            let (services, customers) =
                services_and_customers(snap, walk.cis(), dir == Direction::Downstream);
            Ok(Impact {
                ci_id: id,
                direction: match dir {
                    Direction::Downstream => "downstream",
                    Direction::Upstream => "upstream",
                }
                .into(),
                depth,
                depth_limited: walk.depth_limited,
                total: walk.len(),
                truncated: walk.len() > limit,
                cis,
                services,
                customers,
            })
        })
        .await?
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// List CI classes.
#[utoipa::path(get, path = "/api/v1/ci-classes", tag = "configuration", responses((status = 200, body = Vec<CiClass>)), security(("bearer" = [])))]
pub async fn api_list_classes(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<CiClass>>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(list_classes(&st.db).await?))
}

/// Define a CI class.
#[utoipa::path(post, path = "/api/v1/ci-classes", tag = "configuration", request_body = NewClass, responses((status = 201, body = CiClass)), security(("bearer" = [])))]
pub async fn api_create_class(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewClass>,
) -> AppResult<(StatusCode, Json<CiClass>)> {
    Ok((
        StatusCode::CREATED,
        Json(create_class(&st.db, &p, b).await?),
    ))
}

/// One CI class.
#[utoipa::path(get, path = "/api/v1/ci-classes/{id}", tag = "configuration", params(("id" = i64, Path)), responses((status = 200, body = CiClass)), security(("bearer" = [])))]
pub async fn api_get_class(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<CiClass>> {
    p.require(Action::ReadConfiguration)?;
    st.db
        .opt(Q::new(format!("{CLASS_SQL} WHERE id = $1")).bind(id))
        .await?
        .map(|r| Json(class_view(r)))
        .ok_or_else(|| AppError::NotFound(format!("CI class {id}")))
}

/// Change a CI class's description, attributes or (while it has no CIs) identity.
#[utoipa::path(patch, path = "/api/v1/ci-classes/{id}", tag = "configuration", params(("id" = i64, Path)), request_body = ClassPatch, responses((status = 200, body = CiClass)), security(("bearer" = [])))]
pub async fn api_update_class(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ClassPatch>,
) -> AppResult<Json<CiClass>> {
    Ok(Json(update_class(&st.db, &p, id, b).await?))
}

/// List configuration items.
#[utoipa::path(get, path = "/api/v1/cis", tag = "configuration", params(CiParams), responses((status = 200, body = CiPage)), security(("bearer" = [])))]
pub async fn api_list_cis(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(params): ApiQuery<CiParams>,
) -> AppResult<Json<CiPage>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(list_cis(&st.db, &params).await?))
}

/// Create a configuration item.
#[utoipa::path(post, path = "/api/v1/cis", tag = "configuration", request_body = NewCi, responses((status = 201, body = Ci)), security(("bearer" = [])))]
pub async fn api_create_ci(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewCi>,
) -> AppResult<(StatusCode, Json<Ci>)> {
    Ok((StatusCode::CREATED, Json(create_ci(&st.db, &p, b).await?)))
}

/// One configuration item.
#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "configuration", params(("id" = i64, Path)), responses((status = 200, body = Ci)), security(("bearer" = [])))]
pub async fn api_get_ci(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Ci>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(get_ci(&st.db, id).await?))
}

/// Change a configuration item (attributes are merged; `null` clears one).
#[utoipa::path(patch, path = "/api/v1/cis/{id}", tag = "configuration", params(("id" = i64, Path)), request_body = CiPatch, responses((status = 200, body = Ci)), security(("bearer" = [])))]
pub async fn api_update_ci(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<CiPatch>,
) -> AppResult<Json<Ci>> {
    Ok(Json(update_ci(&st.db, &p, id, b).await?))
}

/// Impact analysis: what a failure of the CI reaches (or what it relies on), with paths, up to
/// the services and customers affected.
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "configuration", params(("id" = i64, Path), ImpactParams), responses((status = 200, body = Impact)), security(("bearer" = [])))]
pub async fn api_impact(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiQuery(params): ApiQuery<ImpactParams>,
) -> AppResult<Json<Impact>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(impact(&st, id, &params).await?))
}

/// List relationships.
#[utoipa::path(get, path = "/api/v1/relationships", tag = "configuration", params(RelParams), responses((status = 200, body = Vec<Relationship>)), security(("bearer" = [])))]
pub async fn api_list_rels(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(params): ApiQuery<RelParams>,
) -> AppResult<Json<Vec<Relationship>>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(list_rels(&st.db, &params).await?))
}

/// Relate two CIs.
#[utoipa::path(post, path = "/api/v1/relationships", tag = "configuration", request_body = NewRelationship, responses((status = 201, body = Relationship)), security(("bearer" = [])))]
pub async fn api_create_rel(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewRelationship>,
) -> AppResult<(StatusCode, Json<Relationship>)> {
    Ok((StatusCode::CREATED, Json(create_rel(&st.db, &p, b).await?)))
}

/// Remove a relationship (kept in the audit trail).
#[utoipa::path(delete, path = "/api/v1/relationships/{id}", tag = "configuration", params(("id" = i64, Path)), responses((status = 204)), security(("bearer" = [])))]
pub async fn api_delete_rel(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    delete_rel(&st.db, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "configuration",
    api: part_api,
    pages: super::ui::configuration_routes,
    templates: &[
        ("cis.html", include_str!("../../../templates/cis.html")),
        ("ci.html", include_str!("../../../templates/ci.html")),
        (
            "ci_form.html",
            include_str!("../../../templates/ci_form.html"),
        ),
        (
            "fields.html",
            include_str!("../../../templates/fields.html"),
        ),
    ],
    tags: &[(
        "configuration",
        "Configuration items, classes, relationships, impact analysis (8.2.6)",
    )],
    sweeps: &[|db| {
        Box::pin(async move {
            // The CMDB change log only serves nodes catching up their graph (a node further behind
            // reloads it).
            db.exec(
            Q::new("DELETE FROM cmdb_changes WHERE revision < (SELECT revision FROM cmdb_state WHERE id = 1) - $1")
                .bind(super::graph::KEEP_REVISIONS),
        )
        .await?;
            Ok(())
        })
    }],
    state: Some(|_, ext| {
        ext.insert(super::graph::GraphCache::default());
    }),
    nav: &[crate::platform::part::Nav {
        order: 100,
        label: "CMDB",
        requester_label: None,
        href: "/cis",
        shown: |p| p.can(keel_core::access::Action::ReadConfiguration),
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_list_classes, api_create_class),
        ))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_get_class, api_update_class),
        ))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_list_cis, api_create_ci),
        ))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_get_ci, api_update_ci),
        ))
        .routes(routes!(api_impact))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_list_rels, api_create_rel),
        ))
        .routes(gate(Action::ManageConfiguration, routes!(api_delete_rel)))
}
