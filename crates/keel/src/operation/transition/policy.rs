//! Clause 8.5.1 — the change management policy held as configuration: which services and CI
//! classes are under change control, the change authorities (CAB, emergency CAB …) with their
//! approval rules, change categories and the authority for each, emergency criteria, the
//! pre-authorized standard change templates and blackout periods; and the release policy
//! (8.5.3). Administrators and managers change them; everything is audited.

use crate::directory::exists;
use crate::kernel::tasks::{TaskTemplate, check_templates};
use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::extract::instant;
use crate::platform::web::{AppState, as_bool, iso};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::diff;
use keel_core::kernel::approval::Rule;
use keel_core::operation::transition::release;
use keel_core::text::Line;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

fn unique(what: &str) -> impl Fn(DbError) -> AppError + '_ {
    move |e| match e {
        DbError::Unique(_) => AppError::Conflict(format!("a {what} with that name exists")),
        e => e.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The policy document

/// The change and release policy: one document, versioned by the audit trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionPolicy {
    /// Services under change control: their CIs change only through a change.
    #[serde(default)]
    pub controlled_service_ids: Vec<i64>,
    /// CI classes under change control.
    #[serde(default)]
    pub controlled_class_ids: Vec<i64>,
    /// When a change may be raised as an emergency.
    #[serde(default)]
    pub emergency_criteria: String,
    /// Authorizes normal changes whose category names none.
    pub default_authority_id: Option<i64>,
    /// Authorizes emergency changes (the emergency CAB).
    pub emergency_authority_id: Option<i64>,
    /// Asked in addition when a change's risk is high.
    pub high_risk_authority_id: Option<i64>,
    /// How often releases of each type may go out.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub release: release::Policy,
}

pub async fn load(tx: &mut Tx) -> AppResult<TransitionPolicy> {
    let row: Option<(String,)> = tx
        .opt(Q::new("SELECT policy FROM transition_policy WHERE id = 1"))
        .await?;
    Ok(row
        .and_then(|(s,)| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

pub async fn load_db(db: &Db) -> AppResult<TransitionPolicy> {
    let row: Option<(String,)> = db
        .opt(Q::new("SELECT policy FROM transition_policy WHERE id = 1"))
        .await?;
    Ok(row
        .and_then(|(s,)| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

pub async fn save(db: &Db, actor: &Actor, p: TransitionPolicy) -> AppResult<TransitionPolicy> {
    if p.emergency_criteria.chars().count() > 5_000 {
        return Err(AppError::invalid(
            "emergency_criteria",
            "at most 5000 characters",
        ));
    }
    if p.release.major_days < 0 || p.release.minor_days < 0 {
        return Err(AppError::invalid("release", "days cannot be negative"));
    }
    let mut tx = db.begin().await?;
    for (i, s) in p.controlled_service_ids.iter().enumerate() {
        exists(
            &mut tx,
            "services",
            *s,
            &format!("controlled_service_ids[{i}]"),
        )
        .await?;
    }
    for (i, c) in p.controlled_class_ids.iter().enumerate() {
        exists(
            &mut tx,
            "ci_classes",
            *c,
            &format!("controlled_class_ids[{i}]"),
        )
        .await?;
    }
    for (field, a) in [
        ("default_authority_id", p.default_authority_id),
        ("emergency_authority_id", p.emergency_authority_id),
        ("high_risk_authority_id", p.high_risk_authority_id),
    ] {
        if let Some(a) = a {
            exists(&mut tx, "change_authorities", a, field).await?;
        }
    }
    let before = load(&mut tx).await?;
    let text = serde_json::to_string(&p).map_err(|e| AppError::Internal(e.into()))?;
    tx.exec(
        Q::new("INSERT INTO transition_policy (id, policy, updated_at) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET policy = $1, updated_at = $2")
            .bind(text.as_str())
            .bind(now_ms()),
    )
    .await?;
    let as_pairs = |p: &TransitionPolicy| -> Vec<(&'static str, Value)> {
        vec![
            ("controlled_service_ids", json!(p.controlled_service_ids)),
            ("controlled_class_ids", json!(p.controlled_class_ids)),
            ("emergency_criteria", json!(p.emergency_criteria)),
            ("default_authority_id", json!(p.default_authority_id)),
            ("emergency_authority_id", json!(p.emergency_authority_id)),
            ("high_risk_authority_id", json!(p.high_risk_authority_id)),
            ("release", json!(p.release)),
        ]
    };
    let changes = diff(&as_pairs(&before), &as_pairs(&p));
    if !changes.is_empty() {
        append(&mut tx, actor, "update", "transition_policy", "1", changes).await?;
    }
    tx.commit().await?;
    Ok(p)
}

/// Is this CI under change control (its class or its service is)?
pub async fn controls_ci(db: &Db, policy: &TransitionPolicy, ci: i64) -> AppResult<bool> {
    Ok(!controlled_among(db, policy, &[ci]).await?.is_empty())
}

/// Which of `cis` are under change control, in one query.
pub async fn controlled_among(
    db: &Db,
    policy: &TransitionPolicy,
    cis: &[i64],
) -> AppResult<Vec<i64>> {
    if cis.is_empty()
        || (policy.controlled_class_ids.is_empty() && policy.controlled_service_ids.is_empty())
    {
        return Ok(vec![]);
    }
    let mut q = Q::new("");
    let list = |q: &mut Q, ids: &[i64]| {
        if ids.is_empty() {
            "NULL".to_string()
        } else {
            ids.iter().map(|i| q.arg(*i)).collect::<Vec<_>>().join(", ")
        }
    };
    let ci = list(&mut q, cis);
    let classes = list(&mut q, &policy.controlled_class_ids);
    let services = list(&mut q, &policy.controlled_service_ids);
    q.sql = format!(
        "SELECT id FROM cis WHERE id IN ({ci}) AND (class_id IN ({classes}) OR service_id IN ({services})) ORDER BY id"
    );
    let rows: Vec<(i64,)> = db.all(q).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The change and release policy.
#[utoipa::path(get, path = "/api/v1/change-policy", tag = "changes", responses((status = 200, body = TransitionPolicy)), security(("bearer" = [])))]
pub async fn api_get_policy(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<TransitionPolicy>> {
    p.require(Action::ReadInternalItems)?;
    Ok(Json(load_db(&st.db).await?))
}

/// Replace the change and release policy.
#[utoipa::path(put, path = "/api/v1/change-policy", tag = "changes", request_body = TransitionPolicy,
    responses((status = 200, body = TransitionPolicy), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_put_policy(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<TransitionPolicy>,
) -> AppResult<Json<TransitionPolicy>> {
    p.require(Action::ManageReference)?;
    Ok(Json(save(&st.db, &p.actor(), b).await?))
}

// ---------------------------------------------------------------------------------------------
// Change authorities

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Authority {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The group whose members decide.
    pub group_id: i64,
    pub group_name: String,
    /// any, all or quorum.
    pub rule: String,
    pub quorum: Option<i64>,
}

const AUTHORITY_SQL: &str = "SELECT a.id, a.name, a.description, a.group_id, g.name AS group_name, a.rule, a.quorum FROM change_authorities a JOIN support_groups g ON g.id = a.group_id";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAuthority {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub group_id: i64,
    /// any (default), all or quorum.
    pub rule: Option<String>,
    /// For `quorum`: how many approvals are needed.
    pub quorum: Option<i64>,
}

pub async fn list_authorities(db: &Db) -> AppResult<Vec<Authority>> {
    Ok(db
        .all(Q::new(format!("{AUTHORITY_SQL} ORDER BY a.name")))
        .await?)
}

pub async fn authority(tx: &mut Tx, id: i64) -> AppResult<Authority> {
    Ok(tx
        .one(Q::new(format!("{AUTHORITY_SQL} WHERE a.id = $1")).bind(id))
        .await?)
}

pub async fn create_authority(db: &Db, actor: &Actor, b: NewAuthority) -> AppResult<Authority> {
    let name = Line::parse(&b.name, 100).map_err(|e| AppError::invalid("name", e))?;
    let rule_name = b.rule.as_deref().unwrap_or("any");
    let rule = Rule::parse(rule_name, b.quorum).ok_or_else(|| {
        if rule_name == "quorum" {
            AppError::invalid("quorum", "a quorum rule needs a quorum of at least 1")
        } else {
            AppError::invalid(
                "rule",
                format!("must be one of: {}", Rule::NAMES.join(", ")),
            )
        }
    })?;
    let mut tx = db.begin().await?;
    exists(&mut tx, "support_groups", b.group_id, "group_id").await?;
    let now = now_ms();
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO change_authorities (name, description, group_id, rule, quorum, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id")
                .bind(name.as_str())
                .bind(b.description.as_str())
                .bind(b.group_id)
                .bind(rule.name())
                .bind(rule.quorum())
                .bind(now),
        )
        .await
        .map_err(unique("change authority"))?;
    append(
        &mut tx,
        actor,
        "create",
        "change_authority",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("group_id", json!(b.group_id)),
                ("rule", json!(rule.name())),
                ("quorum", json!(rule.quorum())),
            ],
        ),
    )
    .await?;
    let a = authority(&mut tx, id).await?;
    tx.commit().await?;
    Ok(a)
}

/// Change authorities: who authorizes changes, and by which rule.
#[utoipa::path(get, path = "/api/v1/change-authorities", tag = "changes", responses((status = 200, body = Vec<Authority>)), security(("bearer" = [])))]
pub async fn api_list_authorities(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Authority>>> {
    p.require(Action::ReadInternalItems)?;
    Ok(Json(list_authorities(&st.db).await?))
}

/// Define a change authority (e.g. the CAB: a group and a rule).
#[utoipa::path(post, path = "/api/v1/change-authorities", tag = "changes", request_body = NewAuthority,
    responses((status = 201, body = Authority), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_authority(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewAuthority>,
) -> AppResult<(StatusCode, Json<Authority>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(create_authority(&st.db, &p.actor(), b).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Change categories

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub authority_id: i64,
    pub authority: String,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub active: i64,
}

const CATEGORY_SQL: &str = "SELECT c.id, c.name, c.description, c.authority_id, a.name AS authority, c.active FROM change_categories c JOIN change_authorities a ON a.id = c.authority_id";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub authority_id: i64,
}

pub async fn list_categories(db: &Db) -> AppResult<Vec<Category>> {
    Ok(db
        .all(Q::new(format!(
            "{CATEGORY_SQL} WHERE c.active = 1 ORDER BY c.name"
        )))
        .await?)
}

/// An active category by name, for a change's `details.change_category`.
pub async fn category_named(tx: &mut Tx, name: &str) -> AppResult<Option<Category>> {
    Ok(tx
        .opt(Q::new(format!("{CATEGORY_SQL} WHERE c.name = $1 AND c.active = 1")).bind(name))
        .await?)
}

pub async fn create_category(db: &Db, actor: &Actor, b: NewCategory) -> AppResult<Category> {
    let name = Line::parse(&b.name, 100).map_err(|e| AppError::invalid("name", e))?;
    let mut tx = db.begin().await?;
    exists(
        &mut tx,
        "change_authorities",
        b.authority_id,
        "authority_id",
    )
    .await?;
    let now = now_ms();
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO change_categories (name, description, authority_id, active, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4) RETURNING id")
                .bind(name.as_str())
                .bind(b.description.as_str())
                .bind(b.authority_id)
                .bind(now),
        )
        .await
        .map_err(unique("change category"))?;
    append(
        &mut tx,
        actor,
        "create",
        "change_category",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("authority_id", json!(b.authority_id)),
            ],
        ),
    )
    .await?;
    let c = tx
        .one(Q::new(format!("{CATEGORY_SQL} WHERE c.id = $1")).bind(id))
        .await?;
    tx.commit().await?;
    Ok(c)
}

/// Change categories and the authority for each.
#[utoipa::path(get, path = "/api/v1/change-categories", tag = "changes", responses((status = 200, body = Vec<Category>)), security(("bearer" = [])))]
pub async fn api_list_categories(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Category>>> {
    p.require(Action::ReadInternalItems)?;
    Ok(Json(list_categories(&st.db).await?))
}

/// Define a change category.
#[utoipa::path(post, path = "/api/v1/change-categories", tag = "changes", request_body = NewCategory,
    responses((status = 201, body = Category), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_category(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewCategory>,
) -> AppResult<(StatusCode, Json<Category>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(create_category(&st.db, &p.actor(), b).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Standard change templates

#[derive(Debug, Clone, sqlx::FromRow)]
struct TemplateRow {
    id: i64,
    name: String,
    description: String,
    category_id: Option<i64>,
    service_id: Option<i64>,
    implementation_plan: String,
    backout_plan: String,
    test_plan: String,
    tasks: String,
    active: i64,
}

/// A pre-authorized standard change: raising one needs no approval.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub test_plan: String,
    pub tasks: Vec<TaskTemplate>,
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub active: i64,
}

impl From<TemplateRow> for Template {
    fn from(r: TemplateRow) -> Self {
        Template {
            id: r.id,
            name: r.name,
            description: r.description,
            category_id: r.category_id,
            service_id: r.service_id,
            implementation_plan: r.implementation_plan,
            backout_plan: r.backout_plan,
            test_plan: r.test_plan,
            tasks: serde_json::from_str(&r.tasks).unwrap_or_default(),
            active: r.active,
        }
    }
}

const TEMPLATE_SQL: &str = "SELECT id, name, description, category_id, service_id, implementation_plan, backout_plan, test_plan, tasks, active FROM change_templates";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category_id: Option<i64>,
    pub service_id: Option<i64>,
    pub implementation_plan: String,
    pub backout_plan: String,
    #[serde(default)]
    pub test_plan: String,
    #[serde(default)]
    pub tasks: Vec<TaskTemplate>,
}

pub async fn list_templates(db: &Db) -> AppResult<Vec<Template>> {
    let rows: Vec<TemplateRow> = db
        .all(Q::new(format!(
            "{TEMPLATE_SQL} WHERE active = 1 ORDER BY name"
        )))
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn template(tx: &mut Tx, id: i64) -> AppResult<Option<Template>> {
    let row: Option<TemplateRow> = tx
        .opt(Q::new(format!("{TEMPLATE_SQL} WHERE id = $1 AND active = 1")).bind(id))
        .await?;
    Ok(row.map(Into::into))
}

pub async fn create_template(db: &Db, actor: &Actor, b: NewTemplate) -> AppResult<Template> {
    let name = Line::parse(&b.name, 100).map_err(|e| AppError::invalid("name", e))?;
    for (field, v) in [
        ("implementation_plan", &b.implementation_plan),
        ("backout_plan", &b.backout_plan),
    ] {
        if v.trim().is_empty() {
            return Err(AppError::invalid(
                field,
                "a pre-authorized change states how it is done and undone",
            ));
        }
    }
    let mut tx = db.begin().await?;
    if let Some(c) = b.category_id {
        exists(&mut tx, "change_categories", c, "category_id").await?;
    }
    if let Some(s) = b.service_id {
        exists(&mut tx, "services", s, "service_id").await?;
    }
    check_templates(&mut tx, &b.tasks, "tasks").await?;
    let tasks = serde_json::to_string(&b.tasks).map_err(|e| AppError::Internal(e.into()))?;
    let now = now_ms();
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO change_templates (name, description, category_id, service_id, implementation_plan, backout_plan, test_plan, tasks, active, created_at, updated_at) \
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9) RETURNING id")
                .bind(name.as_str())
                .bind(b.description.as_str())
                .bind(b.category_id)
                .bind(b.service_id)
                .bind(b.implementation_plan.trim())
                .bind(b.backout_plan.trim())
                .bind(b.test_plan.trim())
                .bind(tasks.as_str())
                .bind(now),
        )
        .await
        .map_err(unique("change template"))?;
    append(
        &mut tx,
        actor,
        "create",
        "change_template",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("category_id", json!(b.category_id)),
                ("service_id", json!(b.service_id)),
                ("implementation_plan", json!(b.implementation_plan.trim())),
                ("backout_plan", json!(b.backout_plan.trim())),
                ("test_plan", json!(b.test_plan.trim())),
                ("tasks", json!(b.tasks)),
            ],
        ),
    )
    .await?;
    let t = template(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("change template {id}")))?;
    tx.commit().await?;
    Ok(t)
}

/// Standard change templates (pre-authorized).
#[utoipa::path(get, path = "/api/v1/change-templates", tag = "changes", responses((status = 200, body = Vec<Template>)), security(("bearer" = [])))]
pub async fn api_list_templates(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<Template>>> {
    p.require(Action::ReadInternalItems)?;
    Ok(Json(list_templates(&st.db).await?))
}

/// Define a standard change template: its plans and implementation tasks.
#[utoipa::path(post, path = "/api/v1/change-templates", tag = "changes", request_body = NewTemplate,
    responses((status = 201, body = Template), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_template(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewTemplate>,
) -> AppResult<(StatusCode, Json<Template>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(create_template(&st.db, &p.actor(), b).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Blackout periods

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlackoutView {
    pub id: i64,
    pub name: String,
    pub reason: String,
    pub starts_at: String,
    pub ends_at: String,
    /// Only this service; none: every service.
    pub service_id: Option<i64>,
}

pub type BlackoutRow = (i64, String, String, i64, i64, Option<i64>);

pub fn blackout_view(r: &BlackoutRow) -> BlackoutView {
    BlackoutView {
        id: r.0,
        name: r.1.clone(),
        reason: r.2.clone(),
        starts_at: iso(r.3),
        ends_at: iso(r.4),
        service_id: r.5,
    }
}

/// The query for blackouts overlapping `[from, to)`, rows as [`BlackoutRow`].
pub fn blackouts_between(from: i64, to: i64) -> Q {
    Q::new("SELECT id, name, reason, starts_at, ends_at, service_id FROM change_blackouts WHERE starts_at < $2 AND ends_at > $1 ORDER BY starts_at, id").bind(from).bind(to)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBlackout {
    pub name: String,
    #[serde(default)]
    pub reason: String,
    /// RFC 3339 instant or YYYY-MM-DD.
    pub starts_at: String,
    pub ends_at: String,
    pub service_id: Option<i64>,
}

pub async fn create_blackout(db: &Db, actor: &Actor, b: NewBlackout) -> AppResult<BlackoutView> {
    let name = Line::parse(&b.name, 100).map_err(|e| AppError::invalid("name", e))?;
    let start = instant("starts_at", &b.starts_at)?;
    let end = instant("ends_at", &b.ends_at)?;
    if end <= start {
        return Err(AppError::invalid("ends_at", "must be after starts_at"));
    }
    let mut tx = db.begin().await?;
    if let Some(s) = b.service_id {
        exists(&mut tx, "services", s, "service_id").await?;
    }
    let (id,): (i64,) = tx
        .one(
            Q::new("INSERT INTO change_blackouts (name, reason, starts_at, ends_at, service_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(name.as_str())
                .bind(b.reason.as_str())
                .bind(start)
                .bind(end)
                .bind(b.service_id)
                .bind(now_ms()),
        )
        .await?;
    append(
        &mut tx,
        actor,
        "create",
        "change_blackout",
        &id.to_string(),
        diff(
            &[],
            &[
                ("name", json!(name.as_str())),
                ("starts_at", json!(iso(start))),
                ("ends_at", json!(iso(end))),
                ("service_id", json!(b.service_id)),
            ],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(blackout_view(&(
        id,
        name.into_string(),
        b.reason,
        start,
        end,
        b.service_id,
    )))
}

/// Blackout periods from a month ago on.
#[utoipa::path(get, path = "/api/v1/change-blackouts", tag = "changes", responses((status = 200, body = Vec<BlackoutView>)), security(("bearer" = [])))]
pub async fn api_list_blackouts(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<BlackoutView>>> {
    p.require(Action::ReadInternalItems)?;
    let from = now_ms() - 31 * 86_400_000;
    let rows: Vec<BlackoutRow> = st.db.all(blackouts_between(from, i64::MAX / 2)).await?;
    Ok(Json(rows.iter().map(blackout_view).collect()))
}

/// Declare a blackout period: no change is implemented in it (emergencies excepted).
#[utoipa::path(post, path = "/api/v1/change-blackouts", tag = "changes", request_body = NewBlackout,
    responses((status = 201, body = BlackoutView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_create_blackout(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewBlackout>,
) -> AppResult<(StatusCode, Json<BlackoutView>)> {
    p.require(Action::ManageReference)?;
    Ok((
        StatusCode::CREATED,
        Json(create_blackout(&st.db, &p.actor(), b).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Changing and retiring policy records

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorityPatch {
    pub description: Option<String>,
    pub group_id: Option<i64>,
    pub rule: Option<String>,
    pub quorum: Option<i64>,
}

/// Change who decides for an authority and how. Approvals already asked keep their rule.
pub async fn update_authority(
    db: &Db,
    actor: &Actor,
    id: i64,
    b: AuthorityPatch,
) -> AppResult<Authority> {
    let mut tx = db.begin().await?;
    let before = tx
        .opt::<Authority>(Q::new(format!("{AUTHORITY_SQL} WHERE a.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("change authority {id}")))?;
    let rule_name = b.rule.clone().unwrap_or_else(|| before.rule.clone());
    let quorum = b.quorum.or(before.quorum);
    let rule = Rule::parse(&rule_name, quorum).ok_or_else(|| {
        if rule_name == "quorum" {
            AppError::invalid("quorum", "a quorum rule needs a quorum of at least 1")
        } else {
            AppError::invalid(
                "rule",
                format!("must be one of: {}", Rule::NAMES.join(", ")),
            )
        }
    })?;
    let group = b.group_id.unwrap_or(before.group_id);
    if group != before.group_id {
        exists(&mut tx, "support_groups", group, "group_id").await?;
    }
    let description = b.description.unwrap_or_else(|| before.description.clone());
    tx.exec(
        Q::new("UPDATE change_authorities SET description = $1, group_id = $2, rule = $3, quorum = $4, updated_at = $5 WHERE id = $6")
            .bind(description.as_str())
            .bind(group)
            .bind(rule.name())
            .bind(rule.quorum())
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    let changes = diff(
        &[
            ("description", json!(before.description)),
            ("group_id", json!(before.group_id)),
            ("rule", json!(before.rule)),
            ("quorum", json!(before.quorum)),
        ],
        &[
            ("description", json!(description)),
            ("group_id", json!(group)),
            ("rule", json!(rule.name())),
            ("quorum", json!(rule.quorum())),
        ],
    );
    if !changes.is_empty() {
        append(
            &mut tx,
            actor,
            "update",
            "change_authority",
            &id.to_string(),
            changes,
        )
        .await?;
    }
    let a = authority(&mut tx, id).await?;
    tx.commit().await?;
    Ok(a)
}

/// Change a change authority's group or rule.
#[utoipa::path(patch, path = "/api/v1/change-authorities/{id}", tag = "changes", params(("id" = i64, Path)), request_body = AuthorityPatch,
    responses((status = 200, body = Authority), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update_authority(
    State(st): State<AppState>,
    p: Principal,
    axum::extract::Path(id): axum::extract::Path<i64>,
    ApiJson(b): ApiJson<AuthorityPatch>,
) -> AppResult<Json<Authority>> {
    p.require(Action::ManageReference)?;
    Ok(Json(update_authority(&st.db, &p.actor(), id, b).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub description: Option<String>,
    pub authority_id: Option<i64>,
    /// `false` retires the category: no new change may name it.
    pub active: Option<bool>,
}

pub async fn update_category(
    db: &Db,
    actor: &Actor,
    id: i64,
    b: CategoryPatch,
) -> AppResult<Category> {
    let mut tx = db.begin().await?;
    let before = tx
        .opt::<Category>(Q::new(format!("{CATEGORY_SQL} WHERE c.id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("change category {id}")))?;
    let authority_id = b.authority_id.unwrap_or(before.authority_id);
    if authority_id != before.authority_id {
        exists(&mut tx, "change_authorities", authority_id, "authority_id").await?;
    }
    let description = b.description.unwrap_or_else(|| before.description.clone());
    let active = b.active.map_or(before.active, i64::from);
    tx.exec(
        Q::new("UPDATE change_categories SET description = $1, authority_id = $2, active = $3, updated_at = $4 WHERE id = $5")
            .bind(description.as_str())
            .bind(authority_id)
            .bind(active)
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    let changes = diff(
        &[
            ("description", json!(before.description)),
            ("authority_id", json!(before.authority_id)),
            ("active", json!(before.active != 0)),
        ],
        &[
            ("description", json!(description)),
            ("authority_id", json!(authority_id)),
            ("active", json!(active != 0)),
        ],
    );
    if !changes.is_empty() {
        append(
            &mut tx,
            actor,
            "update",
            "change_category",
            &id.to_string(),
            changes,
        )
        .await?;
    }
    let c = tx
        .one(Q::new(format!("{CATEGORY_SQL} WHERE c.id = $1")).bind(id))
        .await?;
    tx.commit().await?;
    Ok(c)
}

/// Change or retire a change category.
#[utoipa::path(patch, path = "/api/v1/change-categories/{id}", tag = "changes", params(("id" = i64, Path)), request_body = CategoryPatch,
    responses((status = 200, body = Category), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update_category(
    State(st): State<AppState>,
    p: Principal,
    axum::extract::Path(id): axum::extract::Path<i64>,
    ApiJson(b): ApiJson<CategoryPatch>,
) -> AppResult<Json<Category>> {
    p.require(Action::ManageReference)?;
    Ok(Json(update_category(&st.db, &p.actor(), id, b).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    pub description: Option<String>,
    pub implementation_plan: Option<String>,
    pub backout_plan: Option<String>,
    pub test_plan: Option<String>,
    /// `false` withdraws the pre-authorization: no new standard change from it.
    pub active: Option<bool>,
}

pub async fn update_template(
    db: &Db,
    actor: &Actor,
    id: i64,
    b: TemplatePatch,
) -> AppResult<Template> {
    let mut tx = db.begin().await?;
    let before: Template = tx
        .opt::<TemplateRow>(Q::new(format!("{TEMPLATE_SQL} WHERE id = $1")).bind(id))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("change template {id}")))?
        .into();
    let text = |field: &str, v: &Option<String>, current: &str| -> AppResult<String> {
        match v {
            Some(t) if t.trim().is_empty() && field != "test_plan" && field != "description" => {
                Err(AppError::invalid(
                    field,
                    "a pre-authorized change states how it is done and undone",
                ))
            }
            Some(t) => Ok(t.trim().to_string()),
            None => Ok(current.to_string()),
        }
    };
    let after = Template {
        description: text("description", &b.description, &before.description)?,
        implementation_plan: text(
            "implementation_plan",
            &b.implementation_plan,
            &before.implementation_plan,
        )?,
        backout_plan: text("backout_plan", &b.backout_plan, &before.backout_plan)?,
        test_plan: text("test_plan", &b.test_plan, &before.test_plan)?,
        active: b.active.map_or(before.active, i64::from),
        ..before.clone()
    };
    tx.exec(
        Q::new("UPDATE change_templates SET description = $1, implementation_plan = $2, backout_plan = $3, test_plan = $4, active = $5, updated_at = $6 WHERE id = $7")
            .bind(after.description.as_str())
            .bind(after.implementation_plan.as_str())
            .bind(after.backout_plan.as_str())
            .bind(after.test_plan.as_str())
            .bind(after.active)
            .bind(now_ms())
            .bind(id),
    )
    .await?;
    let pairs = |t: &Template| -> Vec<(&'static str, Value)> {
        vec![
            ("description", json!(t.description)),
            ("implementation_plan", json!(t.implementation_plan)),
            ("backout_plan", json!(t.backout_plan)),
            ("test_plan", json!(t.test_plan)),
            ("active", json!(t.active != 0)),
        ]
    };
    let changes = diff(&pairs(&before), &pairs(&after));
    if !changes.is_empty() {
        append(
            &mut tx,
            actor,
            "update",
            "change_template",
            &id.to_string(),
            changes,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// Change or withdraw a standard change template.
#[utoipa::path(patch, path = "/api/v1/change-templates/{id}", tag = "changes", params(("id" = i64, Path)), request_body = TemplatePatch,
    responses((status = 200, body = Template), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_update_template(
    State(st): State<AppState>,
    p: Principal,
    axum::extract::Path(id): axum::extract::Path<i64>,
    ApiJson(b): ApiJson<TemplatePatch>,
) -> AppResult<Json<Template>> {
    p.require(Action::ManageReference)?;
    Ok(Json(update_template(&st.db, &p.actor(), id, b).await?))
}

/// Lift a blackout period (audited with what it was).
pub async fn delete_blackout(db: &Db, actor: &Actor, id: i64) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let row: Option<BlackoutRow> = tx
        .opt(Q::new("SELECT id, name, reason, starts_at, ends_at, service_id FROM change_blackouts WHERE id = $1").bind(id))
        .await?;
    let row = row.ok_or_else(|| AppError::NotFound(format!("blackout {id}")))?;
    tx.exec(Q::new("DELETE FROM change_blackouts WHERE id = $1").bind(id))
        .await?;
    let v = blackout_view(&row);
    append(
        &mut tx,
        actor,
        "delete",
        "change_blackout",
        &id.to_string(),
        diff(
            &[
                ("name", json!(v.name)),
                ("starts_at", json!(v.starts_at)),
                ("ends_at", json!(v.ends_at)),
                ("service_id", json!(v.service_id)),
            ],
            &[],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lift a blackout period.
#[utoipa::path(delete, path = "/api/v1/change-blackouts/{id}", tag = "changes", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn api_delete_blackout(
    State(st): State<AppState>,
    p: Principal,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> AppResult<StatusCode> {
    p.require(Action::ManageReference)?;
    delete_blackout(&st.db, &p.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
