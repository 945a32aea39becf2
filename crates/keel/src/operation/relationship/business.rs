//! Clause 8.3.2 — business relationship management beyond its registers (accounts, contacts,
//! service reviews, surveys): complaints as work items (`CMP-…`, the kernel's routes), the
//! satisfaction survey sent after each resolved incident or request (the `surveys.send` job),
//! a person answering their own survey, and scores per service and customer with their trend.

use crate::kernel::register::{Rec, get, insert, overwrite, prepare, reg, to_json};
use crate::platform::audit::Actor;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiJson, ApiQuery, today};
use crate::platform::outbox::{Event, emit_many};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use keel_core::access::Action;
use keel_core::operation::relationship::business::{
    SURVEY_OPEN_DAYS, mean_milli, periodic_due, trend,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub mod complaints {
    crate::work_item_routes! {
        kind: keel_core::operation::relationship::business::COMPLAINT,
        tag: "complaints",
        list: "/api/v1/complaints",
        one: "/api/v1/complaints/{number}",
        history: "/api/v1/complaints/{number}/history",
        comments: "/api/v1/complaints/{number}/comments",
        links: "/api/v1/complaints/{number}/links",
        attachments: "/api/v1/complaints/{number}/attachments",
        attachment: "/api/v1/complaints/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::operation::relationship::business::COMPLAINT,
        tag: "complaints",
        sla: "/api/v1/complaints/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::operation::relationship::business::COMPLAINT,
        tag: "complaints",
        cis: "/api/v1/complaints/{number}/cis",
        ci: "/api/v1/complaints/{number}/cis/{ci_id}",
    }
}

type Resolved = (String, Option<i64>, Option<i64>, Option<i64>, String);
/// customer, review frequency, contact's user, last periodic survey sent on.
type PeriodicRow = (i64, String, i64, Option<String>);

/// Record one survey in the caller's transaction; the event that tells its respondent.
async fn send(
    db: &Db,
    tx: &mut crate::platform::db::Tx,
    actor: &Actor,
    survey: Value,
    title: String,
) -> AppResult<Event> {
    let r = reg("surveys");
    let input = survey.as_object().cloned().unwrap_or_default();
    let vals = prepare(db, r, &input, None, None).await?;
    let id = insert(tx, actor, r, &vals).await?;
    Ok(Event {
        event: "survey.sent",
        item_id: None,
        title,
        payload: json!({"survey_id": id, "item": input.get("item")}),
        recipients: input
            .get("respondent_id")
            .and_then(Value::as_i64)
            .into_iter()
            .collect(),
    })
}

/// Send a survey for each incident and request resolved in the last week that has none yet, to
/// its requester (staff-raised items for no one are skipped); send each contact with a Keel
/// account a periodic survey at their customer account's review frequency; expire unanswered
/// surveys after 30 days.
pub async fn send_due(db: &Db) -> AppResult<u64> {
    let since = now_ms() - 7 * 86_400_000;
    let due: Vec<Resolved> = db
        .all(
            Q::new("SELECT w.number, w.requester_id, w.customer_id, w.service_id, w.title FROM work_items w \
                    JOIN users u ON u.id = w.requester_id \
                    WHERE w.kind IN ('incident', 'request') AND w.resolved_at >= $1 AND u.role = 'requester' AND u.disabled = 0 \
                    AND NOT EXISTS (SELECT 1 FROM surveys s WHERE s.item = w.number) ORDER BY w.resolved_at LIMIT 1000")
                .bind(since),
        )
        .await?;
    let r = reg("surveys");
    let actor = Actor::system("satisfaction surveys");
    let day = today().to_string();
    let mut tx = db.begin().await?;
    let mut events = vec![];
    for (number, requester, customer, service, title) in &due {
        let Some(requester) = requester else { continue };
        let survey = json!({"kind": "transactional", "respondent_id": requester, "customer_id": customer,
            "service_id": service, "item": number, "sent_on": day});
        let title = format!("How did we do with {number} ({title})? One question, one click.");
        events.push(send(db, &mut tx, &actor, survey, title).await?);
    }
    // Periodic surveys of each active account's contacts.
    let contacts: Vec<PeriodicRow> = db
        .all(Q::new("SELECT a.customer_id, COALESCE(a.review_frequency, 'quarterly'), c.user_id, \
                (SELECT MAX(s.sent_on) FROM surveys s WHERE s.kind = 'periodic' AND s.respondent_id = c.user_id AND s.customer_id = a.customer_id) \
                FROM customer_accounts a JOIN contacts c ON c.customer_id = a.customer_id JOIN users u ON u.id = c.user_id \
                WHERE COALESCE(a.status, 'active') = 'active' AND COALESCE(c.active, 1) = 1 AND u.disabled = 0 ORDER BY a.customer_id, c.user_id"))
        .await?;
    let t = today();
    for (customer, frequency, user, last) in contacts {
        let last = last.and_then(|d| d.parse::<jiff::civil::Date>().ok());
        if !periodic_due(&frequency, last, t) {
            continue;
        }
        let survey = json!({"kind": "periodic", "respondent_id": user, "customer_id": customer, "sent_on": day});
        let title =
            "How satisfied are you with our services? Your answer is one click.".to_string();
        events.push(send(db, &mut tx, &actor, survey, title).await?);
    }
    let n = events.len() as u64;
    emit_many(&mut tx, events).await?;
    let cutoff = today()
        .checked_sub(jiff::Span::new().days(SURVEY_OPEN_DAYS))
        .map(|d| d.to_string())
        .unwrap_or_default();
    tx.commit().await?;
    // Unanswered surveys expire, each change audited like any other.
    let stale = crate::kernel::register::all(
        db,
        r,
        &vec![("status", keel_core::register::V::Text("sent".into()))],
    )
    .await?;
    let mut expire = Map::new();
    expire.insert("status".into(), json!("expired"));
    for s in stale
        .iter()
        .filter(|s| s.text("sent_on").is_some_and(|d| d < cutoff.as_str()))
    {
        let vals = prepare(db, r, &expire, Some(&s.vals), None).await?;
        let mut tx = db.begin().await?;
        overwrite(&mut tx, &actor, r, s, &vals).await?;
        tx.commit().await?;
    }
    Ok(n)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub score: i64,
    pub comment: Option<String>,
}

/// Answer a survey addressed to you (once).
pub async fn answer(db: &Db, p: &Principal, id: i64, a: Answer) -> AppResult<Rec> {
    p.require(Action::AnswerSurveys)?;
    let r = reg("surveys");
    let s = get(db, r, id).await?;
    if s.int("respondent_id") != Some(p.user_id) {
        // Someone else's survey is as good as absent.
        return Err(AppError::NotFound(format!("survey {id}")));
    }
    if s.text("status") != Some("sent") {
        return Err(AppError::Conflict(format!(
            "the survey is {}; it can no longer be answered",
            s.text("status").unwrap_or("closed")
        )));
    }
    let mut input = Map::new();
    input.insert("score".into(), json!(a.score));
    input.insert("comment".into(), json!(a.comment));
    input.insert("status".into(), json!("answered"));
    input.insert("answered_on".into(), json!(today().to_string()));
    let vals = prepare(db, r, &input, Some(&s.vals), Some(p.user_id)).await?;
    let mut tx = db.begin().await?;
    overwrite(&mut tx, &p.actor(), r, &s, &vals).await?;
    tx.commit().await?;
    get(db, r, id).await
}

/// Answer a satisfaction survey addressed to you.
#[utoipa::path(post, path = "/api/v1/surveys/{id}/answer", tag = "relationships", params(("id" = i64, Path)), request_body = Answer,
    responses((status = 200, body = Object), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_answer(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiJson(a): ApiJson<Answer>,
) -> AppResult<Json<Value>> {
    let rec = answer(&st.db, &p, id, a).await?;
    Ok(Json(to_json(reg("surveys"), &rec)))
}

/// The surveys waiting for the caller's answer.
pub async fn mine(db: &Db, p: &Principal) -> AppResult<Vec<Value>> {
    p.require(Action::AnswerSurveys)?;
    let r = reg("surveys");
    let filters = vec![
        ("respondent_id", keel_core::register::V::Int(p.user_id)),
        ("status", keel_core::register::V::Text("sent".into())),
    ];
    Ok(crate::kernel::register::all(db, r, &filters)
        .await?
        .iter()
        .map(|x| to_json(r, x))
        .collect())
}

/// Surveys waiting for your answer.
#[utoipa::path(get, path = "/api/v1/surveys/mine", tag = "relationships",
    responses((status = 200, body = Vec<Object>)), security(("bearer" = [])))]
pub async fn api_mine(State(st): State<AppState>, p: Principal) -> AppResult<Json<Vec<Value>>> {
    Ok(Json(mine(&st.db, &p).await?))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Score {
    pub key: Option<i64>,
    pub name: String,
    pub answered: i64,
    pub sent: i64,
    /// Mean score 1–5 over the whole window.
    pub mean: Option<f64>,
    /// Monthly means, oldest first: (`YYYY-MM`, mean).
    pub months: Vec<(String, f64)>,
    /// improving, steady, declining or not_enough_data (last month against the months before).
    pub trend: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScoreParams {
    /// service or customer (default service).
    pub by: Option<String>,
    /// How many months back, 1–36 (default 12).
    pub months: Option<i64>,
}

/// Group key, group name, sent on, score.
type ScoreRow = (Option<i64>, Option<String>, String, Option<i64>);
/// Name, surveys sent, scores per month.
type ScoreGroup = (String, i64, BTreeMap<String, Vec<i64>>);

/// Satisfaction per service or customer, with monthly means and the trend.
pub async fn scores(db: &Db, by: &str, months: i64) -> AppResult<Vec<Score>> {
    let (col, table) = match by {
        "service" => ("service_id", "services"),
        "customer" => ("customer_id", "customers"),
        other => {
            return Err(AppError::invalid(
                "by",
                format!("`{other}` is not service or customer"),
            ));
        }
    };
    if !(1..=36).contains(&months) {
        return Err(AppError::invalid("months", "must be between 1 and 36"));
    }
    let since = today()
        .first_of_month()
        .checked_sub(jiff::Span::new().months(months - 1))
        .map(|d| d.to_string())
        .unwrap_or_default();
    let rows: Vec<ScoreRow> = db
        .all(
            Q::new(format!("SELECT s.{col}, g.name, s.sent_on, s.score FROM surveys s LEFT JOIN {table} g ON g.id = s.{col} WHERE s.sent_on >= $1 ORDER BY s.sent_on"))
                .bind(since),
        )
        .await?;
    let mut groups: BTreeMap<Option<i64>, ScoreGroup> = BTreeMap::new();
    for (key, name, sent_on, score) in rows {
        let g = groups.entry(key).or_insert_with(|| {
            (
                name.unwrap_or_else(|| format!("(no {by})")),
                0,
                BTreeMap::new(),
            )
        });
        g.1 += 1;
        if let Some(s) = score {
            g.2.entry(sent_on[..7].to_string()).or_default().push(s);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(key, (name, sent, by_month))| {
            let all: Vec<i64> = by_month.values().flatten().copied().collect();
            let monthly: Vec<(String, i64)> = by_month
                .iter()
                .filter_map(|(m, v)| mean_milli(v).map(|x| (m.clone(), x)))
                .collect();
            Score {
                key,
                name,
                answered: all.len() as i64,
                sent,
                mean: mean_milli(&all).map(|m| m as f64 / 1000.0),
                trend: trend(&monthly.iter().map(|x| x.1).collect::<Vec<_>>()).to_string(),
                months: monthly
                    .into_iter()
                    .map(|(m, x)| (m, x as f64 / 1000.0))
                    .collect(),
            }
        })
        .collect())
}

/// Customer satisfaction per service or customer: means, monthly trend (8.3.2).
#[utoipa::path(get, path = "/api/v1/surveys/scores", tag = "relationships", params(ScoreParams),
    responses((status = 200, body = Vec<Score>), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_scores(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<ScoreParams>,
) -> AppResult<Json<Vec<Score>>> {
    p.require(Action::ReadRelationships)?;
    Ok(Json(
        scores(
            &st.db,
            q.by.as_deref().unwrap_or("service"),
            q.months.unwrap_or(12),
        )
        .await?,
    ))
}

/// The portal page where people answer the surveys addressed to them.
pub mod pages {
    use super::{Answer, answer, mine};
    use crate::platform::error::AppError;
    use crate::platform::ui::{
        FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, viewer,
    };
    use crate::platform::web::AppState;
    use axum::Router;
    use axum::extract::{Path, RawForm, State};
    use axum::http::HeaderMap;
    use axum::response::Response;
    use axum::routing::{get, post};
    use minijinja::context;
    use minijinja::value::Serde;

    pub fn routes() -> Router<AppState> {
        Router::new()
            .route("/surveys", get(list))
            .route("/surveys/{id}/answer", post(submit))
    }

    async fn list(State(st): State<AppState>, WebUser(p): WebUser, headers: HeaderMap) -> Response {
        match mine(&st.db, &p).await {
            Ok(surveys) => clear_flash(st.ui.render(
                "surveys.html",
                context! { me => viewer(&p), flash => flash(&headers), surveys => minijinja::Value::from(Serde(&surveys)) },
            )),
            Err(e) => page_error(&st, Some(&p), e),
        }
    }

    async fn submit(
        State(st): State<AppState>,
        WebUser(p): WebUser,
        Path(id): Path<i64>,
        raw: RawForm,
    ) -> Response {
        let f = FormFields::parse(&raw);
        let r = async {
            f.check_csrf(&p)?;
            let score = f
                .get("score")
                .parse()
                .map_err(|_| AppError::invalid("score", "choose a score from 1 to 5"))?;
            answer(
                &st.db,
                &p,
                id,
                Answer {
                    score,
                    comment: f.filled("comment"),
                },
            )
            .await?;
            Ok("Thank you for your answer.".to_string())
        }
        .await;
        back_with_flash(&st, &p, "/surveys", r)
    }
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "business relationships",
    api: part_api,
    pages: pages::routes,
    templates: &[(
        "surveys.html",
        include_str!("../../../templates/surveys.html"),
    )],
    tags: &[
        (
            "relationships",
            "Business relationship management: customer accounts, contacts, service reviews, satisfaction surveys, complaints (8.3.2)",
        ),
        (
            "complaints",
            "Complaints: recorded, investigated, resolved, the customer told (8.3.2)",
        ),
    ],
    jobs: &[crate::platform::part::JobKind {
        kind: "surveys.send",
        every: Some(|_| Some(60 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                send_due(&st.db)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
    }],
    nav: &[crate::platform::part::Nav {
        order: 170,
        label: "Surveys",
        requester_label: None,
        href: "/surveys",
        shown: |p| p.role.is_scoped_to_own_records(),
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .merge(complaints::routes::router())
        .routes(gate(Action::AnswerSurveys, routes!(api_answer)))
        .routes(routes!(api_mine))
        .routes(routes!(api_scores))
        .merge(complaints::clock_routes::router())
        .merge(complaints::ci_routes::router())
}

/// Complaints as a kind of work item.
pub const COMPLAINTS: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(keel_core::operation::relationship::business::COMPLAINT),
    ..crate::kernel::process::Process::NONE
};
/// Customer accounts, contacts, service reviews, surveys.
pub const REGISTERS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::relationship::business::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
