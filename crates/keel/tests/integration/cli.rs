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

/// The chain alone cannot show that its tail was cut (the head is rewritten with it); anchors
/// kept outside the database can, and also a chain that goes on from the cut with new entries.
fn anchors_catch_a_cut_tail(backend: Backend) {
    let (url, _d) = fresh(backend);
    let work = crate::common::tempfile_dir::Dir::new();
    let file = work.path.join("anchors.jsonl");
    let file = file.to_str().expect("utf-8 path");
    let write = |names: &[&str]| {
        rt().block_on(async {
            let db = keel::platform::db::Db::connect(&url).await.expect("db");
            for n in names {
                keel::directory::create_named(
                    &db,
                    &keel::platform::audit::Actor::cli(),
                    "customers",
                    "customer",
                    n,
                    None,
                )
                .await
                .expect("customer");
            }
            db.close().await;
        })
    };
    write(&["Alpha", "Beta", "Gamma"]);
    let o = keel(&url, &["audit", "anchor", "--to", file]);
    assert!(o.status.success(), "{}", stderr(&o));
    write(&["Delta"]);
    let o = keel(&url, &["audit", "anchor", "--to", file]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(file).expect("anchor file");
    assert_eq!(lines.lines().count(), 2, "{lines}");
    let o = keel(&url, &["audit", "verify", "--anchors", file]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 anchors"));
    // Someone with write access cuts the last two entries and sets the head back.
    rt().block_on(async {
        let db = keel::platform::db::Db::connect(&url).await.expect("db");
        let (max,): (i64,) = db
            .one(keel::platform::db::Q::new("SELECT MAX(seq) FROM audit_log"))
            .await
            .expect("max");
        db.exec(keel::platform::db::Q::new("DELETE FROM audit_log WHERE seq > $1").bind(max - 2))
            .await
            .expect("cut");
        db.exec(keel::platform::db::Q::new(
            "UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit_log), \
             last_hash = (SELECT hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)) WHERE id = 1",
        ))
        .await
        .expect("head");
        db.close().await;
    });
    let o = keel(&url, &["audit", "verify"]);
    assert!(o.status.success(), "the chain alone cannot tell");
    let o = keel(&url, &["audit", "verify", "--anchors", file]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("removed from the end"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Writing on from the cut makes the chain long again, but not the same.
    write(&["Epsilon", "Zeta", "Eta"]);
    let o = keel(&url, &["audit", "verify"]);
    assert!(o.status.success());
    let o = keel(&url, &["audit", "verify", "--anchors", file]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rewritten"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // A file that is not anchors is refused, not half read.
    std::fs::write(work.path.join("bad.jsonl"), "not an anchor\n").expect("write");
    let o = keel(
        &url,
        &[
            "audit",
            "verify",
            "--anchors",
            work.path.join("bad.jsonl").to_str().expect("utf-8"),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 1"), "{}", stderr(&o));
}

#[test]
fn anchors_catch_a_cut_tail_sqlite() {
    anchors_catch_a_cut_tail(Backend::Sqlite);
}

#[test]
fn anchors_catch_a_cut_tail_postgres() {
    anchors_catch_a_cut_tail(Backend::Postgres);
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
        let actor = keel::platform::audit::Actor::cli();
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
/// throttling, idempotency keys, single sign-ons under way) and the full-text indexes, which are
/// rebuilt from the rows.
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
        "oidc_logins",
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

/// A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, installed by
/// `scripts/test`) sends a firing and then a resolved alert to a running `keel serve`.
#[test]
fn a_real_alertmanager_opens_and_resolves_an_incident() {
    let bin = "/usr/bin/prometheus-alertmanager";
    assert!(
        std::path::Path::new(bin).exists(),
        "{bin} is missing: scripts/test installs Debian's prometheus-alertmanager"
    );
    let (url, _d) = fresh(Backend::Sqlite);
    let token = rt().block_on(async {
        let db = keel::platform::db::Db::connect(&url).await.expect("db");
        let actor = keel::platform::audit::Actor::cli();
        let u = keel::directory::NewUser::parse(
            "monitoring@test.keel",
            "Monitoring",
            "agent",
            None,
            None,
        )
        .expect("user");
        let u = keel::directory::create_user(&db, &actor, u)
            .await
            .expect("user");
        let (_, secret) = keel::directory::create_token(&db, &actor, u.id, "alertmanager")
            .await
            .expect("token");
        db.close().await;
        secret
    });
    let port = free_port();
    let mut keel_child = start(&url, port);
    let dir = crate::common::tempfile_dir::Dir::new();
    let am_port = free_port();
    let config = dir.path.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: keel\n  group_by: ['alertname', 'instance']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: keel\n    webhook_configs:\n      - url: 'http://127.0.0.1:{port}/api/v1/integrations/alertmanager?resolve=true'\n        send_resolved: true\n        http_config:\n          authorization:\n            credentials: '{token}'\n"
        ),
    )
    .expect("config");
    let mut am = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http(am_port, "GET", "/-/ready", None, None), Ok((200, _))) {
        assert!(
            Instant::now() < deadline,
            "alertmanager did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let push = |ends: Option<&str>| {
        let now = jiff::Timestamp::now();
        let mut a = serde_json::json!([{"labels": {"alertname": "HostDown", "instance": "db9:9100", "severity": "critical"},
            "annotations": {"summary": "db9 is down"}, "startsAt": (now - jiff::SignedDuration::from_secs(60)).to_string()}]);
        if let Some(e) = ends {
            a[0]["endsAt"] = serde_json::json!(e);
        }
        let r = http(
            am_port,
            "POST",
            "/api/v2/alerts",
            None,
            Some(&a.to_string()),
        )
        .expect("push");
        assert_eq!(r.0, 200, "{}", r.1);
    };
    let wait_for = |what: &str, cond: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (s, b) = http(port, "GET", "/api/v1/incidents", Some(&token), None).expect("list");
            assert_eq!(s, 200, "{b}");
            let v: serde_json::Value = serde_json::from_str(&b).expect("json");
            if cond(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    push(None);
    let v = wait_for("the incident", &|v| {
        v["items"].as_array().is_some_and(|i| !i.is_empty())
    });
    let inc = &v["items"][0];
    assert_eq!(inc["title"], "HostDown on db9:9100: db9 is down");
    assert_eq!(inc["priority"], 1);
    // The alert resolves: Alertmanager tells Keel, which resolves the incident.
    push(Some(&jiff::Timestamp::now().to_string()));
    let v = wait_for("the resolution", &|v| v["items"][0]["state"] == "resolved");
    assert_eq!(
        v["items"].as_array().map(Vec::len),
        Some(1),
        "one incident, not two"
    );
    let _ = am.kill();
    let _ = am.wait();
    let _ = keel_child.kill();
    let _ = keel_child.wait();
}

fn keel_stdin(url: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("KEEL_CONFIG")
        .env("KEEL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keel");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// `keel mail-in` takes one message from an MTA pipe; bad flags and empty input are named.
#[test]
fn mail_in_from_standard_input() {
    let (url, _d) = fresh(Backend::Sqlite);
    let raw = b"From: Pat <pat@outside.example>\r\nSubject: Printer on fire\r\nMessage-ID: <p1@outside.example>\r\n\r\nSmoke everywhere.\r\n";
    let o = keel_stdin(&url, &["mail-in", "--queue", "incidents"], raw);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["state"], "processed");
    assert_eq!(v["item"], "INC-000001");
    let o = keel_stdin(&url, &["mail-in", "--queue", "requests"], raw);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = keel_stdin(&url, &["mail-in", "--queue", "nope"], raw);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("--queue"), "{}", stderr(&o));
    let o = keel_stdin(&url, &["mail-in", "--queue", "incidents"], b"");
    assert_eq!(o.status.code(), Some(65));
}

/// `keel export` on SQLite, `keel import` on PostgreSQL, `keel export` again: every row of every
/// table comes back identical, integrations' records included.
#[test]
fn export_and_import_round_trip_loses_nothing() {
    let (lite, _d) = fresh(Backend::Sqlite);
    rt().block_on(async {
        let db = keel::platform::db::Db::connect(&lite).await.expect("db");
        keel::demo::seed(&db).await.expect("seed");
        db.close().await;
    });
    let raw = b"From: Pat <pat@outside.example>\r\nSubject: Scanner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nJammed.\r\n--x\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"jam.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--x--\r\n";
    assert!(
        keel_stdin(&lite, &["mail-in", "--queue", "incidents"], raw)
            .status
            .success()
    );
    assert!(
        keel_stdin(&lite, &["mail-in", "--queue", "incidents"], b"garbage")
            .status
            .success()
    );
    let dir = crate::common::tempfile_dir::Dir::new();
    let (a, b) = (dir.path.join("a.jsonl"), dir.path.join("b.jsonl"));
    let o = keel(&lite, &["export", "--to", a.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (pg, _) = fresh(Backend::Postgres);
    let o = keel(&pg, &["import", "--from", a.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = keel(&pg, &["export", "--to", b.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |p: &std::path::Path| -> std::collections::BTreeMap<String, Vec<String>> {
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for line in std::fs::read_to_string(p).expect("read").lines().skip(1) {
            let v: serde_json::Value = serde_json::from_str(line).expect("line");
            let t = v["table"].as_str().expect("table").to_string();
            // Keys sorted, so column order does not matter.
            let row: std::collections::BTreeMap<String, serde_json::Value> =
                serde_json::from_value(v["row"].clone()).expect("row");
            out.entry(t)
                .or_default()
                .push(serde_json::to_string(&row).expect("json"));
        }
        out
    };
    // Rows sharing their first column (composite keys) may come in either order.
    let (mut ra, mut rb) = (rows(&a), rows(&b));
    ra.values_mut().for_each(|v| v.sort());
    rb.values_mut().for_each(|v| v.sort());
    assert_eq!(ra.keys().collect::<Vec<_>>(), rb.keys().collect::<Vec<_>>());
    for (t, rows) in &ra {
        let other = &rb[t];
        assert_eq!(rows.len(), other.len(), "table {t}: row count differs");
        for (x, y) in rows.iter().zip(other) {
            assert_eq!(x, y, "table {t} differs after the round trip");
        }
    }
    for t in [
        "work_items",
        "audit_log",
        "attachments",
        "mail_messages",
        "cis",
    ] {
        assert!(!ra[t].is_empty(), "{t} should have rows");
    }
    let o = keel(&pg, &["audit", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    rt().block_on(crate::common::drop_db(Backend::Postgres, &pg));
}
