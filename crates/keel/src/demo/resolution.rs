//! Clause 8.6 — the demo's resolution and fulfilment: a few hundred incidents in every state
//! (8.6.1), request types and requests in flight (8.6.2), problems and a known error (8.6.3).
//! Seeded through the same use cases the API calls.

use super::{INCIDENTS, Org, Rng, principal};
use crate::kernel::{self, NewItem, Patch, Scope};
use crate::operation::resolution::problem::{RaiseProblem, known_error_from, raise_problem};
use crate::operation::resolution::request::{NewRequestType, TaskTemplate, create_type, raise};
use crate::platform::auth::Principal;
use crate::platform::db::Db;
use crate::platform::error::AppResult;
use keel_core::access::Role;
use serde_json::json;

/// Incidents drawn from a fixed seed, each walked to a state through the same updates an agent
/// makes; their numbers (INC-000001, …) are what the problems and the tests refer to.
pub(super) async fn seed_incidents(db: &Db, org: &Org) -> AppResult<()> {
    let [desk, net, apps] = org.groups;
    let ids = &org.users;
    let groups = [
        (desk, [ids[3], ids[2]]),
        (net, [ids[4], ids[3]]),
        (apps, [ids[5], ids[3]]),
    ];
    let titles = [
        "Cannot connect to VPN",
        "Outlook keeps asking for password",
        "Printer on floor 3 jams",
        "ERP invoice run fails",
        "Laptop battery drains fast",
        "Wi-Fi drops in meeting room B",
        "Shared drive not mapped",
        "Cannot approve purchase order",
        "Phone has no dial tone",
        "Slow response in ERP reports",
        "Mailbox full",
        "New starter needs access",
    ];
    let mut rng = Rng(0x5eed_2026);
    let categories = keel_core::operation::resolution::incident::CATEGORIES;
    for i in 0..INCIDENTS {
        let (g, members) = *rng.pick(&groups);
        let mut input = NewItem {
            title: format!("{} ({})", rng.pick(&titles), i + 1),
            description: "Reported by phone. The user describes the symptom and when it started."
                .into(),
            impact: Some((rng.next() % 3 + 1) as i64),
            urgency: Some((rng.next() % 3 + 1) as i64),
            category: Some(rng.pick(categories).to_string()),
            requester_id: Some(*rng.pick(&org.requesters)),
            service_id: Some(*rng.pick(&org.services)),
            assignment_group_id: Some(g),
            ..Default::default()
        };
        if input.category.as_deref() == Some("security") {
            // Security incidents are classified (8.7.3) before they may be resolved.
            input.details = json!({"security_type": "phishing", "security_property": "confidentiality", "personal_data": "no"})
                .as_object()
                .cloned()
                .unwrap_or_default();
        }
        let item = kernel::create(
            db,
            keel_core::operation::resolution::incident::KIND,
            &org.actor,
            &org.agent,
            input,
        )
        .await?;
        let steps: &[Patch] = &match rng.next() % 6 {
            0 => vec![],
            1 => vec![Patch {
                state: Some("in_progress".into()),
                assignee_id: Some(Some(*rng.pick(&members))),
                ..Default::default()
            }],
            2 => vec![
                Patch {
                    state: Some("in_progress".into()),
                    assignee_id: Some(Some(*rng.pick(&members))),
                    ..Default::default()
                },
                Patch {
                    state: Some("on_hold".into()),
                    hold_reason: Some(Some("pending_requester".into())),
                    ..Default::default()
                },
            ],
            3 => vec![
                Patch {
                    state: Some("in_progress".into()),
                    assignee_id: Some(Some(*rng.pick(&members))),
                    ..Default::default()
                },
                Patch {
                    state: Some("resolved".into()),
                    resolution_code: Some(Some("fixed".into())),
                    resolution_notes: Some(Some("Restarted the service.".into())),
                    ..Default::default()
                },
            ],
            4 => vec![
                Patch {
                    state: Some("in_progress".into()),
                    assignee_id: Some(Some(*rng.pick(&members))),
                    ..Default::default()
                },
                Patch {
                    state: Some("resolved".into()),
                    resolution_code: Some(Some("workaround".into())),
                    resolution_notes: Some(Some("Workaround given.".into())),
                    ..Default::default()
                },
                Patch {
                    state: Some("closed".into()),
                    ..Default::default()
                },
            ],
            _ => vec![Patch {
                state: Some("cancelled".into()),
                ..Default::default()
            }],
        };
        for p in steps {
            kernel::update(
                db,
                keel_core::operation::resolution::incident::KIND,
                &item.number,
                Scope::All,
                &org.actor,
                p.clone(),
                None,
            )
            .await?;
        }
    }
    Ok(())
}

/// Problems raised from a few incidents: one under investigation, two documented as known
/// errors (one of them recorded as a known-error record), one proactive.
pub(super) async fn seed_problems(db: &Db, org: &Org) -> AppResult<()> {
    let agent = &org.agent;
    let patch = |state: &str, rc: &str, wa: &str| Patch {
        state: Some(state.into()),
        details: Some(
            [("root_cause", rc), ("workaround", wa)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect(),
        ),
        ..Default::default()
    };
    let vpn = raise_problem(
        db,
        agent,
        "INC-000001",
        RaiseProblem {
            title: Some("VPN drops every 30 minutes for remote staff".into()),
            description: None,
        },
    )
    .await?;
    kernel::update(db, keel_core::operation::resolution::problem::PROBLEM, &vpn.number, Scope::All, &agent.actor(),
        patch("known_error", "The VPN concentrator renegotiates keys every 30 minutes and drops clients on the old firmware.",
              "Reconnect; or set the client's rekey interval to 8 hours."), None).await?;
    known_error_from(db, agent, &vpn.number).await?;
    let mail = raise_problem(
        db,
        agent,
        "INC-000002",
        RaiseProblem {
            title: Some("Outlook asks for the password after every restart".into()),
            description: None,
        },
    )
    .await?;
    kernel::update(
        db,
        keel_core::operation::resolution::problem::PROBLEM,
        &mail.number,
        Scope::All,
        &agent.actor(),
        patch(
            "known_error",
            "Cached credentials are written to a profile folder that roaming profiles wipe.",
            "Sign in once with 'Remember me'; the token lasts 90 days.",
        ),
        None,
    )
    .await?;
    let erp = raise_problem(db, agent, "INC-000004", RaiseProblem::default()).await?;
    kernel::update(
        db,
        keel_core::operation::resolution::problem::PROBLEM,
        &erp.number,
        Scope::All,
        &agent.actor(),
        Patch {
            state: Some("investigating".into()),
            ..Default::default()
        },
        None,
    )
    .await?;
    kernel::create(
        db,
        keel_core::operation::resolution::problem::PROBLEM,
        &agent.actor(),
        agent,
        NewItem {
            title: "Printer fleet reaches end of support next year".into(),
            description: "Proactive: replace before failures start.".into(),
            details: [(
                "origin".to_string(),
                serde_json::Value::String("proactive".into()),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Request types (with and without approval, with staged tasks) and a few requests in flight.
pub(super) async fn seed_requests(db: &Db, org: &Org) -> AppResult<()> {
    let actor = &org.actor;
    let [desk, net, apps] = org.groups;
    let (manager, sms) = (org.manager.user_id, org.sms.user_id);
    let requesters = &org.requesters;
    let task = |name: &str, group: i64, stage: i64| TaskTemplate {
        name: name.into(),
        group_id: Some(group),
        stage,
    };
    let laptop = create_type(
        db,
        actor,
        NewRequestType {
            name: "New laptop".into(),
            description: "A standard laptop, imaged and delivered to your desk.".into(),
            service_id: None,
            approvers: vec!["requester_manager".into()],
            approver_id: None,
            tasks: vec![
                task("Order the laptop", desk, 1),
                task("Create the network account", net, 1),
                task("Image and deliver", desk, 2),
            ],
        },
    )
    .await?;
    let software = create_type(
        db,
        actor,
        NewRequestType {
            name: "Software install".into(),
            description: "Licensed software from the approved list.".into(),
            service_id: None,
            approvers: vec!["named".into()],
            approver_id: Some(sms),
            tasks: vec![task("Assign a licence", apps, 1), task("Install", desk, 2)],
        },
    )
    .await?;
    let reset = create_type(
        db,
        actor,
        NewRequestType {
            name: "Password reset".into(),
            description: "Reset a password or unlock an account.".into(),
            service_id: None,
            approvers: vec![],
            approver_id: None,
            tasks: vec![task("Reset and tell the user", desk, 1)],
        },
    )
    .await?;
    // Every requester's manager is Maya Manager.
    for r in requesters {
        crate::directory::set_manager(db, actor, *r, Some(manager)).await?;
    }
    let requester = principal(
        requesters[0],
        "requester@demo.keel",
        "Rita Requester",
        Role::Requester,
    );
    let requester = Principal {
        customer_id: crate::directory::get_user(db, requesters[0])
            .await?
            .customer_id,
        ..requester
    };
    for (title, t) in [
        ("Laptop for our new analyst", laptop.id),
        ("Visio for process maps", software.id),
        ("Unlock my account", reset.id),
    ] {
        raise(
            db,
            &requester,
            NewItem {
                title: title.into(),
                details: [(
                    "request_type".to_string(),
                    serde_json::Value::String(t.to_string()),
                )]
                .into_iter()
                .collect(),
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(())
}
