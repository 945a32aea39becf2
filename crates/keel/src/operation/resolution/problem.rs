//! Clause 8.6.3 — problem management: `/api/v1/problems` and `/api/v1/known-errors` (the kernel's
//! routes for both kinds), raising a problem from an incident, recording a known error from a
//! problem, and the trend report that finds problems nobody has raised yet. The lifecycle and
//! fields are in `keel_core::operation::resolution::problem`.

use crate::kernel::api::{ItemView, item_response, require_create, require_read};
use crate::kernel::{self, ItemRow, NewItem, Scope};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppError, AppResult, Problem as ProblemJson};
use crate::platform::extract::{ApiJson, ApiQuery};
use crate::platform::web::{AppState, iso};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use keel_core::kernel::{Kind, LinkKind};
use keel_core::operation::resolution::incident::KIND as INCIDENT;
use keel_core::operation::resolution::problem::{
    KNOWN_ERROR as KNOWN_ERROR_KIND, PROBLEM as PROBLEM_KIND,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod problems {
    crate::work_item_routes! {
        kind: keel_core::operation::resolution::problem::PROBLEM,
        tag: "problems",
        list: "/api/v1/problems",
        one: "/api/v1/problems/{number}",
        history: "/api/v1/problems/{number}/history",
        comments: "/api/v1/problems/{number}/comments",
        links: "/api/v1/problems/{number}/links",
        attachments: "/api/v1/problems/{number}/attachments",
        attachment: "/api/v1/problems/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::operation::resolution::problem::PROBLEM,
        tag: "problems",
        sla: "/api/v1/problems/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::operation::resolution::problem::PROBLEM,
        tag: "problems",
        cis: "/api/v1/problems/{number}/cis",
        ci: "/api/v1/problems/{number}/cis/{ci_id}",
    }
}

pub mod known_errors {
    crate::work_item_routes! {
        kind: keel_core::operation::resolution::problem::KNOWN_ERROR,
        tag: "known-errors",
        list: "/api/v1/known-errors",
        one: "/api/v1/known-errors/{number}",
        history: "/api/v1/known-errors/{number}/history",
        comments: "/api/v1/known-errors/{number}/comments",
        links: "/api/v1/known-errors/{number}/links",
        attachments: "/api/v1/known-errors/{number}/attachments",
        attachment: "/api/v1/known-errors/{number}/attachments/{id}",
    }
    crate::clock_routes! {
        kind: keel_core::operation::resolution::problem::KNOWN_ERROR,
        tag: "known-errors",
        sla: "/api/v1/known-errors/{number}/sla",
    }
    crate::affected_ci_routes! {
        kind: keel_core::operation::resolution::problem::KNOWN_ERROR,
        tag: "known-errors",
        cis: "/api/v1/known-errors/{number}/cis",
        ci: "/api/v1/known-errors/{number}/cis/{ci_id}",
    }
}

fn details(pairs: &[(&str, Option<&str>)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| ((*k).to_string(), Value::String(v.to_string()))))
        .collect()
}

/// Create `kind` from `input` and link `link_from` → new item with `lk`, in one transaction.
async fn create_linked(
    db: &Db,
    p: &Principal,
    kind: Kind,
    input: NewItem,
    link_from: &ItemRow,
    lk: LinkKind,
) -> AppResult<ItemRow> {
    let draft = kernel::draft(kind, &p.actor(), p, input)?;
    let mut tx = db.begin().await?;
    let number = kernel::create_in(&mut tx, draft).await?;
    let created: ItemRow = tx
        .one(Q::new(format!("{} WHERE w.number = $1", kernel::SELECT_ITEM)).bind(number.as_str()))
        .await?;
    kernel::link_in(&mut tx, link_from, &created, lk, &p.actor()).await?;
    tx.commit().await?;
    Ok(created)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaiseProblem {
    /// Defaults to "Problem: " and the incident's title.
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Raise a problem from an incident (8.6.3): the problem takes the incident's service, category,
/// impact and urgency, records `origin: incident`, and the incident is linked as caused by it.
#[utoipa::path(post, path = "/api/v1/incidents/{number}/problem", tag = "problems", params(("number" = String, Path)), request_body = RaiseProblem,
    responses((status = 201, body = ItemView), (status = 404, body = ProblemJson), (status = 422, body = ProblemJson)), security(("bearer" = [])))]
pub async fn raise_from_incident(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
    ApiJson(b): ApiJson<RaiseProblem>,
) -> AppResult<Response> {
    let created = raise_problem(&st.db, &p, &number, b).await?;
    Ok(item_response(StatusCode::CREATED, created))
}

/// Raise a problem from incident `number` (API and UI).
pub async fn raise_problem(
    db: &Db,
    p: &Principal,
    number: &str,
    b: RaiseProblem,
) -> AppResult<ItemRow> {
    require_create(p, keel_core::operation::resolution::problem::PROBLEM)?;
    let incident = kernel::get(
        db,
        keel_core::operation::resolution::incident::KIND,
        number,
        Scope::of(p),
    )
    .await?;
    let input = NewItem {
        title: b
            .title
            .unwrap_or_else(|| format!("Problem: {}", incident.title)),
        description: b.description.unwrap_or_else(|| {
            format!(
                "Raised from {}.\n\n{}",
                incident.number, incident.description
            )
        }),
        impact: Some(incident.impact),
        urgency: Some(incident.urgency),
        category: incident.category.clone(),
        service_id: incident.service_id,
        assignment_group_id: incident.assignment_group_id,
        details: details(&[("origin", Some("incident"))]),
        ..Default::default()
    };
    create_linked(
        db,
        p,
        keel_core::operation::resolution::problem::PROBLEM,
        input,
        &incident,
        LinkKind::CausedBy,
    )
    .await
}

/// Record the problem's documented root cause and workaround as a known error (`KE-…`) that
/// agents find when the symptom comes back. The problem needs both; the known error links to it.
#[utoipa::path(post, path = "/api/v1/problems/{number}/known-error", tag = "problems", params(("number" = String, Path)),
    responses((status = 201, body = ItemView), (status = 404, body = ProblemJson), (status = 422, body = ProblemJson)), security(("bearer" = [])))]
pub async fn record_known_error(
    State(st): State<AppState>,
    p: Principal,
    Path(number): Path<String>,
) -> AppResult<Response> {
    let created = known_error_from(&st.db, &p, &number).await?;
    Ok(item_response(StatusCode::CREATED, created))
}

/// Record problem `number`'s root cause and workaround as a known error (API and UI).
pub async fn known_error_from(db: &Db, p: &Principal, number: &str) -> AppResult<ItemRow> {
    require_create(p, keel_core::operation::resolution::problem::KNOWN_ERROR)?;
    require_read(p, keel_core::operation::resolution::problem::PROBLEM)?;
    let problem = kernel::get(
        db,
        keel_core::operation::resolution::problem::PROBLEM,
        number,
        Scope::of(p),
    )
    .await?;
    let d = problem.details_map();
    let text = |k: &str| d.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    for f in ["root_cause", "workaround"] {
        if text(f).is_none() {
            return Err(AppError::invalid(
                &format!("details.{f}"),
                format!("document the problem's {} first", f.replace('_', " ")),
            ));
        }
    }
    let input = NewItem {
        title: problem.title.trim_start_matches("Problem: ").to_string(),
        description: problem.description.clone(),
        impact: Some(problem.impact),
        urgency: Some(problem.urgency),
        category: problem.category.clone(),
        service_id: problem.service_id,
        details: details(&[
            ("root_cause", text("root_cause")),
            ("workaround", text("workaround")),
        ]),
        ..Default::default()
    };
    create_linked(
        db,
        p,
        keel_core::operation::resolution::problem::KNOWN_ERROR,
        input,
        &problem,
        LinkKind::RelatesTo,
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// Period start (RFC 3339 or YYYY-MM-DD); default 30 days ago.
    pub from: Option<String>,
    /// Period end, exclusive; default now.
    pub to: Option<String>,
    /// `category` (default) or `service`.
    pub by: Option<String>,
    /// How many groups, 1–100 (default 10).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Trend {
    /// The category, or the service's id.
    pub key: Option<String>,
    pub name: Option<String>,
    pub incidents: i64,
    /// Of those incidents, how many are linked to a problem already.
    pub with_problem: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrendReport {
    pub from: String,
    pub to: String,
    pub by: String,
    pub groups: Vec<Trend>,
}

/// The most frequent incident categories or services over a period, with how many incidents
/// are already tied to a problem: the trend analysis 8.6.3 asks for, to raise problems from.
#[utoipa::path(get, path = "/api/v1/problems/trends", tag = "problems", params(TrendParams),
    responses((status = 200, body = TrendReport), (status = 422, body = ProblemJson)), security(("bearer" = [])))]
pub async fn trends(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<TrendParams>,
) -> AppResult<Json<TrendReport>> {
    require_read(&p, keel_core::operation::resolution::problem::PROBLEM)?;
    let now = now_ms();
    let to = match &q.to {
        Some(v) => crate::platform::extract::instant("to", v)?,
        None => now,
    };
    let from = match &q.from {
        Some(v) => crate::platform::extract::instant("from", v)?,
        None => to - 30 * 86_400_000,
    };
    if to <= from {
        return Err(AppError::invalid("to", "must be after `from`"));
    }
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 100"));
    }
    let by = q.by.as_deref().unwrap_or("category");
    let (key, name, join) = match by {
        "category" => ("i.category", "i.category", ""),
        "service" => (
            "CAST(i.service_id AS TEXT)",
            "s.name",
            "LEFT JOIN services s ON s.id = i.service_id",
        ),
        other => {
            return Err(AppError::invalid(
                "by",
                format!("`{other}` is not one of category, service"),
            ));
        }
    };
    let sql = format!(
        "SELECT {key} AS k, {name} AS n, COUNT(*) AS incidents, \
         CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM work_item_links l JOIN work_items pr ON pr.id = l.to_id \
             WHERE l.from_id = i.id AND pr.kind = 'problem') THEN 1 ELSE 0 END) AS BIGINT) AS with_problem \
         FROM work_items i {join} WHERE i.kind = 'incident' AND i.created_at >= $1 AND i.created_at < $2 \
         GROUP BY {key}, {name} ORDER BY incidents DESC, k LIMIT $3"
    );
    let rows: Vec<(Option<String>, Option<String>, i64, i64)> = st
        .db
        .all(Q::new(sql).bind(from).bind(to).bind(limit))
        .await?;
    Ok(Json(TrendReport {
        from: iso(from),
        to: iso(to),
        by: by.to_string(),
        groups: rows
            .into_iter()
            .map(|(key, name, incidents, with_problem)| Trend {
                key,
                name,
                incidents,
                with_problem,
            })
            .collect(),
    }))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "problems",
    api: part_api,
    pages,
    templates: &[(
        "problem_panel.html",
        include_str!("../../../templates/problem_panel.html"),
    )],
    tags: &[
        ("problems", "Problem management (ISO/IEC 20000-1 8.6.3)"),
        (
            "known-errors",
            "Known errors: documented root causes and workarounds (8.6.3)",
        ),
    ],
    nav: &[
        crate::platform::part::Nav {
            order: 40,
            label: "Problems",
            requester_label: None,
            href: "/problems",
            shown: |p| p.can(keel_core::access::Action::ReadInternalItems),
        },
        crate::platform::part::Nav {
            order: 41,
            label: "Known errors",
            requester_label: None,
            href: "/known-errors?open=true",
            shown: |p| p.can(keel_core::access::Action::ReadInternalItems),
        },
    ],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use crate::platform::gate::gate;
    use keel_core::access::Action;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .merge(problems::routes::router())
        .merge(known_errors::routes::router())
        .routes(gate(Action::UpdateWorkItems, routes!(raise_from_incident)))
        .routes(gate(Action::UpdateWorkItems, routes!(record_known_error)))
        .routes(routes!(trends))
        .merge(problems::clock_routes::router())
        .merge(problems::ci_routes::router())
        .merge(known_errors::clock_routes::router())
        .merge(known_errors::ci_routes::router())
}

/// Problems and known errors as kinds of work item.
pub const PROBLEM: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(PROBLEM_KIND),
    ..crate::kernel::process::Process::NONE
};
pub const KNOWN_ERROR: crate::kernel::process::Process = crate::kernel::process::Process {
    kind: Some(KNOWN_ERROR_KIND),
    ..crate::kernel::process::Process::NONE
};
/// What problem management offers on other items' pages: "Raise a problem" on an incident;
/// "Record known error" and "Raise the fixing change" on a problem.
pub const RAISE: crate::kernel::process::Process = crate::kernel::process::Process {
    panels: Some(|_, p, item| Box::pin(async move { Ok(raise_panel(p, item)) })),
    ..crate::kernel::process::Process::NONE
};

fn raise_panel(p: &Principal, item: &ItemRow) -> Vec<crate::kernel::process::Panel> {
    let problem = item.kind == INCIDENT.as_str() && require_create(p, PROBLEM_KIND).is_ok();
    let known_error =
        item.kind == PROBLEM_KIND.as_str() && require_create(p, KNOWN_ERROR_KIND).is_ok();
    if !problem && !known_error {
        return vec![];
    }
    vec![crate::kernel::process::Panel {
        template: "problem_panel.html",
        top: false,
        data: minijinja::Value::from(minijinja::value::Serde(
            serde_json::json!({"problem": problem, "known_error": known_error}),
        )),
    }]
}

/// The buttons of [`RAISE`]: each makes the related record and opens it.
fn pages() -> axum::Router<crate::platform::web::AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route(
            "/incidents/{number}/raise/problem",
            post(raise_problem_submit),
        )
        .route(
            "/problems/{number}/raise/known-error",
            post(raise_known_error_submit),
        )
        .route("/problems/{number}/raise/change", post(raise_change_submit))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn raise_problem_submit(
    axum::extract::State(st): axum::extract::State<crate::platform::web::AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    axum::extract::Path(number): axum::extract::Path<String>,
    axum::Form(f): axum::Form<CsrfForm>,
) -> axum::response::Response {
    let r = async {
        crate::platform::ui::check_csrf(&p, &f.csrf)?;
        raise_problem(&st.db, &p, &number, RaiseProblem::default()).await
    }
    .await;
    raised(&st, &p, &number, INCIDENT, r).await
}

async fn raise_known_error_submit(
    axum::extract::State(st): axum::extract::State<crate::platform::web::AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    axum::extract::Path(number): axum::extract::Path<String>,
    axum::Form(f): axum::Form<CsrfForm>,
) -> axum::response::Response {
    let r = async {
        crate::platform::ui::check_csrf(&p, &f.csrf)?;
        known_error_from(&st.db, &p, &number).await
    }
    .await;
    raised(&st, &p, &number, PROBLEM_KIND, r).await
}

async fn raise_change_submit(
    axum::extract::State(st): axum::extract::State<crate::platform::web::AppState>,
    crate::platform::ui::WebUser(p): crate::platform::ui::WebUser,
    axum::extract::Path(number): axum::extract::Path<String>,
    axum::Form(f): axum::Form<CsrfForm>,
) -> axum::response::Response {
    let r = async {
        crate::platform::ui::check_csrf(&p, &f.csrf)?;
        crate::operation::transition::change::raise_fix(&st.db, &p, &number, Default::default())
            .await
    }
    .await;
    raised(&st, &p, &number, PROBLEM_KIND, r).await
}

/// To the new record with a note of where it came from, or back to `from`'s page with why not.
async fn raised(
    st: &crate::platform::web::AppState,
    p: &Principal,
    from: &str,
    from_kind: Kind,
    r: AppResult<ItemRow>,
) -> axum::response::Response {
    match r {
        Ok(row) => {
            let kind = kernel::process::kind(&row.kind).unwrap_or(from_kind);
            crate::platform::ui::redirect_with_flash(
                &format!("{}/{}", crate::kernel::ui::base(kind), row.number),
                &format!("{} created from {from}.", row.number),
            )
        }
        Err(e) => crate::kernel::ui::detail_with_error(st, p, from, e, from_kind).await,
    }
}
