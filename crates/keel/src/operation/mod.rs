//! Clause 8 — operation of the SMS, grouped as clause 8 groups its processes:
//! `portfolio` (8.2), relationship and agreement (8.3), supply and demand (8.4), design, build
//! and transition (8.5), `resolution` (8.6) and service assurance (8.7). Groups appear here as
//! their processes land.

pub mod assurance;
pub mod portfolio;
pub mod relationship;
pub mod resolution;
pub mod supply;
pub mod transition;
pub mod ui;

/// What this part of Keel declares: its routes, pages, templates and jobs (`platform::part`).
pub const PART: crate::platform::part::Part = crate::platform::part::Part {
    name: "operations hub",
    pages: ui::routes,
    templates: &[
        (
            "operations.html",
            include_str!("../../templates/operations.html"),
        ),
        ("panels.html", include_str!("../../templates/panels.html")),
    ],
    nav: &[crate::platform::part::Nav {
        order: 120,
        label: "Operations",
        requester_label: None,
        href: "/operations",
        shown: |p| {
            p.can(keel_core::access::Action::ReadRelationships)
                || p.can(keel_core::access::Action::ReadAssurance)
                || p.can(keel_core::access::Action::ReadFinance)
        },
    }],
    ..crate::platform::part::Part::EMPTY
};
