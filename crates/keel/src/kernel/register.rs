//! The register machine: storage, audit, API (with its OpenAPI description) and CSV export for
//! every register a process keeps (`kernel::process::Process::registers`; see
//! `keel_core::register`).
//!
//! A register's columns are its declared fields (references to several records live in
//! `record_refs`), plus `id`, `version`, `created_at`, `updated_at` and `created_by`. Every write
//! checks the references exist, runs the register's rules after its stamps, and appends the
//! field-by-field change to the audit trail in the same transaction.

use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::csv::{csv, csv_response};
use crate::platform::db::{Db, DynRow, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::web::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get as route_get;
use keel_core::audit::diff;
use keel_core::page::{Cursor, limit as page_limit};
use keel_core::register::{self as core, FieldError, Register, Target, Type, V, Values};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// A stored record.
#[derive(Debug, Clone)]
pub struct Rec {
    pub id: i64,
    pub vals: Values,
    /// Display names of referenced records: text for a reference, a list for references.
    pub labels: BTreeMap<&'static str, Value>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Rec {
    pub fn int(&self, k: &str) -> Option<i64> {
        self.vals.get(k).and_then(V::int)
    }
    pub fn text(&self, k: &str) -> Option<&str> {
        self.vals.get(k).and_then(V::text)
    }
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels.get(k).and_then(Value::as_str)
    }
}

pub fn invalid(e: FieldError) -> AppError {
    AppError::Invalid {
        field: e.field,
        detail: e.detail,
    }
}

/// The register with this name; every name used in code is declared, so a miss is a bug.
pub fn reg(name: &str) -> &'static Register {
    super::process::register(name).unwrap_or_else(|| panic!("register {name} is declared"))
}

/// Where a reference points: table, key column, label column, and the work item kind if any.
fn target(
    t: Target,
) -> (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
) {
    match t {
        Target::User => ("users", "id", "name", None),
        Target::Group => ("support_groups", "id", "name", None),
        Target::Customer => ("customers", "id", "name", None),
        Target::Table(t) => (t.table, t.key, t.label, None),
        Target::Record(r) => {
            let r = reg(r);
            (r.table, "id", r.label, None)
        }
        Target::Item(k) => ("work_items", "number", "title", Some(k.as_str())),
    }
}

fn select(r: &Register) -> String {
    let mut cols = String::from("t.id, t.version, t.created_at, t.updated_at");
    let mut joins = String::new();
    for (i, f) in r.fields.iter().enumerate() {
        if !f.is_column() {
            continue;
        }
        cols.push_str(&format!(", t.{}", f.name));
        if let Type::Ref(t) = f.ty {
            let (table, key, label, kind) = target(t);
            cols.push_str(&format!(", l{i}.{label} AS {}__label", f.name));
            joins.push_str(&format!(
                " LEFT JOIN {table} l{i} ON l{i}.{key} = t.{}{}",
                f.name,
                kind.map(|k| format!(" AND l{i}.kind = '{k}'"))
                    .unwrap_or_default()
            ));
        }
    }
    format!("SELECT {cols} FROM {} t{joins}", r.table)
}

fn decode(r: &Register, row: DynRow) -> Rec {
    let m = row.0;
    let int = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or_default();
    let mut vals = Values::new();
    let mut labels = BTreeMap::new();
    for f in r.fields {
        let v = match m.get(f.name) {
            Some(Value::Number(n)) => n.as_i64().map_or(V::Null, V::Int),
            Some(Value::String(s)) => V::Text(s.clone()),
            _ if !f.is_column() => V::Many(vec![]),
            _ => V::Null,
        };
        vals.insert(f.name, v);
        if let Some(l) = m.get(&format!("{}__label", f.name))
            && !l.is_null()
        {
            labels.insert(
                f.name,
                match l {
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(other.to_string()),
                },
            );
        }
    }
    Rec {
        id: int("id"),
        vals,
        labels,
        version: int("version"),
        created_at: int("created_at"),
        updated_at: int("updated_at"),
    }
}

/// Fill in the multi-reference fields of these records (one query per such field).
async fn load_refs(db: &Db, r: &Register, recs: &mut [Rec]) -> AppResult<()> {
    if recs.is_empty() {
        return Ok(());
    }
    for f in r.fields.iter().filter(|f| !f.is_column()) {
        let Type::Refs(t) = f.ty else { continue };
        let (table, key, label, _) = target(t);
        let mut q = Q::new("");
        let reg_arg = q.arg(r.name);
        let field_arg = q.arg(f.name);
        let ids: Vec<String> = recs.iter().map(|x| q.arg(x.id)).collect();
        q.sql = format!(
            "SELECT x.record_id, x.target, l.{label} FROM record_refs x LEFT JOIN {table} l ON CAST(l.{key} AS TEXT) = x.target \
             WHERE x.register = {reg_arg} AND x.field = {field_arg} AND x.record_id IN ({}) ORDER BY x.record_id, x.target",
            ids.join(", ")
        );
        let rows: Vec<(i64, String, Option<String>)> = db.all(q).await?;
        let mut by: HashMap<i64, (Vec<String>, Vec<Value>)> = HashMap::new();
        for (rid, tgt, lab) in rows {
            let e = by.entry(rid).or_default();
            e.0.push(tgt.clone());
            e.1.push(Value::String(lab.unwrap_or(tgt)));
        }
        for rec in recs.iter_mut() {
            let (keys, labs) = by.remove(&rec.id).unwrap_or_default();
            rec.vals.insert(f.name, V::Many(keys));
            rec.labels.insert(f.name, Value::Array(labs));
        }
    }
    Ok(())
}

pub async fn get(db: &Db, r: &Register, id: i64) -> AppResult<Rec> {
    let row: DynRow = db
        .opt(Q::new(format!("{} WHERE t.id = $1", select(r))).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{} {id}", r.entity.replace('_', " "))))?;
    let mut v = vec![decode(r, row)];
    load_refs(db, r, &mut v).await?;
    Ok(v.remove(0))
}

/// Equality filters (`field = value`) parsed from query parameters.
pub type Filters = Vec<(&'static str, V)>;

pub fn parse_filters(r: &Register, params: &HashMap<String, String>) -> AppResult<Filters> {
    let mut out = Vec::new();
    for (k, v) in params {
        if matches!(k.as_str(), "limit" | "cursor" | "format") {
            continue;
        }
        let f = r
            .filterable()
            .find(|f| f.name == k)
            .ok_or_else(|| AppError::invalid(k, "is not a filter of this list"))?;
        let parsed = core::parse_value(f, &Value::String(v.clone())).map_err(invalid)?;
        let parsed = match parsed {
            V::Many(mut m) if m.len() == 1 => V::Text(m.remove(0)),
            other => other,
        };
        out.push((f.name, parsed));
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

/// Records, newest first, after the cursor.
pub async fn list(
    db: &Db,
    r: &Register,
    filters: &Filters,
    cursor: Option<&str>,
    limit: u32,
) -> AppResult<(Vec<Rec>, Option<String>)> {
    let mut q = Q::new("");
    let mut wh = vec!["1 = 1".to_string()];
    for (name, v) in filters {
        let f = r
            .field(name)
            .ok_or_else(|| AppError::invalid(name, "unknown"))?;
        match (f.ty, v) {
            (_, V::Null) => wh.push(format!("t.{name} IS NULL")),
            (Type::Refs(_), V::Text(t)) => {
                let (a, b, c) = (q.arg(r.name), q.arg(*name), q.arg(t.clone()));
                wh.push(format!("EXISTS (SELECT 1 FROM record_refs x WHERE x.register = {a} AND x.record_id = t.id AND x.field = {b} AND x.target = {c})"));
            }
            (_, V::Int(i)) => {
                let a = q.arg(*i);
                wh.push(format!("t.{name} = {a}"));
            }
            (_, V::Text(t)) => {
                let a = q.arg(t.clone());
                wh.push(format!("t.{name} = {a}"));
            }
            (_, V::Many(_)) => {}
        }
    }
    if let Some(c) = cursor {
        let c = Cursor::decode(c).map_err(|e| AppError::invalid("cursor", e))?;
        let a = q.arg(c.id);
        wh.push(format!("t.id < {a}"));
    }
    q.sql = format!(
        "{} WHERE {} ORDER BY t.id DESC LIMIT {}",
        select(r),
        wh.join(" AND "),
        limit + 1
    );
    let rows: Vec<DynRow> = db.all(q).await?;
    let mut recs: Vec<Rec> = rows.into_iter().map(|x| decode(r, x)).collect();
    let next = if recs.len() > limit as usize {
        recs.truncate(limit as usize);
        recs.last().map(|l| {
            Cursor {
                key: String::new(),
                id: l.id,
            }
            .encode()
        })
    } else {
        None
    };
    load_refs(db, r, &mut recs).await?;
    Ok((recs, next))
}

/// Every record matching the filters (for reports and exports), oldest first.
pub async fn all(db: &Db, r: &Register, filters: &Filters) -> AppResult<Vec<Rec>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (mut page, next) = list(db, r, filters, cursor.as_deref(), 500).await?;
        out.append(&mut page);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    out.reverse();
    Ok(out)
}

/// Refuse references to records that do not exist: one query per reference field.
async fn check_refs(db: &Db, r: &Register, vals: &Values) -> AppResult<()> {
    for f in r.fields {
        let (t, keys): (Target, Vec<String>) = match (f.ty, vals.get(f.name)) {
            (Type::Ref(t), Some(V::Int(i))) => (t, vec![i.to_string()]),
            (Type::Ref(t), Some(V::Text(s))) => (t, vec![s.clone()]),
            (Type::Refs(t), Some(V::Many(ks))) if !ks.is_empty() => (t, ks.clone()),
            _ => continue,
        };
        let (table, key, _, kind) = target(t);
        let mut q = Q::new("");
        let args: Vec<String> = keys
            .iter()
            .map(|k| {
                if key == "id" {
                    q.arg(k.parse::<i64>().unwrap_or_default())
                } else {
                    q.arg(k.clone())
                }
            })
            .collect();
        let mut sql = format!(
            "SELECT CAST({key} AS TEXT) FROM {table} WHERE {key} IN ({})",
            args.join(", ")
        );
        if let Some(kind) = kind {
            let b = q.arg(kind);
            sql.push_str(&format!(" AND kind = {b}"));
        }
        q.sql = sql;
        let found: Vec<(String,)> = db.all(q).await?;
        if let Some(missing) = keys.iter().find(|k| !found.iter().any(|(f,)| f == *k)) {
            return Err(AppError::invalid(
                f.name,
                format!("no such record: {missing}"),
            ));
        }
    }
    Ok(())
}

fn today() -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string()
}

/// Parse, stamp and check a create or an update, references included.
pub async fn prepare(
    db: &Db,
    r: &Register,
    input: &Map<String, Value>,
    before: Option<&Values>,
    actor_id: Option<i64>,
) -> AppResult<Values> {
    let mut vals = core::parse(r, input, before).map_err(invalid)?;
    if let Some(a) = actor_id {
        core::stamp(r, &mut vals, before, a, &today());
    }
    (r.rules)(&vals, before).map_err(invalid)?;
    check_refs(db, r, &vals).await?;
    Ok(vals)
}

fn audit_pairs(r: &Register, vals: &Values) -> Vec<(&'static str, Value)> {
    r.fields
        .iter()
        .map(|f| {
            (
                f.name,
                core::to_json(f, vals.get(f.name).unwrap_or(&V::Null)),
            )
        })
        .collect()
}

/// Bind a value; a null is bound with its column's type, since PostgreSQL fixes a prepared
/// statement's parameter types at the first execution.
fn bind_value(q: &mut Q, ty: Type, v: &V) -> String {
    match v {
        V::Int(i) => q.arg(*i),
        V::Text(t) => q.arg(t.clone()),
        _ if stored_as_text(ty) => q.arg(Option::<String>::None),
        _ => q.arg(Option::<i64>::None),
    }
}

fn stored_as_text(ty: Type) -> bool {
    matches!(
        ty,
        Type::Line(_) | Type::Text(_) | Type::Day | Type::Month | Type::Choice(_)
    ) || matches!(ty, Type::Ref(t) if t.text_key())
}

async fn write_refs(tx: &mut Tx, r: &Register, id: i64, vals: &Values) -> AppResult<()> {
    for f in r.fields.iter().filter(|f| !f.is_column()) {
        tx.exec(
            Q::new("DELETE FROM record_refs WHERE register = $1 AND record_id = $2 AND field = $3")
                .bind(r.name)
                .bind(id)
                .bind(f.name),
        )
        .await?;
        if let Some(V::Many(ks)) = vals.get(f.name) {
            for k in ks {
                tx.exec(
                    Q::new("INSERT INTO record_refs (register, record_id, field, target) VALUES ($1, $2, $3, $4)")
                        .bind(r.name)
                        .bind(id)
                        .bind(f.name)
                        .bind(k.clone()),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Insert prepared values inside the caller's transaction, audited; returns the id.
pub async fn insert(tx: &mut Tx, actor: &Actor, r: &Register, vals: &Values) -> AppResult<i64> {
    let now = now_ms();
    let mut q = Q::new("");
    let mut cols = vec![];
    let mut args = vec![];
    for f in r.fields.iter().filter(|f| f.is_column()) {
        cols.push(f.name);
        args.push(bind_value(
            &mut q,
            f.ty,
            vals.get(f.name).unwrap_or(&V::Null),
        ));
    }
    let (n, by) = (q.arg(now), q.arg(actor.user_id));
    q.sql = format!(
        "INSERT INTO {} ({}, version, created_at, updated_at, created_by) VALUES ({}, 1, {n}, {n}, {by}) RETURNING id",
        r.table,
        cols.join(", "),
        args.join(", ")
    );
    let id = tx.insert(q).await?;
    write_refs(tx, r, id, vals).await?;
    append(
        tx,
        actor,
        "create",
        r.entity,
        &id.to_string(),
        diff(&[], &audit_pairs(r, vals)),
    )
    .await?;
    Ok(id)
}

/// Write prepared values over a record at `version`, audited (only what changed).
pub async fn overwrite(
    tx: &mut Tx,
    actor: &Actor,
    r: &Register,
    before: &Rec,
    vals: &Values,
) -> AppResult<()> {
    let mut q = Q::new("");
    let mut sets = vec![];
    for f in r.fields.iter().filter(|f| f.is_column()) {
        let a = bind_value(&mut q, f.ty, vals.get(f.name).unwrap_or(&V::Null));
        sets.push(format!("{} = {a}", f.name));
    }
    let (n, id, v) = (q.arg(now_ms()), q.arg(before.id), q.arg(before.version));
    q.sql = format!(
        "UPDATE {} SET {}, version = version + 1, updated_at = {n} WHERE id = {id} AND version = {v}",
        r.table,
        sets.join(", ")
    );
    if tx.exec(q).await? == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    write_refs(tx, r, before.id, vals).await?;
    append(
        tx,
        actor,
        "update",
        r.entity,
        &before.id.to_string(),
        diff(&audit_pairs(r, &before.vals), &audit_pairs(r, vals)),
    )
    .await?;
    Ok(())
}

/// Inside the caller's transaction, set `field` on the records whose `key` field is `value`
/// and whose `field` is still empty (e.g. end the open outages of a resolved incident), each
/// audited. Returns how many changed.
pub async fn fill_where_empty(
    tx: &mut Tx,
    actor: &Actor,
    r: &Register,
    key: &str,
    value: &V,
    field: &str,
    to: &V,
) -> AppResult<u64> {
    let (Some(k), Some(f)) = (r.field(key), r.field(field)) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "{}: no field {key} or {field}",
            r.name
        )));
    };
    let mut q = Q::new("");
    let a = bind_value(&mut q, k.ty, value);
    q.sql = format!(
        "SELECT id, version FROM {} WHERE {} = {a} AND {} IS NULL",
        r.table, k.name, f.name
    );
    let rows: Vec<(i64, i64)> = tx.all(q).await?;
    let now = now_ms();
    for (id, version) in &rows {
        let mut q = Q::new("");
        let (v, n, i, ver) = (
            bind_value(&mut q, f.ty, to),
            q.arg(now),
            q.arg(*id),
            q.arg(*version),
        );
        q.sql = format!(
            "UPDATE {} SET {} = {v}, version = version + 1, updated_at = {n} WHERE id = {i} AND version = {ver}",
            r.table, f.name
        );
        tx.exec(q).await?;
        append(
            tx,
            actor,
            "update",
            r.entity,
            &id.to_string(),
            diff(&[(f.name, Value::Null)], &[(f.name, core::to_json(f, to))]),
        )
        .await?;
    }
    Ok(rows.len() as u64)
}

pub async fn create(
    db: &Db,
    p: &Principal,
    r: &Register,
    input: &Map<String, Value>,
) -> AppResult<Rec> {
    p.require(r.write)?;
    let vals = prepare(db, r, input, None, Some(p.user_id)).await?;
    let mut tx = db.begin().await?;
    let id = insert(&mut tx, &p.actor(), r, &vals).await?;
    tx.commit().await?;
    get(db, r, id).await
}

pub async fn update(
    db: &Db,
    p: &Principal,
    r: &Register,
    id: i64,
    input: &Map<String, Value>,
    if_version: Option<i64>,
) -> AppResult<Rec> {
    p.require(r.write)?;
    let before = get(db, r, id).await?;
    if let Some(v) = if_version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let vals = prepare(db, r, input, Some(&before.vals), Some(p.user_id)).await?;
    if core::changed(r, &before.vals, &vals).is_empty() {
        return Ok(before);
    }
    let mut tx = db.begin().await?;
    overwrite(&mut tx, &p.actor(), r, &before, &vals).await?;
    tx.commit().await?;
    get(db, r, id).await
}

/// A record as the API shows it: its fields, `<field>_label` for references, and bookkeeping.
pub fn to_json(r: &Register, rec: &Rec) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(rec.id));
    for f in r.fields {
        m.insert(
            f.name.into(),
            core::to_json(f, rec.vals.get(f.name).unwrap_or(&V::Null)),
        );
        if matches!(f.ty, Type::Ref(_) | Type::Refs(_)) {
            m.insert(
                format!("{}_label", f.name),
                rec.labels.get(f.name).cloned().unwrap_or(match f.ty {
                    Type::Refs(_) => json!([]),
                    _ => Value::Null,
                }),
            );
        }
    }
    m.insert("version".into(), json!(rec.version));
    m.insert(
        "created_at".into(),
        json!(crate::platform::web::iso(rec.created_at)),
    );
    m.insert(
        "updated_at".into(),
        json!(crate::platform::web::iso(rec.updated_at)),
    );
    Value::Object(m)
}

fn register_csv(r: &Register, recs: &[Rec]) -> String {
    let mut header = vec!["id".to_string()];
    for f in r.fields {
        header.push(f.name.to_string());
        if matches!(f.ty, Type::Ref(_) | Type::Refs(_)) {
            header.push(format!("{}_label", f.name));
        }
    }
    let rows: Vec<Vec<String>> = recs
        .iter()
        .map(|rec| {
            let mut row = vec![rec.id.to_string()];
            for f in r.fields {
                row.push(core::to_text(f, rec.vals.get(f.name).unwrap_or(&V::Null)));
                match rec.labels.get(f.name) {
                    Some(Value::String(s)) => row.push(s.clone()),
                    Some(Value::Array(a)) => row.push(
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    _ if matches!(f.ty, Type::Ref(_) | Type::Refs(_)) => row.push(String::new()),
                    _ => {}
                }
            }
            row
        })
        .collect();
    csv(&header, &rows)
}

fn with_etag(mut resp: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"v{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn body_object(body: &Bytes) -> AppResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AppError::BadRequest(
            "request body must be a JSON object".into(),
        )),
        Err(e) => Err(AppError::BadRequest(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

fn json_content(headers: &HeaderMap) -> AppResult<()> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") || ct.ends_with("+json") {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "expected Content-Type: application/json".into(),
        ))
    }
}

async fn api_list(
    st: AppState,
    p: Principal,
    r: &'static Register,
    params: HashMap<String, String>,
) -> AppResult<Response> {
    p.require(r.read)?;
    let filters = parse_filters(r, &params)?;
    if params.get("format").map(String::as_str) == Some("csv") {
        let recs = all(&st.db, r, &filters).await?;
        return Ok(csv_response(r.name, register_csv(r, &recs)));
    }
    let limit = page_limit(
        params
            .get("limit")
            .map(|l| {
                l.parse()
                    .map_err(|_| AppError::invalid("limit", "must be a number"))
            })
            .transpose()?,
    )
    .map_err(|e| AppError::invalid("limit", e))?;
    let (recs, next) = list(
        &st.db,
        r,
        &filters,
        params.get("cursor").map(String::as_str),
        limit,
    )
    .await?;
    let items: Vec<Value> = recs.iter().map(|x| to_json(r, x)).collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

async fn api_get(st: AppState, p: Principal, r: &'static Register, id: i64) -> AppResult<Response> {
    p.require(r.read)?;
    let rec = get(&st.db, r, id).await?;
    Ok(with_etag(
        axum::Json(to_json(r, &rec)).into_response(),
        rec.version,
    ))
}

async fn api_create(
    st: AppState,
    p: Principal,
    r: &'static Register,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    // The role gate before the body is read (API-DESIGN.md).
    p.require(r.write)?;
    json_content(&headers)?;
    let input = body_object(&body)?;
    let rec = create(&st.db, &p, r, &input).await?;
    let mut resp = with_etag(
        (StatusCode::CREATED, axum::Json(to_json(r, &rec))).into_response(),
        rec.version,
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/{}/{}", r.name, rec.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn api_update(
    st: AppState,
    p: Principal,
    r: &'static Register,
    id: i64,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    p.require(r.write)?;
    json_content(&headers)?;
    let mut input = body_object(&body)?;
    let mut version = crate::kernel::api::if_match(&headers)?;
    if let Some(v) = input.remove("version") {
        version = Some(
            v.as_i64()
                .ok_or_else(|| AppError::invalid("version", "must be a number"))?,
        );
    }
    let rec = update(&st.db, &p, r, id, &input, version).await?;
    Ok(with_etag(
        axum::Json(to_json(r, &rec)).into_response(),
        rec.version,
    ))
}

fn id_of(raw: &str) -> AppResult<i64> {
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("record {raw}")))
}

/// `/api/v1/<register>` and `/api/v1/<register>/{id}` for every register a process keeps, with
/// their OpenAPI description.
pub fn api() -> utoipa_axum::router::OpenApiRouter<AppState> {
    let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
    document(&mut doc);
    let mut router = utoipa_axum::router::OpenApiRouter::with_openapi(doc);
    for r in super::process::registers() {
        router = router
            .route(
                &format!("/api/v1/{}", r.name),
                route_get(
                    move |State(st): State<AppState>,
                          p: Principal,
                          Query(q): Query<HashMap<String, String>>| async move {
                        api_list(st, p, r, q).await
                    },
                )
                .post(
                    move |State(st): State<AppState>, p: Principal, h: HeaderMap, b: Bytes| async move {
                        api_create(st, p, r, h, b).await
                    },
                ),
            )
            .route(
                &format!("/api/v1/{}/{{id}}", r.name),
                route_get(
                    move |State(st): State<AppState>, p: Principal, Path(id): Path<String>| async move {
                        api_get(st, p, r, id_of(&id)?).await
                    },
                )
                .patch(
                    move |State(st): State<AppState>,
                          p: Principal,
                          Path(id): Path<String>,
                          h: HeaderMap,
                          b: Bytes| async move {
                        api_update(st, p, r, id_of(&id)?, h, b).await
                    },
                ),
            );
    }
    router
}

/// Add every register's paths and schemas to the OpenAPI document.
fn document(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type as T};
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};

    let problem = || {
        ResponseBuilder::new()
            .description("problem+json")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let comps = doc.components.get_or_insert_with(Default::default);
    for r in super::process::registers() {
        let schema_name: String = r
            .name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let mut rec = ObjectBuilder::new()
            .description(Some(format!("{} ({}). {}", r.title, r.clause, r.summary)))
            .property(
                "id",
                ObjectBuilder::new().schema_type(SchemaType::new(T::Integer)),
            )
            .required("id");
        let mut input = ObjectBuilder::new().description(Some(format!(
            "A new or changed record of {}; PATCH sends only the fields to change, null clears.",
            r.title.to_lowercase()
        )));
        for f in r.fields {
            let (ty, fmt): (T, Option<&str>) = match f.ty {
                Type::Line(_) | Type::Text(_) | Type::Choice(_) => (T::String, None),
                Type::Day => (T::String, Some("date")),
                Type::Month => (T::String, Some("YYYY-MM")),
                Type::Instant => (T::String, Some("date-time")),
                Type::Int { .. } => (T::Integer, None),
                Type::Decimal { .. } => (T::Number, None),
                Type::Bool => (T::Boolean, None),
                Type::Ref(t) if t.text_key() => (T::String, None),
                Type::Ref(_) => (T::Integer, None),
                Type::Refs(_) => (T::Array, None),
            };
            let desc = format!(
                "{}{}{}",
                f.label,
                if f.help.is_empty() { "" } else { ". " },
                f.help
            );
            let prop: RefOr<Schema> = if let Type::Refs(t) = f.ty {
                let item = if matches!(t, Target::Item(_)) {
                    T::String
                } else {
                    T::Integer
                };
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(SchemaType::new(item)))
                    .description(Some(desc))
                    .into()
            } else {
                // A field that may be left out is null when empty (and `null` clears it).
                let st = if f.required {
                    SchemaType::new(ty)
                } else {
                    SchemaType::from_iter([ty, T::Null])
                };
                let mut o = ObjectBuilder::new().schema_type(st).description(Some(desc));
                if let Some(fm) = fmt {
                    o = o.format(Some(utoipa::openapi::SchemaFormat::Custom(fm.into())));
                }
                if let Type::Choice(opts) = f.ty {
                    o = o.enum_values(Some(opts.iter().copied()));
                }
                o.into()
            };
            rec = rec.property(f.name, prop.clone());
            input = input.property(f.name, prop);
            if f.required && f.default.is_none() {
                input = input.required(f.name);
            }
            if matches!(f.ty, Type::Ref(_)) {
                rec = rec.property(
                    format!("{}_label", f.name),
                    ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([T::String, T::Null]))
                        .description(Some("Display name of the reference")),
                );
            } else if matches!(f.ty, Type::Refs(_)) {
                rec = rec.property(
                    format!("{}_label", f.name),
                    ArrayBuilder::new()
                        .items(ObjectBuilder::new().schema_type(SchemaType::new(T::String)))
                        .description(Some("Display names of the references")),
                );
            }
        }
        rec = rec
            .property(
                "version",
                ObjectBuilder::new().schema_type(SchemaType::new(T::Integer)),
            )
            .required("version");
        for k in ["created_at", "updated_at"] {
            rec = rec.property(
                k,
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(T::String))
                    .format(Some(utoipa::openapi::SchemaFormat::Custom(
                        "date-time".into(),
                    ))),
            );
        }
        let input_name = format!("{schema_name}Input");
        comps.schemas.insert(schema_name.clone(), rec.into());
        comps.schemas.insert(input_name.clone(), input.into());
        let page = ObjectBuilder::new()
            .property(
                "items",
                ArrayBuilder::new().items(Ref::from_schema_name(&schema_name)),
            )
            .required("items")
            .property(
                "next_cursor",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([T::String, T::Null]))
                    .description(Some(
                        "Pass as `cursor` for the next page; null on the last one",
                    )),
            )
            .required("next_cursor");
        let ok = |status_desc: &str, schema: RefOr<Schema>| {
            ResponseBuilder::new()
                .description(status_desc)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build()
        };
        let security = || vec![SecurityRequirement::new("bearer", Vec::<String>::new())];
        let tag = r.clause_tag();
        let mut list_op = OperationBuilder::new()
            .tag(tag)
            .summary(Some(format!("{}: the register", r.title)))
            .description(Some(format!(
                "Newest first, cursor-paginated; `?format=csv` exports every matching record. Filters: {}.",
                r.filterable().map(|f| f.name).collect::<Vec<_>>().join(", ")
            )))
            .operation_id(Some(format!("list_{}", r.entity)))
            .securities(Some(security()))
            .response("200", ok("The page of records", page.into()))
            .response("422", problem());
        for p in ["limit", "cursor", "format"] {
            list_op = list_op.parameter(
                ParameterBuilder::new()
                    .name(p)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .schema(Some(ObjectBuilder::new().schema_type(SchemaType::new(
                        if p == "limit" { T::Integer } else { T::String },
                    )))),
            );
        }
        for f in r.filterable() {
            list_op = list_op.parameter(
                ParameterBuilder::new()
                    .name(f.name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(f.label))
                    .schema(Some(
                        ObjectBuilder::new().schema_type(SchemaType::new(T::String)),
                    )),
            );
        }
        let body = || {
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(&input_name)))
                        .build(),
                )
                .required(Some(Required::True))
                .build()
        };
        let create_op = OperationBuilder::new()
            .tag(tag)
            .summary(Some(format!("Add to {}", r.title.to_lowercase())))
            .operation_id(Some(format!("create_{}", r.entity)))
            .securities(Some(security()))
            .request_body(Some(body()))
            .response(
                "201",
                ok("Created", Ref::from_schema_name(&schema_name).into()),
            )
            .response("422", problem());
        let id_param = || {
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(
                    ObjectBuilder::new().schema_type(SchemaType::new(T::Integer)),
                ))
        };
        let get_op = OperationBuilder::new()
            .tag(tag)
            .summary(Some(format!("One record of {}", r.title.to_lowercase())))
            .operation_id(Some(format!("get_{}", r.entity)))
            .securities(Some(security()))
            .parameter(id_param())
            .response(
                "200",
                ok("The record", Ref::from_schema_name(&schema_name).into()),
            )
            .response("404", problem());
        let patch_op = OperationBuilder::new()
            .tag(tag)
            .summary(Some(format!(
                "Change a record of {} (If-Match for a conditional update)",
                r.title.to_lowercase()
            )))
            .operation_id(Some(format!("update_{}", r.entity)))
            .securities(Some(security()))
            .parameter(id_param())
            .request_body(Some(body()))
            .response(
                "200",
                ok("The record", Ref::from_schema_name(&schema_name).into()),
            )
            .response("412", problem())
            .response("422", problem());
        let list_path = format!("/api/v1/{}", r.name);
        let one_path = format!("/api/v1/{}/{{id}}", r.name);
        doc.paths
            .add_path_operation(&list_path, vec![HttpMethod::Get], list_op.build());
        doc.paths
            .add_path_operation(&list_path, vec![HttpMethod::Post], create_op.build());
        doc.paths
            .add_path_operation(&one_path, vec![HttpMethod::Get], get_op.build());
        doc.paths
            .add_path_operation(&one_path, vec![HttpMethod::Patch], patch_op.build());
    }
}

/// The OpenAPI tag a register's operations are grouped under: its clause group.
trait ClauseTag {
    fn clause_tag(&self) -> &'static str;
}

impl ClauseTag for Register {
    fn clause_tag(&self) -> &'static str {
        match self.clause {
            "8.3.2" => "relationships",
            "8.3.3" => "agreements",
            "8.3.4" => "suppliers",
            "8.4.1" => "budgeting",
            "8.4.2" | "8.4.3" => "capacity",
            "8.7.1" => "availability",
            "8.7.2" => "continuity",
            _ => "security",
        }
    }
}
