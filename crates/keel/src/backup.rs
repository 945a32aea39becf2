//! `keel backup` / `keel restore`: every table as JSON lines (`{"table":…,"row":{…}}`), so a
//! backup taken on SQLite restores on PostgreSQL and back. Blobs are hex. The audit trail is
//! copied verbatim, so `keel audit verify` holds after a restore.

use crate::platform::db::{Arg, Db, DynRow, Q};
use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

/// Tables in an order that satisfies foreign keys on restore.
pub const TABLES: &[&str] = &[
    "customers",
    "users",
    "support_groups",
    "group_members",
    "services",
    "api_tokens",
    "counters",
    "work_items",
    "work_item_transitions",
    "work_item_links",
    "comments",
    "attachments",
    "audit_head",
    "audit_log",
    "audit_anchors",
    "jobs",
    "schedules",
    "calendars",
    "calendar_versions",
    "service_level_targets",
    "sla_clocks",
    "sla_clock_events",
    "outbox",
    "notifications",
    "saved_views",
    "major_incidents",
    "communications",
    "knowledge_articles",
    "knowledge_versions",
    "request_types",
    "approvals",
    "work_item_tasks",
    "service_customers",
    "service_dependencies",
    "service_parties",
    "service_plans",
    "catalogue_offerings",
    "catalogue_visibility",
    "catalogue_orders",
    "ci_classes",
    "cis",
    "ci_relationships",
    "cmdb_state",
    "cmdb_changes",
    "work_item_cis",
    "baselines",
    "baseline_cis",
    "baseline_rels",
    "configuration_audits",
    "assets",
    "asset_installations",
    "change_authorities",
    "change_categories",
    "transition_policy",
    "change_templates",
    "change_plans",
    "change_ci_updates",
    "change_blackouts",
    "calendar_feeds",
    "releases",
    "release_changes",
    "deployments",
    "deployment_cis",
    "service_designs",
    "design_criteria",
    "design_tasks",
    "requirement_judgements",
    "process_ratings",
    "requirement_evidence",
    "assessments",
    "assessment_requirements",
    "assessment_processes",
    "management_reviews",
    "compliance_actions",
    "audits",
    "audit_findings",
    "documents",
    "document_versions",
    "document_acks",
    "objectives",
    "kpis",
    "kpi_measurements",
    "report_definitions",
    "service_reports",
    "interested_parties",
    "competence_requirements",
    "training_records",
    "sms_scope",
    "raci",
    "communication_plan",
    "record_refs",
    "customer_accounts",
    "contacts",
    "service_reviews",
    "surveys",
    "suppliers",
    "agreements",
    "breach_explanations",
    "contracts",
    "supplier_reviews",
    "disputes",
    "budgets",
    "costs",
    "demand_forecasts",
    "capacity_plans",
    "availability_targets",
    "outages",
    "continuity_requirements",
    "continuity_plans",
    "continuity_tests",
    "continuity_invocations",
    "security_controls",
    "capacity_status",
    "capacity_metrics",
    "capacity_events",
    "webhooks",
    "webhook_events",
    "webhook_deliveries",
    "webhook_attempts",
    "alerts",
    "mail_threads",
    "item_correspondents",
    "mail_messages",
    "mail_cursors",
    "mail_outgoing",
];

/// The tables that exist: a database at an older schema version lacks the newer ones.
async fn present_tables(db: &Db) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String,)> = db
        .all(Q::new(match db.backend() {
            crate::platform::db::Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            }
            crate::platform::db::Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()"
            }
        }))
        .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

pub async fn backup(db: &Db, to: &Path) -> anyhow::Result<u64> {
    let tmp = to.with_extension("partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("--to {}", to.display()))?;
    let mut w = BufWriter::new(file);
    writeln!(
        w,
        "{}",
        json!({"keel_backup": 1, "schema_version": db.schema_version().await?})
    )?;
    let mut n = 0u64;
    let present = present_tables(db).await?;
    for t in TABLES.iter().filter(|t| present.iter().any(|p| p == *t)) {
        let sql = format!("SELECT * FROM {t} ORDER BY 1");
        let rows: Vec<Map<String, Value>> = db
            .all::<DynRow>(Q::new(sql))
            .await?
            .into_iter()
            .map(|r| r.0)
            .collect();
        for r in rows {
            writeln!(w, "{}", json!({"table": t, "row": r}))?;
            n += 1;
        }
    }
    w.flush()?;
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .sync_all()?;
    std::fs::rename(&tmp, to)?;
    Ok(n)
}

pub async fn restore(db: &Db, from: &Path) -> anyhow::Result<u64> {
    let (users,): (i64,) = db.one(Q::new("SELECT COUNT(*) FROM users")).await?;
    if users > 0 {
        bail!("--from: the target database is not empty; restore needs a fresh database");
    }
    let file = std::fs::File::open(from).with_context(|| format!("--from {}", from.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header: Value = serde_json::from_str(&lines.next().context("--from: empty file")??)
        .context("--from: not a Keel backup")?;
    if header.get("keel_backup") != Some(&json!(1)) {
        bail!("--from: not a Keel backup");
    }
    let mut tx = db.begin().await?;
    tx.exec(Q::new("DELETE FROM audit_head")).await?;
    // Migrations seed the CMDB revision row too; the backup carries the real one.
    if present_tables(db).await?.iter().any(|t| t == "cmdb_state") {
        tx.exec(Q::new("DELETE FROM cmdb_state")).await?;
    }
    let mut n = 0;
    let mut transitions_cleared = false;
    for (i, line) in lines.enumerate() {
        let line = line?;
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("--from: line {} is not JSON", i + 2))?;
        let table = v["table"].as_str().unwrap_or_default();
        if !TABLES.contains(&table) {
            bail!("--from: line {}: unknown table `{table}`", i + 2);
        }
        if table == "work_item_transitions" && !transitions_cleared {
            // Restoring work items fired the trigger that records first states; the backup has
            // the real history, so drop what the trigger made before loading it.
            tx.exec(Q::new("DELETE FROM work_item_transitions")).await?;
            transitions_cleared = true;
        }
        let row = v["row"]
            .as_object()
            .with_context(|| format!("--from: line {}: no row", i + 2))?;
        let mut q = Q::new("");
        let mut cols = Vec::new();
        let mut phs = Vec::new();
        for (k, val) in row {
            if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("--from: line {}: bad column name", i + 2);
            }
            cols.push(k.clone());
            let arg = match val {
                // A typed NULL would clash with PostgreSQL's column type; a literal never does.
                Value::Null => {
                    phs.push("NULL".to_string());
                    continue;
                }
                Value::Number(x) => Arg::I64(x.as_i64()),
                Value::String(s) => Arg::Text(Some(s.clone())),
                Value::Object(o) => Arg::Bytes(Some(hex::decode(
                    o.get("hex").and_then(Value::as_str).unwrap_or_default(),
                )?)),
                _ => bail!("--from: line {}: unsupported value in `{k}`", i + 2),
            };
            phs.push(q.arg(arg));
        }
        q.sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            cols.join(", "),
            phs.join(", ")
        );
        tx.exec(q).await?;
        n += 1;
    }
    // A backup from before schema 11 has no CMDB revision row; every CMDB write needs one.
    if present_tables(db).await?.iter().any(|t| t == "cmdb_state") {
        tx.exec(Q::new("INSERT INTO cmdb_state (id, revision) SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM cmdb_state)")).await?;
    }
    if db.backend() == crate::platform::db::Backend::Postgres {
        // Tables whose `id` is an identity column, read from the catalogue so no list can
        // fall behind the migrations.
        let identity: Vec<(String,)> = tx
            .all(Q::new("SELECT CAST(table_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'"))
            .await?;
        for t in TABLES
            .iter()
            .filter(|t| identity.iter().any(|(i,)| i == *t))
        {
            tx.exec(Q::new(format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"))).await?;
        }
    }
    tx.commit().await?;
    Ok(n)
}
