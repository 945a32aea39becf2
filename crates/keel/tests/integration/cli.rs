//! Black-box tests of the `keel` binary: flag errors, user and token commands, audit
//! verification, backup/restore across databases, and durability under `kill -9`.

use crate::common::{Backend, fresh_db};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn keel(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("KEEL_CONFIG")
        .env("KEEL_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run keel")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh database URL (the database exists and is migrated).
fn fresh(backend: Backend) -> (String, Option<crate::common::tempfile_dir::Dir>) {
    rt().block_on(async {
        let (db, url, dir) = fresh_db(backend).await;
        db.close().await;
        (url, dir)
    })
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_flags_are_named() {
    let (url, _d) = fresh(Backend::Sqlite);
    let o = keel(&url, &["serve", "--listen", "not-an-address"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--listen"), "{}", stderr(&o));
    let o = keel("mysql://localhost/x", &["migrate"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--database-url"), "{}", stderr(&o));
    let o = keel(
        &url,
        &[
            "user", "add", "--email", "a@b.org", "--name", "A", "--role", "wizard",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--role"), "{}", stderr(&o));
    let o = keel(
        &url,
        &[
            "user", "add", "--email", "nope", "--name", "A", "--role", "agent",
        ],
    );
    assert!(stderr(&o).contains("--email"), "{}", stderr(&o));
    let o = keel(&url, &["token", "create", "--user", "ghost@b.org"]);
    assert!(stderr(&o).contains("--user"), "{}", stderr(&o));
    let o = keel(&url, &["serve", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bogus"));
    let o = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["--config", "/nonexistent/keel.toml", "migrate"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nonexistent/keel.toml"));
}

#[test]
fn users_tokens_and_audit_verify() {
    let (url, _d) = fresh(Backend::Sqlite);
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "--database-url",
            &url,
            "user",
            "add",
            "--email",
            "Root@Example.org",
            "--name",
            "Root",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a very long password\n")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("root@example.org"));
    let o = keel(&url, &["user", "list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("root@example.org\tadmin"));
    let o = keel(&url, &["token", "create", "--user", "root@example.org"]);
    assert!(o.status.success());
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(token.starts_with("keel_") && token.len() == 69, "{token}");
    let o = keel(&url, &["audit", "verify"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("intact"));
    let o = keel(&url, &["token", "revoke", "--id", "1"]);
    assert!(o.status.success());
    let o = keel(&url, &["user", "disable", "--email", "root@example.org"]);
    assert!(o.status.success());
    // Tamper with the file directly: verify fails with exit code 3.
    rt().block_on(async {
        let db = keel::platform::db::Db::connect(&url).await.expect("db");
        db.exec(keel::platform::db::Q::new(
            "UPDATE audit_log SET changes = '[]' WHERE seq = 1",
        ))
        .await
        .expect("tamper");
        db.close().await;
    });
    let o = keel(&url, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("entry 1"));
}

#[test]
fn backup_from_sqlite_restores_on_postgres() {
    let (lite, _d) = fresh(Backend::Sqlite);
    rt().block_on(async {
        let db = keel::platform::db::Db::connect(&lite).await.expect("db");
        keel::demo::seed(&db).await.expect("seed");
        db.close().await;
    });
    let dir = crate::common::tempfile_dir::Dir::new();
    let file = dir.path.join("backup.jsonl");
    let o = keel(&lite, &["backup", "--to", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (pg, _) = fresh(Backend::Postgres);
    let o = keel(&pg, &["restore", "--from", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = keel(&pg, &["audit", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = keel(&pg, &["restore", "--from", file.to_str().expect("path")]);
    assert!(!o.status.success(), "restoring over data is refused");
    assert!(stderr(&o).contains("--from"));
    // The restored database keeps working: new numbers continue after the old ones.
    let count = rt().block_on(async {
        let db = keel::platform::db::Db::connect(&pg).await.expect("db");
        let (n,): (i64,) = db
            .one(keel::platform::db::Q::new(
                "SELECT COUNT(*) FROM work_items WHERE kind = 'incident'",
            ))
            .await
            .expect("count");
        let actor = keel::management::support::audit_trail::Actor::cli();
        let u = keel::directory::NewUser::parse("after@test.keel", "After", "agent", None, None)
            .expect("user");
        keel::directory::create_user(&db, &actor, u)
            .await
            .expect("insert after restore");
        db.close().await;
        n
    });
    assert_eq!(count, keel::demo::INCIDENTS as i64);
    // The portfolio came across too: the same CMDB, assets and catalogue, the same revision.
    let counts = |url: String| {
        rt().block_on(async move {
            let db = keel::platform::db::Db::connect(&url).await.expect("db");
            let mut out = vec![];
            for t in [
                "cis",
                "ci_relationships",
                "assets",
                "asset_installations",
                "catalogue_offerings",
                "baseline_cis",
                "service_customers",
                "cmdb_state",
            ] {
                let (n,): (i64,) = db
                    .one(keel::platform::db::Q::new(format!(
                        "SELECT COUNT(*) FROM {t}"
                    )))
                    .await
                    .expect("count");
                out.push((t, n));
            }
            let (rev,): (i64,) = db
                .one(keel::platform::db::Q::new(
                    "SELECT revision FROM cmdb_state",
                ))
                .await
                .expect("revision");
            db.close().await;
            (out, rev)
        })
    };
    let (a, b) = (counts(lite.clone()), counts(pg.clone()));
    assert_eq!(a, b);
    assert!(a.0[0].1 > 10 && a.1 > 10, "{a:?}");
    rt().block_on(crate::common::drop_db(Backend::Postgres, &pg));
}

/// Every table of the schema is in the backup, except the transient ones (sessions, login
/// throttling, idempotency keys) and the full-text indexes, which are rebuilt from the rows.
#[test]
fn backup_covers_every_table() {
    let (lite, _d) = fresh(Backend::Sqlite);
    let tables: Vec<String> = rt().block_on(async {
        let db = keel::platform::db::Db::connect(&lite).await.expect("db");
        let rows: Vec<(String,)> = db
            .all(keel::platform::db::Q::new(
                "SELECT name FROM sqlite_master WHERE type = 'table'",
            ))
            .await
            .expect("tables");
        db.close().await;
        rows.into_iter().map(|r| r.0).collect()
    });
    let skipped = [
        "_sqlx_migrations",
        "sessions",
        "login_failures",
        "idempotency_keys",
    ];
    let missing: Vec<&String> = tables
        .iter()
        .filter(|t| {
            !t.contains("_fts") && !t.starts_with("sqlite_") && !skipped.contains(&t.as_str())
        })
        .filter(|t| !keel::backup::TABLES.contains(&t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "tables missing from the backup: {missing:?}"
    );
}

#[test]
fn cmdb_import_and_export_from_the_command_line() {
    let (url, _d) = fresh(Backend::Sqlite);
    rt().block_on(async {
        let db = keel::platform::db::Db::connect(&url).await.expect("db");
        keel::demo::seed(&db).await.expect("seed");
        db.close().await;
    });
    let dir = crate::common::tempfile_dir::Dir::new();
    let o = keel(
        &url,
        &["cmdb", "export", "--format", "csv", "--class", "server"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        csv.starts_with(
            "name,status,service_id,owner_group_id,serial,ram_gb,os,location,warranty_end\n"
        ),
        "{csv}"
    );
    let file = dir.path.join("servers.csv");
    std::fs::write(
        &file,
        format!("{csv}srv-new-01,active,,,CZ2001,32,Debian,,\nsrv-bad,active,,,CZ2002,lots,,,\n"),
    )
    .expect("write");
    let path = file.to_str().expect("path");
    // A file with an error changes nothing and says which row and field.
    let o = keel(
        &url,
        &["cmdb", "import", "--file", path, "--class", "server"],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("cis row 7: attributes.ram_gb:") && out.contains("nothing imported"),
        "{out}"
    );
    std::fs::write(
        &file,
        format!("{csv}srv-new-01,active,,,CZ2001,32,Debian,,\n"),
    )
    .expect("write");
    let o = keel(
        &url,
        &[
            "cmdb",
            "import",
            "--file",
            path,
            "--class",
            "server",
            "--dry-run",
        ],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("dry run, nothing changed: 1 created, 0 updated, 5 unchanged"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = keel(
        &url,
        &["cmdb", "import", "--file", path, "--class", "server"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let o = keel(&url, &["cmdb", "export"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        doc["cis"]
            .as_array()
            .expect("cis")
            .iter()
            .any(|c| c["name"] == "srv-new-01")
    );
    let o = keel(&url, &["cmdb", "import", "--file", "/nonexistent.json"]);
    assert!(stderr(&o).contains("--file"), "{}", stderr(&o));
    let o = keel(&url, &["audit", "verify"]);
    assert!(o.status.success());
}

#[test]
fn audit_pack_from_the_command_line() {
    let (url, _d) = fresh(Backend::Sqlite);
    rt().block_on(async {
        let db = keel::platform::db::Db::connect(&url).await.expect("db");
        keel::demo::seed(&db).await.expect("seed");
        db.close().await;
    });
    let dir = crate::common::tempfile_dir::Dir::new();
    let out = dir.path.join("pack.zip");
    let out = out.to_str().expect("path");
    let o = keel(&url, &["audit-pack", "--period", "last year", "--out", out]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--period"), "{}", stderr(&o));
    let o = keel(&url, &["audit-pack", "--out", "/nonexistent/dir/pack.zip"]);
    assert!(stderr(&o).contains("--out"), "{}", stderr(&o));
    let year = jiff::Timestamp::now().to_string()[..4].to_string();
    let o = keel(&url, &["audit-pack", "--period", &year, "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(out).expect("pack written");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut index = String::new();
    zip.by_name("index.html")
        .expect("index")
        .read_to_string(&mut index)
        .expect("read");
    assert!(
        index.contains(&format!("{year}-01-01")),
        "the period is the year"
    );
    assert!(
        index.contains("Baseline readiness"),
        "the demo's assessment is listed"
    );
    assert!(zip.by_name("registers/nonconformities.csv").is_ok());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start(url: &str, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "--database-url",
            url,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("KEEL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keel serve");
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, _)) = http(port, "GET", "/readyz", None, None) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("keel serve did not become ready");
}

/// One HTTP/1.1 request over a fresh connection.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Every create the server acknowledged (201) survives `kill -9` of the server.
fn acknowledged_writes_survive_kill(backend: Backend) {
    let (url, _d) = fresh(backend);
    keel(
        &url,
        &[
            "user",
            "add",
            "--email",
            "w@test.keel",
            "--name",
            "W",
            "--role",
            "agent",
        ],
    );
    let token =
        String::from_utf8_lossy(&keel(&url, &["token", "create", "--user", "w@test.keel"]).stdout)
            .trim()
            .to_string();
    let port = free_port();
    let mut server = start(&url, port);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let acked = acked.clone();
            let token = token.clone();
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    match http(
                        port,
                        "POST",
                        "/api/v1/incidents",
                        Some(&token),
                        Some(&format!("{{\"title\":\"w{w} #{i}\"}}")),
                    ) {
                        Ok((201, body)) => {
                            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
                            acked
                                .lock()
                                .expect("lock")
                                .push(v["number"].as_str().expect("number").to_string());
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Let writes flow, then kill the server mid-stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().expect("lock").len() < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill().expect("kill -9");
    server.wait().expect("wait");
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 200,
        "only {} writes before the kill",
        acked.len()
    );
    let port = free_port();
    let mut server = start(&url, port);
    for n in &acked {
        let (status, _) = http(
            port,
            "GET",
            &format!("/api/v1/incidents/{n}"),
            Some(&token),
            None,
        )
        .expect("get");
        assert_eq!(status, 200, "{n} was acknowledged but is gone");
    }
    server.kill().expect("kill");
    let _ = server.wait();
    let o = keel(&url, &["audit", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    if backend == Backend::Postgres {
        rt().block_on(crate::common::drop_db(Backend::Postgres, &url));
    }
}

#[test]
fn acknowledged_writes_survive_kill_sqlite() {
    acknowledged_writes_survive_kill(Backend::Sqlite);
}

#[test]
fn acknowledged_writes_survive_kill_postgres() {
    acknowledged_writes_survive_kill(Backend::Postgres);
}

/// Flags override `KEEL_*` variables, which override `keel.toml`.
#[test]
fn configuration_layers() {
    let dir = crate::common::tempfile_dir::Dir::new();
    let from_file = format!("sqlite://{}/file.db", dir.path.display());
    let from_env = format!("sqlite://{}/env.db", dir.path.display());
    let from_flag = format!("sqlite://{}/flag.db", dir.path.display());
    let toml = dir.path.join("keel.toml");
    std::fs::write(&toml, format!("database_url = \"{from_file}\"\n")).expect("write");
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keel"));
        c.current_dir(&dir.path)
            .env_remove("KEEL_DATABASE_URL")
            .env_remove("KEEL_CONFIG")
            .arg("migrate");
        if let Some(e) = env {
            c.env("KEEL_DATABASE_URL", e);
        }
        if let Some(f) = flag {
            c.args(["--database-url", f]);
        }
        let o = c.output().expect("run");
        assert!(o.status.success(), "{}", stderr(&o));
    };
    run(None, None);
    assert!(
        dir.path.join("file.db").exists(),
        "keel.toml is read from the working directory"
    );
    run(Some(&from_env), None);
    assert!(
        dir.path.join("env.db").exists(),
        "KEEL_DATABASE_URL beats keel.toml"
    );
    run(Some(&from_env), Some(&from_flag));
    assert!(
        dir.path.join("flag.db").exists(),
        "--database-url beats KEEL_DATABASE_URL"
    );
    std::fs::write(&toml, "databse_url = \"typo\"\n").expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_keel"))
        .current_dir(&dir.path)
        .env_remove("KEEL_CONFIG")
        .arg("migrate")
        .output()
        .expect("run");
    assert!(!o.status.success(), "unknown keys in keel.toml are errors");
    assert!(stderr(&o).contains("databse_url"), "{}", stderr(&o));
}

/// Two `keel serve` nodes on one PostgreSQL database act as one system: creates through both
/// get distinct, gapless numbers and one valid audit chain.
#[test]
fn two_nodes_on_one_postgres() {
    let (url, _d) = fresh(Backend::Postgres);
    keel(
        &url,
        &[
            "user",
            "add",
            "--email",
            "n@test.keel",
            "--name",
            "N",
            "--role",
            "agent",
        ],
    );
    let token =
        String::from_utf8_lossy(&keel(&url, &["token", "create", "--user", "n@test.keel"]).stdout)
            .trim()
            .to_string();
    let ports = [free_port(), free_port()];
    let mut nodes: Vec<Child> = ports.iter().map(|p| start(&url, *p)).collect();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let port = ports[i % 2];
            let token = token.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|j| {
                        let (status, body) = http(
                            port,
                            "POST",
                            "/api/v1/incidents",
                            Some(&token),
                            Some(&format!("{{\"title\":\"node {i} #{j}\"}}")),
                        )
                        .expect("post");
                        assert_eq!(status, 201, "{body}");
                        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
                        v["number"].as_str().expect("number").to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut numbers: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=100).map(|i| format!("INC-{i:06}")).collect();
    assert_eq!(numbers, expected);
    for n in &mut nodes {
        let _ = n.kill();
        let _ = n.wait();
    }
    let o = keel(&url, &["audit", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    rt().block_on(crate::common::drop_db(Backend::Postgres, &url));
}
