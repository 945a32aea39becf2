//! Benchmark: issue 4's impact-analysis target — on a CMDB of 100,000 CIs and 500,000
//! relationships, one impact query < 10 ms — on SQLite and PostgreSQL. Run with
//! `cargo bench -p keel --bench impact [-- sqlite|postgres]` (or `scripts/bench`); results go to
//! `bench-results/<stamp>-impact.json` and standard output.
//!
//! Queries go through `configuration::impact`, the function the API handler calls, on a real
//! `AppState`: the revision check against the database, the walk over this node's graph, the
//! services and customers query and building the answer. The estate is layered like a data
//! centre: core and access switches, servers, databases, applications and service CIs
//! (`crates/keel-core/benches/support/estate.rs`, shared with keel-core's walk microbenchmark).

#[path = "../../keel-core/benches/support/estate.rs"]
mod estate;
mod support;

use estate::{CORE, Rng, SERVICES, SIZES, first};

use keel::operation::portfolio::configuration::{self, ImpactParams};
use keel::platform::config::Config;
use keel::platform::db::{Db, Q, now_ms};
use std::time::Instant;

const RUNS: usize = 300;

async fn insert_rows(db: &Db, table_cols: &str, rows: &[Vec<keel::platform::db::Arg>]) {
    for chunk in rows.chunks(400) {
        let mut q = Q::new("");
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                let ps: Vec<String> = r.iter().map(|a| q.arg(a.clone())).collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        q.sql = format!("INSERT INTO {table_cols} VALUES {}", values.join(", "));
        db.exec(q).await.expect("insert");
    }
}

async fn seed(db: &Db) -> i64 {
    use keel::platform::db::Arg;
    let now = now_ms();
    let mut tx = db.begin().await.expect("tx");
    for (i, name) in [
        "network device",
        "server",
        "database",
        "application",
        "service",
    ]
    .iter()
    .enumerate()
    {
        tx.exec(Q::new("INSERT INTO ci_classes (id, name, attributes, identity, created_at, updated_at) VALUES ($1, $2, '[]', '[\"name\"]', $3, $3)").bind(i as i64 + 1).bind(*name).bind(now)).await.expect("class");
    }
    for c in 1..=20i64 {
        tx.exec(
            Q::new(
                "INSERT INTO customers (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
            )
            .bind(c)
            .bind(format!("Customer {c}"))
            .bind(now),
        )
        .await
        .expect("customer");
    }
    tx.commit().await.expect("commit");
    let services: Vec<Vec<Arg>> = (1..=SERVICES)
        .map(|s| {
            vec![
                Arg::from(s),
                Arg::from(format!("Service {s}")),
                Arg::from(now),
                Arg::from(now),
            ]
        })
        .collect();
    insert_rows(db, "services (id, name, created_at, updated_at)", &services).await;
    let sc: Vec<Vec<Arg>> = (1..=SERVICES)
        .flat_map(|s| [(s, 1 + s % 20), (s, 1 + (s * 7) % 20)])
        .filter(|(_, c)| *c != 0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|(s, c)| vec![Arg::from(s), Arg::from(c)])
        .collect();
    insert_rows(db, "service_customers (service_id, customer_id)", &sc).await;
    let class_of = |id: i64| -> (i64, &'static str) {
        if id < first(1) || id < first(2) {
            (1, "sw")
        } else if id < first(3) {
            (2, "srv")
        } else if id < first(4) {
            (3, "db")
        } else if id < first(5) {
            (4, "app")
        } else {
            (5, "svc")
        }
    };
    let total = first(6) - 1;
    let cis: Vec<Vec<Arg>> = (1..=total)
        .map(|id| {
            let (class, prefix) = class_of(id);
            let service = (class == 5).then(|| id - first(5) + 1);
            let name = format!("{prefix}-{id:06}");
            vec![
                Arg::from(id),
                Arg::from(class),
                Arg::from(name.clone()),
                Arg::from(name),
                Arg::from("active"),
                Arg::from("{}"),
                Arg::from(service),
                Arg::from(now),
                Arg::from(now),
            ]
        })
        .collect();
    insert_rows(db, "cis (id, class_id, name, identity_key, status, attributes, service_id, created_at, updated_at)", &cis).await;
    let rels = estate::relationships();
    let rows: Vec<Vec<Arg>> = rels
        .iter()
        .map(|(s, k, t)| {
            vec![
                Arg::from(*s),
                Arg::from(k.as_str()),
                Arg::from(*t),
                Arg::from(now),
            ]
        })
        .collect();
    insert_rows(
        db,
        "ci_relationships (source_id, kind, target_id, created_at)",
        &rows,
    )
    .await;
    db.exec(Q::new("UPDATE cmdb_state SET revision = 1 WHERE id = 1"))
        .await
        .expect("revision");
    rels.len() as i64
}

async fn run(label: &str, url: &str) -> serde_json::Value {
    let db = Db::connect(url).await.expect("connect");
    let t = Instant::now();
    let rels = seed(&db).await;
    let (cis,): (i64,) = db
        .one(Q::new("SELECT COUNT(*) FROM cis"))
        .await
        .expect("count");
    println!(
        "{label}: seeded {cis} CIs and {rels} relationships in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    if url.starts_with("postgres") {
        // As a database in service would be: statistics current and no autovacuum pass over
        // the freshly loaded 600,000 rows competing with the queries for the two cores.
        db.exec(Q::new("VACUUM ANALYZE")).await.expect("vacuum");
    }
    let st = keel::app::state(db.clone(), Config::default());
    let t = Instant::now();
    keel::operation::portfolio::graph::cache(&st)
        .read(&db, |_| ())
        .await
        .expect("load");
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!("{label}: graph loaded in {load_ms:.0} ms");
    let mut out = serde_json::Map::new();
    out.insert("graph load ms".into(), serde_json::json!(load_ms));
    let mut rng = Rng(42);
    let cases: [(&str, usize, &str); 6] = [
        ("core switch, downstream (worst case)", 0, "downstream"),
        ("access switch, downstream", 1, "downstream"),
        ("server, downstream", 2, "downstream"),
        ("database, downstream", 3, "downstream"),
        ("application, upstream", 4, "upstream"),
        ("service CI, upstream", 5, "upstream"),
    ];
    // A CI picked uniformly from the whole estate, downstream: what an agent asking "what does
    // this break?" meets.
    let mut times = vec![];
    for _ in 0..RUNS * 3 {
        let id = 1 + rng.below(first(6) - 1);
        let params = ImpactParams {
            direction: None,
            depth: None,
            limit: None,
        };
        let t = Instant::now();
        configuration::impact(&st, id, &params)
            .await
            .expect("impact");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let s = support::results::stats(times);
    println!(
        "{label}: any CI, downstream: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s["p50"].as_f64().unwrap_or(0.0),
        s["p95"].as_f64().unwrap_or(0.0),
        s["p99"].as_f64().unwrap_or(0.0),
        s["max"].as_f64().unwrap_or(0.0)
    );
    out.insert("any CI, downstream".into(), s);
    let mut all = vec![];
    for (name, layer, dir) in cases {
        let mut times = vec![];
        let mut reached = vec![];
        for _ in 0..RUNS {
            let id = first(layer) + rng.below(SIZES[layer]);
            let params = ImpactParams {
                direction: Some(dir.into()),
                depth: None,
                limit: None,
            };
            let t = Instant::now();
            let r = configuration::impact(&st, id, &params)
                .await
                .expect("impact");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            reached.push(r.total as f64);
        }
        all.extend(times.iter().copied());
        let s = support::results::stats(times);
        let r = support::results::stats(reached);
        println!(
            "{label}: {name}: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; CIs reached p50 {} max {}",
            s["p50"].as_f64().unwrap_or(0.0),
            s["p95"].as_f64().unwrap_or(0.0),
            s["p99"].as_f64().unwrap_or(0.0),
            s["max"].as_f64().unwrap_or(0.0),
            r["p50"],
            r["max"]
        );
        out.insert(name.into(), serde_json::json!({"ms": s, "cis_reached": r}));
    }
    // The worst case split: the walk over the in-memory graph alone, without the revision check,
    // the services and customers, or building the answer.
    let mut walks = vec![];
    for _ in 0..RUNS {
        let id = first(0) + rng.below(CORE);
        let took = st
            .ext::<keel::operation::portfolio::graph::GraphCache>()
            .read(&db, |snap| {
                let t = Instant::now();
                let n = snap
                    .graph
                    .walk(
                        id,
                        keel_core::operation::portfolio::configuration::Direction::Downstream,
                        10,
                    )
                    .map_or(0, |w| w.len());
                (t.elapsed().as_secs_f64() * 1000.0, n)
            })
            .await
            .expect("walk");
        walks.push(took.0);
    }
    let w = support::results::stats(walks);
    println!(
        "{label}: core switch, the walk alone: p50 {:.2} ms, p95 {:.2} ms",
        w["p50"].as_f64().unwrap_or(0.0),
        w["p95"].as_f64().unwrap_or(0.0)
    );
    out.insert("core switch walk alone".into(), w);
    let s = support::results::stats(all);
    println!(
        "{label}: all of the above by class: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        s["p50"].as_f64().unwrap_or(0.0),
        s["p95"].as_f64().unwrap_or(0.0),
        s["p99"].as_f64().unwrap_or(0.0)
    );
    out.insert("all by class".into(), s);
    // A write on another node: this node catches up from the change log on its next query.
    let mut tx = db.begin().await.expect("tx");
    let rel = tx
        .insert(Q::new("INSERT INTO ci_relationships (source_id, kind, target_id, created_at) VALUES ($1, 'depends_on', $2, $3) RETURNING id").bind(first(5)).bind(first(4)).bind(now_ms()))
        .await
        .expect("rel");
    keel::operation::portfolio::graph::record(&mut tx, &[], &[rel])
        .await
        .expect("record");
    tx.commit().await.expect("commit");
    let t = Instant::now();
    configuration::impact(
        &st,
        first(2),
        &ImpactParams {
            direction: None,
            depth: None,
            limit: None,
        },
    )
    .await
    .expect("impact");
    let catch_up = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{label}: first query after another node's write (catch-up from the change log): {catch_up:.2} ms"
    );
    out.insert("query after a write ms".into(), serde_json::json!(catch_up));
    db.close().await;
    serde_json::json!({"backend": label, "cis": cis, "relationships": rels, "results": out})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut results = vec![];
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = std::env::temp_dir().join(format!("keel-impact-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        results.push(run("sqlite", &format!("sqlite://{}/bench.db", dir.display())).await);
        let _ = std::fs::remove_dir_all(&dir);
    }
    if only.as_deref().is_none_or(|o| o == "postgres")
        && let Some(r) = support::with_postgres("keel_impact_bench", |url| async move {
            run("postgres", &url).await
        })
        .await
    {
        results.push(r);
    }
    support::write_results("impact", &results);
}
