//! Clause 8.2.4 — the service catalogue: offerings customers can see and order, each with a
//! description, the service levels offered and an order form of typed fields validated on the
//! server. Ordering creates a service request (8.6.2) of the offering's request type, carrying
//! the answers, in the same transaction.

use super::configuration::check_references;
use crate::kernel::api::ItemView;
use crate::kernel::{self, NewItem};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::ApiJson;
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::{Action, Role};
use keel_core::audit::FieldChange;
use keel_core::operation::portfolio::form::{self, FieldDef, FieldKind};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A service level the offering's service is delivered at.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct OfferedLevel {
    pub name: String,
    /// response or resolution.
    pub metric: String,
    pub priority: Option<i64>,
    pub target_minutes: i64,
}

/// A catalogue offering.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Offering {
    pub id: i64,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub category: String,
    pub service_id: i64,
    pub service: String,
    pub request_type_id: i64,
    /// The order form: typed fields (text, number, date, boolean, choice, user, ci).
    #[schema(value_type = Vec<Object>)]
    pub form: Vec<FieldDef>,
    /// Roles that may order it; empty: everyone signed in.
    pub roles: Vec<String>,
    /// Customers whose people see it; empty: all customers.
    pub customer_ids: Vec<i64>,
    pub active: bool,
    /// The service levels of the offering's service.
    pub service_levels: Vec<OfferedLevel>,
    pub version: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    summary: String,
    description: String,
    category: String,
    service_id: i64,
    service: String,
    service_stage: String,
    request_type_id: i64,
    form: String,
    roles: String,
    active: i64,
    version: i64,
}

const SQL: &str = "SELECT o.id, o.name, o.summary, o.description, o.category, o.service_id, s.name AS service, s.stage AS service_stage, \
    o.request_type_id, o.form, o.roles, o.active, o.version FROM catalogue_offerings o JOIN services s ON s.id = o.service_id";

fn staff(p: &Principal) -> bool {
    p.can(Action::ReadDirectory)
}

/// Whether `p` may see (and order) the offering.
fn visible(p: &Principal, r: &Row, customers: &[i64]) -> bool {
    if staff(p) {
        return true;
    }
    let roles: Vec<&str> = r.roles.split(',').filter(|s| !s.is_empty()).collect();
    r.active == 1
        && r.service_stage == "live"
        && (roles.is_empty() || roles.contains(&p.role.as_str()))
        && (customers.is_empty() || p.customer_id.is_some_and(|c| customers.contains(&c)))
}

async fn levels(db: &Db, service: i64) -> AppResult<Vec<OfferedLevel>> {
    Ok(db
        .all(Q::new("SELECT name, metric, priority, target_minutes FROM service_level_targets WHERE service_id = $1 AND active = 1 ORDER BY metric, priority").bind(service))
        .await?)
}

async fn customers_of(db: &Db) -> AppResult<Vec<(i64, i64)>> {
    Ok(db
        .all(Q::new(
            "SELECT offering_id, customer_id FROM catalogue_visibility",
        ))
        .await?)
}

fn view(r: Row, customer_ids: Vec<i64>, service_levels: Vec<OfferedLevel>) -> Offering {
    Offering {
        id: r.id,
        name: r.name,
        summary: r.summary,
        description: r.description,
        category: r.category,
        service_id: r.service_id,
        service: r.service,
        request_type_id: r.request_type_id,
        form: serde_json::from_str(&r.form).unwrap_or_default(),
        roles: r
            .roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        customer_ids,
        active: r.active == 1,
        service_levels,
        version: r.version,
    }
}

/// The offerings `p` may see, by category and name.
pub async fn list(db: &Db, p: &Principal) -> AppResult<Vec<Offering>> {
    p.require(Action::ReadCatalogue)?;
    let rows: Vec<Row> = db
        .all(Q::new(format!("{SQL} ORDER BY o.category, o.name")))
        .await?;
    let vis = customers_of(db).await?;
    let mut out = vec![];
    for r in rows {
        let cs: Vec<i64> = vis.iter().filter(|v| v.0 == r.id).map(|v| v.1).collect();
        if visible(p, &r, &cs) {
            out.push(view(r, cs, vec![]));
        }
    }
    Ok(out)
}

async fn row(db: &Db, p: &Principal, id: i64) -> AppResult<(Row, Vec<i64>)> {
    let r: Row = db
        .opt(Q::new(format!("{SQL} WHERE o.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("offering {id}")))?;
    let cs: Vec<i64> = db
        .all::<(i64,)>(
            Q::new("SELECT customer_id FROM catalogue_visibility WHERE offering_id = $1").bind(id),
        )
        .await?
        .into_iter()
        .map(|v| v.0)
        .collect();
    if !visible(p, &r, &cs) {
        return Err(AppError::NotFound(format!("offering {id}")));
    }
    Ok((r, cs))
}

pub async fn get(db: &Db, p: &Principal, id: i64) -> AppResult<Offering> {
    p.require(Action::ReadCatalogue)?;
    let (r, cs) = row(db, p, id).await?;
    let l = levels(db, r.service_id).await?;
    Ok(view(r, cs, l))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOffering {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: String,
    pub service_id: i64,
    /// The request type that fulfils an order (approvals, tasks).
    pub request_type_id: i64,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub form: Value,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub customer_ids: Vec<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferingPatch {
    pub name: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub request_type_id: Option<i64>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub form: Option<Value>,
    pub roles: Option<Vec<String>>,
    pub customer_ids: Option<Vec<i64>>,
    pub active: Option<bool>,
    pub version: Option<i64>,
}

struct Fields {
    name: String,
    summary: String,
    description: String,
    category: String,
    request_type_id: i64,
    form: Vec<FieldDef>,
    roles: Vec<String>,
    customer_ids: BTreeSet<i64>,
    active: bool,
}

impl Fields {
    fn audit(&self) -> [(&'static str, Value); 9] {
        [
            ("name", json!(self.name)),
            ("summary", json!(self.summary)),
            ("description", json!(self.description)),
            ("category", json!(self.category)),
            ("request_type_id", json!(self.request_type_id)),
            ("form", json!(self.form)),
            ("roles", json!(self.roles)),
            ("customer_ids", json!(self.customer_ids)),
            ("active", json!(self.active)),
        ]
    }
}

fn parse_roles(roles: &[String]) -> AppResult<Vec<String>> {
    roles
        .iter()
        .map(|r| {
            r.parse::<Role>()
                .map(|r| r.as_str().to_string())
                .map_err(|e| AppError::invalid("roles", e))
        })
        .collect::<AppResult<BTreeSet<_>>>()
        .map(|s| s.into_iter().collect())
}

async fn save(tx: &mut Tx, id: i64, f: &Fields) -> AppResult<()> {
    crate::directory::exists(tx, "request_types", f.request_type_id, "request_type_id").await?;
    tx.exec(Q::new("DELETE FROM catalogue_visibility WHERE offering_id = $1").bind(id))
        .await?;
    for c in &f.customer_ids {
        crate::directory::exists(tx, "customers", *c, "customer_ids").await?;
        tx.exec(
            Q::new("INSERT INTO catalogue_visibility (offering_id, customer_id) VALUES ($1, $2)")
                .bind(id)
                .bind(*c),
        )
        .await?;
    }
    tx.exec(
        Q::new("UPDATE catalogue_offerings SET name = $1, summary = $2, description = $3, category = $4, request_type_id = $5, form = $6, roles = $7, active = $8, updated_at = $9 WHERE id = $10")
            .bind(f.name.as_str())
            .bind(f.summary.as_str())
            .bind(f.description.as_str())
            .bind(f.category.as_str())
            .bind(f.request_type_id)
            .bind(json!(f.form).to_string())
            .bind(f.roles.join(","))
            .bind(f.active)
            .bind(now_ms())
            .bind(id),
    )
    .await
    .map_err(|e| match e {
        DbError::Unique(_) => AppError::invalid("name", format!("an offering named {} exists", f.name)),
        e => e.into(),
    })?;
    Ok(())
}

fn text(field: &str, v: &str, max: usize) -> AppResult<String> {
    bounded(v, max)
        .map(|s| s.trim().to_string())
        .map_err(|e| AppError::invalid(field, e))
}

pub async fn create(db: &Db, p: &Principal, b: NewOffering) -> AppResult<Offering> {
    p.require(Action::ManageReference)?;
    let empty = Value::Array(vec![]);
    let f = Fields {
        name: Line::parse(&b.name, 200)
            .map_err(|e| AppError::invalid("name", e))?
            .into_string(),
        summary: text("summary", &b.summary, 500)?,
        description: text("description", &b.description, 20_000)?,
        category: text("category", &b.category, 100)?,
        request_type_id: b.request_type_id,
        form: form::parse_defs(if b.form.is_null() { &empty } else { &b.form }, "form")?,
        roles: parse_roles(&b.roles)?,
        customer_ids: b.customer_ids.into_iter().collect(),
        active: true,
    };
    let now = now_ms();
    let mut tx = db.begin().await?;
    crate::directory::exists(&mut tx, "services", b.service_id, "service_id").await?;
    let id = tx
        .insert(
            Q::new("INSERT INTO catalogue_offerings (name, service_id, request_type_id, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) RETURNING id")
                .bind(f.name.as_str())
                .bind(b.service_id)
                .bind(f.request_type_id)
                .bind(now),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::invalid("name", format!("an offering named {} exists", f.name)),
            e => e.into(),
        })?;
    save(&mut tx, id, &f).await?;
    let changes = std::iter::once(FieldChange {
        field: "service_id".into(),
        old: Value::Null,
        new: json!(b.service_id),
    })
    .chain(f.audit().into_iter().map(|(k, v)| FieldChange {
        field: k.into(),
        old: Value::Null,
        new: v,
    }))
    .collect();
    append(
        &mut tx,
        &p.actor(),
        "create",
        "catalogue_offering",
        &id.to_string(),
        changes,
    )
    .await?;
    tx.commit().await?;
    get(db, p, id).await
}

pub async fn update(db: &Db, p: &Principal, id: i64, b: OfferingPatch) -> AppResult<Offering> {
    p.require(Action::ManageReference)?;
    let before = get(db, p, id).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let old = Fields {
        name: before.name.clone(),
        summary: before.summary.clone(),
        description: before.description.clone(),
        category: before.category.clone(),
        request_type_id: before.request_type_id,
        form: before.form.clone(),
        roles: before.roles.clone(),
        customer_ids: before.customer_ids.iter().copied().collect(),
        active: before.active,
    };
    let new = Fields {
        name: match &b.name {
            Some(n) => Line::parse(n, 200)
                .map_err(|e| AppError::invalid("name", e))?
                .into_string(),
            None => old.name.clone(),
        },
        summary: b
            .summary
            .as_deref()
            .map(|v| text("summary", v, 500))
            .transpose()?
            .unwrap_or_else(|| old.summary.clone()),
        description: b
            .description
            .as_deref()
            .map(|v| text("description", v, 20_000))
            .transpose()?
            .unwrap_or_else(|| old.description.clone()),
        category: b
            .category
            .as_deref()
            .map(|v| text("category", v, 100))
            .transpose()?
            .unwrap_or_else(|| old.category.clone()),
        request_type_id: b.request_type_id.unwrap_or(old.request_type_id),
        form: b
            .form
            .as_ref()
            .map(|f| form::parse_defs(f, "form"))
            .transpose()?
            .unwrap_or_else(|| old.form.clone()),
        roles: b
            .roles
            .as_deref()
            .map(parse_roles)
            .transpose()?
            .unwrap_or_else(|| old.roles.clone()),
        customer_ids: b
            .customer_ids
            .map(|c| c.into_iter().collect())
            .unwrap_or_else(|| old.customer_ids.clone()),
        active: b.active.unwrap_or(old.active),
    };
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
        return Ok(before);
    }
    let mut tx = db.begin().await?;
    let n = tx
        .exec(Q::new("UPDATE catalogue_offerings SET version = version + 1 WHERE id = $1 AND version = $2").bind(id).bind(before.version))
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    save(&mut tx, id, &new).await?;
    append(
        &mut tx,
        &p.actor(),
        "update",
        "catalogue_offering",
        &id.to_string(),
        changes,
    )
    .await?;
    tx.commit().await?;
    get(db, p, id).await
}

/// An order: the form's answers, and optionally a title and notes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Order {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
    /// Defaults to the offering's name.
    pub title: Option<String>,
    #[serde(default)]
    pub notes: String,
    /// Staff ordering for someone else.
    pub requester_id: Option<i64>,
}

/// What an order looks like to a person reading the request.
pub fn render_answers(defs: &[FieldDef], answers: &Map<String, Value>) -> String {
    // Answers to fields the form no longer has are shown under their own names.
    let gone = answers
        .iter()
        .filter(|(k, _)| !defs.iter().any(|d| &d.name == *k))
        .map(|(k, v)| {
            format!(
                "- {}: {}",
                k.replace('_', " "),
                match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            )
        });
    defs.iter()
        .filter_map(|d| {
            answers.get(&d.name).map(|v| {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => {
                        if *b {
                            "yes".into()
                        } else {
                            "no".into()
                        }
                    }
                    other => other.to_string(),
                };
                let suffix = match d.kind {
                    FieldKind::User => " (user id)",
                    FieldKind::Ci => " (CI id)",
                    _ => "",
                };
                format!("- {}: {shown}{suffix}", d.label)
            })
        })
        .chain(gone)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Order an offering: validate the answers against its form, create the request with the
/// answers in one transaction, then start its approvals or fulfilment.
pub async fn order(db: &Db, p: &Principal, id: i64, o: Order) -> AppResult<kernel::ItemRow> {
    p.require(Action::CreateIncident)?;
    let (r, customers) = row(db, p, id).await?;
    // Who may order is the offering's rule for everyone, staff included; ordering for someone
    // else also needs the offering to be visible to that person's organisation.
    let roles: Vec<&str> = r.roles.split(',').filter(|s| !s.is_empty()).collect();
    if !roles.is_empty() && !roles.contains(&p.role.as_str()) {
        return Err(AppError::Forbidden(format!(
            "{} is for: {}",
            r.name,
            roles.join(", ")
        )));
    }
    if let Some(req) = o.requester_id {
        let u = crate::directory::get_user(db, req)
            .await
            .map_err(|_| AppError::invalid("requester_id", format!("no user with id {req}")))?;
        if !customers.is_empty() && !u.customer_id.is_some_and(|c| customers.contains(&c)) {
            return Err(AppError::invalid(
                "requester_id",
                format!("{} is not offered to {}'s organisation", r.name, u.name),
            ));
        }
    }
    if r.active != 1 || r.service_stage != "live" {
        return Err(AppError::Conflict(format!(
            "{} cannot be ordered now",
            r.name
        )));
    }
    let defs: Vec<FieldDef> = serde_json::from_str(&r.form).unwrap_or_default();
    let answers = form::validate(&defs, &o.answers, "answers")?;
    let notes = text("notes", &o.notes, 20_000)?;
    let rendered = render_answers(&defs, &answers);
    let description = match (rendered.is_empty(), notes.is_empty()) {
        (true, _) => notes,
        (false, true) => rendered,
        (false, false) => format!("{rendered}\n\n{notes}"),
    };
    let mut details = Map::new();
    details.insert("request_type".into(), json!(r.request_type_id.to_string()));
    crate::operation::resolution::request::check_draft(db, &details).await?;
    let input = NewItem {
        title: o.title.unwrap_or_else(|| r.name.clone()),
        description,
        impact: None,
        urgency: None,
        category: None,
        requester_id: o.requester_id,
        customer_id: None,
        service_id: Some(r.service_id),
        assignment_group_id: None,
        assignee_id: None,
        details,
    };
    let d = kernel::draft(
        keel_core::operation::resolution::request::KIND,
        &p.actor(),
        p,
        input,
    )?;
    let mut tx = db.begin().await?;
    check_references(&mut tx, &defs, &answers, "answers").await?;
    // A requester names people of their own organisation only.
    if p.role.is_scoped_to_own_records() {
        for r in form::references(&defs, &answers)
            .into_iter()
            .filter(|r| r.kind == FieldKind::User)
        {
            let (c,): (Option<i64>,) = tx
                .one(Q::new("SELECT customer_id FROM users WHERE id = $1").bind(r.id))
                .await?;
            if r.id != p.user_id && (c.is_none() || c != p.customer_id) {
                return Err(AppError::invalid(
                    &format!("answers.{}", r.field),
                    format!("no user with id {} in your organisation", r.id),
                ));
            }
        }
    }
    let number = kernel::create_in(&mut tx, d).await?;
    let (item_id,): (i64,) = tx
        .one(Q::new("SELECT id FROM work_items WHERE number = $1").bind(number.as_str()))
        .await?;
    tx.exec(
        Q::new("INSERT INTO catalogue_orders (item_id, offering_id, answers) VALUES ($1, $2, $3)")
            .bind(item_id)
            .bind(id)
            .bind(Value::Object(answers.clone()).to_string()),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "order",
        "catalogue_offering",
        &id.to_string(),
        vec![
            FieldChange {
                field: "request".into(),
                old: Value::Null,
                new: json!(number),
            },
            FieldChange {
                field: "answers".into(),
                old: Value::Null,
                new: Value::Object(answers),
            },
        ],
    )
    .await?;
    tx.commit().await?;
    crate::operation::resolution::request::start(db, &number, &p.actor()).await
}

/// The offering and answers a request was ordered with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderAnswers {
    pub offering_id: i64,
    pub offering: String,
    #[schema(value_type = Vec<Object>)]
    pub form: Vec<FieldDef>,
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
}

pub async fn answers_of(db: &Db, item_id: i64) -> AppResult<Option<OrderAnswers>> {
    let r: Option<(i64, String, String, String)> = db
        .opt(Q::new("SELECT o.offering_id, c.name, c.form, o.answers FROM catalogue_orders o JOIN catalogue_offerings c ON c.id = o.offering_id WHERE o.item_id = $1").bind(item_id))
        .await?;
    Ok(
        r.map(|(offering_id, offering, form, answers)| OrderAnswers {
            offering_id,
            offering,
            form: serde_json::from_str(&form).unwrap_or_default(),
            answers: serde_json::from_str(&answers).unwrap_or_default(),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// The catalogue: offerings the caller may see and order.
#[utoipa::path(get, path = "/api/v1/catalogue", tag = "portfolio", responses((status = 200, body = Vec<Offering>)), security(("bearer" = [])))]
pub async fn api_list(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Offering>>> {
    Ok(Json(list(&st.db, &p).await?))
}

/// Add an offering to the catalogue.
#[utoipa::path(post, path = "/api/v1/catalogue", tag = "portfolio", request_body = NewOffering, responses((status = 201, body = Offering)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewOffering>,
) -> AppResult<(StatusCode, Json<Offering>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One offering, with its form and the service levels offered.
#[utoipa::path(get, path = "/api/v1/catalogue/{id}", tag = "portfolio", params(("id" = i64, Path)), responses((status = 200, body = Offering)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Offering>> {
    Ok(Json(get(&st.db, &p, id).await?))
}

/// Change an offering (its form, visibility, or withdraw it with `active: false`).
#[utoipa::path(patch, path = "/api/v1/catalogue/{id}", tag = "portfolio", params(("id" = i64, Path)), request_body = OfferingPatch, responses((status = 200, body = Offering)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<OfferingPatch>,
) -> AppResult<Json<Offering>> {
    Ok(Json(update(&st.db, &p, id, b).await?))
}

/// Order an offering: creates a service request carrying the answers.
#[utoipa::path(post, path = "/api/v1/catalogue/{id}/order", tag = "portfolio", params(("id" = i64, Path)), request_body = Order, responses((status = 201, body = ItemView)), security(("bearer" = [])))]
pub async fn api_order(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<Order>,
) -> AppResult<(StatusCode, Json<ItemView>)> {
    let row = order(&st.db, &p, id, b).await?;
    Ok((StatusCode::CREATED, Json(ItemView::from(row))))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "catalogue",
    api: part_api,
    pages: super::ui::catalogue_routes,
    templates: &[
        (
            "catalogue.html",
            include_str!("../../../templates/catalogue.html"),
        ),
        (
            "offering.html",
            include_str!("../../../templates/offering.html"),
        ),
        (
            "order_panel.html",
            include_str!("../../../templates/order_panel.html"),
        ),
    ],
    nav: &[crate::platform::part::Nav {
        order: 80,
        label: "Catalogue",
        requester_label: None,
        href: "/catalogue",
        shown: |_| true,
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(gate(Action::ManageReference, routes!(api_list, api_create)))
        .routes(gate(Action::ManageReference, routes!(api_get, api_update)))
        .routes(gate(Action::CreateIncident, routes!(api_order)))
}

/// On a request ordered from the catalogue: what was ordered and the answers given.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    panels: Some(|st, _, item| {
        Box::pin(async move {
            Ok(answers_of(&st.db, item.id)
                .await?
                .map(|o| crate::kernel::process::Panel {
                    template: "order_panel.html",
                    top: false,
                    data: minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
                        "offering": o.offering,
                        "answers": render_answers(&o.form, &o.answers),
                    }))),
                })
                .into_iter()
                .collect())
        })
    }),
    ..crate::kernel::process::Process::NONE
};
