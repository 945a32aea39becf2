//! Benchmark: issue 3's read targets over 1,000,000 work items, on SQLite and PostgreSQL —
//! a filtered list p95 < 25 ms and a full-text search p95 < 50 ms. Run with
//! `cargo bench -p keel --bench lists` (or `scripts/bench`); results go to
//! `bench-results/<stamp>-lists.json` and standard output.
//!
//! Queries go through the same functions the API handlers call (`kernel::list`,
//! `kernel::search::search`), so the figures are the database work of a request without the
//! HTTP framing (a fraction of a millisecond, see docs/benchmarks.md).

mod support;

use keel::kernel::api::ListParams;
use keel::kernel::{self, Scope, SortKey};
use keel::platform::audit::Channel;
use keel::platform::auth::Principal;
use keel::platform::db::{Db, Q, now_ms};
use keel_core::access::Role;
use keel_core::operation::resolution::incident::KIND as INCIDENT;
use std::time::Instant;

const ITEMS: i64 = 1_000_000;
const RUNS: usize = 200;

async fn seed(db: &Db) {
    let now = now_ms();
    // Three groups, 100 requesters in 10 customers, 20 agents.
    db.exec(Q::new("INSERT INTO support_groups (name, created_at, updated_at) VALUES ('Service Desk', 0, 0), ('Network', 0, 0), ('Applications', 0, 0)")).await.expect("groups");
    db.exec(Q::new(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) \
         INSERT INTO customers (name, created_at, updated_at) SELECT 'Customer ' || CAST(i AS TEXT), 0, 0 FROM n",
    )).await.expect("customers");
    db.exec(Q::new(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) \
         INSERT INTO users (email, name, role, customer_id, created_at, updated_at) \
         SELECT 'u' || CAST(i AS TEXT) || '@bench.keel', 'User ' || CAST(i AS TEXT), CASE WHEN i <= 20 THEN 'agent' ELSE 'requester' END, \
                CASE WHEN i <= 20 THEN NULL ELSE (i % 10) + 1 END, 0, 0 FROM n",
    )).await.expect("users");
    let words = "CASE i % 12 WHEN 0 THEN 'Printer jams on floor' WHEN 1 THEN 'VPN drops for remote staff' WHEN 2 THEN 'Outlook asks for password' \
                 WHEN 3 THEN 'ERP invoice run fails' WHEN 4 THEN 'Laptop battery drains' WHEN 5 THEN 'Wi-Fi unstable in meeting room' \
                 WHEN 6 THEN 'Shared drive not mapped' WHEN 7 THEN 'Cannot approve purchase order' WHEN 8 THEN 'Phone has no dial tone' \
                 WHEN 9 THEN 'Slow reports in ERP' WHEN 10 THEN 'Mailbox full' ELSE 'New starter needs access' END";
    let desc = "CASE (i / 12) % 5 WHEN 0 THEN 'Started this morning after the update.' WHEN 1 THEN 'Happens every day around noon.' \
                WHEN 2 THEN 'Colleagues see the same since the network change.' WHEN 3 THEN 'Restarting did not help; toner replaced last week.' \
                ELSE 'Reported by phone; the user is working from home.' END";
    db.exec(
        Q::new(format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO work_items (kind, seq, number, title, description, state, impact, urgency, priority, category, requester_id, customer_id, \
               assignment_group_id, assignee_id, channel, version, created_at, updated_at, resolved_at) \
             SELECT 'incident', i, 'INC-' || CAST(i AS TEXT), {words} || ' ' || CAST(i AS TEXT), {desc}, \
               CASE i % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'in_progress' WHEN 2 THEN 'on_hold' WHEN 3 THEN 'resolved' WHEN 4 THEN 'closed' ELSE 'closed' END, \
               (i % 3) + 1, ((i / 3) % 3) + 1, ((i * 7) % 5) + 1, 'software', 21 + (i % 100), 1 + ((21 + (i % 100)) % 10), \
               (i % 3) + 1, CASE WHEN i % 4 = 0 THEN NULL ELSE 1 + (i % 19) END, 'api', 1, $2 + i * 1000, $2 + i * 1000 + 500, \
               CASE WHEN i % 6 >= 3 THEN $2 + i * 1000 + 900 ELSE NULL END FROM n"
        ))
        .bind(ITEMS)
        .bind(now - ITEMS * 1000 - 10_000),
    )
    .await
    .expect("items");
    db.exec(Q::new("INSERT INTO counters (name, value) VALUES ('incident', $1)").bind(ITEMS))
        .await
        .expect("counter");
    // Planner statistics, as a running installation gathers them (autovacuum; SQLite's
    // `PRAGMA optimize`).
    db.exec(Q::new("ANALYZE")).await.expect("analyze");
}

fn agent(id: i64) -> Principal {
    Principal {
        user_id: id,
        email: format!("u{id}@bench.keel"),
        name: format!("User {id}"),
        role: Role::Agent,
        customer_id: None,
        channel: Channel::Api,
        csrf: None,
    }
}

fn requester(id: i64) -> Principal {
    Principal {
        role: Role::Requester,
        customer_id: Some(1 + (id % 10)),
        ..agent(id)
    }
}

fn params(filter: &str, sort: &str) -> ListParams {
    ListParams {
        filter: Some(filter.into()),
        sort: Some(sort.into()),
        ..Default::default()
    }
}

async fn run(label: &str, url: &str) -> serde_json::Value {
    let db = Db::connect(url).await.expect("connect");
    let t = Instant::now();
    seed(&db).await;
    println!(
        "{label}: seeded {ITEMS} incidents in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let mut out = serde_json::Map::new();
    let lists: [(&str, &str, &str); 4] = [
        (
            "queue: open P1-P2 of a group, newest first",
            r#"state in (new, in_progress) and priority <= 2 and assignment_group = "Network""#,
            "-created_at",
        ),
        (
            "queue: open P1-P2 of a group, by priority",
            r#"state in (new, in_progress) and priority <= 2 and assignment_group = "Network""#,
            "priority",
        ),
        (
            "mine: assigned to me, not closed, recently updated",
            "assignee = me and state != closed",
            "-updated_at",
        ),
        (
            "on hold, created in the last 30 days",
            "state = on_hold and created > -30d",
            "-created_at",
        ),
    ];
    for (name, filter, sort) in lists {
        let mut times = vec![];
        for r in 0..RUNS {
            let p = agent(1 + (r as i64 % 19));
            let lp = params(filter, sort);
            let f = lp.filter(INCIDENT, &p).expect("filter");
            let s: (SortKey, bool) = lp.sort().expect("sort");
            let t = Instant::now();
            let page = kernel::list(&db, INCIDENT, Scope::of(&p), &f, s, None, 50)
                .await
                .expect("list");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if page.items.is_empty() {
                println!("{label}: {name} found nothing for user {}", p.user_id);
            }
        }
        let s = support::results::stats(times);
        println!(
            "{label}: list {name}: p50 {:.2} p95 {:.2} p99 {:.2} ms",
            s["p50"], s["p95"], s["p99"]
        );
        out.insert(format!("list: {name}"), s);
    }
    // A requester's own and organisation's tickets.
    let mut times = vec![];
    for r in 0..RUNS {
        let p = requester(21 + (r as i64 % 100));
        let lp = params("state != closed", "-created_at");
        let f = lp.filter(INCIDENT, &p).expect("filter");
        let t = Instant::now();
        kernel::list(
            &db,
            INCIDENT,
            Scope::of(&p),
            &f,
            (SortKey::Created, true),
            None,
            50,
        )
        .await
        .expect("list");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let s = support::results::stats(times);
    println!(
        "{label}: list requester's open tickets: p50 {:.2} p95 {:.2} p99 {:.2} ms",
        s["p50"], s["p95"], s["p99"]
    );
    out.insert("list: requester's open tickets".into(), s);
    let queries = [
        "printer jam",
        "vpn remote",
        "outlook password",
        "erp invoice",
        "toner",
        "network change",
        "mailbox",
        "starter access",
    ];
    for (who, p) in [("agent", agent(1)), ("requester", requester(42))] {
        let mut times = vec![];
        for r in 0..RUNS {
            let q = queries[r % queries.len()];
            let t = Instant::now();
            let hits = kernel::search::search(&db, &p, q, None, 20)
                .await
                .expect("search");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            // The synthetic data gives some requesters no match for some words.
            assert!(
                who == "requester" || !hits.is_empty(),
                "`{q}` found nothing"
            );
        }
        let s = support::results::stats(times);
        println!(
            "{label}: search as {who}: p50 {:.2} p95 {:.2} p99 {:.2} ms",
            s["p50"], s["p95"], s["p99"]
        );
        out.insert(format!("search: as {who}"), s);
    }
    db.close().await;
    serde_json::json!({"backend": label, "items": ITEMS, "results": out})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    keel::app::install();
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut results = vec![];
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        // KEEL_BENCH_KEEP=1 keeps the database for inspection.
        let dir = std::env::temp_dir().join(format!("keel-lists-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        results.push(run("sqlite", &format!("sqlite://{}/bench.db", dir.display())).await);
        if std::env::var_os("KEEL_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            println!("kept {}", dir.display());
        }
    }
    if only.as_deref().is_none_or(|o| o == "postgres")
        && let Some(r) = support::with_postgres("keel_lists_bench", |url| async move {
            run("postgres", &url).await
        })
        .await
    {
        results.push(r);
    }
    support::write_results("lists", &results);
}
