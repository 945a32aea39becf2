//! What every benchmark (keel-core's and keel's) reports: percentiles and the results file.

#![allow(dead_code)]

/// p50 / p95 / p99 / max (in the samples' unit) and how many there were.
pub fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    serde_json::json!({"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0), "runs": v.len()})
}

/// Write `bench-results/<stamp>-<name>.json` at the workspace root.
pub fn write_results(name: &str, results: &[serde_json::Value]) {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-results");
    std::fs::create_dir_all(&root).expect("results dir");
    let out = root.join(format!("{stamp}-{name}.json"));
    std::fs::write(&out, serde_json::to_string_pretty(results).expect("json")).expect("write");
    println!("wrote {}", out.display());
}
