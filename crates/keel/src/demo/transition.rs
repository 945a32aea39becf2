//! Clause 8.5 — the demo's change and release management: a CAB and an emergency CAB, changes in
//! several states (one clashing on the change calendar) and a release. Seeded through the same
//! use cases the API calls.

use super::Org;
use crate::directory;
use crate::kernel::{NewItem, Patch, Scope};
use crate::operation::transition::{change, policy, release};
use crate::platform::db::Db;
use crate::platform::error::AppResult;
use serde_json::json;

/// Change management (8.5.1) and a release (8.5.3): a CAB (Maya and Sam, any one decides) and
/// an emergency CAB, the ERP service under change control, a standard change template, a
/// blackout at quarter end; an authorized ERP database upgrade next weekend, a mail server patch
/// in the same window waiting for the CAB (a clash on the calendar), a standard change, a
/// change closed last month; and a minor release bundling the upgrade.
pub(super) async fn seed(db: &Db, org: &Org) -> AppResult<()> {
    let (agent, manager, actor) = (&org.agent, &org.manager, &org.actor);
    let (manager_id, sms_id, admin_id) = (org.manager.user_id, org.sms.user_id, org.users[0]);
    let erp = org.services[2];
    let st = crate::app::state(db.clone(), crate::platform::config::Config::default());
    let cab_group = directory::create_group(
        db,
        actor,
        "Change Advisory Board",
        "Authorizes normal changes",
        Some(manager_id),
    )
    .await?
    .id;
    for u in [manager_id, sms_id] {
        directory::add_member(db, actor, cab_group, u).await?;
    }
    let ecab_group = directory::create_group(
        db,
        actor,
        "Emergency CAB",
        "Authorizes emergency changes",
        Some(sms_id),
    )
    .await?
    .id;
    for u in [sms_id, admin_id] {
        directory::add_member(db, actor, ecab_group, u).await?;
    }
    let cab = policy::create_authority(
        db,
        actor,
        policy::NewAuthority {
            name: "CAB".into(),
            description: "Weekly change advisory board".into(),
            group_id: cab_group,
            rule: Some("any".into()),
            quorum: None,
        },
    )
    .await?
    .id;
    let ecab = policy::create_authority(
        db,
        actor,
        policy::NewAuthority {
            name: "Emergency CAB".into(),
            description: "Convened at once; everyone decides".into(),
            group_id: ecab_group,
            rule: Some("all".into()),
            quorum: None,
        },
    )
    .await?
    .id;
    let infra = policy::create_category(
        db,
        actor,
        policy::NewCategory {
            name: "Infrastructure".into(),
            description: "Servers, storage, network".into(),
            authority_id: cab,
        },
    )
    .await?
    .id;
    policy::create_category(
        db,
        actor,
        policy::NewCategory {
            name: "Application".into(),
            description: "Business applications".into(),
            authority_id: cab,
        },
    )
    .await?;
    policy::save(
        db,
        actor,
        policy::TransitionPolicy {
            controlled_service_ids: vec![erp],
            emergency_criteria:
                "A live service is down or a security vulnerability is being exploited.".into(),
            default_authority_id: Some(cab),
            emergency_authority_id: Some(ecab),
            ..Default::default()
        },
    )
    .await?;
    let template = policy::create_template(
        db,
        actor,
        policy::NewTemplate {
            name: "Renew a TLS certificate".into(),
            description: "Replace a certificate before it expires".into(),
            category_id: Some(infra),
            service_id: None,
            implementation_plan: "Install the new certificate and reload the web server.".into(),
            backout_plan: "Reinstall the previous certificate (kept for 30 days).".into(),
            test_plan: "Check the chain with openssl s_client.".into(),
            tasks: vec![crate::kernel::tasks::TaskTemplate {
                name: "Install and reload".into(),
                group_id: None,
                stage: 1,
            }],
        },
    )
    .await?
    .id;
    let now = crate::platform::db::now_ms();
    let day = 86_400_000;
    // Next Saturday 20:00 UTC.
    let next_sat = {
        let today = now / day;
        // 1970-01-01 was a Thursday: weekday index with Monday = 0.
        let weekday = (today + 3) % 7;
        (today + (5 - weekday + 7) % 7 + 7) * day + 20 * 3_600_000
    };
    let iso = crate::platform::web::iso;
    let ci = |name: &'static str| async move {
        let row: Option<(i64,)> = db
            .opt(crate::platform::db::Q::new("SELECT id FROM cis WHERE name = $1").bind(name))
            .await?;
        row.map(|r| r.0)
            .ok_or_else(|| crate::platform::error::AppError::NotFound(name.into()))
    };
    let db_server = ci("srv-db-01").await?;
    let mail_server = ci("srv-mail-01").await?;
    let answers = |pairs: [(&str, &str); 5]| change::RiskBody {
        answers: pairs
            .iter()
            .map(|(q, a)| ((*q).to_string(), (*a).to_string()))
            .collect(),
    };
    let to = |number: &str, state: &str, details: serde_json::Value| {
        let number = number.to_string();
        let state = state.to_string();
        async move {
            crate::kernel::update(
                db,
                keel_core::operation::transition::change::KIND,
                &number,
                Scope::All,
                &agent.actor(),
                Patch {
                    state: Some(state),
                    details: details.as_object().cloned().filter(|d| !d.is_empty()),
                    ..Default::default()
                },
                None,
            )
            .await
        }
    };
    // 1. The ERP database upgrade: assessed, authorized by Maya, scheduled next Saturday.
    let upgrade = change::raise(
        db,
        agent,
        NewItem {
            title: "Upgrade the ERP database to PostgreSQL 17".into(),
            description: "Major version upgrade with pg_upgrade --link.".into(),
            service_id: Some(erp),
            details: json!({"change_type": "normal", "change_category": "Infrastructure"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        },
    )
    .await?
    .number;
    change::add_ci_update(
        db,
        agent,
        &upgrade,
        change::CiUpdateBody {
            ci_id: db_server,
            status: None,
            attributes: json!({"ram_gb": 64})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
    )
    .await?;
    to(&upgrade, "assess", json!({"implementation_plan": "Stop ERP; pg_upgrade --link; analyze; start ERP.",
        "backout_plan": "Start the old cluster from the untouched data directory.", "test_plan": "ERP smoke tests in staging."})).await?;
    change::assess(
        &st,
        agent,
        &upgrade,
        answers([
            ("complexity", "moderate"),
            ("testing", "fully"),
            ("backout", "easy"),
            ("downtime", "in_window"),
            ("experience", "occasionally"),
        ]),
    )
    .await?;
    change::set_schedule(
        db,
        agent,
        &upgrade,
        change::ScheduleBody {
            planned_start: iso(next_sat),
            planned_end: iso(next_sat + 3 * 3_600_000),
        },
    )
    .await?;
    to(&upgrade, "authorize", json!({})).await?;
    let first = crate::kernel::approvals::list(
        db,
        &crate::kernel::get(
            db,
            keel_core::operation::transition::change::KIND,
            &upgrade,
            Scope::All,
        )
        .await?,
    )
    .await?;
    if let Some(a) = first.iter().find(|a| a.approver_id == manager_id) {
        crate::kernel::approvals::decide(
            db,
            manager,
            keel_core::operation::transition::change::KIND,
            &upgrade,
            a.id,
            crate::kernel::approvals::Decision {
                decision: "approve".into(),
                comment: Some("Go, with the DBA on call.".into()),
            },
        )
        .await?;
    }
    // 2. A mail server patch in the same window, on the same database server: waits for the CAB.
    let patch = change::raise(
        db,
        agent,
        NewItem {
            title: "Patch the mail server and its database host".into(),
            description: "Monthly security patches.".into(),
            details: json!({"change_type": "normal", "change_category": "Infrastructure"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        },
    )
    .await?
    .number;
    let patch_row = crate::kernel::get(
        db,
        keel_core::operation::transition::change::KIND,
        &patch,
        Scope::All,
    )
    .await?;
    for c in [mail_server, db_server] {
        crate::operation::portfolio::affected::set(db, &patch_row, &agent.actor(), c, true)
            .await
            .ok();
    }
    to(&patch, "assess", json!({"implementation_plan": "apt upgrade; reboot.", "backout_plan": "Boot the previous kernel."})).await?;
    change::assess(
        &st,
        agent,
        &patch,
        answers([
            ("complexity", "simple"),
            ("testing", "partially"),
            ("backout", "easy"),
            ("downtime", "in_window"),
            ("experience", "routine"),
        ]),
    )
    .await?;
    change::set_schedule(
        db,
        agent,
        &patch,
        change::ScheduleBody {
            planned_start: iso(next_sat + 3_600_000),
            planned_end: iso(next_sat + 2 * 3_600_000),
        },
    )
    .await?;
    to(&patch, "authorize", json!({})).await?;
    // 3. A standard change: pre-authorized, scheduled on Monday.
    let tls = change::raise(
        db,
        agent,
        NewItem {
            title: "Renew the portal's TLS certificate".into(),
            details: json!({"change_type": "standard", "template": template.to_string()})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        },
    )
    .await?
    .number;
    change::set_schedule(
        db,
        agent,
        &tls,
        change::ScheduleBody {
            planned_start: iso(next_sat + 2 * day - 12 * 3_600_000),
            planned_end: iso(next_sat + 2 * day - 11 * 3_600_000),
        },
    )
    .await?;
    to(&tls, "scheduled", json!({})).await?;
    // 4. Closed last month: a successful change, for the metrics.
    let done = change::raise(
        db,
        agent,
        NewItem {
            title: "Renew the VPN gateway certificate".into(),
            details: json!({"change_type": "standard", "template": template.to_string()})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        },
    )
    .await?
    .number;
    change::set_schedule(
        db,
        agent,
        &done,
        change::ScheduleBody {
            planned_start: iso(now - 30 * day),
            planned_end: iso(now - 30 * day + 3_600_000),
        },
    )
    .await?;
    to(&done, "scheduled", json!({})).await?;
    to(&done, "implement", json!({})).await?;
    let done_row = crate::kernel::get(
        db,
        keel_core::operation::transition::change::KIND,
        &done,
        Scope::All,
    )
    .await?;
    for t in crate::kernel::tasks::list(db, &done_row).await? {
        crate::kernel::tasks::complete(
            db,
            agent,
            keel_core::operation::transition::change::KIND,
            &done,
            t.id,
            Default::default(),
        )
        .await
        .ok();
    }
    to(&done, "review", json!({"outcome": "successful"})).await?;
    to(&done, "closed", json!({})).await?;
    // A blackout at quarter end on ERP, and a release bundling the upgrade.
    policy::create_blackout(
        db,
        actor,
        policy::NewBlackout {
            name: "Quarter-end close".into(),
            reason: "Finance closes the books".into(),
            starts_at: iso(next_sat + 14 * day - 20 * 3_600_000),
            ends_at: iso(next_sat + 17 * day),
            service_id: Some(erp),
        },
    )
    .await?;
    let rel = release::create(
        db,
        agent,
        release::NewRelease {
            name: "ERP platform 2026.4".into(),
            kind: "minor".into(),
            description: "Database upgrade and ERP patch level 4.".into(),
            planned_at: iso(next_sat),
            changes: vec![upgrade],
        },
    )
    .await?;
    release::plan_deployment(
        db,
        agent,
        &rel.number,
        release::NewDeployment {
            environment: "production".into(),
            planned_start: iso(next_sat),
            planned_end: iso(next_sat + 3 * 3_600_000),
            cis: vec![],
        },
    )
    .await?;
    Ok(())
}
