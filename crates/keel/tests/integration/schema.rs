//! Schema tests: both dialects define the same tables and columns; an upgrade from every schema
//! version this binary knows keeps the data; the OpenAPI document is locked by a snapshot.

use crate::common::{App, Backend, fresh_db};
use keel::platform::db::Q;
use serde_json::json;

#[derive(sqlx::FromRow, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Col {
    table_name: String,
    column_name: String,
    notnull: i64,
}

/// table, cid, name, type, notnull, default, pk
type PragmaRow = (String, i64, String, String, i64, Option<String>, i64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() {
    let (lite, _, _dir) = fresh_db(Backend::Sqlite).await;
    let (pg, pg_url, _) = fresh_db(Backend::Postgres).await;
    // pragma_table_info's columns: cid, name, type, notnull, dflt_value, pk (decoded by position,
    // since `notnull` is a keyword the bundled SQLite will not take as a column name).
    let rows: Vec<PragmaRow> = lite
        .all(Q::new(
            "SELECT m.name, p.* FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        ))
        .await
        .expect("sqlite columns");
    let mut a: Vec<Col> = rows
        .into_iter()
        .map(|(t, _, c, _, notnull, _, pk)| Col {
            table_name: t,
            column_name: c,
            notnull: i64::from(notnull != 0 || pk > 0),
        })
        .collect();
    let mut b: Vec<Col> = pg
        .all(Q::new(
            "SELECT table_name::TEXT AS table_name, column_name::TEXT AS column_name, CAST(CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS BIGINT) AS notnull \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        ))
        .await
        .expect("pg columns");
    a.sort();
    b.sort();
    assert!(a.len() > 50);
    assert_eq!(a, b);
    assert_eq!(
        lite.schema_version().await.expect("v"),
        pg.schema_version().await.expect("v")
    );
    pg.close().await;
    crate::common::drop_db(Backend::Postgres, &pg_url).await;
}

/// For each schema version v this binary knows: a database created at v (by the migrations up to
/// v) with data in it upgrades to the latest and keeps its data and its audit chain.
async fn upgrade_from_every_version(backend: Backend) {
    let app = App::new(backend).await;
    let latest = app.db.latest_version();
    for v in 1..=latest {
        let (db, url, _dir) = fresh_db_at(backend, v).await;
        // Data written at version v through the current code paths that exist since v1.
        let actor = keel::management::support::audit_trail::Actor::cli();
        let u = keel::directory::NewUser::parse("old@test.keel", "Old", "agent", None, None)
            .expect("user");
        keel::directory::create_user(&db, &actor, u)
            .await
            .expect("user at old version");
        db.migrate().await.expect("upgrade");
        assert_eq!(db.schema_version().await.expect("v"), latest);
        let user = keel::directory::user_by_email(&db, "old@test.keel")
            .await
            .expect("kept");
        assert_eq!(user.name, "Old");
        assert!(
            keel::management::support::audit_trail::verify(&db)
                .await
                .expect("verify")
                .is_ok()
        );
        db.close().await;
        crate::common::drop_db(backend, &url).await;
    }
    app.finish().await;
}

async fn fresh_db_at(
    backend: Backend,
    version: i64,
) -> (
    keel::platform::db::Db,
    String,
    Option<crate::common::tempfile_dir::Dir>,
) {
    // Create the database empty, then apply migrations up to `version` only.
    let (db, url, dir) = fresh_db(backend).await;
    db.close().await;
    crate::common::drop_db(backend, &url).await;
    let (db, url, dir2) = match backend {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://").to_string();
            let _ = std::fs::remove_file(&path);
            (
                keel::platform::db::Db::connect_without_migrating(&url)
                    .await
                    .expect("db"),
                url,
                dir,
            )
        }
        Backend::Postgres => {
            let admin =
                keel::platform::db::Db::connect_without_migrating(&crate::common::pg_admin_url())
                    .await
                    .expect("admin");
            let name = url.rsplit('/').next().expect("name").to_string();
            admin
                .exec(Q::new(format!("CREATE DATABASE {name}")))
                .await
                .expect("create");
            admin.close().await;
            (
                keel::platform::db::Db::connect_without_migrating(&url)
                    .await
                    .expect("db"),
                url,
                None,
            )
        }
    };
    db.migrate_to(version).await.expect("migrate to version");
    (db, url, dir2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_sqlite() {
    upgrade_from_every_version(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_postgres() {
    upgrade_from_every_version(Backend::Postgres).await;
}

/// The OpenAPI document is part of the contract: any change shows up in review as a diff of
/// `tests/snapshots/openapi.json`. Run with `UPDATE_SNAPSHOTS=1` to accept a change.
#[test]
fn openapi_snapshot() {
    let doc = serde_json::to_string_pretty(&keel::platform::web::openapi()).expect("json") + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() || !path.exists() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &doc).expect("write snapshot");
    }
    let want = std::fs::read_to_string(&path).expect("snapshot");
    assert!(
        want == doc,
        "the OpenAPI document changed; review and run with UPDATE_SNAPSHOTS=1 to accept"
    );
    let v: serde_json::Value = serde_json::from_str(&doc).expect("json");
    assert_eq!(v["openapi"], json!("3.1.0"));
}
