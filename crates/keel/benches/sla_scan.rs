//! Benchmark: one SLA breach/warning pass over 200,000 running clocks (issue 3's target: < 1 s),
//! on SQLite and PostgreSQL. Run with `cargo bench -p keel --bench sla_scan` (or `scripts/bench`);
//! results go to `bench-results/<stamp>-sla-scan.json` and standard output.
//!
//! The data: 200,000 in-progress incidents, each with a running resolution clock; 1 % of them
//! (2,000) have passed their warning instant and another 1 % their breach instant. A pass must
//! find and announce exactly those (outbox and notification rows included) without reading the
//! rest; a second pass finds nothing.

mod support;

use keel::operation::relationship::service_level::clocks::scan;
use keel::operation::relationship::service_level::{
    CalendarInput, TargetInput, Window, create_calendar, create_target,
};
use keel::platform::audit::Actor;
use keel::platform::db::{Db, Q, now_ms};
use std::time::Instant;

const ITEMS: i64 = 200_000;

async fn seed(db: &Db, now: i64) -> i64 {
    let actor = Actor::system("bench");
    let days = keel_core::operation::relationship::service_level::calendar::WEEKDAYS;
    let cal = create_calendar(
        db,
        &actor,
        &CalendarInput {
            name: "24x7".into(),
            time_zone: "UTC".into(),
            windows: days
                .iter()
                .map(|d| Window {
                    weekday: d.to_string(),
                    start: "00:00".into(),
                    end: "24:00".into(),
                })
                .collect(),
            holidays: vec![],
        },
    )
    .await
    .expect("calendar");
    let target = create_target(
        db,
        &actor,
        &TargetInput {
            name: "Fix".into(),
            kind: None,
            metric: "resolution".into(),
            service_id: None,
            customer_id: None,
            priority: None,
            target_minutes: 480,
            warn_percent: None,
            calendar_id: cal.id,
        },
    )
    .await
    .expect("target");
    db.exec(
        Q::new(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO work_items (kind, seq, number, title, description, state, impact, urgency, priority, channel, version, created_at, updated_at) \
             SELECT 'incident', i, 'INC-' || CAST(i AS TEXT), 'Bench item', '', 'in_progress', 2, 2, 3, 'api', 1, $2, $2 FROM n",
        )
        .bind(ITEMS)
        .bind(now - 3_600_000),
    )
    .await
    .expect("items");
    // 1 % past their warning, 1 % past their breach, the rest due tomorrow.
    db.exec(
        Q::new(
            "INSERT INTO sla_clocks (item_id, metric, target_id, status, target_ms, warn_percent, calendar_id, calendar_version, elapsed_ms, since, due_at, warn_at, started_at) \
             SELECT id, 'resolution', $1, 'running', 28800000, 75, $2, 1, 0, $3, \
               CASE WHEN id % 100 = 1 THEN $4 ELSE $5 END, \
               CASE WHEN id % 100 = 2 THEN $4 ELSE $5 END, $3 FROM work_items",
        )
        .bind(target.id)
        .bind(cal.id)
        .bind(now - 3_600_000)
        .bind(now - 1_000)
        .bind(now + 86_400_000),
    )
    .await
    .expect("clocks");
    let (n,): (i64,) = db
        .one(Q::new(
            "SELECT COUNT(*) FROM sla_clocks WHERE status = 'running'",
        ))
        .await
        .expect("count");
    n
}

async fn run(label: &str, url: &str) -> serde_json::Value {
    let db = Db::connect(url).await.expect("connect");
    let now = now_ms();
    let t = Instant::now();
    let running = seed(&db, now).await;
    let seeded = t.elapsed();
    let t = Instant::now();
    let first = scan(&db, now).await.expect("scan");
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let second = scan(&db, now).await.expect("scan");
    let second_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{label}: {running} running clocks (seeded in {:.1} s); pass 1: {} warnings + {} breaches in {first_ms:.0} ms; pass 2: {} + {} in {second_ms:.1} ms",
        seeded.as_secs_f64(),
        first.warned,
        first.breached,
        second.warned,
        second.breached
    );
    assert_eq!((first.warned, first.breached), (2_000, 2_000));
    assert_eq!((second.warned, second.breached), (0, 0));
    db.close().await;
    serde_json::json!({
        "backend": label, "running_clocks": running,
        "first_pass": {"warned": first.warned, "breached": first.breached, "ms": first_ms},
        "second_pass": {"warned": second.warned, "breached": second.breached, "ms": second_ms},
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    keel::app::install();
    let dir = std::env::temp_dir().join(format!("keel-sla-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut results = vec![run("sqlite", &format!("sqlite://{}/bench.db", dir.display())).await];
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(r) = support::with_postgres("keel_sla_bench", |url| async move {
        run("postgres", &url).await
    })
    .await
    {
        results.push(r);
    }
    support::write_results("sla-scan", &results);
}
