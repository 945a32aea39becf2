//! Clause 8.7.3 — information security incidents: incidents of category `security`, classified
//! (type, property harmed, personal data) before they are resolved, and reported per period.
//! Controls are a register (`security-controls`); the policy is a controlled document of type
//! `security_policy`.

use crate::kernel::ItemRow;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q};
use crate::platform::error::{AppError, AppResult, Problem};
use crate::platform::extract::{ApiQuery, period_ms};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::State;
use keel_core::access::Action;
use keel_core::operation::assurance::security::{SECURITY_CATEGORY, missing_before_resolution};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A security incident is resolved only once classified.
pub fn on_incident_move(after: &ItemRow) -> AppResult<()> {
    if after.category.as_deref() == Some(SECURITY_CATEGORY)
        && matches!(after.state.as_str(), "resolved" | "closed")
    {
        let d: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&after.details).unwrap_or_default();
        if let Some(f) = missing_before_resolution(&d) {
            return Err(AppError::invalid(
                &format!("details.{f}"),
                format!(
                    "{} is a security incident: classify it before it is resolved",
                    after.number
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecurityIncident {
    pub number: String,
    pub title: String,
    pub state: String,
    pub priority: i64,
    pub security_type: Option<String>,
    pub security_property: Option<String>,
    pub personal_data: Option<String>,
    pub reported_on: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecurityReport {
    pub period: String,
    pub total: i64,
    pub open: i64,
    /// Count per security incident type (`unclassified` for those not yet classified).
    pub by_type: BTreeMap<String, i64>,
    pub by_property: BTreeMap<String, i64>,
    pub personal_data: i64,
    pub incidents: Vec<SecurityIncident>,
}

type Row = (String, String, String, i64, String);

/// Security incidents raised in `[from, to)`.
pub async fn report(db: &Db, from: i64, to: i64, period: String) -> AppResult<SecurityReport> {
    let rows: Vec<Row> = db
        .all(
            Q::new("SELECT number, title, state, priority, details FROM work_items WHERE kind = 'incident' AND category = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at DESC")
                .bind(SECURITY_CATEGORY)
                .bind(from)
                .bind(to),
        )
        .await?;
    let mut r = SecurityReport {
        period,
        total: 0,
        open: 0,
        by_type: BTreeMap::new(),
        by_property: BTreeMap::new(),
        personal_data: 0,
        incidents: vec![],
    };
    for (number, title, state, priority, details) in rows {
        let d: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&details).unwrap_or_default();
        let get = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
        r.total += 1;
        if !matches!(state.as_str(), "resolved" | "closed" | "cancelled") {
            r.open += 1;
        }
        *r.by_type
            .entry(get("security_type").unwrap_or_else(|| "unclassified".into()))
            .or_default() += 1;
        if let Some(p) = get("security_property") {
            *r.by_property.entry(p).or_default() += 1;
        }
        if get("personal_data").as_deref() == Some("yes") {
            r.personal_data += 1;
        }
        r.incidents.push(SecurityIncident {
            number,
            title,
            state,
            priority,
            security_type: get("security_type"),
            security_property: get("security_property"),
            personal_data: get("personal_data"),
            reported_on: get("reported_on"),
        });
    }
    Ok(r)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// `2026`, `2026-Q3`, `2026-07` or `A..B` (default: this year).
    pub period: Option<String>,
}

/// Information security incidents of a period, by type and property harmed (8.7.3).
#[utoipa::path(get, path = "/api/v1/security-incidents", tag = "security", params(PeriodParams),
    responses((status = 200, body = SecurityReport), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_report(
    State(st): State<AppState>,
    p: Principal,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<SecurityReport>> {
    p.require(Action::ReadAssurance)?;
    let year = crate::platform::extract::today().year().to_string();
    let (from, to, text) = period_ms("period", q.period.as_deref(), &year)?;
    Ok(Json(report(&st.db, from, to, text).await?))
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "security",
    api: part_api,
    tags: &[(
        "security",
        "Information security controls and security incidents (8.7.3)",
    )],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api_report))
}

/// Security controls; a security incident is resolved only with its classification (8.7.3).
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::assurance::security::REGISTERS,
    moving: Some(|_, kind, _, after, _| {
        Box::pin(async move {
            if kind == keel_core::operation::resolution::incident::KIND {
                on_incident_move(after)?;
            }
            Ok(())
        })
    }),
    ..crate::kernel::process::Process::NONE
};
