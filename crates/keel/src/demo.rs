//! A reproducible demo organisation for newcomers: customers, services, support groups, one
//! user for every role and a few hundred incidents in every state. Deterministic (fixed seed),
//! so screenshots and tests see the same data.

use crate::directory::{self, NewUser};
use crate::kernel::{self, NewItem, Patch, Scope};
use crate::platform::audit::Actor;
use crate::platform::auth::{Principal, hash_password};
use crate::platform::db::{Db, Q};
use crate::platform::error::AppResult;
use keel_core::access::Role;
use serde_json::json;

pub const DEMO_PASSWORD: &str = "keel-demo-2026";
pub const INCIDENTS: usize = 300;

/// Tiny deterministic generator (xorshift) so the demo is the same everywhere.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Seed when there are no users yet; returns a summary of where to log in.
pub async fn seed_if_empty(db: &Db) -> AppResult<Option<String>> {
    let (n,): (i64,) = db.one(Q::new("SELECT COUNT(*) FROM users")).await?;
    if n > 0 {
        return Ok(None);
    }
    seed(db).await.map(Some)
}

pub async fn seed(db: &Db) -> AppResult<String> {
    let actor = Actor::system("demo");
    let hash = hash_password(DEMO_PASSWORD)?;
    let mut customers = Vec::new();
    for c in ["Northwind Traders", "Contoso Health", "Fabrikam Logistics"] {
        customers.push(
            directory::create_named(db, &actor, "customers", "customer", c, None)
                .await?
                .id,
        );
    }
    let mut services = Vec::new();
    for (s, d) in [
        ("E-mail", "Mailboxes, calendars and shared folders"),
        ("Network", "LAN, Wi-Fi and VPN access"),
        ("ERP", "Finance and logistics application"),
        ("Service Desk", "Single point of contact for users"),
        ("Workplace", "Laptops, printers and desk phones"),
    ] {
        services.push(
            directory::create_named(db, &actor, "services", "service", s, Some(d))
                .await?
                .id,
        );
    }
    let people: &[(&str, &str, Role, Option<usize>)] = &[
        ("admin@demo.keel", "Ada Admin", Role::Admin, None),
        ("sms@demo.keel", "Sam SMS-Manager", Role::SmsManager, None),
        ("manager@demo.keel", "Maya Manager", Role::Manager, None),
        ("agent@demo.keel", "Alex Agent", Role::Agent, None),
        ("agent2@demo.keel", "Noor Network", Role::Agent, None),
        ("agent3@demo.keel", "Priya Apps", Role::Agent, None),
        ("auditor@demo.keel", "Ian Auditor", Role::Auditor, None),
        (
            "requester@demo.keel",
            "Rita Requester",
            Role::Requester,
            Some(0),
        ),
        (
            "colleague@demo.keel",
            "Carl Colleague",
            Role::Requester,
            Some(0),
        ),
        (
            "contoso@demo.keel",
            "Chen Contoso",
            Role::Requester,
            Some(1),
        ),
        (
            "fabrikam@demo.keel",
            "Fatima Fabrikam",
            Role::Requester,
            Some(2),
        ),
    ];
    let mut ids = Vec::new();
    for (email, name, role, cust) in people {
        let u = NewUser::parse(email, name, role.as_str(), cust.map(|c| customers[c]), None)?;
        ids.push(
            directory::create_user_hashed(db, &actor, u, Some(hash.clone()))
                .await?
                .id,
        );
    }
    let desk = directory::create_group(db, &actor, "Service Desk", "First line", Some(ids[2]))
        .await?
        .id;
    let net = directory::create_group(db, &actor, "Network", "Network operations", Some(ids[2]))
        .await?
        .id;
    let apps = directory::create_group(
        db,
        &actor,
        "Applications",
        "Business applications",
        Some(ids[2]),
    )
    .await?
    .id;
    for (g, u) in [
        (desk, 3),
        (desk, 2),
        (net, 4),
        (net, 3),
        (apps, 5),
        (apps, 3),
    ] {
        directory::add_member(db, &actor, g, ids[u]).await?;
    }
    let groups = [
        (desk, [ids[3], ids[2]]),
        (net, [ids[4], ids[3]]),
        (apps, [ids[5], ids[3]]),
    ];
    seed_service_levels(db, &actor).await?;
    let requesters = [ids[7], ids[8], ids[9], ids[10]];
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
    let agent = Principal {
        user_id: ids[3],
        email: "agent@demo.keel".into(),
        name: "Alex Agent".into(),
        role: Role::Agent,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
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
            requester_id: Some(*rng.pick(&requesters)),
            service_id: Some(*rng.pick(&services)),
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
            &actor,
            &agent,
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
                &actor,
                p.clone(),
                None,
            )
            .await?;
        }
    }
    seed_problems(db, &agent).await?;
    seed_knowledge(db, &agent, ids[2]).await?;
    seed_requests(db, &actor, [desk, net, apps], ids[2], ids[1], &requesters).await?;
    seed_portfolio(db, ids[2], &services, &customers).await?;
    seed_transition(db, &agent, ids[2], ids[1], ids[0], services[2]).await?;
    seed_operations(db, &ids, &services, &customers, net, &agent).await?;
    seed_compliance(db, ids[1], ids[2]).await?;
    Ok(format!(
        "Demo data seeded: {INCIDENTS} incidents with SLA clocks, 4 problems, 1 known error, 3 knowledge articles,\n  \
         3 request types and 3 service requests,\n  \
         3 customers, 5 services, 3 groups, 2 catalogue offerings, 17 configuration items, 3 assets,\n  \
         2 business calendars and response/resolution targets per priority,\n  \
         a CAB and an emergency CAB, 4 changes (one awaiting the CAB, two clashing on the change calendar), 1 release,\n  \
         5 controlled documents, an objective with 2 KPIs, interested parties, the scope, RACI, a communication plan, role competences, a monthly service report, 3 risks and opportunities, 2 internal audits (one reported with findings), a management review, 3 nonconformities, 1 improvement, assessor judgements, a capability rating, a gap action and a baseline assessment,\n  \
         customer accounts, contacts and service reviews, satisfaction surveys, a complaint, an SLA and an OLA, 2 suppliers with contracts (one due for renewal), budgets and costs, demand forecasts, a capacity plan with utilisation samples, availability targets and outages, continuity requirements, plans and a test, and 4 security controls.\n\
         Sign in with any of these (password `{DEMO_PASSWORD}`):\n  \
         admin@demo.keel (admin), sms@demo.keel (sms-manager), manager@demo.keel (manager),\n  \
         agent@demo.keel (agent), auditor@demo.keel (auditor), requester@demo.keel (requester)"
    ))
}

/// Two calendars and targets per priority, so every demo incident runs SLA clocks.
async fn seed_service_levels(db: &Db, actor: &Actor) -> AppResult<()> {
    use crate::operation::relationship::service_level::{
        CalendarInput, TargetInput, Window, create_calendar, create_target,
    };
    let days = keel_core::operation::relationship::service_level::calendar::WEEKDAYS;
    let window = |d: &str, start: &str, end: &str| Window {
        weekday: d.into(),
        start: start.into(),
        end: end.into(),
    };
    let always = create_calendar(
        db,
        actor,
        &CalendarInput {
            name: "24x7".into(),
            time_zone: "UTC".into(),
            windows: days.iter().map(|d| window(d, "00:00", "24:00")).collect(),
            holidays: vec![],
        },
    )
    .await?;
    let office = create_calendar(
        db,
        actor,
        &CalendarInput {
            name: "London office hours".into(),
            time_zone: "Europe/London".into(),
            windows: days[..5]
                .iter()
                .map(|d| window(d, "08:00", "18:00"))
                .collect(),
            holidays: [
                "2026-12-25",
                "2026-12-28",
                "2027-01-01",
                "2027-03-26",
                "2027-03-29",
                "2027-05-03",
                "2027-05-31",
                "2027-08-30",
                "2027-12-27",
                "2027-12-28",
            ]
            .map(String::from)
            .to_vec(),
        },
    )
    .await?;
    // (priority, response minutes, resolution minutes, calendar)
    let plan = [
        (1, 15, 4 * 60, always.id),
        (2, 30, 8 * 60, office.id),
        (3, 4 * 60, 3 * 10 * 60, office.id),
        (4, 8 * 60, 5 * 10 * 60, office.id),
        (5, 2 * 10 * 60, 10 * 10 * 60, office.id),
    ];
    for (priority, response, resolution, calendar) in plan {
        for (metric, minutes) in [("response", response), ("resolution", resolution)] {
            create_target(
                db,
                actor,
                &TargetInput {
                    name: format!("P{priority} {metric}"),
                    kind: None,
                    metric: metric.into(),
                    service_id: None,
                    customer_id: None,
                    priority: Some(priority),
                    target_minutes: minutes,
                    warn_percent: None,
                    calendar_id: calendar,
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Problems raised from a few incidents: one under investigation, two documented as known
/// errors (one of them recorded as a known-error record), one proactive.
/// The management system: nonconformities (one closed with an effective corrective action),
/// an improvement under way, a few assessor judgements, one process rated, a gap action and a
/// baseline assessment — so the compliance dashboard has something to show.
async fn seed_compliance(db: &Db, sms_id: i64, manager_id: i64) -> AppResult<()> {
    use crate::management::compliance::{self as comp, assessment};
    let sms = Principal {
        user_id: sms_id,
        email: "sms@demo.keel".into(),
        name: "Sam SMS-Manager".into(),
        role: Role::SmsManager,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
    let actor = sms.actor();
    let d = |pairs: &[(&str, &str)]| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect()
    };
    let open_nc = kernel::create(db, keel_core::management::improvement::NONCONFORMITY, &actor, &sms, NewItem {
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
        &sms,
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
        &sms,
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
        &sms,
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
        &sms,
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
        &sms,
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
        &sms,
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
        &sms,
        &done.number,
        audits::AuditPatch {
            state: Some("in_progress".into()),
            ..Default::default()
        },
    )
    .await?;
    audits::add_finding(db, &sms, &done.number, audits::NewFinding {
        requirement: "8.6.2".into(),
        grade: "minor".into(),
        statement: "Fulfilment instructions for new laptops still name the retired imaging tool".into(),
        evidence: "Request type 'New laptop', task 2 instructions; interview with the desk lead".into(),
    })
    .await?;
    audits::add_finding(
        db,
        &sms,
        &done.number,
        audits::NewFinding {
            requirement: "8.6.1".into(),
            grade: "opportunity".into(),
            statement: "Major incident reviews could feed the problem backlog automatically".into(),
            evidence: String::new(),
        },
    )
    .await?;
    audits::update(db, &sms, &done.number, audits::AuditPatch {
        state: Some("reported".into()),
        report: Some("Resolution processes are established and effective. One minor nonconformity (8.6.2) and one opportunity for improvement.".into()),
        ..Default::default()
    })
    .await?;
    audits::create(
        db,
        &sms,
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
    let manager = Principal {
        user_id: manager_id,
        email: "manager@demo.keel".into(),
        name: "Maya Manager".into(),
        role: Role::Manager,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
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
            &manager,
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
        for (who, action) in [(&manager, "submit"), (&sms, "approve")] {
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
        docs::acknowledge(db, &manager, &d.number).await?;
    }
    let plan = docs::create(
        db,
        &manager,
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
        &manager,
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
        &sms,
        review::NewReview {
            title: "Quarterly management review".into(),
            planned_on: day(-30),
            from: None,
            to: None,
            attendees: "Managing director, SMS manager, service owners".into(),
        },
    )
    .await?;
    review::compile_inputs(db, &sms, &mr.number).await?;
    review::update(db, &sms, &mr.number, review::ReviewPatch {
        state: Some("held".into()),
        minutes: Some("Readiness and the failing checks were discussed. SLA attainment is on target; the CMDB has no owners recorded.".into()),
        ..Default::default()
    })
    .await?;
    review::add_action(
        db,
        &sms,
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
        &sms,
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
        &sms,
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
            &sms,
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
            &sms,
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
            &sms,
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
            &sms,
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
            &manager,
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
    lead::set_scope(db, &sms, lead::ScopeBody {
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
            &sms,
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
            &sms,
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
    comp::judge(db, &sms, cat, "4.3", "met", "The scope statement (services and the delivering organisation) was approved by the board this year.").await?;
    comp::judge(
        db,
        &sms,
        cat,
        "5.2.1",
        "partially_met",
        "The policy exists but does not yet commit to continual improvement of the services.",
    )
    .await?;
    comp::judge(db, &sms, cat, "8.3.4.2", "not_applicable", "No internal supplier or customer acts as a supplier: every underpinning service is bought from external suppliers.").await?;
    let ratings = [("PA1.1", "F"), ("PA2.1", "L"), ("PA2.2", "L")]
        .into_iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
    comp::rate_process(db, &sms, cat, "incident", &ratings, "Records are complete; performance is planned and monitored, work products mostly controlled.").await?;
    let due = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .saturating_add(jiff::ToSpan::days(30))
        .to_string();
    assessment::add_action(
        db,
        &sms,
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
        &sms,
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

async fn seed_problems(db: &Db, agent: &Principal) -> AppResult<()> {
    use crate::operation::resolution::problem::{RaiseProblem, known_error_from, raise_problem};
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

/// Three knowledge articles: two published (one documenting the VPN known error), one draft.
async fn seed_knowledge(db: &Db, agent: &Principal, manager_id: i64) -> AppResult<()> {
    use crate::management::support::knowledge::{ArticlePatch, NewArticle, create, update};
    let manager = Principal {
        user_id: manager_id,
        email: "manager@demo.keel".into(),
        name: "Maya Manager".into(),
        role: Role::Manager,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
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
                &manager,
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

/// Request types (with and without approval, with staged tasks) and a few requests in flight.
async fn seed_requests(
    db: &Db,
    actor: &Actor,
    [desk, net, apps]: [i64; 3],
    manager: i64,
    sms: i64,
    requesters: &[i64],
) -> AppResult<()> {
    use crate::operation::resolution::request::{NewRequestType, TaskTemplate, create_type, raise};
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
    let requester = Principal {
        user_id: requesters[0],
        email: "requester@demo.keel".into(),
        name: "Rita Requester".into(),
        role: Role::Requester,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
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

/// The portfolio (8.2): service owners, customers and dependencies, a small estate of CIs for
/// impact analysis, two catalogue offerings and a plan for a new service.
async fn seed_portfolio(
    db: &Db,
    manager_id: i64,
    services: &[i64],
    customers: &[i64],
) -> AppResult<()> {
    use crate::operation::portfolio::{catalogue, configuration as cmdb, service};
    use serde_json::json;
    let manager = Principal {
        user_id: manager_id,
        email: "manager@demo.keel".into(),
        name: "Maya Manager".into(),
        role: Role::Manager,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
    let [email, network, erp, desk, workplace] = [
        services[0],
        services[1],
        services[2],
        services[3],
        services[4],
    ];
    let patch = |customers: Vec<i64>, deps: Vec<i64>, req: &str| service::ServicePatch {
        owner_id: Some(Some(manager_id)),
        customer_ids: Some(customers),
        depends_on_ids: Some(deps),
        requirements: Some(req.into()),
        ..Default::default()
    };
    let mut mail = patch(
        customers.to_vec(),
        vec![network],
        "Available 99.9% in business hours; 50 GB mailboxes.",
    );
    mail.parties = Some(vec![service::Party {
        name: "MailHost Ltd".into(),
        kind: "supplier".into(),
        stages: vec!["delivery".into()],
        role: "hosting of the mail platform".into(),
    }]);
    service::update(db, &manager, email, mail).await?;
    service::update(
        db,
        &manager,
        network,
        patch(
            customers.to_vec(),
            vec![],
            "Wired and wireless LAN, VPN from home.",
        ),
    )
    .await?;
    service::update(
        db,
        &manager,
        erp,
        patch(
            customers[..2].to_vec(),
            vec![network],
            "Month-end close never blocked.",
        ),
    )
    .await?;
    service::update(
        db,
        &manager,
        desk,
        patch(
            customers.to_vec(),
            vec![],
            "Reachable 08:00-18:00 by phone, portal and mail.",
        ),
    )
    .await?;
    service::update(
        db,
        &manager,
        workplace,
        patch(
            customers.to_vec(),
            vec![network],
            "New starters equipped on day one.",
        ),
    )
    .await?;
    for (name, attrs, identity) in [
        ("service", json!([]), vec!["name"]),
        (
            "application",
            json!([{"name": "version", "type": "text"}, {"name": "vendor", "type": "text"}]),
            vec!["name"],
        ),
        (
            "database",
            json!([{"name": "engine", "type": "choice", "options": ["PostgreSQL", "SQL Server", "Oracle"]}]),
            vec!["name"],
        ),
        (
            "server",
            json!([{"name": "serial", "type": "text", "required": true}, {"name": "ram_gb", "type": "number", "min": 1},
                          {"name": "os", "type": "choice", "options": ["Debian", "Windows Server", "RHEL"]}, {"name": "location", "type": "text"},
                          {"name": "warranty_end", "type": "date"}]),
            vec!["serial"],
        ),
        (
            "network device",
            json!([{"name": "ip", "type": "text"}, {"name": "model", "type": "text"}]),
            vec!["name"],
        ),
    ] {
        cmdb::create_class(
            db,
            &manager,
            cmdb::NewClass {
                name: name.into(),
                description: String::new(),
                attributes: attrs,
                identity: Some(identity.into_iter().map(String::from).collect()),
            },
        )
        .await?;
    }
    let mut id = std::collections::HashMap::new();
    let cis: &[(&str, &str, serde_json::Value, Option<i64>)] = &[
        ("E-mail", "service", json!({}), Some(email)),
        ("Network", "service", json!({}), Some(network)),
        ("ERP", "service", json!({}), Some(erp)),
        (
            "Exchange",
            "application",
            json!({"version": "2019 CU14", "vendor": "Microsoft"}),
            None,
        ),
        (
            "ERP application",
            "application",
            json!({"version": "11.2", "vendor": "Acme ERP"}),
            None,
        ),
        ("mail-db", "database", json!({"engine": "SQL Server"}), None),
        ("erp-db", "database", json!({"engine": "PostgreSQL"}), None),
        (
            "srv-mail-01",
            "server",
            json!({"serial": "CZ1001", "ram_gb": 64, "os": "Windows Server", "location": "DC1 rack 4", "warranty_end": "2027-03-31"}),
            None,
        ),
        (
            "srv-erp-01",
            "server",
            json!({"serial": "CZ1002", "ram_gb": 128, "os": "Debian", "location": "DC1 rack 5"}),
            None,
        ),
        (
            "srv-erp-02",
            "server",
            json!({"serial": "CZ1003", "ram_gb": 128, "os": "Debian", "location": "DC2 rack 1"}),
            None,
        ),
        (
            "srv-db-01",
            "server",
            json!({"serial": "CZ1004", "ram_gb": 256, "os": "RHEL", "location": "DC1 rack 6"}),
            None,
        ),
        (
            "core-sw-01",
            "network device",
            json!({"ip": "10.0.0.1", "model": "Core 9500"}),
            None,
        ),
        (
            "access-sw-01",
            "network device",
            json!({"ip": "10.0.1.1"}),
            None,
        ),
        (
            "access-sw-02",
            "network device",
            json!({"ip": "10.0.2.1"}),
            None,
        ),
        (
            "vpn-gw-01",
            "network device",
            json!({"ip": "10.0.0.9"}),
            None,
        ),
        (
            "wifi-ctrl-01",
            "network device",
            json!({"ip": "10.0.0.20"}),
            None,
        ),
        (
            "print-srv-01",
            "server",
            json!({"serial": "CZ1005", "ram_gb": 16, "os": "Windows Server"}),
            None,
        ),
    ];
    for (name, class, attrs, svc) in cis {
        let ci = cmdb::create_ci(
            db,
            &manager,
            cmdb::NewCi {
                class: (*class).into(),
                name: (*name).into(),
                status: None,
                attributes: attrs.as_object().cloned().unwrap_or_default(),
                service_id: *svc,
                owner_group_id: None,
            },
        )
        .await?;
        id.insert(*name, ci.id);
    }
    for (s, kind, t) in [
        ("E-mail", "depends_on", "Exchange"),
        ("Exchange", "depends_on", "mail-db"),
        ("Exchange", "runs_on", "srv-mail-01"),
        ("mail-db", "runs_on", "srv-db-01"),
        ("ERP", "depends_on", "ERP application"),
        ("ERP application", "depends_on", "erp-db"),
        ("ERP application", "runs_on", "srv-erp-01"),
        ("ERP application", "runs_on", "srv-erp-02"),
        ("erp-db", "runs_on", "srv-db-01"),
        ("srv-mail-01", "connects_to", "access-sw-01"),
        ("srv-db-01", "connects_to", "access-sw-01"),
        ("srv-erp-01", "connects_to", "access-sw-01"),
        ("srv-erp-02", "connects_to", "access-sw-02"),
        ("print-srv-01", "connects_to", "access-sw-02"),
        ("access-sw-01", "connects_to", "core-sw-01"),
        ("access-sw-02", "connects_to", "core-sw-01"),
        ("vpn-gw-01", "connects_to", "core-sw-01"),
        ("wifi-ctrl-01", "connects_to", "core-sw-01"),
        ("Network", "depends_on", "core-sw-01"),
        ("Network", "depends_on", "vpn-gw-01"),
        ("Network", "depends_on", "wifi-ctrl-01"),
    ] {
        cmdb::create_rel(
            db,
            &manager,
            cmdb::NewRelationship {
                source_id: id[s],
                kind: kind.into(),
                target_id: id[t],
            },
        )
        .await?;
    }
    let types: Vec<(i64, String)> = db
        .all(crate::platform::db::Q::new(
            "SELECT id, name FROM request_types ORDER BY id",
        ))
        .await?;
    let type_id = |prefix: &str| {
        types
            .iter()
            .find(|t| t.1.starts_with(prefix))
            .or(types.first())
            .map(|t| t.0)
            .unwrap_or(1)
    };
    catalogue::create(db, &manager, catalogue::NewOffering {
        name: "Standard laptop".into(),
        summary: "A 14-inch business laptop with docking station".into(),
        description: "Delivered configured within five working days of approval.".into(),
        category: "Hardware".into(),
        service_id: workplace,
        request_type_id: type_id("New laptop"),
        form: json!([
            {"name": "model", "label": "Model", "type": "choice", "options": ["14-inch standard", "16-inch performance"], "required": true},
            {"name": "needed_by", "label": "Needed by", "type": "date"},
            {"name": "for_user", "label": "For whom", "type": "user"},
            {"name": "reason", "label": "Reason", "type": "text", "max_length": 200}
        ]),
        roles: vec![],
        customer_ids: vec![],
    })
    .await?;
    catalogue::create(db, &manager, catalogue::NewOffering {
        name: "Shared mailbox".into(),
        summary: "A mailbox several people read and send from".into(),
        description: String::new(),
        category: "E-mail".into(),
        service_id: email,
        request_type_id: type_id("Software"),
        form: json!([
            {"name": "address", "label": "Address", "type": "text", "required": true, "max_length": 120, "help": "for example sales@northwind.example"},
            {"name": "members", "label": "Members", "type": "text", "max_length": 1000}
        ]),
        roles: vec![],
        customer_ids: vec![],
    })
    .await?;
    use crate::operation::portfolio::{asset, baseline};
    let in_days = |d: i64| {
        jiff::tz::TimeZone::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()
            .checked_add(jiff::Span::new().days(d))
            .map(|d| d.to_string())
            .ok()
    };
    let hw = |name: &str, ci: &str, cost: &str, warranty: Option<String>| asset::NewAsset {
        name: name.into(),
        kind: "hardware".into(),
        state: Some("in_use".into()),
        owner_id: Some(manager_id),
        location: "DC1".into(),
        cost: Some(cost.into()),
        currency: None,
        supplier: "Contoso Hardware".into(),
        contract_ref: "HW-2024-07".into(),
        purchase_date: Some("2024-02-01".into()),
        warranty_end: warranty,
        expiry_date: None,
        entitlements: None,
        ci_id: id.get(ci).copied(),
    };
    asset::create(
        db,
        &manager,
        hw("Mail server", "srv-mail-01", "8400.00", in_days(21)),
    )
    .await?;
    asset::create(
        db,
        &manager,
        hw("Database server", "srv-db-01", "15200.00", in_days(400)),
    )
    .await?;
    let lic = asset::create(
        db,
        &manager,
        asset::NewAsset {
            name: "Database server licence (2 cores)".into(),
            kind: "licence".into(),
            state: Some("in_use".into()),
            owner_id: Some(manager_id),
            location: String::new(),
            cost: Some("3000.00".into()),
            currency: None,
            supplier: "DB Vendor".into(),
            contract_ref: "LIC-77".into(),
            purchase_date: Some("2025-01-01".into()),
            warranty_end: None,
            expiry_date: in_days(200),
            entitlements: Some(2),
            ci_id: None,
        },
    )
    .await?;
    for ci in ["srv-db-01", "srv-erp-01", "srv-erp-02"] {
        asset::set_installation(db, &manager, &lic.tag, id[ci], true).await?;
    }
    baseline::create_baseline(
        db,
        &manager,
        baseline::NewBaseline {
            name: "Go-live".into(),
            description: "The estate as accepted at go-live".into(),
            class: None,
        },
    )
    .await?;
    service::create_plan(
        db,
        &manager,
        service::NewPlan {
            service_id: None,
            kind: "new".into(),
            title: "Video conferencing".into(),
            requirements: "Meetings of up to 300 people, recorded on request.".into(),
            constraints: "Hosted in the EU.".into(),
            acceptance_criteria: String::new(),
        },
    )
    .await?;
    Ok(())
}

/// Change management (8.5.1) and a release (8.5.3): a CAB (Maya and Sam, any one decides) and
/// an emergency CAB, the ERP service under change control, a standard change template, a
/// blackout at quarter end; an authorized ERP database upgrade next weekend, a mail server patch
/// in the same window waiting for the CAB (a clash on the calendar), a standard change, a
/// change closed last month; and a minor release bundling the upgrade.
async fn seed_transition(
    db: &Db,
    agent: &Principal,
    manager_id: i64,
    sms_id: i64,
    admin_id: i64,
    erp: i64,
) -> AppResult<()> {
    use crate::kernel::{NewItem, Patch, Scope};
    use crate::operation::transition::{change, policy, release};
    use serde_json::json;
    let actor = Actor::system("demo");
    let st = crate::app::state(db.clone(), crate::platform::config::Config::default());
    let cab_group = directory::create_group(
        db,
        &actor,
        "Change Advisory Board",
        "Authorizes normal changes",
        Some(manager_id),
    )
    .await?
    .id;
    for u in [manager_id, sms_id] {
        directory::add_member(db, &actor, cab_group, u).await?;
    }
    let ecab_group = directory::create_group(
        db,
        &actor,
        "Emergency CAB",
        "Authorizes emergency changes",
        Some(sms_id),
    )
    .await?
    .id;
    for u in [sms_id, admin_id] {
        directory::add_member(db, &actor, ecab_group, u).await?;
    }
    let cab = policy::create_authority(
        db,
        &actor,
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
        &actor,
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
        &actor,
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
        &actor,
        policy::NewCategory {
            name: "Application".into(),
            description: "Business applications".into(),
            authority_id: cab,
        },
    )
    .await?;
    policy::save(
        db,
        &actor,
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
        &actor,
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
    let manager = Principal {
        user_id: manager_id,
        email: "manager@demo.keel".into(),
        name: "Maya Manager".into(),
        role: Role::Manager,
        customer_id: None,
        channel: crate::platform::audit::Channel::Web,
        csrf: None,
    };
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
            &manager,
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
        &actor,
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

/// One record of a register, as the demo's actor.
async fn record(db: &Db, actor: &Actor, name: &str, input: serde_json::Value) -> AppResult<i64> {
    let r = crate::kernel::register::reg(name);
    let input = input.as_object().cloned().unwrap_or_default();
    let vals = crate::kernel::register::prepare(db, r, &input, None, actor.user_id).await?;
    let mut tx = db.begin().await?;
    let id = crate::kernel::register::insert(&mut tx, actor, r, &vals).await?;
    tx.commit().await?;
    Ok(id)
}

/// Relationship and agreement (8.3), supply and demand (8.4), service assurance (8.7).
async fn seed_operations(
    db: &Db,
    ids: &[i64],
    services: &[i64],
    customers: &[i64],
    net_group: i64,
    agent: &Principal,
) -> AppResult<()> {
    let (sms, manager) = (ids[1], ids[2]);
    let as_manager = Actor {
        user_id: Some(manager),
        label: "manager@demo.keel".into(),
        channel: crate::platform::audit::Channel::Cli,
    };
    let as_sms = Actor {
        user_id: Some(sms),
        label: "sms@demo.keel".into(),
        channel: crate::platform::audit::Channel::Cli,
    };
    let m = &as_manager;
    let today = crate::platform::extract::today();
    let day = |n: i64| {
        today
            .checked_add(jiff::Span::new().days(n))
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let this_year = today.year().to_string();
    let (mail, network, erp) = (services[0], services[1], services[2]);
    // 8.3.2: accounts, contacts, reviews, a complaint.
    for (c, freq) in customers
        .iter()
        .zip(["quarterly", "monthly", "half_yearly"])
    {
        record(
            db,
            m,
            "customer-accounts",
            json!({"customer_id": c, "relationship_manager_id": manager, "review_frequency": freq}),
        )
        .await?;
    }
    record(db, m, "contacts", json!({"customer_id": customers[0], "name": "Nadia Northwind", "role": "executive", "email": "nadia@northwind.example", "user_id": ids[7]})).await?;
    record(db, m, "contacts", json!({"customer_id": customers[1], "name": "Chen Contoso", "role": "primary", "email": "contoso@demo.keel", "user_id": ids[9]})).await?;
    record(db, m, "service-reviews", json!({"customer_id": customers[0], "scheduled_on": day(-40), "status": "held", "held_on": day(-40),
        "attendees": "Nadia Northwind; Maya Manager", "minutes": "Incident volumes fell 12 %. Northwind asked for earlier notice of ERP changes.",
        "actions": "Send the forward schedule of change monthly.", "satisfaction": 4, "next_review": day(50), "owner_id": manager})).await?;
    record(
        db,
        m,
        "service-reviews",
        json!({"customer_id": customers[1], "scheduled_on": day(14), "owner_id": manager}),
    )
    .await?;
    let complaint = kernel::create(
        db,
        keel_core::operation::relationship::business::COMPLAINT,
        m,
        agent,
        NewItem {
            title: "ERP outage announced too late".into(),
            description:
                "Contoso's finance team learnt of the ERP maintenance from the error page.".into(),
            customer_id: Some(customers[1]),
            service_id: Some(erp),
            details: json!({"channel": "email", "subject": "service_quality"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        },
    )
    .await?;
    kernel::update(
        db,
        keel_core::operation::relationship::business::COMPLAINT,
        &complaint.number,
        Scope::All,
        m,
        Patch {
            state: Some("investigating".into()),
            ..Default::default()
        },
        None,
    )
    .await?;
    // Satisfaction: answered surveys for some resolved incidents.
    crate::operation::relationship::business::send_due(db).await?;
    let sent: Vec<(i64,)> = db
        .all(crate::platform::db::Q::new(
            "SELECT id FROM surveys ORDER BY id LIMIT 6",
        ))
        .await?;
    let r = crate::kernel::register::reg("surveys");
    for (i, (id,)) in sent.iter().enumerate() {
        let before = crate::kernel::register::get(db, r, *id).await?;
        let score = [5, 4, 4, 3, 5, 2][i % 6];
        let input = json!({"status": "answered", "score": score, "answered_on": today.to_string(),
            "comment": if i == 5 { "Took three days." } else { "" }});
        let vals = crate::kernel::register::prepare(
            db,
            r,
            input.as_object().unwrap_or(&serde_json::Map::new()),
            Some(&before.vals),
            None,
        )
        .await?;
        let mut tx = db.begin().await?;
        crate::kernel::register::overwrite(&mut tx, &Actor::system("demo"), r, &before, &vals)
            .await?;
        tx.commit().await?;
    }
    // 8.3.4: suppliers, contracts, a review, a dispute.
    let telco = record(
        db,
        m,
        "suppliers",
        json!({"name": "Northern Telco", "services": [network], "contact_name": "Sven Lind",
        "email": "noc@northern-telco.example", "owner_id": manager}),
    )
    .await?;
    let cloud = record(
        db,
        m,
        "suppliers",
        json!({"name": "Stratus Cloud", "services": [mail, erp], "owner_id": manager}),
    )
    .await?;
    let lines = record(db, m, "contracts", json!({"supplier_id": telco, "reference": "NT-2024-07", "title": "WAN and internet lines",
        "services": [network], "scope": "Two 1 Gbit/s lines per site, managed routers.", "targets": "99.95 % per line per month; fault response 4 h.",
        "value": "48000", "starts_on": "2024-07-01", "ends_on": day(60), "notice_days": 90, "owner_id": manager})).await?;
    record(db, m, "contracts", json!({"supplier_id": cloud, "reference": "SC-365", "title": "Hosted mail and ERP platform",
        "services": [mail, erp], "value": "96000", "starts_on": "2025-01-01", "ends_on": day(420), "owner_id": manager})).await?;
    record(db, m, "supplier-reviews", json!({"supplier_id": telco, "contract_id": lines, "held_on": day(-30), "rating": 3, "targets_met": false,
        "findings": "Two line outages over target in the quarter.", "actions": "Service credits claimed; escalation path agreed."})).await?;
    record(db, m, "disputes", json!({"supplier_id": telco, "contract_id": lines, "subject": "Service credits for the March outage",
        "raised_on": day(-25), "description": "Telco disputes that the outage exceeded the target."})).await?;
    // 8.3.3: an SLA and an OLA.
    let sla = record(db, m, "agreements", json!({"kind": "sla", "reference": "SLA-NW-2026", "title": "Northwind: e-mail and ERP",
        "customer_id": customers[0], "services": [mail, erp], "status": "active", "valid_from": format!("{this_year}-01-01"),
        "review_date": day(45), "availability_target": "99.5", "other_targets": "Service review every quarter.", "owner_id": manager})).await?;
    record(db, m, "agreements", json!({"kind": "ola", "reference": "OLA-NET-1", "title": "Network operations to the service desk",
        "group_id": net_group, "services": [network], "status": "active", "valid_from": format!("{this_year}-01-01"), "review_date": day(120)})).await?;
    record(db, m, "agreements", json!({"kind": "underpinning_contract", "reference": "UC-NT-1", "title": "Northern Telco lines",
        "supplier_id": telco, "services": [network], "status": "active", "valid_from": "2024-07-01", "availability_target": "99.95"})).await?;
    let last_month = today
        .first_of_month()
        .checked_sub(jiff::Span::new().months(1))
        .map(|d| d.strftime("%Y-%m").to_string())
        .unwrap_or_default();
    record(db, m, "breach-explanations", json!({"agreement_id": sla, "month": last_month, "target": "Resolution of priority 2 incidents",
        "explanation": "Two ERP incidents waited on the supplier for a patch.", "actions": "Supplier escalation path agreed."})).await?;
    // 8.4: budgets, costs, forecasts, capacity.
    for (s, amount) in [
        (mail, "60000"),
        (network, "85000"),
        (erp, "140000"),
        (services[3], "220000"),
        (services[4], "75000"),
    ] {
        record(
            db,
            m,
            "budgets",
            json!({"service_id": s, "period": this_year, "amount": amount, "owner_id": manager}),
        )
        .await?;
    }
    for (s, c, amount, cat, what) in [
        (Some(mail), None, "4000", "supplier", "Hosted mail, monthly"),
        (Some(erp), None, "7500", "supplier", "ERP platform, monthly"),
        (
            Some(network),
            None,
            "4000",
            "supplier",
            "WAN lines, monthly",
        ),
        (
            Some(erp),
            Some(customers[0]),
            "2200",
            "staff",
            "Northwind year-end close support",
        ),
        (
            None,
            None,
            "1800",
            "facilities",
            "Data room power and cooling",
        ),
    ] {
        record(db, m, "costs", json!({"incurred_on": day(-10), "description": what, "amount": amount, "category": cat,
            "kind": if s.is_some() { "direct" } else { "indirect" }, "service_id": s, "customer_id": c})).await?;
    }
    let month = today.strftime("%Y-%m").to_string();
    for (s, n) in [(mail, 12), (network, 10), (erp, 8)] {
        record(db, m, "demand-forecasts", json!({"service_id": s, "month": month, "measure": "incidents", "forecast": n, "notes": "Last year's month plus 10 %."})).await?;
    }
    let plan = record(db, m, "capacity-plans", json!({"title": "Mail storage", "service_id": mail, "resource": "storage", "unit": "%",
        "capacity": "20000", "forecast": "82", "horizon": day(180), "warning_at": "80", "critical_at": "95", "raise_incident": true,
        "review_date": day(60), "owner_id": manager})).await?;
    record(db, m, "capacity-plans", json!({"title": "VPN concurrent sessions", "service_id": network, "resource": "sessions", "unit": "sessions",
        "capacity": "500", "warning_at": "400", "critical_at": "475", "owner_id": manager})).await?;
    let now = crate::platform::db::now_ms();
    let samples: Vec<_> = [71.0, 74.5, 78.0, 81.2]
        .iter()
        .enumerate()
        .map(|(i, v)| crate::operation::supply::capacity::Sample {
            plan_id: plan,
            value: json!(v),
            at: Some(crate::platform::web::iso(now - (4 - i as i64) * 86_400_000)),
        })
        .collect();
    crate::operation::supply::capacity::record(
        db,
        agent,
        crate::operation::supply::capacity::Samples {
            samples,
            source: Some("demo".into()),
        },
    )
    .await?;
    // 8.7: availability, continuity, security.
    for (s, t) in [(mail, "99.5"), (network, "99.9"), (erp, "99.5")] {
        record(
            db,
            m,
            "availability-targets",
            json!({"service_id": s, "target": t, "valid_from": format!("{this_year}-01-01")}),
        )
        .await?;
    }
    let at = |d: i64, h: i64| {
        crate::platform::web::iso(
            crate::platform::db::day_start_ms(today) + d * 86_400_000 + h * 3_600_000,
        )
    };
    record(db, m, "outages", json!({"service_id": erp, "description": "Quarterly ERP patching", "started_at": at(-12, 1), "ended_at": at(-12, 4), "scheduled": true})).await?;
    record(db, m, "outages", json!({"service_id": network, "description": "WAN line cut by roadworks", "started_at": at(-8, 9), "ended_at": at(-8, 11), "cause": "Supplier line damaged; failover did not trigger."})).await?;
    for (s, rto, rpo) in [(mail, 240, 60), (erp, 480, 15), (network, 120, 0)] {
        record(db, m, "continuity-requirements", json!({"service_id": s, "rto_minutes": rto, "rpo_minutes": rpo, "source": "Business impact analysis", "review_date": day(200)})).await?;
    }
    let erp_plan = record(db, m, "continuity-plans", json!({"service_id": erp, "title": "ERP recovery at the secondary site", "owner_id": manager,
        "content": "1. Declare. 2. Restore the database from the 15-minute log shipping. 3. Switch DNS. 4. Verify the invoice run.", "next_test_due": day(150)})).await?;
    let r = crate::kernel::register::reg("continuity-plans");
    let before = crate::kernel::register::get(db, r, erp_plan).await?;
    let vals = crate::kernel::register::prepare(
        db,
        r,
        json!({"status": "approved"})
            .as_object()
            .unwrap_or(&serde_json::Map::new()),
        Some(&before.vals),
        as_sms.user_id,
    )
    .await?;
    let mut tx = db.begin().await?;
    crate::kernel::register::overwrite(&mut tx, &as_sms, r, &before, &vals).await?;
    tx.commit().await?;
    record(db, m, "continuity-plans", json!({"service_id": mail, "title": "Mail continuity with the provider", "owner_id": manager})).await?;
    record(db, m, "continuity-tests", json!({"plan_id": erp_plan, "tested_on": day(-60), "kind": "simulation", "scenario": "Primary data centre unavailable",
        "result": "passed_with_issues", "rto_achieved_minutes": 410, "findings": "DNS change took 50 minutes.", "actions": "Lower the DNS TTL to 5 minutes."})).await?;
    for (reference, name, status, applicable) in [
        (
            "A.5.1",
            "Policies for information security",
            "effective",
            true,
        ),
        ("A.8.13", "Information backup", "implemented", true),
        ("A.8.20", "Networks security", "implemented", true),
        (
            "A.7.5",
            "Protecting against physical threats",
            "not_applicable",
            false,
        ),
    ] {
        record(db, m, "security-controls", json!({"reference": reference, "name": name, "status": status, "applicable": applicable,
            "justification": if applicable { "Required by the risk assessment." } else { "Hosting is outsourced; the supplier's controls apply." },
            "owner_id": manager, "review_date": day(90)})).await?;
    }
    Ok(())
}
