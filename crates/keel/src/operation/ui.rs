//! The operational process pages of 8.3, 8.4 and 8.7: for each group, its registers (with
//! counts, opening the generic register pages) and the figures computed from them — this
//! month's agreement attainment and satisfaction, actuals against budget, demand and capacity,
//! availability, continuity and security. Panels are data; one template draws them all.

use crate::kernel::register::{Filters, all, reg};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q};
use crate::platform::error::{AppError, AppResult};
use crate::platform::extract::{period_ms, this_month, today};
use crate::platform::ui::{WebUser, clear_flash, flash, page_error, viewer};
use crate::platform::web::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use keel_core::access::Action;
use keel_core::register::V;
use minijinja::value::Serde;
use minijinja::{Value as MV, context};
use serde::Serialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/operations", get(hub))
        .route("/operations/{group}", get(group_page))
}

/// The three groups: (path, title, clause, the clauses of their registers).
const GROUPS: &[(&str, &str, &str, &[&str])] = &[
    (
        "relationships",
        "Relationship and agreement",
        "8.3",
        &["8.3.2", "8.3.3", "8.3.4"],
    ),
    (
        "supply",
        "Supply and demand",
        "8.4",
        &["8.4.1", "8.4.2", "8.4.3"],
    ),
    (
        "assurance",
        "Service assurance",
        "8.7",
        &["8.7.1", "8.7.2", "8.7.3"],
    ),
];

#[derive(Serialize, Default)]
struct Cell {
    text: String,
    href: Option<String>,
    /// ok, warn or bad, for colour.
    tone: Option<&'static str>,
}

fn c(text: impl Into<String>) -> Cell {
    Cell {
        text: text.into(),
        ..Default::default()
    }
}

fn link(text: impl Into<String>, href: String) -> Cell {
    Cell {
        text: text.into(),
        href: Some(href),
        tone: None,
    }
}

fn toned(text: impl Into<String>, ok: Option<bool>) -> Cell {
    Cell {
        text: text.into(),
        href: None,
        tone: ok.map(|o| if o { "ok" } else { "bad" }),
    }
}

#[derive(Serialize, Default)]
struct Panel {
    id: String,
    title: String,
    note: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    empty: &'static str,
}

async fn count(db: &Db, table: &str) -> AppResult<i64> {
    let (n,): (i64,) = db
        .one(Q::new(format!("SELECT COUNT(*) FROM {table}")))
        .await?;
    Ok(n)
}

async fn registers_panel(db: &Db, p: &Principal, clauses: &[&str]) -> AppResult<Panel> {
    let mut rows = vec![];
    for r in crate::kernel::process::registers().filter(|r| clauses.contains(&r.clause)) {
        if !p.can(r.read) {
            continue;
        }
        rows.push(vec![
            link(r.title, format!("/registers/{}", r.name)),
            c(r.clause),
            c(count(db, r.table).await?.to_string()),
            c(r.summary),
        ]);
    }
    if clauses.contains(&"8.3.2") && p.can(Action::ReadInternalItems) {
        let (open,): (i64,) = db
            .one(Q::new("SELECT COUNT(*) FROM work_items WHERE kind = 'complaint' AND state NOT IN ('closed', 'withdrawn')"))
            .await?;
        rows.push(vec![
            link("Complaints", "/complaints".into()),
            c("8.3.2"),
            c(format!("{open} open")),
            c("Recorded, investigated, resolved, the customer told."),
        ]);
    }
    Ok(Panel {
        id: "registers".into(),
        title: "Registers".into(),
        columns: vec!["Register", "Clause", "Records", "What for"],
        rows,
        empty: "Nothing here for your role.",
        ..Default::default()
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{x} %")).unwrap_or_else(|| "—".into())
}

async fn relationship_panels(db: &Db, p: &Principal) -> AppResult<Vec<Panel>> {
    let mut out = vec![];
    if !p.can(Action::ReadRelationships) {
        return Ok(out);
    }
    let month = this_month();
    let a = reg("agreements");
    let active: Filters = vec![("status", V::Text("active".into()))];
    let mut rows = vec![];
    for rec in all(db, a, &active).await? {
        let att = crate::operation::relationship::agreement::attainment(db, rec.id, &month).await?;
        let clocks: Vec<String> = att
            .clocks
            .iter()
            .map(|m| format!("{} {}", m.metric, pct(m.attainment_percent)))
            .collect();
        let avail: Vec<String> = att
            .availability
            .iter()
            .map(|s| format!("{} {}", s.service, pct(s.measured)))
            .collect();
        rows.push(vec![
            link(
                rec.text("reference").unwrap_or_default(),
                format!("/registers/agreements/{}", rec.id),
            ),
            c(rec.text("kind").unwrap_or_default().replace('_', " ")),
            c(rec.text("title").unwrap_or_default()),
            c(if clocks.is_empty() {
                "no clocks".into()
            } else {
                clocks.join("; ")
            }),
            c(if avail.is_empty() {
                "—".into()
            } else {
                avail.join("; ")
            }),
            toned(if att.met { "met" } else { "missed" }, Some(att.met)),
            c(att.breaches.len().to_string()),
        ]);
    }
    out.push(Panel {
        id: "attainment".into(),
        title: format!("Agreements in force: attainment in {month}"),
        note: "Clocks of the covered work items and availability of the covered services against the agreement's targets.".into(),
        columns: vec!["Agreement", "Kind", "Title", "Clocks", "Availability", "Targets", "Breaches"],
        rows,
        empty: "No active agreements.",
    });
    let scores = crate::operation::relationship::business::scores(db, "service", 6).await?;
    out.push(Panel {
        id: "satisfaction".into(),
        title: "Customer satisfaction by service (6 months)".into(),
        note: "Surveys go out after each resolved incident and request, and periodically.".into(),
        columns: vec!["Service", "Mean (1–5)", "Answered", "Sent", "Trend"],
        rows: scores
            .into_iter()
            .map(|s| {
                vec![
                    c(s.name),
                    c(s.mean
                        .map(|m| format!("{m:.2}"))
                        .unwrap_or_else(|| "—".into())),
                    c(s.answered.to_string()),
                    c(s.sent.to_string()),
                    c(s.trend.replace('_', " ")),
                ]
            })
            .collect(),
        empty: "No surveys yet.",
    });
    let contracts: Vec<ContractRow> = db
        .all(Q::new("SELECT c.id, c.reference, s.name, c.ends_on, c.notice_days, c.title FROM contracts c JOIN suppliers s ON s.id = c.supplier_id WHERE c.status = 'active' ORDER BY c.ends_on"))
        .await?;
    let t = today();
    out.push(Panel {
        id: "contracts".into(),
        title: "Active supplier contracts".into(),
        note: "Renewal is due from the notice day; the contract manager is told by the daily renewal job.".into(),
        columns: vec!["Contract", "Supplier", "Title", "Ends", "Renewal"],
        rows: contracts
            .into_iter()
            .map(|(id, reference, supplier, ends, notice, title)| {
                let due = ends
                    .as_deref()
                    .and_then(|e| e.parse::<jiff::civil::Date>().ok())
                    .map(|e| keel_core::operation::relationship::supplier::renewal_due("active", e, notice.unwrap_or(90), t));
                vec![
                    link(reference, format!("/registers/contracts/{id}")),
                    c(supplier),
                    c(title),
                    c(ends.unwrap_or_else(|| "open-ended".into())),
                    match due {
                        Some(true) => toned("decide now", Some(false)),
                        Some(false) => toned("not yet", Some(true)),
                        None => c("—"),
                    },
                ]
            })
            .collect(),
        empty: "No active contracts.",
    });
    Ok(out)
}

/// id, reference, supplier, ends, notice days, title.
type ContractRow = (i64, String, String, Option<String>, Option<i64>, String);

async fn supply_panels(db: &Db, p: &Principal) -> AppResult<Vec<Panel>> {
    let mut out = vec![];
    if p.can(Action::ReadFinance) {
        let year = today().year().to_string();
        let r = crate::operation::supply::budget::report(db, &year).await?;
        out.push(Panel {
            id: "budget".into(),
            title: format!("Actuals against budget, {year}"),
            note: format!("Indirect costs not allocated to a service: {}. Export: /api/v1/budgets/report?format=csv", r.unallocated),
            columns: vec!["Service", "Budget", "Actual", "Variance", "Used"],
            rows: r
                .services
                .iter()
                .map(|s| {
                    vec![
                        link(s.service.clone(), format!("/services/{}", s.service_id)),
                        c(format!("{:.2}", s.budget)),
                        c(format!("{:.2}", s.actual)),
                        toned(format!("{:.2}", s.variance), Some(s.variance >= 0.0)),
                        c(pct(s.used_percent)),
                    ]
                })
                .collect(),
            empty: "No budgets or costs this year.",
        });
        out.push(Panel {
            id: "cost-per-customer".into(),
            title: format!("Cost per customer, {year}"),
            note: "A service's costs are shared equally among the customers it serves.".into(),
            columns: vec!["Customer", "Direct", "Allocated", "Total"],
            rows: r
                .customers
                .iter()
                .map(|x| {
                    vec![
                        c(x.customer.clone()),
                        c(format!("{:.2}", x.direct)),
                        c(format!("{:.2}", x.allocated)),
                        c(format!("{:.2}", x.total)),
                    ]
                })
                .collect(),
            empty: "No costs allocated.",
        });
    }
    if p.can(Action::ReadAssurance) {
        let month = this_month();
        let (from, to, _) = period_ms("period", Some(&month), &month)?;
        let rows = crate::operation::supply::demand::demand(db, None, from, to).await?;
        out.push(Panel {
            id: "demand".into(),
            title: format!("Demand in {month}: forecast and actual"),
            note: "Actual demand is counted from Keel's own records.".into(),
            columns: vec!["Service", "Measure", "Forecast", "Actual", "Gap"],
            rows: rows
                .into_iter()
                .map(|d| {
                    vec![
                        c(d.service),
                        c(d.measure),
                        c(d.forecast
                            .map(|x| x.to_string())
                            .unwrap_or_else(|| "—".into())),
                        c(d.actual
                            .map(|x| x.to_string())
                            .unwrap_or_else(|| "—".into())),
                        c(d.gap
                            .map(|g| format!("{g:+}"))
                            .unwrap_or_else(|| "—".into())),
                    ]
                })
                .collect(),
            empty: "No demand recorded this month.",
        });
        out.push(capacity_panel(db, None).await?);
    }
    Ok(out)
}

async fn capacity_panel(db: &Db, service: Option<i64>) -> AppResult<Panel> {
    let status = crate::operation::supply::capacity::status(db, service).await?;
    Ok(Panel {
        id: "capacity".into(),
        title: "Capacity: current level of each plan".into(),
        note: "Monitoring pushes utilisation to /api/v1/metrics; crossing a threshold raises an event.".into(),
        columns: vec!["Plan", "Resource", "Latest", "Thresholds", "Level", "Events (30 days)"],
        rows: status
            .into_iter()
            .map(|s| {
                vec![
                    link(s.title, format!("/registers/capacity-plans/{}", s.plan_id)),
                    c(s.resource),
                    c(s.value.map(|v| format!("{v} {}", s.unit)).unwrap_or_else(|| "—".into())),
                    c(format!("{} / {}", s.warning_at, s.critical_at)),
                    Cell {
                        tone: match s.level.as_str() {
                            "normal" => Some("ok"),
                            "warning" => Some("warn"),
                            "critical" => Some("bad"),
                            _ => None,
                        },
                        ..c(s.level)
                    },
                    c(s.events_30d.to_string()),
                ]
            })
            .collect(),
        empty: "No capacity plans.",
    })
}

async fn availability_panel(db: &Db, service: Option<i64>) -> AppResult<Panel> {
    let month = this_month();
    let (from, to, _) = period_ms("period", Some(&month), &month)?;
    let rows = crate::operation::assurance::availability::measured(
        db,
        service.as_ref().map(std::slice::from_ref),
        from,
        to,
    )
    .await?;
    Ok(Panel {
        id: "availability".into(),
        title: format!("Availability in {month}"),
        note: "Agreed maintenance is excluded from both service time and downtime.".into(),
        columns: vec![
            "Service",
            "Target",
            "Measured",
            "Downtime (min)",
            "Maintenance (min)",
            "Outages",
        ],
        rows: rows
            .into_iter()
            .map(|s| {
                vec![
                    link(s.service, format!("/services/{}", s.service_id)),
                    c(pct(s.target)),
                    toned(pct(s.measured), s.met),
                    c(s.downtime_minutes.to_string()),
                    c(s.maintenance_minutes.to_string()),
                    c(s.outages.to_string()),
                ]
            })
            .collect(),
        empty: "No live services.",
    })
}

type PlanRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

async fn continuity_panel(db: &Db, service: Option<i64>) -> AppResult<Panel> {
    let rows: Vec<PlanRow> = db
        .all(
            Q::new("SELECT p.id, s.name, p.title, p.status, p.plan_version, \
                    (SELECT MAX(t.tested_on) FROM continuity_tests t WHERE t.plan_id = p.id), p.next_test_due, \
                    (SELECT MAX(r.rto_minutes) FROM continuity_requirements r WHERE r.service_id = p.service_id), \
                    (SELECT MIN(t.rto_achieved_minutes) FROM continuity_tests t WHERE t.plan_id = p.id) \
                    FROM continuity_plans p JOIN services s ON s.id = p.service_id WHERE ($1 = 0 OR p.service_id = $1) ORDER BY s.name, p.title")
                .bind(service.unwrap_or(0)),
        )
        .await?;
    Ok(Panel {
        id: "continuity".into(),
        title: "Continuity plans".into(),
        note:
            "Approved by someone other than the owner; tested against the recovery time objective."
                .into(),
        columns: vec![
            "Service",
            "Plan",
            "Status",
            "Version",
            "Last test",
            "Next test due",
            "RTO / achieved (min)",
        ],
        rows: rows
            .into_iter()
            .map(
                |(id, svc, title, status, version, tested, due, rto, achieved)| {
                    let status = status.unwrap_or_else(|| "draft".into());
                    let ok = status == "approved";
                    vec![
                        c(svc),
                        link(title, format!("/registers/continuity-plans/{id}")),
                        toned(status, Some(ok)),
                        c(version.unwrap_or_default()),
                        c(tested.unwrap_or_else(|| "never".into())),
                        c(due.unwrap_or_else(|| "—".into())),
                        c(format!(
                            "{} / {}",
                            rto.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
                            achieved
                                .map(|r| r.to_string())
                                .unwrap_or_else(|| "—".into())
                        )),
                    ]
                },
            )
            .collect(),
        empty: "No continuity plans.",
    })
}

async fn assurance_panels(db: &Db, p: &Principal) -> AppResult<Vec<Panel>> {
    let mut out = vec![];
    if !p.can(Action::ReadAssurance) {
        return Ok(out);
    }
    out.push(availability_panel(db, None).await?);
    out.push(continuity_panel(db, None).await?);
    let controls: Vec<(String, i64)> = db
        .all(Q::new("SELECT COALESCE(status, 'planned'), COUNT(*) FROM security_controls GROUP BY COALESCE(status, 'planned') ORDER BY 1"))
        .await?;
    out.push(Panel {
        id: "controls".into(),
        title: "Information security controls by status".into(),
        note: "The policy is the controlled document of type security_policy.".into(),
        columns: vec!["Status", "Controls"],
        rows: controls
            .into_iter()
            .map(|(s, n)| {
                vec![
                    link(
                        s.replace('_', " "),
                        format!("/registers/security-controls?status={s}"),
                    ),
                    c(n.to_string()),
                ]
            })
            .collect(),
        empty: "No controls chosen yet.",
    });
    let year = today().year().to_string();
    let (from, to, text) = period_ms("period", Some(&year), &year)?;
    let rep = crate::operation::assurance::security::report(db, from, to, text).await?;
    out.push(Panel {
        id: "security-incidents".into(),
        title: format!(
            "Information security incidents, {year}: {} ({} open, {} with personal data)",
            rep.total, rep.open, rep.personal_data
        ),
        note: "Incidents of category security, classified before resolution.".into(),
        columns: vec!["Incident", "Title", "State", "Type", "Property harmed"],
        rows: rep
            .incidents
            .into_iter()
            .take(20)
            .map(|i| {
                vec![
                    link(i.number.clone(), format!("/incidents/{}", i.number)),
                    c(i.title),
                    c(i.state),
                    c(i.security_type.unwrap_or_else(|| "unclassified".into())),
                    c(i.security_property.unwrap_or_default()),
                ]
            })
            .collect(),
        empty: "None this year.",
    });
    Ok(out)
}

/// Staff who read any of the operational records; requesters have none of these pages.
fn may_read(p: &Principal) -> Result<(), AppError> {
    if p.can(Action::ReadRelationships)
        || p.can(Action::ReadAssurance)
        || p.can(Action::ReadFinance)
    {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "the {} role has no operational records",
            p.role
        )))
    }
}

async fn hub(State(st): State<AppState>, WebUser(p): WebUser, headers: HeaderMap) -> Response {
    if let Err(e) = may_read(&p) {
        return page_error(&st, Some(&p), e);
    }
    let groups: Vec<_> = GROUPS
        .iter()
        .map(|(path, title, clause, clauses)| {
            let regs: Vec<_> = crate::kernel::process::registers()
                .filter(|r| clauses.contains(&r.clause) && p.can(r.read))
                .map(|r| context! { name => r.name, title => r.title })
                .collect();
            context! { path => *path, title => *title, clause => *clause, registers => regs }
        })
        .collect();
    clear_flash(st.ui.render(
        "operations.html",
        context! { me => viewer(&p), flash => flash(&headers), groups => groups, title => "Operations", clause => "8.3, 8.4, 8.7", panels => MV::from(Serde(Vec::<Panel>::new())), hub => true },
    ))
}

async fn group_page(
    State(st): State<AppState>,
    WebUser(p): WebUser,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        may_read(&p)?;
        let (path, title, clause, clauses) = GROUPS
            .iter()
            .find(|g| g.0 == group)
            .copied()
            .ok_or_else(|| AppError::NotFound(format!("page {group}")))?;
        let mut panels = vec![registers_panel(&st.db, &p, clauses).await?];
        panels.extend(match path {
            "relationships" => relationship_panels(&st.db, &p).await?,
            "supply" => supply_panels(&st.db, &p).await?,
            _ => assurance_panels(&st.db, &p).await?,
        });
        Ok::<_, AppError>((title, clause, panels))
    }
    .await;
    match r {
        Ok((title, clause, panels)) => clear_flash(st.ui.render(
            "operations.html",
            context! { me => viewer(&p), flash => flash(&headers), groups => Vec::<MV>::new(), title => title, clause => clause, panels => MV::from(Serde(&panels)), hub => false },
        )),
        Err(e) => page_error(&st, Some(&p), e),
    }
}

/// The service page's assurance figures: availability, capacity, continuity (when the viewer
/// may read them), as panels for `service.html`.
pub async fn service_panels(db: &Db, p: &Principal, service: i64) -> AppResult<serde_json::Value> {
    let mut panels = vec![];
    if p.can(Action::ReadRelationships) {
        let month = this_month();
        let mut rows = vec![];
        let q: Filters = vec![("services", V::Text(service.to_string()))];
        for rec in all(db, reg("agreements"), &q).await? {
            let att =
                crate::operation::relationship::agreement::attainment(db, rec.id, &month).await?;
            rows.push(vec![
                link(
                    rec.text("reference").unwrap_or_default(),
                    format!("/registers/agreements/{}", rec.id),
                ),
                c(rec.text("kind").unwrap_or_default().replace('_', " ")),
                c(rec.text("status").unwrap_or_default()),
                toned(if att.met { "met" } else { "missed" }, Some(att.met)),
            ]);
        }
        panels.push(Panel {
            id: "service-agreements".into(),
            title: format!("Agreements covering it: attainment in {month}"),
            columns: vec!["Agreement", "Kind", "Status", "Targets"],
            rows,
            empty: "No agreement covers this service.",
            ..Default::default()
        });
        let mut rows = vec![];
        for rec in all(db, reg("suppliers"), &q).await? {
            rows.push(vec![
                link(
                    rec.text("name").unwrap_or_default(),
                    format!("/registers/suppliers/{}", rec.id),
                ),
                c(rec.text("kind").unwrap_or_default().replace('_', " ")),
                c(rec.text("status").unwrap_or_default()),
            ]);
        }
        panels.push(Panel {
            id: "service-suppliers".into(),
            title: "Supplier dependencies".into(),
            columns: vec!["Supplier", "Kind", "Status"],
            rows,
            empty: "No supplier supports this service.",
            ..Default::default()
        });
    }
    if p.can(Action::ReadAssurance) {
        let mut a = availability_panel(db, Some(service)).await?;
        a.id = "service-availability".into();
        panels.push(a);
        let mut cap = capacity_panel(db, Some(service)).await?;
        cap.id = "service-capacity".into();
        panels.push(cap);
        let mut cont = continuity_panel(db, Some(service)).await?;
        cont.id = "service-continuity".into();
        panels.push(cont);
    }
    if p.can(Action::ReadFinance) {
        let year = today().year().to_string();
        let r = crate::operation::supply::budget::report(db, &year).await?;
        panels.push(Panel {
            id: "service-budget".into(),
            title: format!("Budget {year}"),
            columns: vec!["Budget", "Actual", "Variance", "Used"],
            rows: r
                .services
                .iter()
                .filter(|s| s.service_id == service)
                .map(|s| {
                    vec![
                        c(format!("{:.2}", s.budget)),
                        c(format!("{:.2}", s.actual)),
                        toned(format!("{:.2}", s.variance), Some(s.variance >= 0.0)),
                        c(pct(s.used_percent)),
                    ]
                })
                .collect(),
            empty: "No budget or costs this year.",
            ..Default::default()
        });
    }
    Ok(serde_json::to_value(&panels).unwrap_or_default())
}
