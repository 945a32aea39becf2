//! Microbenchmark: the impact walk alone, in one process, over issue 4's estate built straight
//! into a [`Graph`] — no database, no runtime — so layout changes to the graph show effects
//! that the end-to-end benchmark's noise (`cargo bench -p keel --bench impact`) hides. Run with
//! `cargo bench -p keel-core --bench walk`; results go to `bench-results/<stamp>-walk.json`.

#[path = "support/estate.rs"]
mod estate;
#[path = "support/results.rs"]
mod results;

use estate::{CORE, Rng, first};
use keel_core::operation::portfolio::configuration::{Direction, Graph};
use std::time::Instant;

fn time(g: &Graph, ids: impl Iterator<Item = i64>) -> (serde_json::Value, usize) {
    let mut times = vec![];
    let mut reached = 0;
    for id in ids {
        let t = Instant::now();
        let n = g.walk(id, Direction::Downstream, 10).map_or(0, |w| w.len());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        reached = reached.max(n);
    }
    (results::stats(times), reached)
}

fn main() {
    let t = Instant::now();
    let mut g = Graph::new();
    for id in 1..first(6) {
        g.add_ci(id);
    }
    for (i, (s, k, t)) in estate::relationships().into_iter().enumerate() {
        g.add_rel(i as i64 + 1, s, k, t);
    }
    g.compact();
    println!(
        "built {} CIs and {} relationships in {:.0} ms",
        g.ci_count(),
        g.rel_count(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let mut rng = Rng(42);
    let mut out = serde_json::Map::new();
    let cases: [(&str, Vec<i64>); 2] = [
        (
            "core switch, downstream (worst case)",
            (0..1000).map(|_| first(0) + rng.below(CORE)).collect(),
        ),
        (
            "any CI, downstream",
            (0..3000).map(|_| 1 + rng.below(first(6) - 1)).collect(),
        ),
    ];
    for (name, ids) in cases {
        let (s, reached) = time(&g, ids.into_iter());
        println!(
            "{name}: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms; most CIs reached {reached}",
            s["p50"].as_f64().unwrap_or(0.0),
            s["p95"].as_f64().unwrap_or(0.0),
            s["p99"].as_f64().unwrap_or(0.0),
        );
        out.insert(
            name.into(),
            serde_json::json!({"ms": s, "most_reached": reached}),
        );
    }
    results::write_results("walk", &[serde_json::Value::Object(out)]);
}
