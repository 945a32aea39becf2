//! Clause 8.6.1 — incidents from monitoring: the receiver for Prometheus Alertmanager's webhook
//! (`POST /api/v1/integrations/alertmanager`, payload version 4).
//!
//! A firing alert opens an incident on the CI and service its labels name, at the priority its
//! severity maps to (`keel_core::integration::alert`); repeats of its fingerprint update that
//! incident instead of opening another; a resolved alert notes the recovery and, when the
//! receiver's URL asks (`?resolve=true`), resolves the incident. The receiver is authenticated
//! with a bearer token of an account allowed to send alerts (an agent's, typically a
//! "Monitoring" account), which becomes the incidents' requester.
//!
//! Each alert is handled in one transaction: its incident and the record tying the fingerprint
//! to it commit together, so a retried notification never opens a second incident.

use crate::kernel::{self, NewItem, Patch, Scope};
use crate::platform::audit::Actor;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, Tx, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::ApiQuery;
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use keel_core::access::Action;
use keel_core::integration::alert::{self as rules, Known, Status, Step};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// Options of one receiver, given in the URL Alertmanager is configured with.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReceiverOptions {
    /// Resolve the incident when its alert resolves (default: only note the recovery).
    #[serde(default)]
    pub resolve: bool,
    /// Support group to assign new incidents to (by name); else the CI's owner group.
    pub group: Option<String>,
    /// Service for incidents whose labels name none and whose CI belongs to none (by name).
    pub service: Option<String>,
    /// Category of new incidents (default `other`).
    pub category: Option<String>,
}

/// Alertmanager's webhook payload (version 4); fields Keel does not use are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = AlertmanagerNotification)]
pub struct Notification {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: Option<String>,
    pub alerts: Vec<AlertIn>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AlertIn {
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt", default)]
    pub starts_at: Option<String>,
    #[serde(rename = "endsAt", default)]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: Option<String>,
    /// Identifies the alert across notifications; computed from the labels when absent.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub fingerprint: String,
    /// opened, updated, refired, recovered, resolved or ignored.
    pub action: String,
    /// The incident the alert belongs to.
    pub incident: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Received {
    pub alerts: Vec<Outcome>,
}

/// An RFC 3339 time, or none for Alertmanager's "zero" time (`0001-01-01T00:00:00Z`).
fn time_ms(v: Option<&str>) -> Option<i64> {
    let t: jiff::Timestamp = v?.parse().ok()?;
    let ms = t.as_millisecond();
    (ms > 0).then_some(ms)
}

fn fingerprint(a: &AlertIn) -> String {
    match a.fingerprint.as_deref().map(str::trim) {
        Some(f) if !f.is_empty() => f.chars().take(200).collect(),
        _ => crate::platform::auth::sha256_hex(&json!(a.labels).to_string())[..16].to_string(),
    }
}

/// Parse the body: a malformed notification is refused whole (Alertmanager logs the 4xx and does
/// not retry it), naming the first bad alert.
fn parse(body: &[u8]) -> AppResult<Notification> {
    let n: Notification = kernel::api::parse_json(body)?;
    if let Some(v) = &n.version
        && v != "4"
    {
        return Err(AppError::invalid(
            "version",
            format!("payload version {v} is not supported (expected 4)"),
        ));
    }
    for (i, a) in n.alerts.iter().enumerate() {
        if Status::parse(&a.status).is_none() {
            return Err(AppError::invalid(
                &format!("alerts[{i}].status"),
                "must be firing or resolved",
            ));
        }
    }
    Ok(n)
}

/// Receive one notification from Alertmanager.
#[utoipa::path(post, path = "/api/v1/integrations/alertmanager", tag = "integrations", params(ReceiverOptions), request_body = Notification, responses((status = 200, body = Received), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_receive(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(opts): ApiQuery<ReceiverOptions>,
    body: Bytes,
) -> AppResult<Json<Received>> {
    p.require(Action::ReceiveAlerts)?;
    let n = parse(&body)?;
    Ok(Json(receive(&st.db, &p, &opts, n).await?))
}

pub async fn receive(
    db: &Db,
    p: &Principal,
    opts: &ReceiverOptions,
    n: Notification,
) -> AppResult<Received> {
    let group = match &opts.group {
        Some(g) => Some(named(db, "support_groups", g, "group").await?),
        None => None,
    };
    let default_service = match &opts.service {
        Some(s) => Some(named(db, "services", s, "service").await?),
        None => None,
    };
    if let Some(c) = &opts.category
        && !kernel::vocabulary(keel_core::operation::resolution::incident::KIND)
            .categories
            .contains(&c.as_str())
    {
        return Err(AppError::invalid(
            "category",
            format!("unknown category `{c}`"),
        ));
    }
    let actor = Actor {
        label: format!("{} (alertmanager)", p.email),
        ..p.actor()
    };
    let mut out = vec![];
    let mut to_resolve = vec![];
    for a in &n.alerts {
        let fp = fingerprint(a);
        let status = Status::parse(&a.status).unwrap_or(Status::Firing);
        let mut tx = db.begin().await?;
        let known: Option<(i64, i64, String, String, String)> = tx
            .opt(
                Q::new("SELECT a.id, a.item_id, a.status, w.state, w.number FROM alerts a JOIN work_items w ON w.id = a.item_id WHERE a.source = 'alertmanager' AND a.fingerprint = $1 ORDER BY a.id DESC LIMIT 1")
                    .bind(fp.as_str()),
            )
            .await?;
        let k = known.as_ref().map(|(_, _, last, state, _)| Known {
            open: keel_core::operation::resolution::incident::KIND
                .lifecycle()
                .is_open(state),
            last: Status::parse(last).unwrap_or(Status::Firing),
        });
        let step = rules::step(status, k.as_ref(), opts.resolve);
        let now = now_ms();
        let (action, incident) = match (step, &known) {
            (Step::Open, _) => {
                let number =
                    open(&mut tx, p, &actor, opts, a, &fp, group, default_service, &n).await?;
                ("opened", Some(number))
            }
            (Step::Touch, Some((id, _, _, _, number))) => {
                tx.exec(
                    Q::new("UPDATE alerts SET last_seen_at = $1, labels = $2 WHERE id = $3")
                        .bind(now)
                        .bind(json!(a.labels).to_string())
                        .bind(*id),
                )
                .await?;
                ("updated", Some(number.clone()))
            }
            (Step::Refire, Some((id, item, _, _, number))) => {
                let it = kernel::get_by_id_tx(&mut tx, *item).await?;
                let since = time_ms(a.starts_at.as_deref())
                    .map(iso)
                    .unwrap_or_else(|| iso(now));
                kernel::insert_comment(
                    &mut tx,
                    &it,
                    Some(p.user_id),
                    &actor,
                    &format!("Alert firing again since {since}."),
                    true,
                )
                .await?;
                tx.exec(Q::new("UPDATE alerts SET status = 'firing', last_seen_at = $1, starts_at = $2, ends_at = NULL WHERE id = $3").bind(now).bind(time_ms(a.starts_at.as_deref())).bind(*id))
                    .await?;
                ("refired", Some(number.clone()))
            }
            (Step::Recover { resolve }, Some((id, item, _, _, number))) => {
                let it = kernel::get_by_id_tx(&mut tx, *item).await?;
                let ended = time_ms(a.ends_at.as_deref()).unwrap_or(now);
                kernel::insert_comment(
                    &mut tx,
                    &it,
                    Some(p.user_id),
                    &actor,
                    &format!(
                        "Alert resolved at {}: monitoring reports recovery.",
                        iso(ended)
                    ),
                    true,
                )
                .await?;
                tx.exec(Q::new("UPDATE alerts SET status = 'resolved', last_seen_at = $1, ends_at = $2 WHERE id = $3").bind(now).bind(ended).bind(*id))
                    .await?;
                if resolve {
                    to_resolve.push((number.clone(), ended));
                }
                (
                    if resolve { "resolved" } else { "recovered" },
                    Some(number.clone()),
                )
            }
            _ => ("ignored", known.as_ref().map(|k| k.4.clone())),
        };
        tx.commit().await?;
        out.push(Outcome {
            fingerprint: fp,
            action: action.into(),
            incident,
        });
    }
    // Resolving goes through the kernel's full update (lifecycle, clocks, announcements); the
    // recovery is already recorded, so a refusal leaves the incident open for a person.
    for (number, ended) in to_resolve {
        let patch = Patch {
            state: Some("resolved".into()),
            resolution_code: Some(Some("recovered".into())),
            resolution_notes: Some(Some(format!(
                "Resolved automatically: the monitoring alert recovered at {}.",
                iso(ended)
            ))),
            ..Default::default()
        };
        if let Err(e) = kernel::update(
            db,
            keel_core::operation::resolution::incident::KIND,
            &number,
            Scope::All,
            &actor,
            patch,
            None,
        )
        .await
        {
            tracing::warn!(incident = %number, error = %e, "alert recovered but the incident could not be resolved");
            if let Some(o) = out
                .iter_mut()
                .find(|o| o.incident.as_deref() == Some(&number))
            {
                o.action = "recovered".into();
            }
        }
    }
    Ok(Received { alerts: out })
}

/// An active record's id by its exact name (case-insensitive), or a 422 naming the option.
async fn named(db: &Db, table: &str, name: &str, field: &str) -> AppResult<i64> {
    let rows: Vec<(i64,)> = db
        .all(
            Q::new(format!(
                "SELECT id FROM {table} WHERE LOWER(name) = $1 LIMIT 2"
            ))
            .bind(name.trim().to_lowercase()),
        )
        .await?;
    match rows.as_slice() {
        [(id,)] => Ok(*id),
        [] => Err(AppError::invalid(
            field,
            format!("no {field} named `{name}`"),
        )),
        _ => Err(AppError::invalid(
            field,
            format!("several records are named `{name}`"),
        )),
    }
}

#[allow(clippy::too_many_arguments, reason = "one alert's context, used once")]
async fn open(
    tx: &mut Tx,
    p: &Principal,
    actor: &Actor,
    opts: &ReceiverOptions,
    a: &AlertIn,
    fp: &str,
    group: Option<i64>,
    default_service: Option<i64>,
    n: &Notification,
) -> AppResult<String> {
    // The CI: the first candidate name that is a CI's name or identity key.
    let mut ci: Option<(i64, Option<i64>, Option<i64>, String)> = None;
    for cand in rules::ci_candidates(&a.labels) {
        ci = tx
            .opt(
                Q::new("SELECT id, service_id, owner_group_id, name FROM cis WHERE LOWER(name) = $1 OR LOWER(identity_key) = $1 ORDER BY id LIMIT 1")
                    .bind(cand.to_lowercase()),
            )
            .await?;
        if ci.is_some() {
            break;
        }
    }
    let mut service = None;
    for cand in rules::service_candidates(&a.labels) {
        let s: Option<(i64,)> = tx
            .opt(Q::new("SELECT id FROM services WHERE LOWER(name) = $1").bind(cand.to_lowercase()))
            .await?;
        if let Some((id,)) = s {
            service = Some(id);
            break;
        }
    }
    let service = service
        .or(ci.as_ref().and_then(|c| c.1))
        .or(default_service);
    let group = group.or(ci.as_ref().and_then(|c| c.2));
    let (impact, urgency) = rules::priority(&a.labels);
    let mut description = String::new();
    if let Some(d) = a.annotations.get("description") {
        description.push_str(d);
        description.push_str("\n\n");
    }
    description.push_str("Opened from a Prometheus Alertmanager alert.\n");
    if let Some(t) = time_ms(a.starts_at.as_deref()) {
        description.push_str(&format!("Firing since: {}\n", iso(t)));
    }
    if let Some(u) = a.generator_url.as_deref().filter(|u| !u.is_empty()) {
        description.push_str(&format!("Source: {u}\n"));
    }
    if let Some(u) = n.external_url.as_deref().filter(|u| !u.is_empty()) {
        description.push_str(&format!("Alertmanager: {u}\n"));
    }
    match &ci {
        Some((_, _, _, name)) => description.push_str(&format!("Configuration item: {name}\n")),
        None => description.push_str("No configuration item matched the alert's labels.\n"),
    }
    description.push_str(&format!("Fingerprint: {fp}\nLabels:\n"));
    for (k, v) in &a.labels {
        description.push_str(&format!("  {k}={v}\n"));
    }
    let d = kernel::draft(
        keel_core::operation::resolution::incident::KIND,
        actor,
        p,
        NewItem {
            title: rules::title(&a.labels, &a.annotations),
            description: description.chars().take(60_000).collect(),
            impact: Some(impact),
            urgency: Some(urgency),
            category: Some(opts.category.clone().unwrap_or_else(|| "other".into())),
            service_id: service,
            assignment_group_id: group,
            ..Default::default()
        },
    )?;
    let number = kernel::create_in(tx, d).await?;
    let (item_id,): (i64,) = tx
        .one(Q::new("SELECT id FROM work_items WHERE number = $1").bind(number.as_str()))
        .await?;
    if let Some((ci_id, _, _, name)) = &ci {
        tx.exec(
            Q::new("INSERT INTO work_item_cis (item_id, ci_id) VALUES ($1, $2)")
                .bind(item_id)
                .bind(*ci_id),
        )
        .await?;
        crate::platform::audit::append(
            tx,
            actor,
            "ci.add",
            "incident",
            &number,
            vec![keel_core::audit::FieldChange {
                field: "cis".into(),
                old: json!([]),
                new: json!([name]),
            }],
        )
        .await?;
    }
    let now = now_ms();
    tx.exec(
        Q::new("INSERT INTO alerts (source, fingerprint, item_id, status, labels, starts_at, ends_at, first_seen_at, last_seen_at) VALUES ('alertmanager', $1, $2, 'firing', $3, $4, NULL, $5, $5)")
            .bind(fp)
            .bind(item_id)
            .bind(json!(a.labels).to_string())
            .bind(time_ms(a.starts_at.as_deref()))
            .bind(now),
    )
    .await?;
    Ok(number)
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "Alertmanager",
    api: part_api,
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(crate::platform::gate::gate(
        keel_core::access::Action::ReceiveAlerts,
        routes!(api_receive),
    ))
}
