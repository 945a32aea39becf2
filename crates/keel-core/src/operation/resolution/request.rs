//! Clause 8.6.2 — service request management: the request lifecycle, approval decisions and the
//! order in which fulfilment tasks open.
//!
//! A request is raised for a *request type*, which says who approves it (the requester's manager,
//! the service owner, a named approver — all of them must approve, by the kernel's approval rules) and which fulfilment tasks
//! follow, in stages: tasks of one stage run in parallel, the next stage opens when every task of
//! the previous one is done, and the request is fulfilled when the last stage is.

use crate::kernel::details::Field;
use crate::kernel::lifecycle::{Lifecycle, Transition};
use crate::kernel::{Kind, KindSpec, Vocabulary};

pub static LIFECYCLE: Lifecycle = Lifecycle {
    states: &[
        "submitted",
        "awaiting_approval",
        "in_fulfilment",
        "fulfilled",
        "closed",
        "rejected",
        "cancelled",
    ],
    terminal: &["fulfilled", "closed", "rejected", "cancelled"],
    transitions: &[
        Transition::free("submitted", "awaiting_approval"),
        Transition::free("submitted", "in_fulfilment"),
        Transition::free("awaiting_approval", "in_fulfilment"),
        Transition::free("awaiting_approval", "rejected"),
        Transition::free("in_fulfilment", "fulfilled"),
        Transition::free("fulfilled", "in_fulfilment"),
        Transition::free("fulfilled", "closed"),
        Transition::free("submitted", "cancelled"),
        Transition::free("awaiting_approval", "cancelled"),
        Transition::free("in_fulfilment", "cancelled"),
    ],
};

pub static FIELDS: &[Field] = &[Field::text("request_type", "Request type", 20)];

/// Who approves a request type: a comma-separated subset of these.
pub const APPROVERS: &[&str] = &["requester_manager", "service_owner", "named"];

/// The request as a kind of work item (see `kernel::KindSpec`).
pub static KIND_SPEC: KindSpec = KindSpec {
    name: "request",
    prefix: "REQ",
    collection: "requests",
    label: ("Requests", "request"),
    lifecycle: &LIFECYCLE,
    details: FIELDS,
    vocabulary: Vocabulary {
        categories: super::incident::CATEGORIES,
        hold_reasons: &[],
        resolution_codes: &[],
    },
    internal: false,
    approval_moves: Some(("awaiting_approval", "in_fulfilment", "rejected")),
    fixed_details: &["request_type"],
    when_tasks_done: Some("fulfilled"),
    tasks_label: "Fulfilment tasks",
    priority_override: false,
};
pub const KIND: Kind = Kind::declare(&KIND_SPEC);
