//! What a process adds to the kernel: its kind of work item and the rules only it knows, as
//! plain functions the kernel calls at fixed points. The kernel names no process; the
//! composition root (`crate::app`) [`install`]s every process's [`Process`] once at start-up.
//!
//! A process registers for its own kind (a request's approvals when it is raised, a major
//! incident's review before it closes) or for every kind (SLA clocks follow every item; affected
//! configuration items show on every item's page).

use super::ItemRow;
use crate::platform::audit::Actor;
use crate::platform::auth::Principal;
use crate::platform::db::{Db, Tx};
use crate::platform::error::AppResult;
use crate::platform::web::AppState;
use futures_util::future::BoxFuture;
use keel_core::kernel::Kind;
use keel_core::register::Register;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Checks a create against what only the process knows (a request's type, a change's
/// template) before anything is written; the item's details as submitted.
pub type Check = for<'a> fn(&'a Db, &'a Map<String, Value>) -> BoxFuture<'a, AppResult<()>>;
/// After a create has committed: the process's first steps (approvals asked, tasks opened, a
/// template's plan taken). Returns the item as it then stands.
pub type Start = for<'a> fn(&'a Db, &'a str, &'a Actor) -> BoxFuture<'a, AppResult<ItemRow>>;
/// Items of one kind were just inserted, with sequence numbers `first..=last`, in the creating
/// transaction.
pub type Created = for<'a> fn(&'a mut Tx, Kind, i64, i64) -> BoxFuture<'a, AppResult<()>>;
/// An item is about to change state (before, after), in the change's transaction: refuse with
/// an error, or do the process's part.
pub type Moving = for<'a> fn(
    &'a mut Tx,
    Kind,
    &'a ItemRow,
    &'a ItemRow,
    &'a Actor,
) -> BoxFuture<'a, AppResult<()>>;
/// An item was just updated (before, after, at), in the updating transaction.
pub type Changed = for<'a> fn(
    &'a mut Tx,
    Kind,
    &'a ItemRow,
    &'a ItemRow,
    &'a Actor,
    i64,
) -> BoxFuture<'a, AppResult<()>>;
/// What the process shows on an item's page, for this viewer.
pub type Panels =
    for<'a> fn(&'a AppState, &'a Principal, &'a ItemRow) -> BoxFuture<'a, AppResult<Vec<Panel>>>;
/// Choices for the kind's detail fields that live in the database (a request's types), by
/// field: (value, label).
pub type Choices =
    for<'a> fn(
        &'a AppState,
    ) -> BoxFuture<'a, AppResult<Vec<(&'static str, Vec<(String, String)>)>>>;

/// One process's registration with the kernel. A `const`: data and plain functions.
pub struct Process {
    /// Its kind, or `None` when it hooks into every kind (SLA clocks, affected CIs).
    pub kind: Option<Kind>,
    pub check: Option<Check>,
    pub start: Option<Start>,
    pub created: Option<Created>,
    pub moving: Option<Moving>,
    pub changed: Option<Changed>,
    pub panels: Option<Panels>,
    pub choices: Option<Choices>,
    /// How the kind's pages read: see [`Pages`].
    pub pages: Pages,
    /// The registers the process keeps (declared in `keel_core`): the kernel's register machine
    /// stores them and gives them their API, pages, CSV and audit.
    pub registers: &'static [&'static Register],
}

/// How a kind's pages read, where the process wants them to differ from the plain default.
#[derive(Clone, Copy)]
pub struct Pages {
    /// For requesters: the list's heading and the raising page's ("My tickets", "Report a
    /// problem").
    pub for_requesters: Option<(&'static str, &'static str)>,
    /// The raising page offers requesters a knowledge search first.
    pub knowledge_first: bool,
    /// Its detail fields are filled in after it is raised, on the item's page, not when raising.
    pub details_after_raise: bool,
    /// The navigation offers "New …" for it, so its list page does not repeat it.
    pub raised_from_nav: bool,
    /// Links its list page offers staff: (label, path).
    pub list_links: &'static [(&'static str, &'static str)],
}

impl Pages {
    pub const PLAIN: Pages = Pages {
        for_requesters: None,
        knowledge_first: false,
        details_after_raise: false,
        raised_from_nav: false,
        list_links: &[],
    };
}

impl Process {
    /// A registration with no hooks yet: start from it with `..Process::NONE`.
    pub const NONE: Process = Process {
        kind: None,
        check: None,
        start: None,
        created: None,
        moving: None,
        changed: None,
        panels: None,
        choices: None,
        pages: Pages::PLAIN,
        registers: &[],
    };
}

/// A section of an item's page: a template of the process and what it shows. The template
/// reads the panel's data as `panel.data` and the page's own variables (`item`, `me`, `base` …).
#[derive(Debug, serde::Serialize)]
pub struct Panel {
    pub template: &'static str,
    /// Shown with the item's facts at the top of the page (SLA clocks) rather than below them.
    pub top: bool,
    pub data: minijinja::Value,
}

static PROCESSES: OnceLock<&'static [&'static Process]> = OnceLock::new();

/// Install every process's registration; the first call wins (every caller passes the same list).
pub fn install(processes: &'static [&'static Process]) {
    let _ = PROCESSES.set(processes);
}

fn all() -> &'static [&'static Process] {
    PROCESSES
        .get()
        .expect("the composition root (crate::app) installs the processes before anything runs")
}

/// The registrations that apply to items of `kind`: its own process's and every-kind ones.
pub fn of(kind: Kind) -> impl Iterator<Item = &'static Process> {
    all()
        .iter()
        .copied()
        .filter(move |p| p.kind.is_none_or(|k| k == kind))
}

/// Every register a process keeps, in registration order.
pub fn registers() -> impl Iterator<Item = &'static Register> {
    all().iter().flat_map(|p| p.registers.iter().copied())
}

/// The register named `name` (its API collection), if a process keeps it.
pub fn register(name: &str) -> Option<&'static Register> {
    registers().find(|r| r.name == name)
}

/// Every kind a process registered, in registration order.
pub fn kinds() -> Vec<Kind> {
    all().iter().filter_map(|p| p.kind).collect()
}

/// The kind named `name` (`incident`, `known_error`), if a process registered it.
pub fn kind(name: &str) -> Option<Kind> {
    all()
        .iter()
        .filter_map(|p| p.kind)
        .find(|k| k.as_str() == name)
}

/// A work-item number (`INC-000123`) of a registered kind, with its sequence.
pub fn parse_number(raw: &str) -> Option<(Kind, i64)> {
    keel_core::kernel::parse_number(&kinds(), raw)
}

/// Whether raising an item of `kind` involves its process beyond the kernel's insert (a check
/// before, or first steps after): such creates do not join the group commit.
pub fn raises_with_steps(kind: Kind) -> bool {
    of(kind).any(|p| p.check.is_some() || p.start.is_some())
}

/// Run the checks of `kind`'s processes on a create's details.
pub async fn check(db: &Db, kind: Kind, details: &Map<String, Value>) -> AppResult<()> {
    for p in of(kind) {
        if let Some(f) = p.check {
            f(db, details).await?;
        }
    }
    Ok(())
}

/// Take the first steps of a just-created item; returns it as it then stands (`row` when no
/// process has steps).
pub async fn start(db: &Db, kind: Kind, row: ItemRow, actor: &Actor) -> AppResult<ItemRow> {
    let mut row = row;
    for p in of(kind) {
        if let Some(f) = p.start {
            row = f(db, &row.number, actor).await?;
        }
    }
    Ok(row)
}

pub(super) async fn created(tx: &mut Tx, kind: Kind, first: i64, last: i64) -> AppResult<()> {
    for p in of(kind) {
        if let Some(f) = p.created {
            f(tx, kind, first, last).await?;
        }
    }
    Ok(())
}

pub(super) async fn moving(
    tx: &mut Tx,
    kind: Kind,
    before: &ItemRow,
    after: &ItemRow,
    actor: &Actor,
) -> AppResult<()> {
    for p in of(kind) {
        if let Some(f) = p.moving {
            f(tx, kind, before, after, actor).await?;
        }
    }
    Ok(())
}

pub(super) async fn changed(
    tx: &mut Tx,
    kind: Kind,
    before: &ItemRow,
    after: &ItemRow,
    actor: &Actor,
    now: i64,
) -> AppResult<()> {
    for p in of(kind) {
        if let Some(f) = p.changed {
            f(tx, kind, before, after, actor, now).await?;
        }
    }
    Ok(())
}

/// The panels every process shows on this item's page, in registration order.
pub async fn panels(
    st: &AppState,
    p: &Principal,
    item: &ItemRow,
    kind: Kind,
) -> AppResult<Vec<Panel>> {
    let mut out = vec![];
    for proc in of(kind) {
        if let Some(f) = proc.panels {
            out.extend(f(st, p, item).await?);
        }
    }
    Ok(out)
}

/// The database choices of `kind`'s detail fields.
pub async fn choices(
    st: &AppState,
    kind: Kind,
) -> AppResult<Vec<(&'static str, Vec<(String, String)>)>> {
    let mut out = vec![];
    for p in of(kind) {
        if let Some(f) = p.choices {
            out.extend(f(st).await?);
        }
    }
    Ok(out)
}

/// How `kind`'s pages read, as its own process declared.
pub fn pages(kind: Kind) -> Pages {
    all()
        .iter()
        .find(|p| p.kind == Some(kind))
        .map_or(Pages::PLAIN, |p| p.pages)
}
