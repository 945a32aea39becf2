//! Clauses 8.2.1–8.2.3 — the service portfolio: each service with its owner, lifecycle stage,
//! customers served, the services it depends on, its requirements and the parties taking part
//! in its lifecycle; and plans for new, changed or removed services (8.2.2), which changes link to.

use crate::platform::audit::{Actor, append};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, DbError, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::{ApiJson, double_option};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::operation::portfolio::service::{
    PARTY_KINDS, PARTY_STAGES, PLAN_KINDS, PLAN_STATES, STAGES, plan_move_allowed,
    stage_move_allowed,
};
use keel_core::text::{Line, bounded};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow, PartialEq)]
#[schema(as = NamedRef)]
pub struct Ref {
    pub id: i64,
    pub name: String,
}

/// A party taking part in a service's lifecycle (8.2.3).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[schema(as = ServiceParty)]
pub struct Party {
    pub name: String,
    /// internal, external or supplier (a supplier the service depends on).
    pub kind: String,
    /// Lifecycle stages it takes part in: design, transition, delivery, improvement.
    pub stages: Vec<String>,
    #[serde(default)]
    pub role: String,
}

/// A service in the portfolio.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    /// pipeline, live, retiring or retired.
    pub stage: String,
    /// The service requirements (8.2.1): what customers and the provider need of it.
    pub requirements: String,
    pub customers: Vec<Ref>,
    /// Services this one needs to work.
    pub depends_on: Vec<Ref>,
    pub parties: Vec<Party>,
    pub version: i64,
    pub updated_at: String,
}

type ServiceRow = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    String,
    i64,
    i64,
);

const SERVICE_SQL: &str = "SELECT s.id, s.name, s.description, s.owner_id, u.name, s.stage, s.requirements, s.version, s.updated_at \
    FROM services s LEFT JOIN users u ON u.id = s.owner_id";

/// Services with their customers, dependencies and parties: three queries whatever the count
/// (`only`: the one service asked for).
async fn hydrate(db: &Db, rows: Vec<ServiceRow>, only: Option<i64>) -> AppResult<Vec<Service>> {
    let q = |sql: &str, col: &str| match only {
        Some(id) => Q::new(format!("{sql} WHERE {col} = $1")).bind(id),
        None => Q::new(sql),
    };
    let mut cq = q(
        "SELECT sc.service_id, c.id, c.name FROM service_customers sc JOIN customers c ON c.id = sc.customer_id",
        "sc.service_id",
    );
    cq.sql.push_str(" ORDER BY c.name");
    let customers: Vec<(i64, i64, String)> = db.all(cq).await?;
    let mut dq = q(
        "SELECT d.service_id, s.id, s.name FROM service_dependencies d JOIN services s ON s.id = d.depends_on_id",
        "d.service_id",
    );
    dq.sql.push_str(" ORDER BY s.name");
    let deps: Vec<(i64, i64, String)> = db.all(dq).await?;
    let mut pq = q(
        "SELECT service_id, name, kind, stages, role FROM service_parties",
        "service_id",
    );
    pq.sql.push_str(" ORDER BY id");
    let parties: Vec<(i64, String, String, String, String)> = db.all(pq).await?;
    let group = |v: &[(i64, i64, String)], s: i64| {
        v.iter()
            .filter(|r| r.0 == s)
            .map(|r| Ref {
                id: r.1,
                name: r.2.clone(),
            })
            .collect::<Vec<_>>()
    };
    Ok(rows
        .into_iter()
        .map(
            |(id, name, description, owner_id, owner, stage, requirements, version, updated)| {
                Service {
                    customers: group(&customers, id),
                    depends_on: group(&deps, id),
                    parties: parties
                        .iter()
                        .filter(|p| p.0 == id)
                        .map(|p| Party {
                            name: p.1.clone(),
                            kind: p.2.clone(),
                            stages: p
                                .3
                                .split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect(),
                            role: p.4.clone(),
                        })
                        .collect(),
                    id,
                    name,
                    description,
                    owner_id,
                    owner,
                    stage,
                    requirements,
                    version,
                    updated_at: iso(updated),
                }
            },
        )
        .collect())
}

pub async fn list(db: &Db) -> AppResult<Vec<Service>> {
    let rows: Vec<ServiceRow> = db
        .all(Q::new(format!("{SERVICE_SQL} ORDER BY s.name")))
        .await?;
    hydrate(db, rows, None).await
}

pub async fn get(db: &Db, id: i64) -> AppResult<Service> {
    let rows: Vec<ServiceRow> = db
        .all(Q::new(format!("{SERVICE_SQL} WHERE s.id = $1")).bind(id))
        .await?;
    hydrate(db, rows, Some(id))
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("service {id}")))
}

fn parse_stage(s: &str) -> AppResult<String> {
    STAGES
        .iter()
        .find(|x| **x == s.trim())
        .map(|s| s.to_string())
        .ok_or_else(|| {
            AppError::invalid(
                "stage",
                format!("`{s}` is not one of: {}", STAGES.join(", ")),
            )
        })
}

fn parse_parties(ps: &[Party]) -> AppResult<Vec<Party>> {
    ps.iter()
        .enumerate()
        .map(|(i, p)| {
            let f = |n: &str| format!("parties[{i}].{n}");
            let name = Line::parse(&p.name, 200)
                .map_err(|e| AppError::invalid(&f("name"), e))?
                .into_string();
            if !PARTY_KINDS.contains(&p.kind.as_str()) {
                return Err(AppError::invalid(
                    &f("kind"),
                    format!("`{}` is not one of: {}", p.kind, PARTY_KINDS.join(", ")),
                ));
            }
            if p.stages.is_empty() {
                return Err(AppError::invalid(&f("stages"), "name at least one stage"));
            }
            if let Some(s) = p
                .stages
                .iter()
                .find(|s| !PARTY_STAGES.contains(&s.as_str()))
            {
                return Err(AppError::invalid(
                    &f("stages"),
                    format!("`{s}` is not one of: {}", PARTY_STAGES.join(", ")),
                ));
            }
            Ok(Party {
                name,
                kind: p.kind.clone(),
                stages: p
                    .stages
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                role: p.role.trim().to_string(),
            })
        })
        .collect()
}

/// Refuse a dependency that would make a service depend on itself, directly or not.
async fn check_acyclic(tx: &mut Tx, id: i64, depends_on: &[i64]) -> AppResult<()> {
    let rows: Vec<(i64, i64)> = tx
        .all(
            Q::new(
                "SELECT service_id, depends_on_id FROM service_dependencies WHERE service_id <> $1",
            )
            .bind(id),
        )
        .await?;
    let mut edges: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (s, d) in rows {
        edges.entry(s).or_default().push(d);
    }
    let mut stack: Vec<i64> = depends_on.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(s) = stack.pop() {
        if s == id {
            return Err(AppError::invalid(
                "depends_on_ids",
                "the dependencies would form a cycle",
            ));
        }
        if seen.insert(s) {
            stack.extend(edges.get(&s).into_iter().flatten());
        }
    }
    Ok(())
}

async fn set_links(
    tx: &mut Tx,
    id: i64,
    customers: Option<&[i64]>,
    deps: Option<&[i64]>,
    parties: Option<&[Party]>,
) -> AppResult<()> {
    if let Some(cs) = customers {
        tx.exec(Q::new("DELETE FROM service_customers WHERE service_id = $1").bind(id))
            .await?;
        for c in cs.iter().collect::<BTreeSet<_>>() {
            crate::directory::exists(tx, "customers", *c, "customer_ids").await?;
            tx.exec(
                Q::new("INSERT INTO service_customers (service_id, customer_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(*c),
            )
            .await?;
        }
    }
    if let Some(ds) = deps {
        check_acyclic(tx, id, ds).await?;
        tx.exec(Q::new("DELETE FROM service_dependencies WHERE service_id = $1").bind(id))
            .await?;
        for d in ds.iter().collect::<BTreeSet<_>>() {
            crate::directory::exists(tx, "services", *d, "depends_on_ids").await?;
            tx.exec(
                Q::new(
                    "INSERT INTO service_dependencies (service_id, depends_on_id) VALUES ($1, $2)",
                )
                .bind(id)
                .bind(*d),
            )
            .await?;
        }
    }
    if let Some(ps) = parties {
        tx.exec(Q::new("DELETE FROM service_parties WHERE service_id = $1").bind(id))
            .await?;
        for p in ps {
            tx.exec(
                Q::new("INSERT INTO service_parties (service_id, name, kind, stages, role) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(p.name.as_str())
                    .bind(p.kind.as_str())
                    .bind(p.stages.join(","))
                    .bind(p.role.as_str()),
            )
            .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub owner_id: Option<i64>,
    /// Defaults to live.
    pub stage: Option<String>,
    #[serde(default)]
    pub requirements: String,
    #[serde(default)]
    pub customer_ids: Vec<i64>,
    #[serde(default)]
    pub depends_on_ids: Vec<i64>,
    #[serde(default)]
    pub parties: Vec<Party>,
}

/// What the audit trail records of a service.
struct Audited {
    name: String,
    description: String,
    owner_id: Option<i64>,
    stage: String,
    requirements: String,
    customer_ids: BTreeSet<i64>,
    depends_on_ids: BTreeSet<i64>,
    parties: Vec<Party>,
}

impl Audited {
    fn of(s: &Service) -> Audited {
        Audited {
            name: s.name.clone(),
            description: s.description.clone(),
            owner_id: s.owner_id,
            stage: s.stage.clone(),
            requirements: s.requirements.clone(),
            customer_ids: s.customers.iter().map(|c| c.id).collect(),
            depends_on_ids: s.depends_on.iter().map(|c| c.id).collect(),
            parties: s.parties.clone(),
        }
    }

    fn fields(&self) -> [(&'static str, Value); 8] {
        [
            ("name", json!(self.name)),
            ("description", json!(self.description)),
            ("owner_id", json!(self.owner_id)),
            ("stage", json!(self.stage)),
            ("requirements", json!(self.requirements)),
            ("customer_ids", json!(self.customer_ids)),
            ("depends_on_ids", json!(self.depends_on_ids)),
            ("parties", json!(self.parties)),
        ]
    }
}

fn service_changes(before: Option<&Audited>, after: &Audited) -> Vec<FieldChange> {
    let old = before.map(Audited::fields);
    after
        .fields()
        .into_iter()
        .enumerate()
        .filter_map(|(i, (name, n))| {
            let o = old.as_ref().map(|f| f[i].1.clone()).unwrap_or(Value::Null);
            (o != n).then(|| FieldChange {
                field: name.into(),
                old: o,
                new: n,
            })
        })
        .collect()
}

pub async fn create(db: &Db, p: &Principal, b: NewService) -> AppResult<Service> {
    p.require(Action::ManageReference)?;
    let mut tx = db.begin().await?;
    let id = create_in(&mut tx, &p.actor(), b).await?;
    tx.commit().await?;
    get(db, id).await
}

/// Create a service in the caller's transaction (imports), audited; returns its id.
pub async fn create_in(tx: &mut Tx, actor: &Actor, b: NewService) -> AppResult<i64> {
    let name = Line::parse(&b.name, 200)
        .map_err(|e| AppError::invalid("name", e))?
        .into_string();
    let stage = b
        .stage
        .as_deref()
        .map(parse_stage)
        .transpose()?
        .unwrap_or_else(|| "live".into());
    let requirements =
        bounded(&b.requirements, 20_000).map_err(|e| AppError::invalid("requirements", e))?;
    let parties = parse_parties(&b.parties)?;
    let now = now_ms();
    if let Some(o) = b.owner_id {
        crate::directory::exists(tx, "users", o, "owner_id").await?;
    }
    let id = tx
        .insert(
            Q::new("INSERT INTO services (name, description, owner_id, stage, requirements, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING id")
                .bind(name.as_str())
                .bind(b.description.trim())
                .bind(b.owner_id)
                .bind(stage.as_str())
                .bind(requirements.trim())
                .bind(now),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::invalid("name", format!("a service named {name} exists")),
            e => e.into(),
        })?;
    // The CMDB revision first: its row lock orders portfolio writes, so two opposite
    // dependencies cannot both pass the cycle check.
    super::graph::record(tx, &[], &[]).await?;
    set_links(
        tx,
        id,
        Some(&b.customer_ids),
        Some(&b.depends_on_ids),
        Some(&parties),
    )
    .await?;
    let after = Audited {
        name,
        description: b.description.trim().to_string(),
        owner_id: b.owner_id,
        stage,
        requirements: requirements.trim().to_string(),
        customer_ids: b.customer_ids.into_iter().collect(),
        depends_on_ids: b.depends_on_ids.into_iter().collect(),
        parties,
    };
    append(
        tx,
        actor,
        "create",
        "service",
        &id.to_string(),
        service_changes(None, &after),
    )
    .await?;
    Ok(id)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    /// pipeline → live → retiring → retired (retiring may return to live).
    pub stage: Option<String>,
    pub requirements: Option<String>,
    pub customer_ids: Option<Vec<i64>>,
    pub depends_on_ids: Option<Vec<i64>>,
    pub parties: Option<Vec<Party>>,
    pub version: Option<i64>,
}

pub async fn update(db: &Db, p: &Principal, id: i64, b: ServicePatch) -> AppResult<Service> {
    p.require(Action::ManageReference)?;
    let before = get(db, id).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let name = b
        .name
        .as_deref()
        .map(|n| {
            Line::parse(n, 200)
                .map_err(|e| AppError::invalid("name", e))
                .map(|l| l.into_string())
        })
        .transpose()?
        .unwrap_or_else(|| before.name.clone());
    let stage = b
        .stage
        .as_deref()
        .map(parse_stage)
        .transpose()?
        .unwrap_or_else(|| before.stage.clone());
    if !stage_move_allowed(&before.stage, &stage) {
        return Err(AppError::Conflict(format!(
            "a {} service cannot become {stage}",
            before.stage
        )));
    }
    let requirements = b
        .requirements
        .as_deref()
        .map(|r| bounded(r, 20_000).map_err(|e| AppError::invalid("requirements", e)))
        .transpose()?
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|| before.requirements.clone());
    let parties = b.parties.as_deref().map(parse_parties).transpose()?;
    let owner = b.owner_id.unwrap_or(before.owner_id);
    let old = Audited::of(&before);
    let after = Audited {
        name: name.clone(),
        description: b
            .description
            .as_deref()
            .map(str::trim)
            .unwrap_or(&before.description)
            .to_string(),
        owner_id: owner,
        stage: stage.clone(),
        requirements: requirements.clone(),
        customer_ids: b
            .customer_ids
            .as_ref()
            .map(|c| c.iter().copied().collect())
            .unwrap_or_else(|| old.customer_ids.clone()),
        depends_on_ids: b
            .depends_on_ids
            .as_ref()
            .map(|c| c.iter().copied().collect())
            .unwrap_or_else(|| old.depends_on_ids.clone()),
        parties: parties.clone().unwrap_or_else(|| old.parties.clone()),
    };
    let changes = service_changes(Some(&old), &after);
    if changes.is_empty() {
        return Ok(before);
    }
    let mut tx = db.begin().await?;
    // The CMDB revision first: its row lock orders portfolio writes (see `create`).
    super::graph::record(&mut tx, &[], &[]).await?;
    if before.stage == "pipeline" && stage == "live" {
        crate::operation::transition::design::check_may_go_live(&mut tx, id).await?;
    }
    if let Some(o) = owner.filter(|o| Some(*o) != before.owner_id) {
        crate::directory::exists(&mut tx, "users", o, "owner_id").await?;
    }
    let n = tx
        .exec(
            Q::new("UPDATE services SET name = $1, description = $2, owner_id = $3, stage = $4, requirements = $5, version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8")
                .bind(name.as_str())
                .bind(b.description.as_deref().map(str::trim).unwrap_or(&before.description).to_string())
                .bind(owner)
                .bind(stage.as_str())
                .bind(requirements.as_str())
                .bind(now_ms())
                .bind(id)
                .bind(before.version),
        )
        .await
        .map_err(|e| match e {
            DbError::Unique(_) => AppError::invalid("name", format!("a service named {name} exists")),
            e => e.into(),
        })?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    set_links(
        &mut tx,
        id,
        b.customer_ids.as_deref(),
        b.depends_on_ids.as_deref(),
        parties.as_deref(),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "update",
        "service",
        &id.to_string(),
        changes,
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

// ---------------------------------------------------------------------------------------------
// Service plans (8.2.2)

/// A plan for a new, changed or removed service: its requirements, constraints and acceptance
/// criteria. The change issue's changes and transition records link to it by number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ServicePlan {
    pub number: String,
    pub service_id: Option<i64>,
    pub service: Option<String>,
    /// new, change or removal.
    pub kind: String,
    pub title: String,
    pub requirements: String,
    pub constraints: String,
    pub acceptance_criteria: String,
    /// draft, approved, done or cancelled.
    pub state: String,
    pub owner_id: i64,
    pub owner: String,
    pub version: i64,
    #[serde(skip)]
    pub updated_at: i64,
}

const PLAN_SQL: &str = "SELECT p.number, p.service_id, s.name AS service, p.kind, p.title, p.requirements, p.constraints, p.acceptance_criteria, \
    p.state, p.owner_id, u.name AS owner, p.version, p.updated_at FROM service_plans p JOIN users u ON u.id = p.owner_id LEFT JOIN services s ON s.id = p.service_id";

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

fn long_text(field: &str, v: &str) -> AppResult<String> {
    bounded(v, 20_000)
        .map(|s| s.trim().to_string())
        .map_err(|e| AppError::invalid(field, e))
}

pub async fn list_plans(db: &Db) -> AppResult<Vec<ServicePlan>> {
    Ok(db
        .all(Q::new(format!("{PLAN_SQL} ORDER BY p.id DESC")))
        .await?)
}

pub async fn get_plan(db: &Db, number: &str) -> AppResult<ServicePlan> {
    db.opt(Q::new(format!("{PLAN_SQL} WHERE p.number = $1")).bind(number.to_uppercase()))
        .await?
        .ok_or_else(|| AppError::NotFound(format!("service plan {number}")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// The service changed or removed; none for a new service.
    pub service_id: Option<i64>,
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub requirements: String,
    #[serde(default)]
    pub constraints: String,
    #[serde(default)]
    pub acceptance_criteria: String,
}

pub async fn create_plan(db: &Db, p: &Principal, b: NewPlan) -> AppResult<ServicePlan> {
    p.require(Action::ManageReference)?;
    let kind = one_of("kind", &b.kind, PLAN_KINDS)?;
    let title = Line::parse(&b.title, 200)
        .map_err(|e| AppError::invalid("title", e))?
        .into_string();
    if kind != "new" && b.service_id.is_none() {
        return Err(AppError::invalid(
            "service_id",
            format!("a {kind} plan names the service"),
        ));
    }
    let (req, con, acc) = (
        long_text("requirements", &b.requirements)?,
        long_text("constraints", &b.constraints)?,
        long_text("acceptance_criteria", &b.acceptance_criteria)?,
    );
    let now = now_ms();
    let mut tx = db.begin().await?;
    if let Some(s) = b.service_id {
        crate::directory::exists(&mut tx, "services", s, "service_id").await?;
    }
    let number = crate::platform::db::next_number(&mut tx, "service_plan", "SP").await?;
    tx.exec(
        Q::new("INSERT INTO service_plans (number, service_id, kind, title, requirements, constraints, acceptance_criteria, state, owner_id, version, created_at, updated_at) \
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, 1, $9, $9)")
            .bind(number.as_str())
            .bind(b.service_id)
            .bind(kind.as_str())
            .bind(title.as_str())
            .bind(req.as_str())
            .bind(con.as_str())
            .bind(acc.as_str())
            .bind(p.user_id)
            .bind(now),
    )
    .await?;
    let ch = |f: &str, v: Value| FieldChange {
        field: f.into(),
        old: Value::Null,
        new: v,
    };
    append(
        &mut tx,
        &p.actor(),
        "create",
        "service_plan",
        &number,
        vec![
            ch("service_id", json!(b.service_id)),
            ch("kind", json!(kind)),
            ch("title", json!(title)),
            ch("requirements", json!(req)),
            ch("constraints", json!(con)),
            ch("acceptance_criteria", json!(acc)),
            ch("state", json!("draft")),
        ],
    )
    .await?;
    tx.commit().await?;
    get_plan(db, &number).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    pub title: Option<String>,
    pub requirements: Option<String>,
    pub constraints: Option<String>,
    pub acceptance_criteria: Option<String>,
    /// draft → approved → done; draft or approved → cancelled.
    pub state: Option<String>,
    pub version: Option<i64>,
}

pub async fn update_plan(
    db: &Db,
    p: &Principal,
    number: &str,
    b: PlanPatch,
) -> AppResult<ServicePlan> {
    p.require(Action::ManageReference)?;
    let before = get_plan(db, number).await?;
    if let Some(v) = b.version
        && v != before.version
    {
        return Err(AppError::Stale {
            current: before.version,
        });
    }
    let state = b
        .state
        .as_deref()
        .map(|s| one_of("state", s, PLAN_STATES))
        .transpose()?
        .unwrap_or_else(|| before.state.clone());
    if !plan_move_allowed(&before.state, &state) {
        return Err(AppError::Conflict(format!(
            "a {} plan cannot become {state}",
            before.state
        )));
    }
    if matches!(before.state.as_str(), "done" | "cancelled")
        && (b.title.is_some()
            || b.requirements.is_some()
            || b.constraints.is_some()
            || b.acceptance_criteria.is_some())
    {
        return Err(AppError::Conflict(format!(
            "{} is {}; it no longer changes",
            before.number, before.state
        )));
    }
    if state == "approved"
        && before.state == "draft"
        && before.acceptance_criteria.is_empty()
        && b.acceptance_criteria
            .as_deref()
            .is_none_or(|a| a.trim().is_empty())
    {
        return Err(AppError::invalid(
            "acceptance_criteria",
            "a plan is approved with its acceptance criteria",
        ));
    }
    let title = b
        .title
        .as_deref()
        .map(|t| {
            Line::parse(t, 200)
                .map(|l| l.into_string())
                .map_err(|e| AppError::invalid("title", e))
        })
        .transpose()?
        .unwrap_or_else(|| before.title.clone());
    let req = b
        .requirements
        .as_deref()
        .map(|v| long_text("requirements", v))
        .transpose()?
        .unwrap_or_else(|| before.requirements.clone());
    let con = b
        .constraints
        .as_deref()
        .map(|v| long_text("constraints", v))
        .transpose()?
        .unwrap_or_else(|| before.constraints.clone());
    let acc = b
        .acceptance_criteria
        .as_deref()
        .map(|v| long_text("acceptance_criteria", v))
        .transpose()?
        .unwrap_or_else(|| before.acceptance_criteria.clone());
    let changes: Vec<FieldChange> = [
        ("title", json!(before.title), json!(title)),
        ("requirements", json!(before.requirements), json!(req)),
        ("constraints", json!(before.constraints), json!(con)),
        (
            "acceptance_criteria",
            json!(before.acceptance_criteria),
            json!(acc),
        ),
        ("state", json!(before.state), json!(state)),
    ]
    .into_iter()
    .filter(|(_, o, n)| o != n)
    .map(|(f, old, new)| FieldChange {
        field: f.into(),
        old,
        new,
    })
    .collect();
    if changes.is_empty() {
        return Ok(before);
    }
    let mut tx = db.begin().await?;
    let n = tx
        .exec(
            Q::new("UPDATE service_plans SET title = $1, requirements = $2, constraints = $3, acceptance_criteria = $4, state = $5, version = version + 1, updated_at = $6 \
                    WHERE number = $7 AND version = $8")
                .bind(title)
                .bind(req)
                .bind(con)
                .bind(acc)
                .bind(state)
                .bind(now_ms())
                .bind(before.number.as_str())
                .bind(before.version),
        )
        .await?;
    if n == 0 {
        return Err(AppError::Stale {
            current: before.version + 1,
        });
    }
    append(
        &mut tx,
        &p.actor(),
        "update",
        "service_plan",
        &before.number,
        changes,
    )
    .await?;
    tx.commit().await?;
    get_plan(db, &before.number).await
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// The service portfolio.
#[utoipa::path(get, path = "/api/v1/services", tag = "portfolio", params(crate::platform::extract::Format), responses((status = 200, body = Vec<Service>, description = "JSON, or CSV with `format=csv`")), security(("bearer" = [])))]
pub async fn api_list(
    State(st): State<AppState>,
    p: Principal,
    crate::platform::extract::ApiQuery(f): crate::platform::extract::ApiQuery<
        crate::platform::extract::Format,
    >,
) -> AppResult<axum::response::Response> {
    p.require(Action::ReadDirectory)?;
    crate::platform::extract::list_response("services", &f, list(&st.db).await?)
}

/// Add a service to the portfolio.
#[utoipa::path(post, path = "/api/v1/services", tag = "portfolio", request_body = NewService, responses((status = 201, body = Service)), security(("bearer" = [])))]
pub async fn api_create(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewService>,
) -> AppResult<(StatusCode, Json<Service>)> {
    Ok((StatusCode::CREATED, Json(create(&st.db, &p, b).await?)))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "portfolio", params(("id" = i64, Path)), responses((status = 200, body = Service)), security(("bearer" = [])))]
pub async fn api_get(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Service>> {
    p.require(Action::ReadDirectory)?;
    Ok(Json(get(&st.db, id).await?))
}

/// Change a service: stage, owner, requirements, customers, dependencies, parties.
#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "portfolio", params(("id" = i64, Path)), request_body = ServicePatch, responses((status = 200, body = Service)), security(("bearer" = [])))]
pub async fn api_update(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ServicePatch>,
) -> AppResult<Json<Service>> {
    Ok(Json(update(&st.db, &p, id, b).await?))
}

/// Plans for new, changed and removed services.
#[utoipa::path(get, path = "/api/v1/service-plans", tag = "portfolio", responses((status = 200, body = Vec<ServicePlan>)), security(("bearer" = [])))]
pub async fn api_list_plans(
    State(st): State<AppState>,
    p: Principal,
) -> AppResult<Json<Vec<ServicePlan>>> {
    p.require(Action::ReadDirectory)?;
    Ok(Json(list_plans(&st.db).await?))
}

/// Record a service plan.
#[utoipa::path(post, path = "/api/v1/service-plans", tag = "portfolio", request_body = NewPlan, responses((status = 201, body = ServicePlan)), security(("bearer" = [])))]
pub async fn api_create_plan(
    State(st): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewPlan>,
) -> AppResult<(StatusCode, Json<ServicePlan>)> {
    Ok((StatusCode::CREATED, Json(create_plan(&st.db, &p, b).await?)))
}

/// One service plan.
#[utoipa::path(get, path = "/api/v1/service-plans/{number}", tag = "portfolio", params(("number" = String, Path)), responses((status = 200, body = ServicePlan)), security(("bearer" = [])))]
pub async fn api_get_plan(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<ServicePlan>> {
    p.require(Action::ReadDirectory)?;
    Ok(Json(get_plan(&st.db, &number).await?))
}

/// Change a service plan (approve it with acceptance criteria; mark it done or cancelled).
#[utoipa::path(patch, path = "/api/v1/service-plans/{number}", tag = "portfolio", params(("number" = String, Path)), request_body = PlanPatch, responses((status = 200, body = ServicePlan)), security(("bearer" = [])))]
pub async fn api_update_plan(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<PlanPatch>,
) -> AppResult<Json<ServicePlan>> {
    Ok(Json(update_plan(&st.db, &p, &number, b).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "services",
    api: part_api,
    pages: super::ui::service_routes,
    templates: &[
        (
            "services.html",
            include_str!("../../../templates/services.html"),
        ),
        (
            "service.html",
            include_str!("../../../templates/service.html"),
        ),
    ],
    tags: &[(
        "portfolio",
        "Service portfolio, plans and the service catalogue (8.2.1–8.2.4)",
    )],
    nav: &[crate::platform::part::Nav {
        order: 90,
        label: "Services",
        requester_label: None,
        href: "/services",
        shown: |p| p.can(keel_core::access::Action::ReadDirectory),
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
        .routes(gate(
            Action::ManageReference,
            routes!(api_list_plans, api_create_plan),
        ))
        .routes(gate(
            Action::ManageReference,
            routes!(api_get_plan, api_update_plan),
        ))
}
