//! Clause 8.6.1 — incident management: the `/api/v1/incidents` routes. Everything but the
//! OpenAPI annotations lives in the kernel (`crate::kernel::api`); the rules are in
//! `keel_core::operation::resolution::incident`.

crate::work_item_routes! {
    kind: Kind::Incident,
    tag: "incidents",
    list: "/api/v1/incidents",
    one: "/api/v1/incidents/{number}",
    history: "/api/v1/incidents/{number}/history",
    sla: "/api/v1/incidents/{number}/sla",
    comments: "/api/v1/incidents/{number}/comments",
    links: "/api/v1/incidents/{number}/links",
    attachments: "/api/v1/incidents/{number}/attachments",
    attachment: "/api/v1/incidents/{number}/attachments/{id}",
}
