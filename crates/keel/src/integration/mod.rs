//! Integrations: the channels through which work reaches the desk and events leave it.
//!
//! - [`alertmanager`] — Prometheus Alertmanager's webhook opens and updates incidents (8.6.1).
//! - [`mail`] — mail opens incidents and requests and becomes comments (8.6.1, 8.6.2); what
//!   cannot be processed waits in a quarantine.
//! - [`imap`] — queues' mailboxes read over IMAP (IDLE or polling), one node per mailbox.
//! - [`smtp`] — notifications and answers to correspondents sent as mail, per event and language.
//! - [`webhooks`] — outbox events delivered to other systems as signed JSON, with retries through
//!   the job queue, a delivery log and replay.
//! - [`import`] — CSV exports of other tools imported with column mapping, all or nothing.
//! - [`ui`] — the integrations page (quarantine, webhooks, mail out, alerts).
//!
//! Directory sync (LDAP) and single sign-on (OpenID Connect) live with the directory
//! (`directory::ldap`, `directory::oidc`).
//!
//! The decisions (priority from severity, deduplication, automatic-mail detection, signatures)
//! are in `keel_core::integration`; these modules read and write.

pub mod alertmanager;
pub mod imap;
pub mod import;
pub mod mail;
pub mod smtp;
pub mod ui;
pub mod webhooks;

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "integrations page",
    pages: ui::routes,
    templates: &[
        (
            "integrations.html",
            include_str!("../../templates/integrations.html"),
        ),
        ("webhook.html", include_str!("../../templates/webhook.html")),
    ],
    tags: &[(
        "integrations",
        "Monitoring alerts in (Alertmanager), webhooks out with their delivery log, received mail and its quarantine",
    )],
    nav: &[crate::platform::part::Nav {
        order: 140,
        label: "Integrations",
        requester_label: None,
        href: "/integrations",
        shown: |p| p.can(keel_core::access::Action::ReadIntegrations),
    }],
    ..crate::platform::part::Part::EMPTY
};
