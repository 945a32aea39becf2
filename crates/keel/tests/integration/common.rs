//! The test harness: a fresh database per test (a temp SQLite file, or a new PostgreSQL
//! database), the real router, and helpers to call it.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use keel::app::{router, state};
use keel::directory::{self, NewUser};
use keel::platform::audit::Actor;
use keel::platform::config::Config;
use keel::platform::db::Db;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use tower::ServiceExt;

/// The PostgreSQL server tests use; `.ci/run` makes sure it is up.
pub fn pg_admin_url() -> String {
    std::env::var("KEEL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated, empty database of the given kind, and its URL.
pub async fn fresh_db(backend: Backend) -> (Db, String, Option<tempfile_dir::Dir>) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    match backend {
        Backend::Sqlite => {
            let dir = tempfile_dir::Dir::new();
            let url = format!("sqlite://{}/keel.db", dir.path.display());
            (Db::connect(&url).await.expect("sqlite"), url, Some(dir))
        }
        Backend::Postgres => {
            let name = format!("keel_t_{}_{}_{}", std::process::id(), n, nanos());
            let admin = Db::connect_without_migrating(&pg_admin_url())
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for tests ({}): {e}. Start it, or run `.ci/run`.",
                        pg_admin_url()
                    )
                });
            sweep_stale(&admin).await;
            admin
                .exec(keel::platform::db::Q::new(format!(
                    "CREATE DATABASE {name}"
                )))
                .await
                .expect("create database");
            admin.close().await;
            let base = pg_admin_url();
            let url = format!(
                "{}/{name}",
                &base[..base.rfind('/').expect("db url has a path")]
            );
            (Db::connect(&url).await.expect("postgres"), url, None)
        }
    }
}

/// Drop the databases of earlier test runs whose process is gone (a test that panics never
/// reaches `finish`), once per run.
async fn sweep_stale(admin: &Db) {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    SWEPT.call_once(|| first = true);
    if !first {
        return;
    }
    let names: Vec<(String,)> = admin
        .all(keel::platform::db::Q::new(
            "SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE 'keel\\_t\\_%'",
        ))
        .await
        .unwrap_or_default();
    for (name,) in names {
        let pid: Option<u32> = name.split('_').nth(2).and_then(|p| p.parse().ok());
        let alive = pid.is_some_and(|p| {
            p == std::process::id() || std::path::Path::new(&format!("/proc/{p}")).exists()
        });
        if !alive {
            let _ = admin
                .exec(keel::platform::db::Q::new(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000)
        .unwrap_or(0)
}

pub async fn drop_db(backend: Backend, url: &str) {
    if backend == Backend::Postgres {
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        if let Ok(admin) = Db::connect_without_migrating(&pg_admin_url()).await {
            let _ = admin
                .exec(keel::platform::db::Q::new(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
            admin.close().await;
        }
    }
}

/// Minimal temp dir (avoids a dev-dependency).
pub mod tempfile_dir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "keel-test-{}-{}",
                std::process::id(),
                super::COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as u128
                    * 1_000_000
                    + super::nanos()
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub struct App {
    pub backend: Backend,
    pub db: Db,
    pub url: String,
    pub router: Router,
    _dir: Option<tempfile_dir::Dir>,
    /// Tokens per role name, for users created by [`App::new`].
    pub tokens: std::collections::HashMap<&'static str, String>,
    pub users: std::collections::HashMap<&'static str, i64>,
    pub customers: Vec<i64>,
    pub group: i64,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl App {
    /// A fresh database with two customers, one group, and a user (with token) for every role,
    /// plus a second requester in another customer (`requester2`) and a colleague of the first
    /// (`colleague`).
    pub async fn new(backend: Backend) -> App {
        Self::with_config(backend, Config::default()).await
    }

    pub async fn with_config(backend: Backend, cfg: Config) -> App {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("keel=warn")
            .try_init();
        let (db, url, dir) = fresh_db(backend).await;
        let actor = Actor::cli();
        let c1 = directory::create_named(&db, &actor, "customers", "customer", "Alpha Corp", None)
            .await
            .expect("customer")
            .id;
        let c2 = directory::create_named(&db, &actor, "customers", "customer", "Beta Ltd", None)
            .await
            .expect("customer")
            .id;
        let mut tokens = std::collections::HashMap::new();
        let mut users = std::collections::HashMap::new();
        for (key, role, cust) in [
            ("requester", "requester", Some(c1)),
            ("colleague", "requester", Some(c1)),
            ("requester2", "requester", Some(c2)),
            ("agent", "agent", None),
            ("manager", "manager", None),
            ("sms-manager", "sms-manager", None),
            ("auditor", "auditor", None),
            ("admin", "admin", None),
        ] {
            let u =
                NewUser::parse(&format!("{key}@test.keel"), key, role, cust, None).expect("user");
            let u = directory::create_user(&db, &actor, u)
                .await
                .expect("create user");
            let (_, secret) = directory::create_token(&db, &actor, u.id, "test")
                .await
                .expect("token");
            tokens.insert(key, secret);
            users.insert(key, u.id);
        }
        let group = directory::create_group(&db, &actor, "Service Desk", "", None)
            .await
            .expect("group")
            .id;
        directory::add_member(&db, &actor, group, users["agent"])
            .await
            .expect("member");
        let router = router(state(db.clone(), cfg));
        App {
            backend,
            db,
            url,
            router,
            _dir: dir,
            tokens,
            users,
            customers: vec![c1, c2],
            group,
        }
    }

    pub async fn finish(self) {
        self.db.close().await;
        drop_db(self.backend, &self.url).await;
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router is infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    /// Call the API as `who` (a role key, or "" for anonymous).
    pub async fn call(&self, who: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(who, method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        who: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = self.tokens.get(who) {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn get(&self, who: &str, path: &str) -> Resp {
        self.call(who, Method::GET, path, None).await
    }
    pub async fn post(&self, who: &str, path: &str, body: Value) -> Resp {
        self.call(who, Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, who: &str, path: &str, body: Value) -> Resp {
        self.call(who, Method::PATCH, path, Some(body)).await
    }

    /// POST each body to `path` as `who`, all at once (each on its own task); the responses in
    /// the order of the bodies.
    pub async fn concurrent_posts(
        &self,
        who: &str,
        path: &str,
        bodies: Vec<Value>,
    ) -> Vec<(StatusCode, Value)> {
        let handles: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let router = self.router.clone();
                let token = self.tokens[who].clone();
                let path = path.to_string();
                tokio::spawn(async move {
                    let req = Request::post(path)
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .body(Body::from(body.to_string()))
                        .expect("request");
                    let resp = router.oneshot(req).await.expect("router is infallible");
                    let status = resp.status();
                    let raw = resp.into_body().collect().await.expect("body").to_bytes();
                    (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
                })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.expect("task"));
        }
        out
    }

    /// Create an incident as `who` and return its number.
    pub async fn incident(&self, who: &str, body: Value) -> String {
        let r = self.post(who, "/api/v1/incidents", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["number"].as_str().expect("number").to_string()
    }
}

/// Run a story on SQLite and on PostgreSQL, each in a fresh database.
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn story($app: &$crate::common::App) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::common::App::new($crate::common::Backend::Sqlite).await;
                story(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::common::App::new($crate::common::Backend::Postgres).await;
                story(&app).await;
                app.finish().await;
            }
        }
    };
}
