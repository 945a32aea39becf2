//! The `keel` command line. Every subcommand opens the database named by `--database-url`
//! (or `KEEL_DATABASE_URL`, or `keel.toml`, or the default SQLite file).

use crate::app::router;
use crate::platform::audit::{self, Actor};
use crate::platform::config::{Config, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, FileConfig};
use crate::platform::db::Db;
use crate::{backup, demo, directory};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "keel",
    version,
    about = "IT service management for ISO/IEC 20000-1:2018"
)]
pub struct Cli {
    /// Database URL: sqlite://FILE (default sqlite://keel.db) or postgres://USER@HOST/DB.
    #[arg(long, env = "KEEL_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Configuration file (optional; flags and KEEL_* variables override it).
    #[arg(long, env = "KEEL_CONFIG", global = true, default_value = "keel.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web UI, the REST API and the background worker.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, env = "KEEL_LISTEN")]
        listen: Option<String>,
        /// Seed a demo organisation if the database is empty.
        #[arg(long, env = "KEEL_DEMO")]
        demo: bool,
        /// Store attachments in this directory instead of the database.
        #[arg(long, env = "KEEL_ATTACHMENTS_DIR")]
        attachments_dir: Option<PathBuf>,
        /// Do not run the background worker on this node.
        #[arg(long)]
        no_worker: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Write every record to a file (JSON lines, portable between SQLite and PostgreSQL);
    /// `keel export` is the same, for migrations between databases.
    #[command(visible_alias = "export")]
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Write the audit pack for a period: a zip with an HTML index, the readiness assessment,
    /// every evidence check with its records, the registers and a SHA-256 manifest.
    AuditPack {
        /// 2026, 2026-Q3, 2026-07 or 2026-01-01..2026-06-30 (default: the last twelve months).
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Load a backup (or an export) into an empty database; `keel import` is the same.
    #[command(visible_alias = "import")]
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Take one mail message on standard input (for an MTA pipe, e.g. Postfix's
    /// `|keel mail-in --queue incidents`): it opens an item, becomes a comment, is ignored as
    /// automatic or waits in the quarantine. Exits 75 (try again later) when it could not be
    /// stored, so the MTA keeps it.
    MailIn {
        /// The mail queue (`[[mail.queues]]` in keel.toml; `incidents` and `requests` by default).
        #[arg(long)]
        queue: String,
    },
    /// Synchronise users and support groups from the LDAP directory (`[ldap]` in keel.toml).
    DirectorySync,
    /// Bulk import and export of configuration items and relationships (8.2.6).
    Cmdb {
        #[command(subcommand)]
        cmd: CmdbCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum CmdbCmd {
    /// Upsert CIs and relationships from a file (JSON like `cmdb export` writes, or CSV); a file
    /// with any error changes nothing.
    Import {
        #[arg(long)]
        file: PathBuf,
        /// For a CSV of CIs: their class.
        #[arg(long)]
        class: Option<String>,
        /// For a CSV: `cis` (default) or `relationships`.
        #[arg(long)]
        section: Option<String>,
        /// Check every row and report; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write CIs and relationships as JSON (or CSV with --format csv) to standard output.
    Export {
        /// json (default) or csv.
        #[arg(long, default_value = "json")]
        format: String,
        /// Only this class's CIs (required for a CSV of CIs).
        #[arg(long)]
        class: Option<String>,
        /// For a CSV: `cis` (default) or `relationships`.
        #[arg(long)]
        section: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// requester, agent, manager, sms-manager, auditor or admin.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (otherwise prompt, or none if not a terminal).
        #[arg(long)]
        password_stdin: bool,
        /// The customer organisation a requester belongs to (its id).
        #[arg(long)]
        customer_id: Option<i64>,
    },
    /// List users.
    List,
    /// Disable a user (ends sessions, revokes tokens).
    Disable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Issue a bearer token for a user; the secret is printed once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        id: i64,
    },
    /// List tokens.
    List,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check the hash chain; exits non-zero if an entry was altered or removed. With
    /// `--anchors`, also that every anchored entry is still there with its hash (a cut tail or a
    /// chain rebuilt from an earlier entry on).
    Verify {
        /// An anchor file written by `keel audit anchor` or the `audit.anchor` job.
        #[arg(long)]
        anchors: Option<PathBuf>,
    },
    /// Append the chain's head (sequence, hash, time) to an anchor file kept outside the
    /// database (default: `[audit] anchor_file`).
    Anchor {
        #[arg(long)]
        to: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
                .unwrap_or_else(|_| "keel=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::app::install();
    let explicit = std::env::var_os("KEEL_CONFIG").is_some()
        || cli.config != std::path::Path::new("keel.toml");
    let file = FileConfig::load(&cli.config, explicit)?;
    let url = cli
        .database_url
        .clone()
        .or(file.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        bail!("--database-url: `{url}` is not a sqlite:// or postgres:// URL");
    }
    let connect = || async {
        Db::connect(&url)
            .await
            .with_context(|| format!("--database-url {}", redact(&url)))
    };
    match cli.command {
        Command::Serve {
            listen,
            demo: seed,
            attachments_dir,
            no_worker,
        } => {
            let listen = listen
                .or(file.listen.clone())
                .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
            let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
                anyhow::anyhow!("--listen: `{listen}` is not an address like 127.0.0.1:8080")
            })?;
            let mut cfg = Config {
                attachments_dir: attachments_dir.or(file.attachments_dir.clone()),
                ..Config::default()
            };
            if let Some(mb) = file.max_attachment_mb {
                cfg.max_attachment_bytes = mb * 1024 * 1024;
            }
            if let Some(d) = file.auto_close_days {
                cfg.auto_close_days = d;
            }
            cfg.secure_cookies = file.secure_cookies.unwrap_or(false);
            cfg.mail = file.mail.clone().unwrap_or_default();
            cfg.ldap = file.ldap.clone();
            cfg.oidc = file.oidc.clone();
            cfg.audit = file.audit.clone().unwrap_or_default();
            let db = connect().await?;
            if seed {
                if let Some(summary) = demo::seed_if_empty(&db).await? {
                    eprintln!("{summary}");
                } else {
                    eprintln!("Database already has data; demo seeding skipped.");
                }
            } else if directory::list_users(&db)
                .await
                .map_err(cli_field)?
                .is_empty()
            {
                eprintln!(
                    "No users yet. Create the first administrator with:\n  keel user add --email you@example.org --name \"Your Name\" --role admin\nor start with --demo for a demo organisation."
                );
            }
            serve(db, cfg, addr, !no_worker).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let db = connect().await?;
            println!("schema at version {}", db.schema_version().await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::User { cmd } => {
            let db = connect().await?;
            match cmd {
                UserCmd::Add {
                    email,
                    name,
                    role,
                    password_stdin,
                    customer_id,
                } => {
                    let password = if password_stdin {
                        let mut s = String::new();
                        std::io::stdin()
                            .read_to_string(&mut s)
                            .context("reading the password from standard input")?;
                        Some(s.trim_end_matches(['\n', '\r']).to_string())
                    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                        Some(rpassword::prompt_password("Password: ")?)
                    } else {
                        None
                    };
                    let u = directory::NewUser::parse(&email, &name, &role, customer_id, password)
                        .map_err(cli_field)?;
                    let u = directory::create_user(&db, &Actor::cli(), u)
                        .await
                        .map_err(cli_field)?;
                    println!("created user {} ({}, {})", u.email, u.id, u.role);
                }
                UserCmd::List => {
                    for u in directory::list_users(&db).await.map_err(cli_field)? {
                        println!(
                            "{}\t{}\t{}\t{}{}",
                            u.id,
                            u.email,
                            u.role,
                            u.name,
                            if u.disabled != 0 { "\t(disabled)" } else { "" }
                        );
                    }
                }
                UserCmd::Disable { email } => {
                    let u = directory::user_by_email(&db, &email)
                        .await
                        .map_err(|_| anyhow::anyhow!("--email: no user {email}"))?;
                    directory::set_disabled(&db, &Actor::cli(), u.id, true)
                        .await
                        .map_err(cli_field)?;
                    println!("disabled {}", u.email);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { cmd } => {
            let db = connect().await?;
            match cmd {
                TokenCmd::Create { user, name } => {
                    let u = directory::user_by_email(&db, &user)
                        .await
                        .map_err(|_| anyhow::anyhow!("--user: no user {user}"))?;
                    if u.disabled != 0 {
                        bail!("--user: {user} is disabled");
                    }
                    let (t, secret) = directory::create_token(&db, &Actor::cli(), u.id, &name)
                        .await
                        .map_err(cli_field)?;
                    eprintln!("token {} for {} (shown once; store it now):", t.id, u.email);
                    println!("{secret}");
                }
                TokenCmd::Revoke { id } => {
                    directory::revoke_token(&db, &Actor::cli(), id, None)
                        .await
                        .map_err(|_| anyhow::anyhow!("--id: no token {id}"))?;
                    println!("revoked token {id}");
                }
                TokenCmd::List => {
                    for t in directory::list_tokens(&db, None).await.map_err(cli_field)? {
                        println!(
                            "{}\tuser {}\t{}\t{}",
                            t.id,
                            t.user_id,
                            t.name,
                            if t.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            cmd: AuditCmd::Verify { anchors },
        } => {
            let anchors = match &anchors {
                Some(f) => Some(
                    keel_core::audit::Anchor::parse_lines(
                        &std::fs::read_to_string(f)
                            .with_context(|| format!("--anchors {}", f.display()))?,
                    )
                    .map_err(|e| anyhow::anyhow!("--anchors {}: {e}", f.display()))?,
                ),
                None => None,
            };
            let db = connect().await?;
            let n = match audit::verify(&db).await? {
                Ok(n) => n,
                Err(e) => {
                    println!("audit trail BROKEN: {e}");
                    return Ok(ExitCode::from(3));
                }
            };
            match anchors {
                None => println!("audit trail intact: {n} entries verified"),
                Some(a) => match audit::verify_anchors(&db, &a).await? {
                    Ok(k) => println!(
                        "audit trail intact: {n} entries verified, {k} anchors kept outside the database agree"
                    ),
                    Err(e) => {
                        println!("audit trail BROKEN: {e}");
                        return Ok(ExitCode::from(3));
                    }
                },
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            cmd: AuditCmd::Anchor { to },
        } => {
            let Some(file) = to.or(file.audit.as_ref().and_then(|a| a.anchor_file.clone())) else {
                bail!("--to: give an anchor file, or set [audit] anchor_file in keel.toml");
            };
            let db = connect().await?;
            let a = audit::anchor_to(&db, &file).await?;
            println!(
                "anchored entry {} ({}) in {}",
                a.seq,
                a.hash,
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { to } => {
            let db = connect().await?;
            let n = backup::backup(&db, &to).await?;
            println!("wrote {n} rows to {}", to.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::AuditPack { period, out } => {
            let db = connect().await?;
            let now = crate::platform::db::now_ms();
            let per = match period.as_deref() {
                Some(text) => {
                    let (from, to) = keel_core::period::parse(text)
                        .map_err(|e| anyhow::anyhow!("--period: {e}"))?;
                    crate::management::compliance::period(
                        Some(&from.to_string()),
                        Some(&to.to_string()),
                        now,
                    )
                    .map_err(|e| anyhow::anyhow!("--period: {e}"))?
                }
                None => crate::management::compliance::default_period(now),
            };
            let cat = keel_core::management::compliance::catalogue::current();
            let bytes =
                crate::management::compliance::pack::build(&db, cat, per, "keel audit-pack")
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(&out, &bytes)
                .with_context(|| format!("--out: cannot write {}", out.display()))?;
            println!(
                "wrote the audit pack ({} bytes) to {}",
                bytes.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from } => {
            let db = connect().await?;
            let n = backup::restore(&db, &from).await?;
            println!("restored {n} rows from {}", from.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::MailIn { queue } => {
            let mut raw = vec![];
            std::io::stdin()
                .read_to_end(&mut raw)
                .context("reading the message from standard input")?;
            if raw.is_empty() {
                eprintln!("keel mail-in: standard input is empty; no message to take");
                return Ok(ExitCode::from(65));
            }
            let cfg = Config {
                attachments_dir: file.attachments_dir.clone(),
                mail: file.mail.clone().unwrap_or_default(),
                ..Config::default()
            };
            let db = match connect().await {
                Ok(db) => db,
                Err(e) => {
                    eprintln!("keel mail-in: cannot reach the database: {e}");
                    return Ok(ExitCode::from(75));
                }
            };
            match crate::integration::mail::ingest(&db, &cfg, &queue, "stdin", raw).await {
                Ok(h) => {
                    println!("{}", serde_json::to_string(&h)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::platform::error::AppError::Invalid { field, detail }) => {
                    eprintln!("keel mail-in: --{field}: {detail}");
                    Ok(ExitCode::from(64))
                }
                Err(e) => {
                    eprintln!("keel mail-in: the message could not be stored: {e}");
                    Ok(ExitCode::from(75))
                }
            }
        }
        Command::DirectorySync => {
            let Some(c) = file.ldap.clone() else {
                bail!("--config: no [ldap] section in {}", cli.config.display());
            };
            let db = connect().await?;
            let r = crate::directory::ldap::sync(&db, &c)
                .await
                .map_err(cli_field)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Cmdb { cmd } => cmdb(connect().await?, cmd).await,
    }
}

async fn cmdb(db: crate::platform::db::Db, cmd: CmdbCmd) -> anyhow::Result<ExitCode> {
    use crate::operation::portfolio::transfer;
    match cmd {
        CmdbCmd::Import {
            file,
            class,
            section,
            dry_run,
        } => {
            let body =
                std::fs::read(&file).with_context(|| format!("--file {}", file.display()))?;
            let mut headers = axum::http::HeaderMap::new();
            if file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                headers.insert(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("text/csv"),
                );
            }
            let params = transfer::ImportParams {
                dry_run,
                class,
                section,
            };
            let doc = transfer::parse_document(&headers, &params, &body).map_err(cli_field)?;
            let r = transfer::import(&db, &Actor::cli(), doc, dry_run)
                .await
                .map_err(cli_field)?;
            for row in r.rows.iter().filter(|r| r.action == "error") {
                println!(
                    "{} row {}: {}{}",
                    row.section,
                    row.row,
                    row.field
                        .as_deref()
                        .map(|f| format!("{f}: "))
                        .unwrap_or_default(),
                    row.detail.as_deref().unwrap_or_default()
                );
            }
            println!(
                "{}: {} created, {} updated, {} unchanged CIs; {} relationships created, {} unchanged; {} errors",
                if r.applied {
                    "imported"
                } else if dry_run {
                    "dry run, nothing changed"
                } else {
                    "nothing imported"
                },
                r.created,
                r.updated,
                r.unchanged,
                r.relationships_created,
                r.relationships_unchanged,
                r.errors
            );
            Ok(if r.errors > 0 {
                ExitCode::from(4)
            } else {
                ExitCode::SUCCESS
            })
        }
        CmdbCmd::Export {
            format,
            class,
            section,
        } => {
            let params = transfer::ExportParams {
                format: Some(format.clone()),
                class,
                section,
            };
            match format.as_str() {
                "json" => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &transfer::export(&db, params.class.as_deref())
                            .await
                            .map_err(cli_field)?
                    )?
                ),
                "csv" => print!(
                    "{}",
                    transfer::export_csv(&db, &params)
                        .await
                        .map_err(cli_field)?
                ),
                other => anyhow::bail!("--format: `{other}` is not json or csv"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Turn an application error into a CLI message naming the flag.
fn cli_field(e: crate::platform::error::AppError) -> anyhow::Error {
    match e {
        crate::platform::error::AppError::Invalid { field, detail } => {
            anyhow::anyhow!("--{}: {detail}", field.replace('_', "-"))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

/// Serve until Ctrl-C or SIGTERM; the worker stops with the server.
pub async fn serve(
    db: Db,
    cfg: Config,
    addr: std::net::SocketAddr,
    worker: bool,
) -> anyhow::Result<()> {
    let state = crate::app::state(db.clone(), cfg);
    crate::operation::portfolio::graph::warm(
        crate::operation::portfolio::graph::cache(&state).clone(),
        db.clone(),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--listen {addr}"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker_handle = worker.then(|| {
        let node = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into()),
            std::process::id()
        );
        // One watcher per mailbox; a lease in the database lets one node read each at a time.
        for q in state
            .cfg
            .mail
            .queues()
            .into_iter()
            .filter(|q| q.imap.is_some())
        {
            tokio::spawn(crate::integration::imap::watch(
                db.clone(),
                state.cfg.clone(),
                q,
                node.clone(),
                stop_rx.clone(),
            ));
        }
        tokio::spawn(crate::platform::jobs::worker(state.clone(), node, stop_rx))
    });
    let app = router(state);
    // Building the router peaks at several times what it keeps; give that back before idling.
    crate::platform::memory::release_unused();
    let local = listener.local_addr()?;
    eprintln!("Keel listening on http://{local}");
    // The peer address reaches handlers (sign-in throttling per client).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    let _ = stop_tx.send(true);
    if let Some(h) = worker_handle {
        let _ = h.await;
    }
    db.close().await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
