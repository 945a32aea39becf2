//! Schema tests: both dialects define the same tables and columns; an upgrade from every schema
//! version this binary knows keeps the data; the OpenAPI document is locked by a snapshot.

use crate::common::{Backend, fresh_db};
use keel::platform::db::Q;
use serde_json::json;

#[derive(sqlx::FromRow, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Col {
    table_name: String,
    column_name: String,
    notnull: i64,
}

/// table, cid, name, type, notnull, default, pk. The full-text tables (`*_fts*`: FTS5 on SQLite,
/// tsvector on PostgreSQL) are left out: they are the one place the dialects differ by design
/// (ADR 0009).
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
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
             AND m.name NOT LIKE '%\\_fts%' ESCAPE '\\'",
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
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' AND table_name NOT LIKE '%\\_fts%'",
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

/// Databases written by released versions of Keel, one fixture per schema version:
/// `tests/fixtures/schema-vN.sqlite` was made by the binary of schema N (a user, incidents,
/// a state change, a comment). Each must upgrade to the latest schema, keep its data and its
/// audit chain, and accept new writes that extend the chain.
const RELEASED: &[(i64, &str)] = &[(1, "schema-v1.sqlite"), (2, "schema-v2.sqlite")];

async fn check_upgraded(db: &keel::platform::db::Db) {
    assert_eq!(db.schema_version().await.expect("v"), db.latest_version());
    assert!(
        keel::platform::audit::verify(db)
            .await
            .expect("verify")
            .is_ok(),
        "chain intact after upgrade"
    );
    let user = keel::directory::user_by_email(db, "admin@v1.keel")
        .await
        .expect("user kept");
    let (n,): (i64,) = db
        .one(Q::new("SELECT COUNT(*) FROM work_items"))
        .await
        .expect("count");
    assert_eq!(n, 3);
    let (c,): (i64,) = db
        .one(Q::new("SELECT COUNT(*) FROM comments"))
        .await
        .expect("count");
    assert_eq!(c, 1);
    // New writes continue the numbering and the chain.
    let p = keel::platform::auth::Principal {
        user_id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: keel_core::access::Role::Admin,
        customer_id: None,
        channel: keel::platform::audit::Channel::Api,
        csrf: None,
    };
    let item = keel::kernel::create(
        db,
        keel_core::operation::resolution::incident::KIND,
        &p.actor(),
        &p,
        keel::kernel::NewItem {
            title: "After upgrade".into(),
            ..Default::default()
        },
    )
    .await
    .expect("create after upgrade");
    assert_eq!(item.number, "INC-000004");
    keel::kernel::update(
        db,
        keel_core::operation::resolution::incident::KIND,
        "INC-000001",
        keel::kernel::Scope::All,
        &p.actor(),
        keel::kernel::Patch {
            state: Some("on_hold".into()),
            hold_reason: Some(Some("monitoring".into())),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("update an old item");
    assert!(
        keel::platform::audit::verify(db)
            .await
            .expect("verify")
            .is_ok(),
        "chain intact after new writes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_sqlite_databases_upgrade() {
    for (version, file) in RELEASED {
        let (_dir, path) = copy_fixture(file);
        let url = format!("sqlite://{}", path.display());
        let db = keel::platform::db::Db::connect_without_migrating(&url)
            .await
            .expect("open");
        assert_eq!(
            db.schema_version().await.expect("v"),
            *version,
            "{file} is at schema {version}"
        );
        db.migrate().await.expect("upgrade");
        check_upgraded(&db).await;
        db.close().await;
    }
}

/// The same released data, moved to PostgreSQL at its schema version (as `keel backup`/`restore`
/// would between nodes of that release), then upgraded there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_postgres_databases_upgrade() {
    for (version, file) in RELEASED {
        let (dir, path) = copy_fixture(file);
        let lite = keel::platform::db::Db::connect_without_migrating(&format!(
            "sqlite://{}",
            path.display()
        ))
        .await
        .expect("open");
        let dump = dir.path.join("dump.jsonl");
        keel::backup::backup(&lite, &dump).await.expect("backup");
        lite.close().await;
        let (db, url, _) = fresh_db_at(Backend::Postgres, *version).await;
        keel::backup::restore(&db, &dump)
            .await
            .expect("restore at the old version");
        db.migrate().await.expect("upgrade");
        check_upgraded(&db).await;
        db.close().await;
        crate::common::drop_db(Backend::Postgres, &url).await;
    }
}

/// The OpenAPI document is part of the contract: any change shows up in review as a diff of
/// `tests/snapshots/openapi.json`. Run with `UPDATE_SNAPSHOTS=1` to accept a change.
#[test]
fn openapi_snapshot() {
    let doc = serde_json::to_string_pretty(&keel::app::openapi()).expect("json") + "\n";
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

/// A new, empty database with the migrations up to `version` only.
async fn fresh_db_at(
    backend: Backend,
    version: i64,
) -> (
    keel::platform::db::Db,
    String,
    Option<crate::common::tempfile_dir::Dir>,
) {
    let (db, url, dir) = fresh_db(backend).await;
    db.close().await;
    crate::common::drop_db(backend, &url).await;
    let db = match backend {
        Backend::Sqlite => {
            let _ = std::fs::remove_file(url.trim_start_matches("sqlite://"));
            keel::platform::db::Db::connect_without_migrating(&url)
                .await
                .expect("db")
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
            keel::platform::db::Db::connect_without_migrating(&url)
                .await
                .expect("db")
        }
    };
    db.migrate_to(version).await.expect("migrate to version");
    (db, url, dir)
}

/// A writable copy of a fixture database in a fresh temp dir.
fn copy_fixture(file: &str) -> (crate::common::tempfile_dir::Dir, std::path::PathBuf) {
    let dir = crate::common::tempfile_dir::Dir::new();
    let path = dir.path.join("keel.db");
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    std::fs::copy(from, &path).expect("copy fixture");
    (dir, path)
}

/// The OpenAPI document describes the server as it is: path parameters are the path's own and
/// every other parameter is in the query; every operation documents its errors as problem+json.
#[test]
fn the_openapi_document_says_what_the_server_does() {
    let doc = serde_json::to_value(keel::app::openapi()).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = 0;
    for (path, item) in paths {
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().expect("item") {
            ops += 1;
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap_or_default();
                match p["in"].as_str() {
                    Some("path") => assert!(
                        in_path.contains(&name),
                        "{method} {path}: `{name}` is declared in the path but is not in it"
                    ),
                    Some("query" | "header") => assert!(
                        !in_path.contains(&name),
                        "{method} {path}: `{name}` is in the path"
                    ),
                    other => panic!("{method} {path}: `{name}` in {other:?}"),
                }
            }
            for name in &in_path {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == *name && p["in"] == "path"),
                    "{method} {path}: `{{{name}}}` is not declared"
                );
            }
            for code in ["400", "401", "403"] {
                let r = &op["responses"][code];
                assert!(
                    r["content"]["application/problem+json"].is_object(),
                    "{method} {path}: {code} is not documented as problem+json: {r}"
                );
            }
            assert!(
                op["responses"]
                    .as_object()
                    .expect("responses")
                    .keys()
                    .any(|c| c.starts_with('2')),
                "{method} {path}: no success documented"
            );
        }
    }
    assert_eq!(ops, 466, "operations");
}

/// No two Rust types give the OpenAPI document the same schema name: utoipa keeps one of them
/// silently, and the document then describes the wrong type for the other's routes.
#[test]
fn every_schema_name_is_one_type() {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = vec![];
    for krate in ["keel", "keel-core"] {
        files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(krate)
                .join("src"),
            &mut all,
        );
    }
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    let mut clashes = vec![];
    for f in all {
        let text = std::fs::read_to_string(&f).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !(l.contains("derive(") && l.contains("ToSchema")) {
                continue;
            }
            // The attributes that follow, then the type.
            let mut name = None;
            let mut alias = None;
            for next in &lines[i + 1..] {
                let t = next.trim();
                if let Some(a) = t.strip_prefix("#[schema(as = ") {
                    alias = a.split(')').next().map(|x| x.trim().to_string());
                } else if t.starts_with("#[") || t.starts_with("///") {
                    continue;
                } else {
                    name = t
                        .split_whitespace()
                        .skip_while(|w| !matches!(*w, "struct" | "enum"))
                        .nth(1)
                        .map(|n| n.trim_end_matches(['{', '(', ';', '<']).to_string());
                    break;
                }
            }
            let Some(name) = alias.or(name) else { continue };
            let place = format!("{}:{}", f.display(), i + 1);
            if let Some(first) = seen.insert(name.clone(), place.clone()) {
                clashes.push(format!("{name}: {first} and {place}"));
            }
        }
    }
    assert!(seen.len() > 200, "found {} schema types", seen.len());
    assert!(
        clashes.is_empty(),
        "schema names used twice:\n{}",
        clashes.join("\n")
    );
}
