//! Objectives, KPIs and service reports in the web UI: `/objectives` (objectives with their KPIs
//! and latest measurements, forms to set them), `/service-reports` (definitions and generated
//! reports) and a report's printable page.

use super::{kpi, report};
use crate::platform::auth::Principal;
use crate::platform::db::Q;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    WebUser, check_csrf, clear_flash, flash, page_error, redirect_with_flash, viewer,
};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keel_core::access::Action;
use keel_core::management::measurement::{FREQUENCIES, METRICS};
use minijinja::value::Serde;
use minijinja::{Value as V, context};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/objectives", get(objectives_page).post(objective_submit))
        .route("/objectives/kpis", post(kpi_submit))
        .route("/objectives/kpis/{number}/measure", post(measure_submit))
        .route(
            "/service-reports",
            get(reports_page).post(definition_submit),
        )
        .route("/service-reports/generate", post(generate_submit))
        .route("/service-reports/{number}", get(report_page))
}

fn fields(raw: &RawForm) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&raw.0).unwrap_or_default()
}

fn one(f: &[(String, String)], k: &str) -> String {
    f.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn id(f: &[(String, String)], k: &str) -> AppResult<Option<i64>> {
    match one(f, k).as_str() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(k, "not a valid choice")),
    }
}

fn back(st: &AppState, p: &Principal, to: &str, r: AppResult<String>) -> Response {
    match r {
        Ok(msg) => redirect_with_flash(to, &msg),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            redirect_with_flash(to, &format!("Not done: {e}"))
        }
        Err(e) => page_error(st, Some(p), e),
    }
}

async fn named(st: &AppState, sql: &str) -> AppResult<Vec<V>> {
    let rows: Vec<(i64, String)> = st.db.all(Q::new(sql)).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| context! { id => id, name => name })
        .collect())
}

async fn objectives_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        Ok::<_, AppError>((
            kpi::objectives(&st.db).await?,
            kpi::kpis(&st.db, None).await?,
            named(&st, "SELECT id, name FROM users WHERE disabled = 0 AND role <> 'requester' ORDER BY name").await?,
            named(&st, "SELECT id, name FROM services ORDER BY name").await?,
        ))
    }
    .await;
    match r {
        Ok((objs, kpis, users, services)) => {
            let loose: Vec<&kpi::Kpi> = kpis.iter().filter(|k| k.objective.is_none()).collect();
            clear_flash(st.ui.render(
                "objectives.html",
                context! {
                    me => viewer(&p), flash => flash(&headers), objectives => V::from(Serde(&objs)), loose => V::from(Serde(&loose)),
                    users => users, services => services, metrics => V::from(Serde(METRICS)), frequencies => V::from(Serde(FREQUENCIES)),
                    can_manage => p.can(Action::ManageCompliance),
                },
            ))
        }
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn objective_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let o = kpi::create_objective(
            &st.db,
            &p,
            kpi::NewObjective {
                title: one(&f, "title"),
                description: one(&f, "description"),
                owner_id: id(&f, "owner_id")?,
                due_on: Some(one(&f, "due_on")),
            },
        )
        .await?;
        Ok(format!("{} set.", o.number))
    }
    .await;
    back(&st, &p, "/objectives", r)
}

async fn kpi_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = fields(&raw);
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let target: f64 = one(&f, "target")
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("target", "a number"))?;
        let k = kpi::create_kpi(
            &st.db,
            &p,
            kpi::NewKpi {
                name: one(&f, "name"),
                metric: one(&f, "metric"),
                service_id: id(&f, "service_id")?,
                target,
                frequency: Some(one(&f, "frequency")).filter(|s| !s.is_empty()),
                objective: Some(one(&f, "objective")).filter(|s| !s.is_empty()),
            },
        )
        .await?;
        Ok(format!("{} defined.", k.number))
    }
    .await;
    back(&st, &p, "/objectives", r)
}

async fn measure_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let k = kpi::measure_now(&st.db, &p, &number).await?;
        Ok(match k.measurements.first() {
            Some(m) => format!(
                "{} measured for {} – {}: {}.",
                k.number,
                m.period_from,
                m.period_to,
                m.value
                    .map(|v| format!("{:.1} {}", v, k.unit))
                    .unwrap_or_else(|| "nothing to measure".into())
            ),
            None => format!("{} has no complete period yet.", k.number),
        })
    }
    .await;
    back(&st, &p, "/objectives", r)
}

async fn reports_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        Ok::<_, AppError>((
            report::definitions(&st.db).await?,
            report::reports(&st.db).await?,
            named(&st, "SELECT id, name FROM services ORDER BY name").await?,
            named(&st, "SELECT id, name FROM customers ORDER BY name").await?,
        ))
    }
    .await;
    match r {
        Ok((defs, reports, services, customers)) => clear_flash(st.ui.render(
            "service_reports.html",
            context! {
                me => viewer(&p), flash => flash(&headers), defs => V::from(Serde(&defs)), reports => V::from(Serde(&reports)),
                services => services, customers => customers, frequencies => V::from(Serde(FREQUENCIES)),
                can_manage => p.can(Action::ManageCompliance),
            },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

async fn definition_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        let d = report::define(
            &st.db,
            &p,
            report::NewDefinition {
                name: one(&f, "name"),
                service_id: id(&f, "service_id")?,
                customer_id: id(&f, "customer_id")?,
                frequency: Some(one(&f, "frequency")).filter(|s| !s.is_empty()),
            },
        )
        .await?;
        Ok(format!("Report \"{}\" defined.", d.name))
    }
    .await;
    back(&st, &p, "/service-reports", r)
}

async fn generate_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = fields(&raw);
    let r = async {
        check_csrf(&p, &one(&f, "csrf"))?;
        p.require(Action::ManageCompliance)?;
        let n = report::generate_due(&st.db, &p.actor()).await?;
        Ok(format!("{n} reports generated."))
    }
    .await;
    back(&st, &p, "/service-reports", r)
}

async fn report_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    let r = async {
        p.require(Action::ReadCompliance)?;
        report::report(&st.db, &number).await
    }
    .await;
    match r {
        Ok(rep) => clear_flash(st.ui.render(
            "service_report.html",
            context! { me => viewer(&p), flash => flash(&headers), r => V::from(Serde(&rep)) },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}
