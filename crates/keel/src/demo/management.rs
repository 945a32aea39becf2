//! Clauses 4–10 — the demo's service management system: interested parties and scope (4),
//! RACI and communication (5, 7.4), risks and objectives (6), competences, controlled documents
//! and knowledge (7), audits, reviews and reports (9), nonconformities and improvements (10).
//! Seeded through the same use cases the API calls.

use super::Org;
use crate::kernel::{self, NewItem, Patch, Scope};
use crate::management::compliance::{self as comp, assessment};
use crate::management::support::knowledge::{ArticlePatch, NewArticle, create, update};
use crate::platform::db::{Db, Q};
use crate::platform::error::AppResult;

/// Knowledge (7.6): three articles, two published (one documenting the VPN known error), one
/// draft.
pub(super) async fn seed_knowledge(db: &Db, org: &Org) -> AppResult<()> {
    let (agent, manager) = (&org.agent, &org.manager);
    let articles = [
        (
            "VPN drops every 30 minutes",
            "If your VPN connection drops every half hour, reconnect — or ask the service desk to set your client's rekey interval to 8 hours. A firmware fix is planned.",
            Some("KE-000001"),
            true,
        ),
        (
            "Outlook keeps asking for my password",
            "Sign in once with 'Remember me' ticked. The sign-in then lasts 90 days. If it keeps asking, restart Outlook in safe mode (hold Ctrl while starting it).",
            None,
            true,
        ),
        (
            "Clearing a paper jam on the floor 3 printer",
            "Open tray 2, pull the green lever, remove the paper, close the tray.",
            None,
            false,
        ),
    ];
    for (title, body, ke, publish) in articles {
        let a = create(
            db,
            agent,
            NewArticle {
                title: title.into(),
                body: body.into(),
                service_id: None,
                known_error: ke.map(String::from),
                review_date: Some("2027-06-30".into()),
                owner_id: None,
            },
        )
        .await?;
        if publish {
            update(
                db,
                agent,
                &a.number,
                ArticlePatch {
                    state: Some("review".into()),
                    ..Default::default()
                },
            )
            .await?;
            update(
                db,
                manager,
                &a.number,
                ArticlePatch {
                    state: Some("published".into()),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// The management system: nonconformities (one closed with an effective corrective action),
/// an improvement under way, a few assessor judgements, one process rated, a gap action and a
/// baseline assessment — so the compliance dashboard has something to show.
pub(super) async fn seed_compliance(db: &Db, org: &Org) -> AppResult<()> {
    let (sms, manager) = (&org.sms, &org.manager);
    let (sms_id, manager_id) = (org.sms.user_id, org.manager.user_id);
    let actor = sms.actor();
    let d = |pairs: &[(&str, &str)]| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect()
    };
    let open_nc = kernel::create(db, keel_core::management::improvement::NONCONFORMITY, &actor, sms, NewItem {
        title: "Incidents closed without a category".into(),
        description: "The internal audit of incident management sampled 20 closed incidents; 3 had no category, so trend analysis missed them.".into(),
        details: d(&[("source", "internal_audit"), ("severity", "minor"), ("requirement", "8.6.1")]),
        ..Default::default()
    })
    .await?;
    kernel::update(
        db,
        keel_core::management::improvement::NONCONFORMITY,
        &open_nc.number,
        Scope::All,
        &actor,
        Patch {
            state: Some("corrective_action".into()),
            details: Some(d(&[(
                "correction",
                "The three incidents were categorised.",
            )])),
            ..Default::default()
        },
        None,
    )
    .await?;
    let closed_nc = kernel::create(
        db,
        keel_core::management::improvement::NONCONFORMITY,
        &actor,
        sms,
        NewItem {
            title: "Emergency change implemented before the ECAB decided".into(),
            description: "Found in the monthly change review.".into(),
            details: d(&[
                ("source", "process_monitoring"),
                ("severity", "major"),
                ("requirement", "8.5.1.3"),
            ]),
            ..Default::default()
        },
    )
    .await?;
    for (state, fields) in [
        (
            "corrective_action",
            vec![(
                "correction",
                "The change was reviewed and authorized retrospectively.",
            )],
        ),
        (
            "verifying",
            vec![
                (
                    "root_cause",
                    "The on-call engineer could not reach the emergency CAB at night.",
                ),
                (
                    "corrective_action",
                    "An on-call ECAB member is named in the rota; Keel refuses implementation before authorization.",
                ),
            ],
        ),
        (
            "closed",
            vec![
                ("effectiveness", "effective"),
                (
                    "effectiveness_notes",
                    "No emergency change in the following quarter started before authorization.",
                ),
            ],
        ),
    ] {
        kernel::update(
            db,
            keel_core::management::improvement::NONCONFORMITY,
            &closed_nc.number,
            Scope::All,
            &actor,
            Patch {
                state: Some(state.into()),
                details: Some(d(&fields)),
                ..Default::default()
            },
            None,
        )
        .await?;
    }
    let imp = kernel::create(
        db,
        keel_core::management::improvement::IMPROVEMENT,
        &actor,
        sms,
        NewItem {
            title: "Self-service password reset".into(),
            description: "A fifth of all incidents are password resets.".into(),
            details: d(&[
                ("source", "service_report"),
                (
                    "evaluation_criteria",
                    "Fewer password incidents; cost under 5 person-days.",
                ),
            ]),
            ..Default::default()
        },
    )
    .await?;
    for (state, fields) in [
        (
            "evaluated",
            vec![(
                "evaluation",
                "Meets both criteria; the directory already supports it.",
            )],
        ),
        ("approved", vec![]),
        (
            "implementing",
            vec![(
                "expected_benefit",
                "Password incidents halved within three months.",
            )],
        ),
    ] {
        kernel::update(
            db,
            keel_core::management::improvement::IMPROVEMENT,
            &imp.number,
            Scope::All,
            &actor,
            Patch {
                state: Some(state.into()),
                details: Some(d(&fields)),
                ..Default::default()
            },
            None,
        )
        .await?;
    }
    // The risk register: one treated risk, one accepted, one opportunity just identified.
    let review = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .saturating_add(jiff::ToSpan::days(90))
        .to_string();
    let treated = kernel::create(
        db,
        keel_core::management::planning::KIND,
        &actor,
        sms,
        NewItem {
            title: "The ERP database has no standby".into(),
            description:
                "A hardware fault on the database server stops invoicing until it is rebuilt."
                    .into(),
            assignee_id: Some(manager_id),
            details: d(&[
                ("nature", "risk"),
                ("source", "service_requirements"),
                ("likelihood", "2"),
                ("impact", "5"),
            ]),
            ..Default::default()
        },
    )
    .await?;
    for (state, fields) in [
        ("assessed", vec![]),
        (
            "treating",
            vec![
                ("treatment", "reduce"),
                (
                    "treatment_plan",
                    "Add a streaming replica in the second data centre (change planned).",
                ),
                ("review_date", review.as_str()),
            ],
        ),
    ] {
        kernel::update(
            db,
            keel_core::management::planning::KIND,
            &treated.number,
            Scope::All,
            &actor,
            Patch {
                state: Some(state.into()),
                details: Some(d(&fields)),
                ..Default::default()
            },
            None,
        )
        .await?;
    }
    let accepted = kernel::create(
        db,
        keel_core::management::planning::KIND,
        &actor,
        sms,
        NewItem {
            title: "The print supplier has a single engineer for our region".into(),
            description: String::new(),
            assignee_id: Some(sms_id),
            details: d(&[
                ("nature", "risk"),
                ("source", "other_parties"),
                ("likelihood", "3"),
                ("impact", "1"),
            ]),
            ..Default::default()
        },
    )
    .await?;
    for (state, fields) in [
        ("assessed", vec![]),
        (
            "accepted",
            vec![
                (
                    "acceptance_reason",
                    "Printing can wait a day; a second supplier costs more than the outages.",
                ),
                ("review_date", review.as_str()),
            ],
        ),
    ] {
        kernel::update(
            db,
            keel_core::management::planning::KIND,
            &accepted.number,
            Scope::All,
            &actor,
            Patch {
                state: Some(state.into()),
                details: Some(d(&fields)),
                ..Default::default()
            },
            None,
        )
        .await?;
    }
    kernel::create(
        db,
        keel_core::management::planning::KIND,
        &actor,
        sms,
        NewItem {
            title: "Customers ask for a chat channel".into(),
            description: "Raised in the last service review with Northwind.".into(),
            details: d(&[
                ("nature", "opportunity"),
                ("source", "service_requirements"),
            ]),
            ..Default::default()
        },
    )
    .await?;
    // The internal audit programme: resolution audited two months ago, change planned.
    use crate::management::evaluation as audits;
    let day = |offset: i64| {
        jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()
            .saturating_add(jiff::ToSpan::days(offset))
            .to_string()
    };
    let done = audits::create(
        db,
        sms,
        audits::NewAudit {
            title: "Resolution and fulfilment".into(),
            requirements: vec![],
            processes: vec![
                "incident".into(),
                "service-request".into(),
                "problem".into(),
            ],
            criteria: "ISO/IEC 20000-1:2018 8.6; the incident, request and problem procedures"
                .into(),
            planned_start: day(-60),
            planned_end: day(-58),
            lead_auditor_id: Some(manager_id),
            auditees: "Service desk, Network team".into(),
        },
    )
    .await?;
    audits::update(
        db,
        sms,
        &done.number,
        audits::AuditPatch {
            state: Some("in_progress".into()),
            ..Default::default()
        },
    )
    .await?;
    audits::add_finding(db, sms, &done.number, audits::NewFinding {
        requirement: "8.6.2".into(),
        grade: "minor".into(),
        statement: "Fulfilment instructions for new laptops still name the retired imaging tool".into(),
        evidence: "Request type 'New laptop', task 2 instructions; interview with the desk lead".into(),
    })
    .await?;
    audits::add_finding(
        db,
        sms,
        &done.number,
        audits::NewFinding {
            requirement: "8.6.1".into(),
            grade: "opportunity".into(),
            statement: "Major incident reviews could feed the problem backlog automatically".into(),
            evidence: String::new(),
        },
    )
    .await?;
    audits::update(db, sms, &done.number, audits::AuditPatch {
        state: Some("reported".into()),
        report: Some("Resolution processes are established and effective. One minor nonconformity (8.6.2) and one opportunity for improvement.".into()),
        ..Default::default()
    })
    .await?;
    audits::create(
        db,
        sms,
        audits::NewAudit {
            title: "Change and release".into(),
            requirements: vec![],
            processes: vec!["change".into(), "release".into()],
            criteria: "ISO/IEC 20000-1:2018 8.5.1, 8.5.3; the change management policy".into(),
            planned_start: day(21),
            planned_end: day(22),
            lead_auditor_id: Some(manager_id),
            auditees: "CAB members, release managers".into(),
        },
    )
    .await?;
    // Controlled documents: the policy, scope and procedures in force, the SMS plan in review.
    use crate::management::support::documents as docs;
    let in_force: &[(&str, &str, &[&str], &str)] = &[
        (
            "Service management policy",
            "policy",
            &["agent", "manager", "sms-manager"],
            "Keel Demo IT delivers the services in its catalogue to the levels agreed with each customer.\n\nWe commit to meeting the service requirements and the obligations that apply to us, to setting and reviewing service management objectives, and to continually improving the SMS and the services.",
        ),
        (
            "Scope of the service management system",
            "scope",
            &["manager", "sms-manager"],
            "The SMS covers the Email, ERP, Network, Service desk and Workplace services that Keel Demo IT delivers to its customers from its head office.",
        ),
        (
            "Major incident procedure",
            "major_incident_procedure",
            &["agent", "manager"],
            "1. Declare: any P1 with a service outage, or on the duty manager's call.\n2. Name the major incident manager and open the bridge.\n3. Inform customers every 30 minutes.\n4. Resolve, then review within five working days and raise a problem.",
        ),
        (
            "Change management policy",
            "change_policy",
            &["agent", "manager"],
            "Services and CI classes under change control are listed in Keel. Normal changes go to the CAB; emergencies to the ECAB; standard changes follow their template.",
        ),
    ];
    for (title, ty, dist, body) in in_force {
        let d = docs::create(
            db,
            manager,
            docs::NewDocument {
                title: (*title).into(),
                doc_type: (*ty).into(),
                owner_id: Some(sms_id),
                review_months: Some(12),
                distribution: dist.iter().map(|r| r.to_string()).collect(),
                body: (*body).into(),
                change_summary: "First version".into(),
            },
        )
        .await?;
        for (who, action) in [(manager, "submit"), (sms, "approve")] {
            docs::decide(
                db,
                who,
                &d.number,
                1,
                docs::Decision {
                    action: action.into(),
                    note: String::new(),
                },
            )
            .await?;
        }
        docs::acknowledge(db, manager, &d.number).await?;
    }
    let plan = docs::create(
        db,
        manager,
        docs::NewDocument {
            title: "Service management plan".into(),
            doc_type: "plan".into(),
            owner_id: Some(sms_id),
            review_months: Some(12),
            distribution: vec!["manager".into(), "sms-manager".into()],
            body: "Objectives for the year, the resources and the schedule of audits and reviews."
                .into(),
            change_summary: "First version".into(),
        },
    )
    .await?;
    docs::decide(
        db,
        manager,
        &plan.number,
        1,
        docs::Decision {
            action: "submit".into(),
            note: String::new(),
        },
    )
    .await?;
    // Last quarter's management review, held and closed, with one action under way.
    use crate::management::evaluation::review;
    let mr = review::create(
        db,
        sms,
        review::NewReview {
            title: "Quarterly management review".into(),
            planned_on: day(-30),
            from: None,
            to: None,
            attendees: "Managing director, SMS manager, service owners".into(),
        },
    )
    .await?;
    review::compile_inputs(db, sms, &mr.number).await?;
    review::update(db, sms, &mr.number, review::ReviewPatch {
        state: Some("held".into()),
        minutes: Some("Readiness and the failing checks were discussed. SLA attainment is on target; the CMDB has no owners recorded.".into()),
        ..Default::default()
    })
    .await?;
    review::add_action(
        db,
        sms,
        &mr.number,
        review::ReviewAction {
            title: "Name an owner group for every configuration item".into(),
            description: String::new(),
            owner_id: Some(manager_id),
            due_on: Some(day(30)),
            requirement: Some("8.2.6".into()),
        },
    )
    .await?;
    review::update(
        db,
        sms,
        &mr.number,
        review::ReviewPatch {
            state: Some("closed".into()),
            decisions: Some(
                "Start the internal audit of change and release next month; fund CMDB clean-up."
                    .into(),
            ),
            ..Default::default()
        },
    )
    .await?;
    // An objective measured by two KPIs, and a monthly report per customer-facing service.
    use crate::management::evaluation::{kpi, report};
    let objective = kpi::create_objective(
        db,
        sms,
        kpi::NewObjective {
            title: "Resolve incidents within the agreed targets".into(),
            description:
                "At least 90 % of incidents resolved within their resolution target, every month."
                    .into(),
            owner_id: Some(manager_id),
            due_on: Some(day(180)),
        },
    )
    .await?;
    for (name, metric, target) in [
        (
            "Resolution within target",
            "incident_resolution_attainment",
            90.0,
        ),
        ("Mean time to resolve", "mean_time_to_resolve", 8.0),
    ] {
        kpi::create_kpi(
            db,
            sms,
            kpi::NewKpi {
                name: name.into(),
                metric: metric.into(),
                service_id: None,
                target,
                frequency: None,
                objective: Some(objective.number.clone()),
            },
        )
        .await?;
    }
    kpi::measure_due(db).await?;
    let erp: Option<(i64,)> = db
        .opt(Q::new("SELECT id FROM services WHERE name = 'ERP'"))
        .await?;
    if let Some((erp,)) = erp {
        report::define(
            db,
            sms,
            report::NewDefinition {
                name: "ERP monthly service report".into(),
                service_id: Some(erp),
                customer_id: None,
                frequency: None,
            },
        )
        .await?;
        report::generate_due(db, &actor).await?;
    }
    // Interested parties (4.2) and the competences roles require (7.2), one of them recorded.
    for (name, kind, req, how) in [
        (
            "Northwind Traders",
            "customer",
            "ERP available during month-end close; monthly service report",
            "SLA targets per priority; ERP monthly service report",
        ),
        (
            "Data protection authority",
            "regulator",
            "Personal data processed lawfully; breaches reported within 72 hours",
            "Information security policy; major incident procedure",
        ),
        (
            "Staff",
            "staff",
            "Clear procedures and the tools to follow them",
            "",
        ),
    ] {
        crate::management::context::create(
            db,
            sms,
            crate::management::context::NewParty {
                name: name.into(),
                kind: kind.into(),
                requirements: req.into(),
                how_addressed: how.into(),
                review_date: Some(day(300)),
                owner_id: Some(sms_id),
            },
        )
        .await?;
    }
    use crate::management::support::competence;
    for (role, comp) in [
        ("agent", "Incident handling"),
        ("agent", "ITIL 4 Foundation"),
        ("manager", "Change authority duties"),
    ] {
        competence::require_competence(
            db,
            sms,
            competence::NewRequirement {
                role: role.into(),
                competence: comp.into(),
                description: String::new(),
            },
        )
        .await?;
    }
    let agent: Option<(i64,)> = db
        .opt(Q::new(
            "SELECT id FROM users WHERE email = 'agent@demo.keel'",
        ))
        .await?;
    if let Some((agent,)) = agent {
        competence::record(
            db,
            manager,
            competence::NewRecord {
                user_id: agent,
                competence: "Incident handling".into(),
                completed_on: day(-120),
                expires_on: None,
                evidence: "Internal course, assessed by the desk lead".into(),
            },
        )
        .await?;
    }
    // The scope, RACI for the resolution processes and a communication plan.
    use crate::management::leadership as lead;
    let services: Vec<(i64, String)> = db.all(Q::new("SELECT id, name FROM services WHERE stage = 'live' AND name <> 'Workplace' ORDER BY id")).await?;
    lead::set_scope(db, sms, lead::ScopeBody {
        statement: "The SMS of Keel Demo IT covers the services it delivers to its customers from its head office.".into(),
        service_ids: services.iter().map(|s| s.0).collect(),
        locations: "Head office".into(),
        units: "Service desk, Network, Applications".into(),
        parties: "External suppliers of hardware and connectivity".into(),
        exclusions: vec![lead::Exclusion { what: "Workplace".into(), reason: "Delivered and managed by the facilities provider under its own contract.".into() }],
        version: None,
    })
    .await?;
    for process in ["incident", "service-request", "problem", "change"] {
        lead::set_raci(
            db,
            sms,
            process,
            lead::RaciBody {
                entries: vec![
                    lead::RaciEntry {
                        who: "Maya Manager (process owner)".into(),
                        letter: "A".into(),
                    },
                    lead::RaciEntry {
                        who: "Service desk".into(),
                        letter: "R".into(),
                    },
                    lead::RaciEntry {
                        who: "SMS manager".into(),
                        letter: "I".into(),
                    },
                ],
            },
        )
        .await?;
    }
    for (topic, audience, frequency, channel) in [
        (
            "Service report",
            "Customers",
            "monthly",
            "E-mail and review meeting",
        ),
        (
            "Planned changes and maintenance",
            "Users",
            "weekly",
            "Portal news",
        ),
        (
            "SMS performance",
            "Top management",
            "quarterly",
            "Management review",
        ),
    ] {
        lead::add_communication(
            db,
            sms,
            lead::NewCommunication {
                topic: topic.into(),
                audience: audience.into(),
                frequency: frequency.into(),
                channel: channel.into(),
                owner_id: Some(manager_id),
            },
        )
        .await?;
    }
    let cat = keel_core::management::compliance::catalogue::current();
    comp::judge(db, sms, cat, "4.3", "met", "The scope statement (services and the delivering organisation) was approved by the board this year.").await?;
    comp::judge(
        db,
        sms,
        cat,
        "5.2.1",
        "partially_met",
        "The policy exists but does not yet commit to continual improvement of the services.",
    )
    .await?;
    comp::judge(db, sms, cat, "8.3.4.2", "not_applicable", "No internal supplier or customer acts as a supplier: every underpinning service is bought from external suppliers.").await?;
    let ratings = [("PA1.1", "F"), ("PA2.1", "L"), ("PA2.2", "L")]
        .into_iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    comp::rate_process(db, sms, cat, "incident", &ratings, "Records are complete; performance is planned and monitored, work products mostly controlled.").await?;
    let due = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .saturating_add(jiff::ToSpan::days(30))
        .to_string();
    assessment::add_action(
        db,
        sms,
        assessment::NewAction {
            requirement: "9.2".into(),
            title: "Plan the internal audit programme for next year".into(),
            description: "Cover every process over the cycle, most often where risk is highest."
                .into(),
            owner_id: Some(manager_id),
            due_on: Some(due),
            assessment: None,
        },
    )
    .await?;
    assessment::take(
        db,
        sms,
        assessment::NewAssessment {
            title: "Baseline readiness".into(),
            from: None,
            to: None,
            edition: None,
        },
    )
    .await?;
    Ok(())
}
