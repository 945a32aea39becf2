//! Clause 8.2.5 — asset management: hardware, software, licences and contract items with their
//! lifecycle, owner, location, cost, warranty and expiry; licence entitlements against the CIs
//! they are installed on (over-use flagged); expiry warnings through the job queue.

use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::{ApiJson, ApiQuery, double_option};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::operation::portfolio::asset::{
    KINDS, STATES, days_until, move_allowed, needs_warning, over_use,
};
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Warranty and expiry warnings start this many days ahead.
pub const WARN_DAYS: i64 = 30;

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    tag: String,
    name: String,
    kind: String,
    state: String,
    owner_id: Option<i64>,
    owner: Option<String>,
    location: String,
    cost_cents: Option<i64>,
    currency: String,
    supplier: String,
    contract_ref: String,
    purchase_date: Option<String>,
    warranty_end: Option<String>,
    expiry_date: Option<String>,
    entitlements: Option<i64>,
    ci_id: Option<i64>,
    ci: Option<String>,
    installed: i64,
    version: i64,
    updated_at: i64,
}

const SQL: &str = "SELECT a.id, a.tag, a.name, a.kind, a.state, a.owner_id, u.name AS owner, a.location, a.cost_cents, a.currency, a.supplier, \
    a.contract_ref, a.purchase_date, a.warranty_end, a.expiry_date, a.entitlements, a.ci_id, c.name AS ci, \
    (SELECT COUNT(*) FROM asset_installations i WHERE i.licence_id = a.id) AS installed, a.version, a.updated_at \
    FROM assets a LEFT JOIN users u ON u.id = a.owner_id LEFT JOIN cis c ON c.id = a.ci_id";

/// An asset.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Asset {
    /// `AST-000001`.
    pub tag: String,
    pub name: String,
    /// hardware, software, licence or contract_item.
    pub kind: String,
    /// ordered, in_stock, in_use, maintenance, retired or disposed.
    pub state: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub location: String,
    /// Purchase cost as a decimal string (`1299.00`).
    pub cost: Option<String>,
    pub currency: String,
    pub supplier: String,
    /// The contract it is held or supported under.
    pub contract_ref: String,
    pub purchase_date: Option<String>,
    pub warranty_end: Option<String>,
    pub expiry_date: Option<String>,
    /// Licences: installations the entitlement covers.
    pub entitlements: Option<i64>,
    /// Licences: CIs it is installed on.
    pub installed: i64,
    /// Licences: installations beyond the entitlement.
    pub over_use: Option<i64>,
    /// Days left on the warranty or until expiry (the nearer; negative once passed).
    pub days_to_expiry: Option<i64>,
    /// The configuration item this asset is (hardware) or runs as.
    pub ci_id: Option<i64>,
    pub ci: Option<String>,
    pub version: i64,
    pub updated_at: String,
}

fn today() -> Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

fn cost_text(cents: i64) -> String {
    format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        (cents / 100).abs(),
        (cents % 100).abs()
    )
}

fn view(r: Row) -> Asset {
    let t = today();
    let days = [&r.warranty_end, &r.expiry_date]
        .into_iter()
        .flatten()
        .filter_map(|d| d.parse::<Date>().ok())
        .map(|d| days_until(t, d))
        .min();
    Asset {
        over_use: if r.kind == "licence" {
            over_use(r.entitlements, r.installed)
        } else {
            None
        },
        days_to_expiry: days,
        tag: r.tag,
        name: r.name,
        kind: r.kind,
        state: r.state,
        owner_id: r.owner_id,
        owner: r.owner,
        location: r.location,
        cost: r.cost_cents.map(cost_text),
        currency: r.currency,
        supplier: r.supplier,
        contract_ref: r.contract_ref,
        purchase_date: r.purchase_date,
        warranty_end: r.warranty_end,
        expiry_date: r.expiry_date,
        entitlements: r.entitlements,
        installed: r.installed,
        ci_id: r.ci_id,
        ci: r.ci,
        version: r.version,
        updated_at: iso(r.updated_at),
    }
}

async fn row(db: &Db, tag: &str) -> AppResult<Row> {
    db.opt(Q::new(format!("{SQL} WHERE a.tag = $1")).bind(tag.to_uppercase()))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("asset {tag}")))
}

pub async fn get(db: &Db, tag: &str) -> AppResult<Asset> {
    Ok(view(row(db, tag).await?))
}

fn one_of(field: &str, v: &str, allowed: &[&str]) -> AppResult<String> {
    allowed
        .iter()
        .find(|a| **a == v.trim())
        .map(|s| s.to_string())
        .ok_or_else(|| {
            AppError::invalid(
                field,
                format!("`{v}` is not one of: {}", allowed.join(", ")),
            )
        })
}

fn date(field: &str, v: &str) -> AppResult<String> {
    v.trim()
        .parse::<Date>()
        .map(|d| d.to_string())
        .map_err(|_| AppError::invalid(field, format!("`{v}` is not a date (YYYY-MM-DD)")))
}

/// A decimal amount (`1299`, `1299.5`, `1299.00`) in cents; never a float.
fn cents(v: &str) -> AppResult<i64> {
    let bad = || AppError::invalid("cost", format!("`{v}` is not an amount like 1299.00"));
    let t = v.trim();
    let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let w: i64 = whole.parse().map_err(|_| bad())?;
    let f: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let c = w
        .checked_mul(100)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(bad)?;
    if neg {
        return Err(AppError::invalid("cost", "must not be negative"));
    }
    Ok(c)
}

fn text(field: &str, v: &str, max: usize) -> AppResult<String> {
    if v.trim().is_empty() {
        return Ok(String::new());
    }
    Ok(Line::parse(v, max)
        .map_err(|e| AppError::invalid(field, e))?
        .into_string())
}

/// The fields of an asset as written and audited.
#[derive(Debug, Clone, PartialEq)]
struct Fields {
    name: String,
    kind: String,
    state: String,
    owner_id: Option<i64>,
    location: String,
    cost_cents: Option<i64>,
    currency: String,
    supplier: String,
    contract_ref: String,
    purchase_date: Option<String>,
    warranty_end: Option<String>,
    expiry_date: Option<String>,
    entitlements: Option<i64>,
    ci_id: Option<i64>,
}

impl Fields {
    fn audit(&self) -> [(&'static str, Value); 14] {
        [
            ("name", json!(self.name)),
            ("kind", json!(self.kind)),
            ("state", json!(self.state)),
            ("owner_id", json!(self.owner_id)),
            ("location", json!(self.location)),
            ("cost_cents", json!(self.cost_cents)),
            ("currency", json!(self.currency)),
            ("supplier", json!(self.supplier)),
            ("contract_ref", json!(self.contract_ref)),
            ("purchase_date", json!(self.purchase_date)),
            ("warranty_end", json!(self.warranty_end)),
            ("expiry_date", json!(self.expiry_date)),
            ("entitlements", json!(self.entitlements)),
            ("ci_id", json!(self.ci_id)),
        ]
    }

    fn check(&self) -> AppResult<()> {
        if self.entitlements.is_some() && self.kind != "licence" {
            return Err(AppError::invalid(
                "entitlements",
                "only a licence has entitlements",
            ));
        }
        if self.entitlements.is_some_and(|e| e < 0) {
            return Err(AppError::invalid("entitlements", "must not be negative"));
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(AppError::invalid(
                "currency",
                "an ISO 4217 code such as EUR",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub name: String,
    pub kind: String,
    /// Defaults to in_stock.
    pub state: Option<String>,
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub location: String,
    /// A decimal amount, `1299.00`.
    pub cost: Option<String>,
    /// ISO 4217, default EUR.
    pub currency: Option<String>,
    #[serde(default)]
    pub supplier: String,
    #[serde(default)]
    pub contract_ref: String,
    pub purchase_date: Option<String>,
    pub warranty_end: Option<String>,
    pub expiry_date: Option<String>,
    pub entitlements: Option<i64>,
    pub ci_id: Option<i64>,
}

pub async fn create(db: &Db, p: &Principal, b: NewAsset) -> AppResult<Asset> {
    p.require(Action::ManageConfiguration)?;
    let f = Fields {
        name: Line::parse(&b.name, 200)
            .map_err(|e| AppError::invalid("name", e))?
            .into_string(),
        kind: one_of("kind", &b.kind, KINDS)?,
        state: b
            .state
            .as_deref()
            .map(|s| one_of("state", s, STATES))
            .transpose()?
            .unwrap_or_else(|| "in_stock".into()),
        owner_id: b.owner_id,
        location: text("location", &b.location, 200)?,
        cost_cents: b.cost.as_deref().map(cents).transpose()?,
        currency: b
            .currency
            .unwrap_or_else(|| "EUR".into())
            .trim()
            .to_uppercase(),
        supplier: text("supplier", &b.supplier, 200)?,
        contract_ref: text("contract_ref", &b.contract_ref, 200)?,
        purchase_date: b
            .purchase_date
            .as_deref()
            .map(|d| date("purchase_date", d))
            .transpose()?,
        warranty_end: b
            .warranty_end
            .as_deref()
            .map(|d| date("warranty_end", d))
            .transpose()?,
        expiry_date: b
            .expiry_date
            .as_deref()
            .map(|d| date("expiry_date", d))
            .transpose()?,
        entitlements: b.entitlements,
        ci_id: b.ci_id,
    };
    f.check()?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(o) = f.owner_id {
        crate::directory::exists(&mut tx, "users", o, "owner_id").await?;
    }
    if let Some(c) = f.ci_id {
        crate::directory::exists(&mut tx, "cis", c, "ci_id").await?;
    }
    let tag = crate::platform::db::next_number(&mut tx, "asset", "AST").await?;
    tx.exec(
        Q::new("INSERT INTO assets (tag, name, kind, state, owner_id, location, cost_cents, currency, supplier, contract_ref, purchase_date, warranty_end, expiry_date, entitlements, ci_id, version, created_at, updated_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $16)")
            .bind(tag.as_str())
            .bind(f.name.as_str())
            .bind(f.kind.as_str())
            .bind(f.state.as_str())
            .bind(f.owner_id)
            .bind(f.location.as_str())
            .bind(f.cost_cents)
            .bind(f.currency.as_str())
            .bind(f.supplier.as_str())
            .bind(f.contract_ref.as_str())
            .bind(f.purchase_date.clone())
            .bind(f.warranty_end.clone())
            .bind(f.expiry_date.clone())
            .bind(f.entitlements)
            .bind(f.ci_id)
            .bind(now),
    )
    .await?;
    let changes = f
        .audit()
        .into_iter()
        .map(|(k, v)| FieldChange {
            field: k.into(),
            old: Value::Null,
            new: v,
        })
        .collect();
    append(&mut tx, &p.actor(), "create", "asset", &tag, changes).await?;
    tx.commit().await?;
    get(db, &tag).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    pub name: Option<String>,
    /// ordered → in_stock → in_use ⇄ maintenance → retired → disposed.
    pub state: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    pub location: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub cost: Option<Option<String>>,
    pub currency: Option<String>,
    pub supplier: Option<String>,
    pub contract_ref: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub purchase_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub warranty_end: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expiry_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub entitlements: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub ci_id: Option<Option<i64>>,
    pub version: Option<i64>,
}

fn opt_date(
    field: &str,
    v: Option<Option<String>>,
    old: &Option<String>,
) -> AppResult<Option<String>> {
    match v {
        Some(Some(d)) => Ok(Some(date(field, &d)?)),
        Some(None) => Ok(None),
        None => Ok(old.clone()),
    }
}

pub async fn update(db: &Db, p: &Principal, tag: &str, b: AssetPatch) -> AppResult<Asset> {
    p.require(Action::ManageConfiguration)?;
    let r = row(db, tag).await?;
    if let Some(v) = b.version
        && v != r.version
    {
        return Err(AppError::Stale { current: r.version });
    }
    let old = Fields {
        name: r.name.clone(),
        kind: r.kind.clone(),
        state: r.state.clone(),
        owner_id: r.owner_id,
        location: r.location.clone(),
        cost_cents: r.cost_cents,
        currency: r.currency.clone(),
        supplier: r.supplier.clone(),
        contract_ref: r.contract_ref.clone(),
        purchase_date: r.purchase_date.clone(),
        warranty_end: r.warranty_end.clone(),
        expiry_date: r.expiry_date.clone(),
        entitlements: r.entitlements,
        ci_id: r.ci_id,
    };
    let new = Fields {
        name: match &b.name {
            Some(n) => Line::parse(n, 200)
                .map_err(|e| AppError::invalid("name", e))?
                .into_string(),
            None => old.name.clone(),
        },
        kind: old.kind.clone(),
        state: b
            .state
            .as_deref()
            .map(|s| one_of("state", s, STATES))
            .transpose()?
            .unwrap_or_else(|| old.state.clone()),
        owner_id: b.owner_id.unwrap_or(old.owner_id),
        location: b
            .location
            .as_deref()
            .map(|v| text("location", v, 200))
            .transpose()?
            .unwrap_or_else(|| old.location.clone()),
        cost_cents: match &b.cost {
            Some(Some(c)) => Some(cents(c)?),
            Some(None) => None,
            None => old.cost_cents,
        },
        currency: b
            .currency
            .as_deref()
            .map(|c| c.trim().to_uppercase())
            .unwrap_or_else(|| old.currency.clone()),
        supplier: b
            .supplier
            .as_deref()
            .map(|v| text("supplier", v, 200))
            .transpose()?
            .unwrap_or_else(|| old.supplier.clone()),
        contract_ref: b
            .contract_ref
            .as_deref()
            .map(|v| text("contract_ref", v, 200))
            .transpose()?
            .unwrap_or_else(|| old.contract_ref.clone()),
        purchase_date: opt_date("purchase_date", b.purchase_date, &old.purchase_date)?,
        warranty_end: opt_date("warranty_end", b.warranty_end, &old.warranty_end)?,
        expiry_date: opt_date("expiry_date", b.expiry_date, &old.expiry_date)?,
        entitlements: b.entitlements.unwrap_or(old.entitlements),
        ci_id: b.ci_id.unwrap_or(old.ci_id),
    };
    new.check()?;
    if !move_allowed(&old.state, &new.state) {
        return Err(AppError::Conflict(format!(
            "an asset {} cannot become {}",
            old.state.replace('_', " "),
            new.state.replace('_', " ")
        )));
    }
    let changes: Vec<FieldChange> = old
        .audit()
        .into_iter()
        .zip(new.audit())
        .filter(|(o, n)| o.1 != n.1)
        .map(|(o, n)| FieldChange {
            field: o.0.into(),
            old: o.1,
            new: n.1,
        })
        .collect();
    if changes.is_empty() {
        return Ok(view(r));
    }
    let mut tx = db.begin().await?;
    if let Some(o) = new.owner_id.filter(|o| Some(*o) != old.owner_id) {
        crate::directory::exists(&mut tx, "users", o, "owner_id").await?;
    }
    if let Some(c) = new.ci_id.filter(|c| Some(*c) != old.ci_id) {
        crate::directory::exists(&mut tx, "cis", c, "ci_id").await?;
    }
    let n = tx
        .exec(
            Q::new("UPDATE assets SET name = $1, state = $2, owner_id = $3, location = $4, cost_cents = $5, currency = $6, supplier = $7, contract_ref = $8, \
                    purchase_date = $9, warranty_end = $10, expiry_date = $11, entitlements = $12, ci_id = $13, version = version + 1, updated_at = $14 WHERE id = $15 AND version = $16")
                .bind(new.name.as_str())
                .bind(new.state.as_str())
                .bind(new.owner_id)
                .bind(new.location.as_str())
                .bind(new.cost_cents)
                .bind(new.currency.as_str())
                .bind(new.supplier.as_str())
                .bind(new.contract_ref.as_str())
                .bind(new.purchase_date.clone())
                .bind(new.warranty_end.clone())
                .bind(new.expiry_date.clone())
                .bind(new.entitlements)
                .bind(new.ci_id)
                .bind(now_ms())
                .bind(r.id)
                .bind(r.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: r.version + 1,
        });
    }
    append(&mut tx, &p.actor(), "update", "asset", &r.tag, changes).await?;
    tx.commit().await?;
    get(db, &r.tag).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssetParams {
    pub kind: Option<String>,
    pub state: Option<String>,
    /// Name or tag contains.
    pub q: Option<String>,
    /// Warranty or expiry within this many days (or passed), active assets only.
    pub expiring_within_days: Option<i64>,
    /// Only licences installed beyond their entitlement.
    #[serde(default)]
    pub over_use: bool,
    /// 1–500, default 50; page with `after` (the last tag's number).
    pub limit: Option<u32>,
    pub after: Option<String>,
}

pub async fn list(db: &Db, params: &AssetParams) -> AppResult<Vec<Asset>> {
    let limit = keel_core::page::limit(params.limit).map_err(|e| AppError::invalid("limit", e))?;
    let mut q = Q::new("");
    let mut conds = vec![];
    if let Some(k) = params.kind.as_deref().filter(|s| !s.is_empty()) {
        conds.push(format!("a.kind = {}", q.arg(one_of("kind", k, KINDS)?)));
    }
    if let Some(s) = params.state.as_deref().filter(|s| !s.is_empty()) {
        conds.push(format!("a.state = {}", q.arg(one_of("state", s, STATES)?)));
    }
    if let Some(t) = params.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let a = q.arg(format!("%{}%", t.to_lowercase()));
        conds.push(format!("(LOWER(a.name) LIKE {a} OR LOWER(a.tag) LIKE {a})"));
    }
    if let Some(d) = params.expiring_within_days {
        if !(0..=3660).contains(&d) {
            return Err(AppError::invalid(
                "expiring_within_days",
                "must be between 0 and 3660",
            ));
        }
        let until = today()
            .checked_add(jiff::Span::new().days(d))
            .map_err(|e| AppError::invalid("expiring_within_days", e))?
            .to_string();
        let u = q.arg(until);
        conds.push(format!("a.state NOT IN ('retired', 'disposed') AND (a.warranty_end <= {u} OR a.expiry_date <= {u})"));
    }
    if params.over_use {
        conds.push("a.kind = 'licence' AND a.entitlements IS NOT NULL AND (SELECT COUNT(*) FROM asset_installations i WHERE i.licence_id = a.id) > a.entitlements".into());
    }
    if let Some(after) = params.after.as_deref() {
        conds.push(format!("a.tag > {}", q.arg(after.to_uppercase())));
    }
    let wh = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let lim = q.arg(i64::from(limit));
    q.sql = format!("{SQL}{wh} ORDER BY a.tag LIMIT {lim}");
    let rows: Vec<Row> = db.all(q).await?;
    Ok(rows.into_iter().map(view).collect())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Installation {
    pub ci_id: i64,
    pub ci: String,
    #[serde(skip)]
    pub created_at: i64,
}

pub async fn installations(db: &Db, tag: &str) -> AppResult<Vec<Installation>> {
    let r = row(db, tag).await?;
    Ok(db
        .all(Q::new("SELECT i.ci_id, c.name AS ci, i.created_at FROM asset_installations i JOIN cis c ON c.id = i.ci_id WHERE i.licence_id = $1 ORDER BY c.name").bind(r.id))
        .await?)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInstallation {
    pub ci_id: i64,
}

/// Record (or remove) a licence's installation on a CI. Installing beyond the entitlement is
/// recorded — it happened — and flagged as over-use.
pub async fn set_installation(
    db: &Db,
    p: &Principal,
    tag: &str,
    ci: i64,
    add: bool,
) -> AppResult<Asset> {
    p.require(Action::ManageConfiguration)?;
    let r = row(db, tag).await?;
    if r.kind != "licence" {
        return Err(AppError::Conflict(format!("{} is not a licence", r.tag)));
    }
    let mut tx = db.begin().await?;
    if add {
        crate::directory::exists(&mut tx, "cis", ci, "ci_id").await?;
        tx.exec(Q::new("INSERT INTO asset_installations (licence_id, ci_id, created_at) VALUES ($1, $2, $3)").bind(r.id).bind(ci).bind(now_ms()))
            .await
            .map_err(|e| match e {
                DbError::Unique(_) => AppError::Conflict(format!("{} is already installed on CI {ci}", r.tag)),
                e => e.into(),
            })?;
    } else if tx
        .exec(
            Q::new("DELETE FROM asset_installations WHERE licence_id = $1 AND ci_id = $2")
                .bind(r.id)
                .bind(ci),
        )
        .await?
        == 0
    {
        return Err(AppError::NotFound(format!(
            "installation of {} on CI {ci}",
            r.tag
        )));
    }
    let (n,): (i64,) = tx
        .one(Q::new("SELECT COUNT(*) FROM asset_installations WHERE licence_id = $1").bind(r.id))
        .await?;
    append(
        &mut tx,
        &p.actor(),
        if add { "install" } else { "uninstall" },
        "asset",
        &r.tag,
        vec![
            FieldChange {
                field: "ci_id".into(),
                old: if add { Value::Null } else { json!(ci) },
                new: if add { json!(ci) } else { Value::Null },
            },
            FieldChange {
                field: "installed".into(),
                old: json!(r.installed),
                new: json!(n),
            },
        ],
    )
    .await?;
    tx.commit().await?;
    get(db, &r.tag).await
}

/// tag, name, owner, warranty end, expiry date.
type DueRow = (String, String, i64, Option<String>, Option<String>);

/// The daily job: tell owners about warranties and expiries within [`WARN_DAYS`] (or passed),
/// at most once a week per asset.
pub async fn warn_expiring(db: &Db) -> AppResult<u64> {
    let t = today();
    let until = t
        .checked_add(jiff::Span::new().days(WARN_DAYS))
        .map(|d| d.to_string())
        .unwrap_or_default();
    let due: Vec<DueRow> = db
        .all(
            Q::new("SELECT a.tag, a.name, a.owner_id, a.warranty_end, a.expiry_date FROM assets a WHERE a.owner_id IS NOT NULL AND a.state NOT IN ('retired', 'disposed') \
                    AND (a.warranty_end <= $1 OR a.expiry_date <= $1) \
                    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event = 'asset.expiring' AND o.payload LIKE '%' || a.tag || '%' AND o.created_at > $2)")
                .bind(until)
                .bind(now_ms() - 7 * 86_400_000),
        )
        .await?;
    let events: Vec<_> = due
        .into_iter()
        .filter_map(|(tag, name, owner, warranty, expiry)| {
            let what = [("warranty", warranty), ("expiry", expiry)]
                .into_iter()
                .filter_map(|(w, d)| {
                    d.and_then(|d| d.parse::<Date>().ok())
                        .filter(|d| needs_warning(t, *d, WARN_DAYS))
                        .map(|d| (w, d))
                })
                .min_by_key(|(_, d)| *d)?;
            let days = days_until(t, what.1);
            let when = if days < 0 {
                format!("ended {} days ago", -days)
            } else {
                format!("ends in {days} days")
            };
            Some(crate::platform::outbox::Event {
                event: "asset.expiring",
                item_id: None,
                title: format!("{tag} {name}: {} {when} ({})", what.0, what.1),
                payload: json!({"asset": tag, "what": what.0, "date": what.1.to_string()}),
                recipients: vec![owner],
            })
        })
        .collect();
    let n = events.len() as u64;
    let mut tx = db.begin().await?;
    crate::platform::outbox::emit_many(&mut tx, events).await?;
    tx.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Assets, by tag.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetParams), responses((status = 200, body = Vec<Asset>)), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<AssetParams>,
) -> AppResult<Json<Vec<Asset>>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(list(&st.db, &q).await?))
}

/// Register an asset.
#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body = NewAsset, responses((status = 201, body = Asset)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewAsset>,
) -> AppResult<(StatusCode, Json<Asset>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One asset.
#[utoipa::path(get, path = "/api/v1/assets/{tag}", tag = "assets", params(("tag" = String, Path)), responses((status = 200, body = Asset)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(tag): Path<String>,
) -> AppResult<Json<Asset>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(get(&st.db, &tag).await?))
}

/// Change an asset (state moves follow its lifecycle).
#[utoipa::path(patch, path = "/api/v1/assets/{tag}", tag = "assets", params(("tag" = String, Path)), request_body = AssetPatch, responses((status = 200, body = Asset)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(tag): Path<String>,
    ApiJson(b): ApiJson<AssetPatch>,
) -> AppResult<Json<Asset>> {
    Ok(Json(update(&st.db, &p, &tag, b).await?))
}

/// Where a licence is installed.
#[utoipa::path(get, path = "/api/v1/assets/{tag}/installations", tag = "assets", params(("tag" = String, Path)), responses((status = 200, body = Vec<Installation>)), security(("bearer" = [])))]
pub async fn api_installations(
    State(st): State<AppState>,
    p: Principal,
    Path(tag): Path<String>,
) -> AppResult<Json<Vec<Installation>>> {
    p.require(Action::ReadConfiguration)?;
    Ok(Json(installations(&st.db, &tag).await?))
}

/// Record a licence installed on a CI (over-use is recorded and flagged).
#[utoipa::path(post, path = "/api/v1/assets/{tag}/installations", tag = "assets", params(("tag" = String, Path)), request_body = NewInstallation, responses((status = 201, body = Asset)), security(("bearer" = [])))]
pub async fn api_install(
    State(st): State<AppState>,
    p: Principal,
    Path(tag): Path<String>,
    ApiJson(b): ApiJson<NewInstallation>,
) -> AppResult<(StatusCode, Json<Asset>)> {
    Ok((
        StatusCode::CREATED,
        Json(set_installation(&st.db, &p, &tag, b.ci_id, true).await?),
    ))
}

/// Remove a licence's installation.
#[utoipa::path(delete, path = "/api/v1/assets/{tag}/installations/{ci_id}", tag = "assets", params(("tag" = String, Path), ("ci_id" = i64, Path)), responses((status = 200, body = Asset)), security(("bearer" = [])))]
pub async fn api_uninstall(
    State(st): State<AppState>,
    p: Principal,
    Path((tag, ci)): Path<(String, i64)>,
) -> AppResult<Json<Asset>> {
    Ok(Json(set_installation(&st.db, &p, &tag, ci, false).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "assets",
    api: part_api,
    pages: super::ui::asset_routes,
    templates: &[(
        "assets.html",
        include_str!("../../../templates/assets.html"),
    )],
    tags: &[("assets", "Assets, licences and their installations (8.2.5)")],
    jobs: &[crate::platform::part::JobKind {
        kind: "assets.expiry",
        every: Some(|_| Some(24 * 60 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                warn_expiring(&st.db)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
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
            routes!(api_list, api_create),
        ))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_get, api_update),
        ))
        .routes(gate(
            Action::ManageConfiguration,
            routes!(api_installations, api_install),
        ))
        .routes(gate(Action::ManageConfiguration, routes!(api_uninstall)))
}
