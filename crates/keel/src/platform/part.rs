//! What each part of Keel adds to the application: the directory, the kernel, every process,
//! every management-system module and every integration declares a [`Part`] next to its
//! handlers (its API routes with their OpenAPI description, its pages and their templates, its
//! background jobs, its housekeeping, its outbox subscribers, the state it keeps per node).
//!
//! The composition root (`crate::app`) lists the parts and [`install`]s them once at start-up;
//! platform code merges what they declare and names none of them. A new process is a new
//! `PART` and one line in the composition root, never an edit here.

use crate::platform::db::{Db, DbResult, Tx};
use crate::platform::jobs::Job;
use crate::platform::web::AppState;
use axum::Router;
use axum::http::Extensions;
use futures_util::future::BoxFuture;
use std::sync::OnceLock;
use utoipa_axum::router::OpenApiRouter;

/// One part's declaration. Every field is data or a plain function, so a part is a `const`.
pub struct Part {
    /// Who declares it, for logs and the layering test's messages (`"incidents"`).
    pub name: &'static str,
    /// Its API routes, each with its OpenAPI description (`utoipa_axum::routes!`).
    pub api: fn() -> OpenApiRouter<AppState>,
    /// Its HTML pages.
    pub pages: fn() -> Router<AppState>,
    /// Its page templates: (name, source), compiled into the binary.
    pub templates: &'static [(&'static str, &'static str)],
    /// Its OpenAPI tags: (name, description), in the order the document lists them.
    pub tags: &'static [(&'static str, &'static str)],
    /// The kinds of background job it runs, some on a schedule.
    pub jobs: &'static [JobKind],
    /// Deletes its own rows that no one needs any more (run by the hourly `housekeeping` job).
    pub sweeps: &'static [Sweep],
    /// Runs in the transaction of every batch of outbox events, after they are written (mail
    /// out, webhooks): what it writes commits or rolls back with the change announced.
    pub subscribers: &'static [Subscriber],
    /// Per-node state it keeps in [`AppState`], built once from the database handle.
    pub state: Option<fn(&Db, &mut Extensions)>,
    /// Its entries in the main navigation.
    pub nav: &'static [Nav],
}

/// A link in the main navigation.
pub struct Nav {
    /// Where it sits among every part's links (lower first).
    pub order: u16,
    pub label: &'static str,
    /// What requesters read instead (`My tickets`), if it differs.
    pub requester_label: Option<&'static str>,
    pub href: &'static str,
    /// Whether this viewer sees it.
    pub shown: fn(&crate::platform::auth::Principal) -> bool,
}

/// The navigation this viewer sees: (label, href), in order.
pub fn nav_for(p: &crate::platform::auth::Principal) -> Vec<(&'static str, &'static str)> {
    let mut links: Vec<&Nav> = parts()
        .iter()
        .flat_map(|part| part.nav.iter())
        .filter(|n| (n.shown)(p))
        .collect();
    links.sort_by_key(|n| n.order);
    let requester = p.role.is_scoped_to_own_records();
    links
        .into_iter()
        .map(|n| {
            let label = match n.requester_label {
                Some(l) if requester => l,
                _ => n.label,
            };
            (label, n.href)
        })
        .collect()
}

/// The work of a background job.
pub type JobFn = for<'a> fn(&'a AppState, &'a Job) -> BoxFuture<'a, Result<(), String>>;
/// How often a job kind is scheduled on this installation (milliseconds), if at all.
pub type Every = fn(&crate::platform::config::Config) -> Option<i64>;
/// A housekeeping sweep.
pub type Sweep = for<'a> fn(&'a Db) -> BoxFuture<'a, DbResult<()>>;
/// An outbox subscriber: the ids of the events just written, in the writing transaction.
pub type Subscriber = for<'a> fn(&'a mut Tx, &'a [i64]) -> BoxFuture<'a, DbResult<()>>;

/// A kind of background job.
pub struct JobKind {
    /// The job's kind (`jobs.kind`), also its schedule's name.
    pub kind: &'static str,
    /// Its schedule; `None` for jobs only ever enqueued.
    pub every: Option<Every>,
    pub run: JobFn,
}

impl Part {
    /// A part that declares nothing yet: start from it with `..Part::EMPTY`.
    pub const EMPTY: Part = Part {
        name: "",
        api: OpenApiRouter::new,
        pages: Router::new,
        templates: &[],
        tags: &[],
        jobs: &[],
        sweeps: &[],
        subscribers: &[],
        state: None,
        nav: &[],
    };
}

static PARTS: OnceLock<&'static [&'static Part]> = OnceLock::new();

/// Install the application's parts; the first call wins (every caller passes the same list).
pub fn install(parts: &'static [&'static Part]) {
    let _ = PARTS.set(parts);
}

/// The installed parts. Only the composition root installs them, before anything runs.
pub fn parts() -> &'static [&'static Part] {
    PARTS
        .get()
        .expect("the composition root (crate::app) installs the parts before anything runs")
}

/// The job kinds of every part.
pub fn job_kinds() -> impl Iterator<Item = &'static JobKind> {
    parts().iter().flat_map(|p| p.jobs.iter())
}
