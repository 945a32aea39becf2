//! What the benchmarks share: a scratch PostgreSQL database and the results file.

use keel::platform::db::{Db, Q};

#[path = "../../../keel-core/benches/support/results.rs"]
pub mod results;
pub use results::write_results;

/// Run `f` against a fresh PostgreSQL database (dropped afterwards), or say why not.
pub async fn with_postgres<F, Fut>(prefix: &str, f: F) -> Option<serde_json::Value>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let admin = std::env::var("KEEL_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match Db::connect_without_migrating(&admin).await {
        Ok(a) => {
            let name = format!("{prefix}_{}", std::process::id());
            a.exec(Q::new(format!("CREATE DATABASE {name}")))
                .await
                .expect("create db");
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin)
                .to_string();
            let out = f(format!("{base}/{name}")).await;
            a.exec(Q::new(format!("DROP DATABASE {name}")))
                .await
                .expect("drop db");
            Some(out)
        }
        Err(e) => {
            println!("postgres: skipped ({e})");
            None
        }
    }
}
