//! Clause 8.2 — the demo's service portfolio: owners, customers and dependencies of the services,
//! a small estate of configuration items and assets, catalogue offerings and a plan for a new
//! service. Seeded through the same use cases the API calls.

use super::Org;
use crate::operation::portfolio::{catalogue, configuration as cmdb, service};
use crate::platform::db::Db;
use crate::platform::error::AppResult;
use serde_json::json;

/// The portfolio (8.2): service owners, customers and dependencies, a small estate of CIs for
/// impact analysis, two catalogue offerings and a plan for a new service.
pub(super) async fn seed(db: &Db, org: &Org) -> AppResult<()> {
    let (manager, manager_id) = (&org.manager, org.manager.user_id);
    let (services, customers) = (&org.services, &org.customers);
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
    service::update(db, manager, email, mail).await?;
    service::update(
        db,
        manager,
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
        manager,
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
        manager,
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
        manager,
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
            manager,
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
            manager,
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
            manager,
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
    catalogue::create(db, manager, catalogue::NewOffering {
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
    catalogue::create(db, manager, catalogue::NewOffering {
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
        manager,
        hw("Mail server", "srv-mail-01", "8400.00", in_days(21)),
    )
    .await?;
    asset::create(
        db,
        manager,
        hw("Database server", "srv-db-01", "15200.00", in_days(400)),
    )
    .await?;
    let lic = asset::create(
        db,
        manager,
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
        asset::set_installation(db, manager, &lic.tag, id[ci], true).await?;
    }
    baseline::create_baseline(
        db,
        manager,
        baseline::NewBaseline {
            name: "Go-live".into(),
            description: "The estate as accepted at go-live".into(),
            class: None,
        },
    )
    .await?;
    service::create_plan(
        db,
        manager,
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
