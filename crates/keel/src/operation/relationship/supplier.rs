//! Clause 8.3.4 — supplier performance (reviews against targets, time work waited on the
//! supplier, disputes) and renewal warnings for contracts reaching their notice day (the daily
//! `contracts.renewal` job).

use crate::kernel::register::{get, reg};
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Q, now_ms};
use crate::platform::error::{AppResult, Problem};
use crate::platform::extract::{ApiQuery, period_ms, today};
use crate::platform::outbox::{Event, emit_many};
use crate::platform::web::AppState;
use axum::Json;
use axum::extract::{Path, State};
use keel_core::access::Action;
use keel_core::operation::relationship::supplier::{notice_day, renewal_due};
use keel_core::register::V;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Performance {
    pub supplier_id: i64,
    pub supplier: String,
    pub period: String,
    pub reviews: i64,
    /// Mean review rating, 1–5.
    pub mean_rating: Option<f64>,
    /// Share of reviews that found the targets met, percent.
    pub targets_met_percent: Option<f64>,
    /// Work items on the supplier's services that waited on the supplier in the period.
    pub items_waiting: i64,
    /// Hours they spent waiting on the supplier (pending_supplier), within the period.
    pub hours_waiting: f64,
    pub open_disputes: i64,
    pub active_contracts: i64,
}

/// How a supplier performed over `[from, to)`.
pub async fn performance(
    db: &Db,
    id: i64,
    from: i64,
    to: i64,
    period: String,
) -> AppResult<Performance> {
    let s = get(db, reg("suppliers"), id).await?;
    let from_day = crate::platform::web::iso(from)[..10].to_string();
    let to_day = crate::platform::web::iso(to - 1)[..10].to_string();
    let (reviews, sum, met): (i64, Option<i64>, Option<i64>) = db
        .one(
            Q::new("SELECT COUNT(*), CAST(SUM(rating) AS BIGINT), CAST(SUM(COALESCE(targets_met, 0)) AS BIGINT) FROM supplier_reviews WHERE supplier_id = $1 AND held_on >= $2 AND held_on <= $3")
                .bind(id)
                .bind(from_day)
                .bind(to_day),
        )
        .await?;
    let services: Vec<i64> = match s.vals.get("services") {
        Some(V::Many(ks)) => ks.iter().filter_map(|k| k.parse().ok()).collect(),
        _ => vec![],
    };
    // Time waiting on the supplier, from the SLA ledger: the resolution clock pauses with reason
    // "on hold: pending_supplier" and resumes (or stops) when the wait ends.
    let mut items_waiting = 0;
    let mut waited_ms = 0;
    if !services.is_empty() {
        let mut q = Q::new("");
        let ids: Vec<String> = services.iter().map(|x| q.arg(*x)).collect();
        let t = q.arg(to);
        q.sql = format!(
            "SELECT c.item_id, e.kind, e.at, e.reason FROM sla_clock_events e JOIN sla_clocks c ON c.id = e.clock_id JOIN work_items w ON w.id = c.item_id \
             WHERE w.service_id IN ({}) AND c.metric = 'resolution' AND e.at < {t} AND e.kind IN ('pause', 'resume', 'stop') \
             ORDER BY c.item_id, e.at, e.id",
            ids.join(", ")
        );
        let rows: Vec<(i64, String, i64, String)> = db.all(q).await?;
        let spans = supplier_waits(&rows, now_ms());
        let mut counted = std::collections::BTreeSet::new();
        for (item, a, b) in spans {
            let (a, b) = (a.max(from), b.min(to));
            if a < b {
                waited_ms += b - a;
                counted.insert(item);
            }
        }
        items_waiting = counted.len() as i64;
    }
    let (open_disputes,): (i64,) = db
        .one(Q::new("SELECT COUNT(*) FROM disputes WHERE supplier_id = $1 AND COALESCE(status, 'open') <> 'resolved'").bind(id))
        .await?;
    let (active_contracts,): (i64,) = db
        .one(
            Q::new("SELECT COUNT(*) FROM contracts WHERE supplier_id = $1 AND status = 'active'")
                .bind(id),
        )
        .await?;
    Ok(Performance {
        supplier_id: id,
        supplier: s.text("name").unwrap_or_default().to_string(),
        period,
        reviews,
        mean_rating: (reviews > 0)
            .then(|| (sum.unwrap_or_default() as f64 * 10.0 / reviews as f64).round() / 10.0),
        targets_met_percent: (reviews > 0)
            .then(|| (met.unwrap_or_default() as f64 * 1000.0 / reviews as f64).round() / 10.0),
        items_waiting,
        hours_waiting: (waited_ms as f64 / 360_000.0).round() / 10.0,
        open_disputes,
        active_contracts,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// `2026`, `2026-Q3`, `2026-07` or `A..B` (default: this year).
    pub period: Option<String>,
}

/// A supplier's performance: reviews against targets, waiting time, disputes (8.3.4).
#[utoipa::path(get, path = "/api/v1/suppliers/{id}/performance", tag = "suppliers", params(("id" = i64, Path), PeriodParams),
    responses((status = 200, body = Performance), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn api_performance(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<PeriodParams>,
) -> AppResult<Json<Performance>> {
    p.require(Action::ReadRelationships)?;
    let year = today().year().to_string();
    let (from, to, text) = period_ms("period", q.period.as_deref(), &year)?;
    Ok(Json(performance(&st.db, id, from, to, text).await?))
}

/// (item, start, end) of each wait on the supplier in an ordered clock ledger.
fn supplier_waits(rows: &[(i64, String, i64, String)], now: i64) -> Vec<(i64, i64, i64)> {
    let mut out = vec![];
    let mut open: Option<(i64, i64)> = None;
    for (item, kind, at, reason) in rows {
        if let Some((i, start)) = open
            && (i != *item || kind != "pause")
        {
            out.push((i, start, if i == *item { *at } else { now }));
            open = None;
        }
        if kind == "pause" && reason.ends_with("pending_supplier") && open.is_none() {
            open = Some((*item, *at));
        }
    }
    if let Some((i, start)) = open {
        out.push((i, start, now));
    }
    out
}

type ContractRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// Warn contract managers of active contracts whose notice day has come (once a week each).
pub async fn warn_renewals(db: &Db) -> AppResult<u64> {
    let t = today();
    let week_ago = now_ms() - 7 * 86_400_000;
    let rows: Vec<ContractRow> = db
        .all(
            Q::new("SELECT c.id, c.reference, c.title, c.ends_on, c.notice_days, c.status, c.owner_id, c.renewal_warned_at FROM contracts c \
                    WHERE c.status = 'active' AND c.ends_on IS NOT NULL AND c.owner_id IS NOT NULL AND (c.renewal_warned_at IS NULL OR c.renewal_warned_at < $1)")
                .bind(week_ago),
        )
        .await?;
    let mut events = vec![];
    let mut ids = vec![];
    for (id, reference, title, ends, notice, status, owner, _) in rows {
        let Some(end) = ends.and_then(|e| e.parse::<jiff::civil::Date>().ok()) else {
            continue;
        };
        let notice = notice.unwrap_or(90);
        if !renewal_due(status.as_deref().unwrap_or(""), end, notice, t) {
            continue;
        }
        ids.push(id);
        events.push(Event {
            event: "contract.renewal_due",
            item_id: None,
            title: format!(
                "Contract {reference} ({title}) ends {end}: decide on renewal (notice from {})",
                notice_day(end, notice)
            ),
            payload: json!({"contract_id": id, "reference": reference, "ends_on": end.to_string()}),
            recipients: owner.into_iter().collect(),
        });
    }
    let n = events.len() as u64;
    let mut tx = db.begin().await?;
    emit_many(&mut tx, events).await?;
    for id in ids {
        tx.exec(
            Q::new("UPDATE contracts SET renewal_warned_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "suppliers",
    api: part_api,
    tags: &[(
        "suppliers",
        "Suppliers, contracts, supplier reviews and performance, disputes, renewal warnings (8.3.4)",
    )],
    jobs: &[crate::platform::part::JobKind {
        kind: "contracts.renewal",
        every: Some(|_| Some(24 * 60 * 60 * 1000)),
        run: |st, _job| {
            Box::pin(async move {
                warn_renewals(&st.db)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        },
    }],
    ..crate::platform::part::Part::EMPTY
};

fn part_api() -> utoipa_axum::router::OpenApiRouter<crate::platform::web::AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(api_performance))
}

/// This process's registers (`keel_core`), kept by the kernel's register machine.
pub const PROCESS: crate::kernel::process::Process = crate::kernel::process::Process {
    registers: keel_core::operation::relationship::supplier::REGISTERS,
    ..crate::kernel::process::Process::NONE
};
