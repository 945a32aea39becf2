//! Objectives, KPIs and service reports in the web UI: `/objectives` (objectives with their KPIs
//! and latest measurements, forms to set them), `/service-reports` (definitions and generated
//! reports) and a report's printable page.

use super::{kpi, report};
use crate::platform::db::Q;
use crate::platform::error::{AppError, AppResult};
use crate::platform::ui::{
    FormFields, WebUser, back_with_flash, clear_flash, flash, page_error, viewer,
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

/// Objectives and KPIs (6.2, 9.1).
pub fn objective_routes() -> Router<AppState> {
    Router::new()
        .route("/objectives", get(objectives_page).post(objective_submit))
        .route("/objectives/kpis", post(kpi_submit))
        .route("/objectives/kpis/{number}/measure", post(measure_submit))
}

/// Service reports (9.4).
pub fn report_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/service-reports",
            get(reports_page).post(definition_submit),
        )
        .route("/service-reports/generate", post(generate_submit))
        .route("/service-reports/{number}", get(report_page))
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
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let o = kpi::create_objective(
            &st.db,
            &p,
            kpi::NewObjective {
                title: f.get("title"),
                description: f.get("description"),
                owner_id: f.id("owner_id")?,
                due_on: Some(f.get("due_on")),
            },
        )
        .await?;
        Ok(format!("{} set.", o.number))
    }
    .await;
    back_with_flash(&st, &p, "/objectives", r)
}

async fn kpi_submit(State(st): State<AppState>, WebUser(p): WebUser, raw: RawForm) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let target: f64 = f
            .get("target")
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("target", "a number"))?;
        let k = kpi::create_kpi(
            &st.db,
            &p,
            kpi::NewKpi {
                name: f.get("name"),
                metric: f.get("metric"),
                service_id: f.id("service_id")?,
                target,
                frequency: f.filled("frequency"),
                objective: f.filled("objective"),
            },
        )
        .await?;
        Ok(format!("{} defined.", k.number))
    }
    .await;
    back_with_flash(&st, &p, "/objectives", r)
}

async fn measure_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(number): Path<String>,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
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
    back_with_flash(&st, &p, "/objectives", r)
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
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        let d = report::define(
            &st.db,
            &p,
            report::NewDefinition {
                name: f.get("name"),
                service_id: f.id("service_id")?,
                customer_id: f.id("customer_id")?,
                frequency: f.filled("frequency"),
            },
        )
        .await?;
        Ok(format!("Report \"{}\" defined.", d.name))
    }
    .await;
    back_with_flash(&st, &p, "/service-reports", r)
}

async fn generate_submit(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    raw: RawForm,
) -> Response {
    let f = FormFields::parse(&raw);
    let r = async {
        f.check_csrf(&p)?;
        p.require(Action::ManageCompliance)?;
        let n = report::generate_due(&st.db, &p.actor()).await?;
        Ok(format!("{n} reports generated."))
    }
    .await;
    back_with_flash(&st, &p, "/service-reports", r)
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
