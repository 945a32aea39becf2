//! A reproducible demo organisation for newcomers: customers, services, support groups, one
//! user for every role and a few hundred incidents in every state. Deterministic (fixed seed),
//! so screenshots and tests see the same data.
//!
//! One file per ISO/IEC 20000-1 process group, each seeding through the same use cases the API
//! calls, so the demo obeys the rules users do. [`seed`] runs the groups in a fixed order: the
//! numbers and ids they are given (INC-000001, KE-000001, …) are what tests and screenshots use.

mod assurance;
mod management;
mod portfolio;
mod relationship;
mod resolution;
mod supply;
mod transition;

use crate::directory::{self, NewUser};
use crate::platform::audit::{Actor, Channel};
use crate::platform::auth::{Principal, hash_password};
use crate::platform::db::{Db, Q};
use crate::platform::error::AppResult;
use keel_core::access::Role;

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

/// What the groups share: the directory's ids and who acts, made once by [`seed`] so every group
/// sees the same people and the same day.
struct Org {
    /// `system:demo`, who creates the directory and most operational records.
    actor: Actor,
    /// Users in the order [`seed`] creates them: admin, SMS manager, manager, three agents,
    /// auditor, four requesters.
    users: Vec<i64>,
    customers: Vec<i64>,
    /// E-mail, Network, ERP, Service Desk, Workplace.
    services: Vec<i64>,
    /// Support groups: service desk, network, applications.
    groups: [i64; 3],
    requesters: [i64; 4],
    agent: Principal,
    manager: Principal,
    sms: Principal,
    /// The manager and the SMS manager as the command line's actors, who keep the registers of
    /// 8.3, 8.4 and 8.7.
    as_manager: Actor,
    as_sms: Actor,
    today: jiff::civil::Date,
}

impl Org {
    /// `n` days from today, as `YYYY-MM-DD`.
    fn day(&self, n: i64) -> String {
        self.today
            .checked_add(jiff::Span::new().days(n))
            .map(|d| d.to_string())
            .unwrap_or_default()
    }
}

/// A demo user signed in on the web.
fn principal(user_id: i64, email: &str, name: &str, role: Role) -> Principal {
    Principal {
        user_id,
        email: email.into(),
        name: name.into(),
        role,
        customer_id: None,
        channel: Channel::Web,
        csrf: None,
    }
}

/// A demo user acting from the command line.
fn cli_actor(user_id: i64, label: &str) -> Actor {
    Actor {
        user_id: Some(user_id),
        label: label.into(),
        channel: Channel::Cli,
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

/// Seeds the demo organisation and returns a summary of where to log in. The groups run in a
/// fixed order: later ones refer to what earlier ones made (a problem to INC-000001, an article
/// to KE-000001), and tests and screenshots rely on the ids and numbers this order gives.
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
    relationship::seed_service_levels(db, &actor).await?;
    let org = Org {
        actor,
        requesters: [ids[7], ids[8], ids[9], ids[10]],
        agent: principal(ids[3], "agent@demo.keel", "Alex Agent", Role::Agent),
        manager: principal(ids[2], "manager@demo.keel", "Maya Manager", Role::Manager),
        sms: principal(ids[1], "sms@demo.keel", "Sam SMS-Manager", Role::SmsManager),
        as_manager: cli_actor(ids[2], "manager@demo.keel"),
        as_sms: cli_actor(ids[1], "sms@demo.keel"),
        today: crate::platform::extract::today(),
        users: ids,
        customers,
        services,
        groups: [desk, net, apps],
    };
    resolution::seed_incidents(db, &org).await?;
    resolution::seed_problems(db, &org).await?;
    management::seed_knowledge(db, &org).await?;
    resolution::seed_requests(db, &org).await?;
    portfolio::seed(db, &org).await?;
    transition::seed(db, &org).await?;
    relationship::seed(db, &org).await?;
    supply::seed(db, &org).await?;
    assurance::seed(db, &org).await?;
    management::seed_compliance(db, &org).await?;
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

/// Changes one record of a register, as `actor`, through the register's own checks.
async fn amend(
    db: &Db,
    actor: &Actor,
    name: &str,
    id: i64,
    input: serde_json::Value,
) -> AppResult<()> {
    let r = crate::kernel::register::reg(name);
    let before = crate::kernel::register::get(db, r, id).await?;
    let input = input.as_object().cloned().unwrap_or_default();
    let vals =
        crate::kernel::register::prepare(db, r, &input, Some(&before.vals), actor.user_id).await?;
    let mut tx = db.begin().await?;
    crate::kernel::register::overwrite(&mut tx, actor, r, &before, &vals).await?;
    tx.commit().await?;
    Ok(())
}
