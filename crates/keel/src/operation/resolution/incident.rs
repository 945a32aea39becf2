//! Clause 8.6.1 — incident management: the `/api/v1/incidents` routes. Everything but the
//! OpenAPI annotations lives in the kernel (`crate::kernel::api`); the rules are in
//! `keel_core::operation::resolution::incident`.

crate::work_item_routes! {
    kind: keel_core::operation::resolution::incident::KIND,
    tag: "incidents",
    list: "/api/v1/incidents",
    one: "/api/v1/incidents/{number}",
    history: "/api/v1/incidents/{number}/history",
    comments: "/api/v1/incidents/{number}/comments",
    links: "/api/v1/incidents/{number}/links",
    attachments: "/api/v1/incidents/{number}/attachments",
    attachment: "/api/v1/incidents/{number}/attachments/{id}",
}
crate::clock_routes! {
    kind: keel_core::operation::resolution::incident::KIND,
    tag: "incidents",
    sla: "/api/v1/incidents/{number}/sla",
}
crate::affected_ci_routes! {
    kind: keel_core::operation::resolution::incident::KIND,
    tag: "incidents",
    cis: "/api/v1/incidents/{number}/cis",
    ci: "/api/v1/incidents/{number}/cis/{ci_id}",
}

use crate::kernel::api::{ItemView, item_response, require_read};
use crate::kernel::{self, ItemRow, Patch, Scope};
use crate::platform::audit::append;
use crate::platform::auth::Principal;
use crate::platform::db::{Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiJson;
use crate::platform::outbox::{self, Event, group_members};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use keel_core::access::Action;
use keel_core::audit::FieldChange;
use keel_core::kernel::Kind;
use keel_core::operation::resolution::incident::{AUDIENCES, MAJOR_CRITERIA};
use keel_core::text::bounded;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const K: Kind = keel_core::operation::resolution::incident::KIND;

fn one_of(field: &str, v: &str, allowed: &[&str]) -> AppResult<()> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            format!("must be one of: {}", allowed.join(", ")),
        ))
    }
}

fn text(field: &str, v: &str, max: usize) -> AppResult<String> {
    let t = v.trim();
    if t.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    bounded(t, max).map_err(|e| AppError::invalid(field, e))
}

fn change(field: &str, old: Value, new: Value) -> Vec<FieldChange> {
    vec![FieldChange {
        field: field.into(),
        old,
        new,
    }]
}

// ---------------------------------------------------------------------------------------------
// Major incidents

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareMajor {
    /// Which of the organisation's criteria makes it major: service_outage, multiple_customers,
    /// security_breach, regulatory_impact or high_financial_impact.
    pub criterion: String,
    /// The major-incident manager (a member of staff).
    pub manager_id: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MajorIncidentCommunication)]
pub struct Communication {
    pub audience: String,
    pub body: String,
    pub sent_by: Option<String>,
    pub sent_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MajorIncident {
    pub number: String,
    pub criterion: String,
    pub manager_id: i64,
    pub manager: String,
    pub declared_at: String,
    /// The post-incident review; closure waits for it.
    pub review: Option<String>,
    pub reviewed_at: Option<String>,
    /// The communication log, oldest first.
    pub communications: Vec<Communication>,
}

type MajorRow = (String, i64, String, i64, Option<String>, Option<i64>);

async fn major_of(st: &AppState, item: &ItemRow) -> AppResult<MajorIncident> {
    let row: Option<MajorRow> = st
        .db
        .opt(Q::new("SELECT m.criterion, m.manager_id, u.name, m.declared_at, m.review, m.reviewed_at FROM major_incidents m JOIN users u ON u.id = m.manager_id WHERE m.item_id = $1").bind(item.id))
        .await?;
    let (criterion, manager_id, manager, declared_at, review, reviewed_at) =
        row.ok_or_else(|| AppError::NotFound(format!("major incident {}", item.number)))?;
    let comms: Vec<(String, String, Option<String>, i64)> = st
        .db
        .all(Q::new("SELECT c.audience, c.body, u.name, c.sent_at FROM communications c LEFT JOIN users u ON u.id = c.sent_by WHERE c.item_id = $1 ORDER BY c.id").bind(item.id))
        .await?;
    Ok(MajorIncident {
        number: item.number.clone(),
        criterion,
        manager_id,
        manager,
        declared_at: iso(declared_at),
        review,
        reviewed_at: reviewed_at.map(iso),
        communications: comms
            .into_iter()
            .map(|(audience, body, sent_by, at)| Communication {
                audience,
                body,
                sent_by,
                sent_at: iso(at),
            })
            .collect(),
    })
}

/// Declare a major incident (managers): the criterion that makes it major and the major-incident
/// manager, who is told at once together with the assignment group.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/major", tag = "incidents", params(("number" = String, Path)), request_body = DeclareMajor,
    responses((status = 201, body = MajorIncident), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn declare_major(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<DeclareMajor>,
) -> AppResult<(StatusCode, Json<MajorIncident>)> {
    p.require(Action::ManageMajorIncidents)?;
    one_of("criterion", &b.criterion, MAJOR_CRITERIA)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    if !K.lifecycle().is_open(&item.state) {
        return Err(AppError::Conflict(format!(
            "{number} is {}; only an open incident is declared major",
            item.state
        )));
    }
    // A service outage starts an outage record on the incident's service (8.7.1), ended when
    // the incident is resolved.
    let outage = match (b.criterion.as_str(), item.service_id) {
        ("service_outage", Some(service)) => {
            let input = json!({"service_id": service, "description": item.title, "incident": item.number,
                "started_at": crate::platform::web::iso(item.created_at)});
            let r = crate::kernel::register::reg("outages");
            let vals = crate::kernel::register::prepare(
                &st.db,
                r,
                input.as_object().unwrap_or(&serde_json::Map::new()),
                None,
                Some(p.user_id),
            )
            .await?;
            Some((r, vals))
        }
        _ => None,
    };
    let mut tx = st.db.begin().await?;
    if let Some((r, vals)) = &outage {
        crate::kernel::register::insert(&mut tx, &p.actor(), r, vals).await?;
    }
    let staff: Option<(String,)> = tx
        .opt(Q::new("SELECT role FROM users WHERE id = $1 AND disabled = 0").bind(b.manager_id))
        .await?;
    match staff {
        Some((role,)) if !matches!(role.as_str(), "requester" | "auditor") => {}
        _ => {
            return Err(AppError::invalid(
                "manager_id",
                "must be an active member of staff",
            ));
        }
    }
    tx.exec(
        Q::new("INSERT INTO major_incidents (item_id, criterion, manager_id, declared_by, declared_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(item.id)
            .bind(b.criterion.as_str())
            .bind(b.manager_id)
            .bind(p.user_id)
            .bind(now_ms()),
    )
    .await
    .map_err(|e| match e {
        crate::platform::db::DbError::Unique(_) => AppError::Conflict(format!("{number} is a major incident already")),
        e => e.into(),
    })?;
    append(
        &mut tx,
        &p.actor(),
        "major.declare",
        K.as_str(),
        &item.number,
        vec![
            FieldChange {
                field: "major_criterion".into(),
                old: Value::Null,
                new: json!(b.criterion),
            },
            FieldChange {
                field: "major_manager_id".into(),
                old: Value::Null,
                new: json!(b.manager_id),
            },
        ],
    )
    .await?;
    let mut recipients = vec![b.manager_id];
    if let Some(g) = item.assignment_group_id {
        recipients.extend(group_members(&mut tx, g).await?);
    }
    recipients.retain(|u| *u != p.user_id);
    outbox::emit(
        &mut tx,
        Event {
            event: "incident.major",
            item_id: Some(item.id),
            title: format!(
                "{} declared a major incident ({}): {}",
                item.number,
                b.criterion.replace('_', " "),
                item.title
            ),
            payload: json!({"number": item.number, "criterion": b.criterion}),
            recipients,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(major_of(&st, &item).await?)))
}

/// The major-incident record with its communication log.
#[utoipa::path(get, path = "/api/v1/incidents/{number}/major", tag = "incidents", params(("number" = String, Path)),
    responses((status = 200, body = MajorIncident), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_major(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Json<MajorIncident>> {
    require_read(&p, K)?;
    // The record (manager, review, internal communications) is the provider's.
    p.require(Action::ReadInternalItems)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    Ok(Json(major_of(&st, &item).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewMajorIncidentCommunication)]
pub struct NewCommunication {
    /// customers, management, service_desk, suppliers or all_staff.
    pub audience: String,
    pub body: String,
}

/// Add to a major incident's communication log (what was told to whom, when).
#[utoipa::path(post, path = "/api/v1/incidents/{number}/major/communications", tag = "incidents", params(("number" = String, Path)), request_body = NewCommunication,
    responses((status = 201, body = MajorIncident), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn communicate(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<NewCommunication>,
) -> AppResult<(StatusCode, Json<MajorIncident>)> {
    p.require(Action::UpdateWorkItems)?;
    one_of("audience", &b.audience, AUDIENCES)?;
    let body = text("body", &b.body, 20_000)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    major_of(&st, &item).await?;
    let mut tx = st.db.begin().await?;
    tx.exec(
        Q::new("INSERT INTO communications (item_id, audience, body, sent_by, sent_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(item.id)
            .bind(b.audience.as_str())
            .bind(body.as_str())
            .bind(p.user_id)
            .bind(now_ms()),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "major.communicate",
        K.as_str(),
        &item.number,
        change(&b.audience, Value::Null, json!(body)),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(major_of(&st, &item).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MajorReview {
    /// What happened, why, what was learnt and what is to be done (8.6.1 major incident review).
    pub review: String,
}

/// Record the major incident's review; the incident may then be closed.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/major/review", tag = "incidents", params(("number" = String, Path)), request_body = MajorReview,
    responses((status = 200, body = MajorIncident), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn review_major(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<MajorReview>,
) -> AppResult<Json<MajorIncident>> {
    p.require(Action::ManageMajorIncidents)?;
    let review = text("review", &b.review, 50_000)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    let before = major_of(&st, &item).await?;
    let mut tx = st.db.begin().await?;
    tx.exec(
        Q::new("UPDATE major_incidents SET review = $1, reviewed_by = $2, reviewed_at = $3 WHERE item_id = $4")
            .bind(review.as_str())
            .bind(p.user_id)
            .bind(now_ms())
            .bind(item.id),
    )
    .await?;
    append(
        &mut tx,
        &p.actor(),
        "major.review",
        K.as_str(),
        &item.number,
        change("major_review", json!(before.review), json!(review)),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(major_of(&st, &item).await?))
}

// ---------------------------------------------------------------------------------------------
// Escalation

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// `functional` (to another group; counts as a reassignment) or `hierarchical` (tell the
    /// assignment group's manager).
    pub kind: String,
    /// For functional escalation: the group that takes over.
    pub group_id: Option<i64>,
    pub reason: String,
}

/// Escalate an incident functionally (to another group) or hierarchically (to the group's
/// manager); the reason is kept as an internal note and in the audit trail.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/escalate", tag = "incidents", params(("number" = String, Path)), request_body = Escalation,
    responses((status = 200, body = ItemView), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn escalate(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<Escalation>,
) -> AppResult<Response> {
    p.require(Action::UpdateWorkItems)?;
    let reason = text("reason", &b.reason, 5_000)?;
    let item = kernel::get(&st.db, K, &number, Scope::of(&p)).await?;
    let row = match b.kind.as_str() {
        "functional" => {
            let g = b
                .group_id
                .ok_or_else(|| AppError::invalid("group_id", "name the group that takes over"))?;
            if Some(g) == item.assignment_group_id {
                return Err(AppError::invalid(
                    "group_id",
                    "the incident is with that group already",
                ));
            }
            let patch = Patch {
                assignment_group_id: Some(Some(g)),
                assignee_id: Some(None),
                ..Default::default()
            };
            let row =
                kernel::update(&st.db, K, &number, Scope::of(&p), &p.actor(), patch, None).await?;
            let group = row.assignment_group_name.clone().unwrap_or_default();
            kernel::add_comment(
                &st.db,
                &row,
                &p,
                &p.actor(),
                &format!("Escalated to {group}: {reason}"),
                true,
            )
            .await?;
            row
        }
        "hierarchical" => {
            let g = item.assignment_group_id.ok_or_else(|| {
                AppError::Conflict(format!(
                    "{number} has no assignment group whose manager could be told"
                ))
            })?;
            let mut tx = st.db.begin().await?;
            let (group, manager): (String, Option<i64>) = tx
                .one(Q::new("SELECT name, manager_id FROM support_groups WHERE id = $1").bind(g))
                .await?;
            let manager = manager.ok_or_else(|| {
                AppError::Conflict(format!("group {group} has no manager to escalate to"))
            })?;
            append(
                &mut tx,
                &p.actor(),
                "escalate.hierarchical",
                K.as_str(),
                &item.number,
                change("escalated_to", Value::Null, json!(manager)),
            )
            .await?;
            outbox::emit(
                &mut tx,
                Event {
                    event: "incident.escalated",
                    item_id: Some(item.id),
                    title: format!(
                        "{} escalated to you as manager of {group}: {reason}",
                        item.number
                    ),
                    payload: json!({"number": item.number, "reason": reason}),
                    recipients: vec![manager],
                },
            )
            .await?;
            tx.commit().await?;
            kernel::add_comment(
                &st.db,
                &item,
                &p,
                &p.actor(),
                &format!("Escalated to the manager of {group}: {reason}"),
                true,
            )
            .await?;
            kernel::get_by_id(&st.db, item.id).await?
        }
        other => {
            return Err(AppError::invalid(
                "kind",
                format!("`{other}` is not functional or hierarchical"),
            ));
        }
    };
    Ok(item_response(StatusCode::OK, row))
}

// ---------------------------------------------------------------------------------------------
// The requester's answer to a resolution

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionAnswer {
    /// Required when rejecting: what is still wrong.
    pub reason: Option<String>,
}

async fn answer(
    st: &AppState,
    p: &Principal,
    number: &str,
    accept: bool,
    reason: Option<String>,
) -> AppResult<ItemRow> {
    p.require(Action::ConfirmResolution)?;
    let item = kernel::get(&st.db, K, number, Scope::of(p)).await?;
    if item.state != "resolved" {
        return Err(AppError::Conflict(format!(
            "{number} is {}, not resolved",
            item.state.replace('_', " ")
        )));
    }
    if accept {
        let patch = Patch {
            state: Some("closed".into()),
            ..Default::default()
        };
        return kernel::update(
            &st.db,
            K,
            number,
            Scope::of(p),
            &p.actor(),
            patch,
            Some(item.version),
        )
        .await;
    }
    let reason = text("reason", reason.as_deref().unwrap_or_default(), 5_000)?;
    let patch = Patch {
        state: Some("in_progress".into()),
        ..Default::default()
    };
    let row = kernel::update(
        &st.db,
        K,
        number,
        Scope::of(p),
        &p.actor(),
        patch,
        Some(item.version),
    )
    .await?;
    kernel::add_comment(
        &st.db,
        &row,
        p,
        &p.actor(),
        &format!("Resolution rejected: {reason}"),
        false,
    )
    .await?;
    kernel::get_by_id(&st.db, row.id).await
}

/// The requester confirms the resolution: the incident closes.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/confirm", tag = "incidents", params(("number" = String, Path)),
    responses((status = 200, body = ItemView), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn confirm(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Response> {
    Ok(item_response(
        StatusCode::OK,
        answer(&st, &p, &number, true, None).await?,
    ))
}

/// The requester rejects the resolution: the incident reopens with their reason as a comment.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/reject", tag = "incidents", params(("number" = String, Path)), request_body = ResolutionAnswer,
    responses((status = 200, body = ItemView), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn reject(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<ResolutionAnswer>,
) -> AppResult<Response> {
    Ok(item_response(
        StatusCode::OK,
        answer(&st, &p, &number, false, b.reason).await?,
    ))
}

/// For the UI: confirm or reject.
pub async fn answer_resolution(
    st: &AppState,
    p: &Principal,
    number: &str,
    accept: bool,
    reason: Option<String>,
) -> AppResult<ItemRow> {
    answer(st, p, number, accept, reason).await
}

/// For the UI: the major-incident record, if any.
pub async fn major_if_any(st: &AppState, item: &ItemRow) -> AppResult<Option<MajorIncident>> {
    match major_of(st, item).await {
        Ok(m) => Ok(Some(m)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Close incidents resolved more than `days` ago (8.6.1: closure after confirmation or a set time).
pub async fn auto_close(
    db: &crate::platform::db::Db,
    days: i64,
) -> crate::platform::db::DbResult<u64> {
    let cutoff = now_ms() - days * 86_400_000;
    let due: Vec<(i64, String, i64)> = db
        // A major incident waits for its review (8.6.1), however long it has been resolved.
        .all(Q::new("SELECT id, number, version FROM work_items w WHERE kind = 'incident' AND state = 'resolved' AND resolved_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM major_incidents m WHERE m.item_id = w.id AND m.review IS NULL) ORDER BY resolved_at LIMIT 500").bind(cutoff))
        .await?;
    let actor = crate::platform::audit::Actor::system("auto-close");
    let mut closed = 0;
    for (id, number, version) in due {
        let now = now_ms();
        let mut tx = db.begin().await?;
        let n = tx
            .exec(Q::new("UPDATE work_items SET state = 'closed', closed_at = $1, updated_at = $1, version = version + 1 WHERE id = $2 AND version = $3 AND state = 'resolved'").bind(now).bind(id).bind(version))
            .await?;
        if n == 1 {
            tx.exec(Q::new("INSERT INTO work_item_transitions (item_id, from_state, to_state, at, actor_id) VALUES ($1, 'resolved', 'closed', $2, NULL)").bind(id).bind(now)).await?;
            append(
                &mut tx,
                &actor,
                "update",
                "incident",
                &number,
                vec![FieldChange {
                    field: "state".into(),
                    old: json!("resolved"),
                    new: json!("closed"),
                }],
            )
            .await?;
            closed += 1;
        }
        tx.commit().await?;
    }
    Ok(closed)
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "incidents",
    api: part_api,
    pages: super::incident_ui::routes,
    templates: &[(
        "incident_panel.html",
        include_str!("../../../templates/incident_panel.html"),
    )],
    tags: &[("incidents", "Incident management (ISO/IEC 20000-1 8.6.1)")],
    jobs: &[crate::platform::part::JobKind {
        kind: "incident.auto_close",
        every: Some(|_| Some(15 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                auto_close(&st.db, st.cfg.auto_close_days)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
    }],
    nav: &[
        crate::platform::part::Nav {
            order: 10,
            label: "Incidents",
            requester_label: Some("My tickets"),
            href: "/incidents",
            shown: |_| true,
        },
        crate::platform::part::Nav {
            order: 30,
            label: "Assigned to me",
            requester_label: None,
            href: "/incidents?assignee=me&open=true",
            shown: |p| !p.role.is_scoped_to_own_records(),
        },
        crate::platform::part::Nav {
            order: 31,
            label: "My groups",
            requester_label: None,
            href: "/incidents?group=mine&open=true",
            shown: |p| !p.role.is_scoped_to_own_records(),
        },
        crate::platform::part::Nav {
            order: 32,
            label: "Unassigned",
            requester_label: None,
            href: "/incidents?unassigned=true&open=true",
            shown: |p| !p.role.is_scoped_to_own_records(),
        },
        crate::platform::part::Nav {
            order: 33,
            label: "Breaching soon",
            requester_label: None,
            href: "/incidents?sla=due_soon&open=true&sort=priority",
            shown: |p| !p.role.is_scoped_to_own_records(),
        },
        crate::platform::part::Nav {
            order: 34,
            label: "Breached",
            requester_label: None,
            href: "/incidents?sla=breached&open=true&sort=priority",
            shown: |p| !p.role.is_scoped_to_own_records(),
        },
        crate::platform::part::Nav {
            order: 180,
            label: "New incident",
            requester_label: Some("Report a problem"),
            href: "/incidents/new",
            shown: |p| p.can(keel_core::access::Action::CreateIncident),
        },
    ],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .merge(routes::router())
        .routes(gate(
            Action::ManageMajorIncidents,
            routes!(declare_major, get_major),
        ))
        .routes(gate(Action::UpdateWorkItems, routes!(communicate)))
        .routes(gate(Action::ManageMajorIncidents, routes!(review_major)))
        .routes(gate(Action::UpdateWorkItems, routes!(escalate)))
        .routes(gate(Action::ConfirmResolution, routes!(confirm)))
        .routes(gate(Action::ConfirmResolution, routes!(reject)))
        .merge(clock_routes::router())
        .merge(ci_routes::router())
}

/// Incidents as a kind of work item: a major incident closes only after its review; the page
/// shows the requester's answer, the major incident and escalation.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(K),
    moving: Some(|tx, _, before, after, _| Box::pin(on_move(tx, before, after))),
    panels: Some(|st, p, item| Box::pin(panel(st, p, item))),
    pages: crate::kernel::process::Pages {
        for_requesters: Some(("My tickets", "Report a problem")),
        knowledge_first: true,
        // An incident's own fields classify a security incident once it is known to be one;
        // they belong to the desk's edit form, not to raising it.
        details_after_raise: true,
        raised_from_nav: true,
        list_links: &[],
    },
    ..crate::kernel::process::Process::NONE
};

/// A major incident is closed only after its review (8.6.1).
async fn on_move(
    tx: &mut crate::platform::db::Tx,
    item: &ItemRow,
    after: &ItemRow,
) -> AppResult<()> {
    if after.state == "closed" {
        let open_review: Option<(i64,)> = tx
            .opt(
                Q::new("SELECT item_id FROM major_incidents WHERE item_id = $1 AND review IS NULL")
                    .bind(item.id),
            )
            .await?;
        if open_review.is_some() {
            return Err(AppError::invalid(
                "major_review",
                "a major incident is closed only after its review is recorded",
            ));
        }
    }
    Ok(())
}

/// The incident's own section of its page: the requester's answer, the major incident (or the
/// form that declares one), escalation.
async fn panel(
    st: &AppState,
    p: &Principal,
    item: &ItemRow,
) -> AppResult<Vec<crate::kernel::process::Panel>> {
    let major = if p.can(Action::ReadInternalItems) {
        major_if_any(st, item).await?
    } else {
        None
    };
    Ok(vec![crate::kernel::process::Panel {
        template: "incident_panel.html",
        top: false,
        data: minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
            "major": major,
            "can_manage_major": p.can(Action::ManageMajorIncidents),
            "can_answer": p.can(Action::ConfirmResolution),
            "criteria": MAJOR_CRITERIA,
            "audiences": AUDIENCES,
        }))),
    }])
}
