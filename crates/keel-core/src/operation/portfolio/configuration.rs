//! Clause 8.2.6 — configuration management: relationship kinds and how failure propagates along
//! them, impact analysis over the CI graph, identity keys, and the comparison of two
//! configurations (baselines against each other or now; a discovery file against the CMDB).
//!
//! The graph lives in memory ([`Graph`]) so an impact query is a breadth-first walk, not a
//! recursive query: on 100,000 CIs and 500,000 relationships it answers in microseconds to a few
//! milliseconds (docs/benchmarks.md). It is updated edge by edge, so callers keep it current
//! from a change log instead of reloading it.

use super::form::FormError;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::register::Table;

/// Configuration items, for registers that refer to them (too many to offer as choices).
pub static CIS: Table = Table {
    table: "cis",
    key: "id",
    prefix: None,
    label: "name",
    what: "configuration item",
    choices: false,
    page: Some("/cis/{}"),
};

/// CI classes, for registers that refer to them.
pub static CLASSES: Table = Table {
    table: "ci_classes",
    key: "id",
    prefix: None,
    label: "name",
    what: "CI class",
    choices: true,
    page: None,
};

/// A hasher for database ids: one multiply. Ids are assigned by the database, not chosen by
/// callers, so the DoS resistance of the default hasher buys nothing on these maps, and on walks
/// touching most of a 100,000-CI estate its cost shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by database id.
pub type IdMap<V> = HashMap<i64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A CI's operational status.
pub const STATUSES: &[&str] = &["planned", "active", "maintenance", "retired"];

/// A typed, directed relationship `source —kind→ target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelKind {
    /// The source needs the target (an application depends on a database).
    DependsOn,
    /// The source is hosted by the target (a database runs on a server).
    RunsOn,
    /// The source is attached to the target on the network (a server to its switch, an access
    /// switch to a core switch): the target's failure cuts the source off.
    ConnectsTo,
    /// The source is a component of the target (a disk is part of a storage array).
    PartOf,
}

impl RelKind {
    pub const ALL: [RelKind; 4] = [
        RelKind::DependsOn,
        RelKind::RunsOn,
        RelKind::ConnectsTo,
        RelKind::PartOf,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelKind::DependsOn => "depends_on",
            RelKind::RunsOn => "runs_on",
            RelKind::ConnectsTo => "connects_to",
            RelKind::PartOf => "part_of",
        }
    }

    pub fn parse(s: &str) -> Option<RelKind> {
        RelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a failure of the source impacts the target (a part's failure impairs the whole);
    /// for every other kind a failure of the target impacts the source. Each relationship thus
    /// carries impact one way only.
    fn source_impacts_target(self) -> bool {
        matches!(self, RelKind::PartOf)
    }
}

/// Which way to walk from a CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What a failure of the CI impacts: its dependants, up to services and customers.
    Downstream,
    /// What the CI relies on: where the cause of its failure may lie.
    Upstream,
}

/// One impact edge: failure of the row's CI impacts slot `to`, over the relationship in slot
/// `rel`. Eight bytes: the worst walks stream most of the estate's edges, and what they read
/// per edge is what they cost.
#[derive(Debug, Clone, Copy)]
struct Edge {
    to: u32,
    rel: u32,
}

/// Adjacency in compressed rows: slot `n`'s edges are `edges[off[n]..off[n + 1]]`, one
/// contiguous array, so a walk over most of the estate reads memory in order.
#[derive(Debug, Default, Clone)]
struct Csr {
    off: Vec<u32>,
    edges: Vec<Edge>,
}

impl Csr {
    fn of(&self, n: u32) -> &[Edge] {
        let n = n as usize;
        match (self.off.get(n), self.off.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.edges[a as usize..b as usize],
            _ => &[],
        }
    }

    fn build(slots: usize, mut edges: Vec<(u32, Edge)>) -> Csr {
        edges.sort_by_key(|(from, e)| (*from, e.rel));
        let mut off = vec![0u32; slots + 1];
        for (from, _) in &edges {
            off[*from as usize + 1] += 1;
        }
        for i in 0..slots {
            off[i + 1] += off[i];
        }
        Csr {
            off,
            edges: edges.into_iter().map(|(_, e)| e).collect(),
        }
    }
}

type SlotMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A relationship as the graph keeps it.
#[derive(Debug, Clone, Copy)]
struct Rel {
    source: i64,
    kind: RelKind,
    target: i64,
    /// Its slot in `rel_slots`, which edges name.
    slot: u32,
    /// In the compact rows (else in the overlay).
    compact: bool,
}

/// The configuration graph, indexed for impact walks in both directions: compact rows built at
/// load (and again when the overlay grows), plus an overlay of relationships added since and a
/// set of compact ones removed since.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    index: IdMap<u32>,
    /// CI slot → CI id. Slots are never reused; a removed CI's slot is left without edges.
    ids: Vec<i64>,
    /// Edges to CIs a failure of the slot impacts.
    impacts: Csr,
    /// Edges to CIs whose failure impacts the slot.
    relies: Csr,
    extra_impacts: SlotMap<Vec<Edge>>,
    extra_relies: SlotMap<Vec<Edge>>,
    overlay: usize,
    /// Relationship slot → (id, kind). Renumbered densely by [`Graph::compact`].
    rel_slots: Vec<(i64, RelKind)>,
    /// Slots of compact relationships removed since the last compaction.
    removed: SlotMap<()>,
    rels: IdMap<Rel>,
}

/// How a CI was reached: from `parent` (an index into the walk's nodes) over relationship `rel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    pub parent: usize,
    pub rel: i64,
    pub kind: RelKind,
    /// The relationship points from the parent to this CI (`parent —kind→ ci`).
    pub forward: bool,
}

/// A CI reached by a walk, at its shortest distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reached {
    pub ci: i64,
    pub depth: u32,
    pub via: Option<Step>,
}

/// The result of a walk: the CIs reached in breadth-first order, the start first. Held as flat
/// arrays of slots (12 bytes a CI, depths by level) and read through the graph it came from,
/// because the worst case reaches most of the estate and only a few hundred CIs are ever shown.
#[derive(Debug, Clone)]
pub struct Walk<'g> {
    graph: &'g Graph,
    dir: Direction,
    slots: Vec<u32>,
    /// Per node: (index of the parent node, relationship slot); unused for the start.
    via: Vec<(u32, u32)>,
    /// `levels[d]` is the index of the first node at depth `d`.
    levels: Vec<u32>,
    /// Some CIs lay beyond the depth limit.
    pub depth_limited: bool,
}

impl Walk<'_> {
    /// How many CIs were reached, the start included (never zero).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always false: the start is reached.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The id of node `i`.
    pub fn ci(&self, i: usize) -> i64 {
        self.graph.ids[self.slots[i] as usize]
    }

    /// Every CI id reached, in breadth-first order.
    pub fn cis(&self) -> impl Iterator<Item = i64> + '_ {
        self.slots.iter().map(|s| self.graph.ids[*s as usize])
    }

    /// Node `i`'s distance from the start.
    pub fn depth(&self, i: usize) -> u32 {
        let after = self.levels.partition_point(|&first| first as usize <= i);
        u32::try_from(after.saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// How node `i` was reached (`None` for the start).
    pub fn step(&self, i: usize) -> Option<Step> {
        if i == 0 {
            return None;
        }
        let (parent, rel) = self.via[i];
        let (id, kind) = self.graph.rel_slots[rel as usize];
        Some(Step {
            parent: parent as usize,
            rel: id,
            kind,
            forward: kind.source_impacts_target() == (self.dir == Direction::Downstream),
        })
    }

    /// Node `i` whole.
    pub fn get(&self, i: usize) -> Reached {
        Reached {
            ci: self.ci(i),
            depth: self.depth(i),
            via: self.step(i),
        }
    }

    /// Every node, in breadth-first order.
    pub fn nodes(&self) -> impl Iterator<Item = Reached> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The CI ids from the start to node `i`.
    pub fn path(&self, mut i: usize) -> Vec<i64> {
        let mut out = vec![self.ci(i)];
        while i != 0 {
            i = self.via[i].0 as usize;
            out.push(self.ci(i));
        }
        out.reverse();
        out
    }
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn ci_count(&self) -> usize {
        self.index.len()
    }

    pub fn rel_count(&self) -> usize {
        self.rels.len()
    }

    pub fn contains(&self, ci: i64) -> bool {
        self.index.contains_key(&ci)
    }

    fn slot(&mut self, ci: i64) -> u32 {
        if let Some(i) = self.index.get(&ci) {
            return *i;
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.push(ci);
        self.index.insert(ci, i);
        i
    }

    fn rel_slot(&mut self, rel: i64, kind: RelKind) -> u32 {
        let i = u32::try_from(self.rel_slots.len()).unwrap_or(u32::MAX);
        self.rel_slots.push((rel, kind));
        i
    }

    /// Add a CI with no relationships (relationships add their ends themselves).
    pub fn add_ci(&mut self, ci: i64) {
        self.slot(ci);
    }

    /// The impact edge of relationship `r`, as (from slot, edge) in the `impacts` direction;
    /// the `relies` edge is its reverse.
    fn edge_of(&mut self, r: &Rel) -> (u32, u32) {
        let s = self.slot(r.source);
        let t = self.slot(r.target);
        if r.kind.source_impacts_target() {
            (s, t)
        } else {
            (t, s)
        }
    }

    /// Add (or replace) relationship `rel`.
    pub fn add_rel(&mut self, rel: i64, source: i64, kind: RelKind, target: i64) {
        self.remove_rel(rel);
        let r = Rel {
            source,
            kind,
            target,
            slot: self.rel_slot(rel, kind),
            compact: false,
        };
        let (from, to) = self.edge_of(&r);
        let e = |to| Edge { to, rel: r.slot };
        self.extra_impacts.entry(from).or_default().push(e(to));
        self.extra_relies.entry(to).or_default().push(e(from));
        self.overlay += 1;
        self.rels.insert(rel, r);
    }

    pub fn remove_rel(&mut self, rel: i64) {
        let Some(r) = self.rels.remove(&rel) else {
            return;
        };
        if r.compact {
            self.removed.insert(r.slot, ());
            return;
        }
        for ci in [r.source, r.target] {
            if let Some(&i) = self.index.get(&ci) {
                for m in [&mut self.extra_impacts, &mut self.extra_relies] {
                    if let Some(v) = m.get_mut(&i) {
                        v.retain(|e| e.rel != r.slot);
                    }
                }
            }
        }
    }

    /// Remove a CI and every relationship it is an end of.
    pub fn remove_ci(&mut self, ci: i64) {
        let Some(&i) = self.index.get(&ci) else {
            return;
        };
        let rels: Vec<i64> = self
            .impacts
            .of(i)
            .iter()
            .chain(self.relies.of(i))
            .chain(self.extra_impacts.get(&i).into_iter().flatten())
            .chain(self.extra_relies.get(&i).into_iter().flatten())
            .map(|e| self.rel_slots[e.rel as usize].0)
            .collect();
        for r in rels {
            self.remove_rel(r);
        }
        // The slot stays (ids are never reused); it is unreachable without edges.
        self.index.remove(&ci);
    }

    /// Whether enough has changed since the last [`Graph::compact`] to make one worth it.
    pub fn wants_compaction(&self) -> bool {
        let changes = self.overlay + self.removed.len();
        changes > 4_096 && changes * 8 > self.rels.len()
    }

    /// Rebuild the compact rows (and the relationship slots) from every live relationship and
    /// empty the overlay.
    pub fn compact(&mut self) {
        let mut rels: Vec<(i64, Rel)> = self.rels.iter().map(|(k, v)| (*k, *v)).collect();
        rels.sort_unstable_by_key(|(id, _)| *id);
        self.rel_slots = Vec::with_capacity(rels.len());
        let (mut imp, mut rel_) = (
            Vec::with_capacity(rels.len()),
            Vec::with_capacity(rels.len()),
        );
        for (id, mut r) in rels {
            r.slot = self.rel_slot(id, r.kind);
            r.compact = true;
            let (from, to) = self.edge_of(&r);
            imp.push((from, Edge { to, rel: r.slot }));
            rel_.push((
                to,
                Edge {
                    to: from,
                    rel: r.slot,
                },
            ));
            self.rels.insert(id, r);
        }
        self.impacts = Csr::build(self.ids.len(), imp);
        self.relies = Csr::build(self.ids.len(), rel_);
        self.extra_impacts.clear();
        self.extra_relies.clear();
        self.removed.clear();
        self.overlay = 0;
    }

    /// Walk from `start` breadth first, up to `max_depth` relationships away. `None` when the CI
    /// is not in the graph.
    pub fn walk(&self, start: i64, dir: Direction, max_depth: u32) -> Option<Walk<'_>> {
        let &s = self.index.get(&start)?;
        let (rows, extra) = match dir {
            Direction::Downstream => (&self.impacts, &self.extra_impacts),
            Direction::Upstream => (&self.relies, &self.extra_relies),
        };
        // Level by level, each level in slot order: a walk over most of the estate then reads the
        // adjacency rows front to back instead of jumping about in discovery order (the rows,
        // not the marks, are what such a walk waits for). Marks are a bitset: 12.5 KB for
        // 100,000 CIs.
        let words = self.ids.len().div_ceil(64);
        let (mut seen, mut next) = (vec![0u64; words], vec![0u64; words]);
        let mark = |bits: &mut [u64], n: u32| bits[n as usize / 64] |= 1 << (n % 64);
        let marked = |bits: &[u64], n: u32| bits[n as usize / 64] & (1 << (n % 64)) != 0;
        mark(&mut seen, s);
        let mut w = Walk {
            graph: self,
            dir,
            slots: vec![s],
            via: vec![(0, 0)],
            levels: vec![0],
            depth_limited: false,
        };
        let check_removed = !self.removed.is_empty();
        // The next level as found: (slot, parent node, relationship slot).
        let mut found: Vec<(u32, u32, u32)> = Vec::new();
        let mut rank: Vec<u32> = Vec::new();
        let mut level = 0..1;
        for depth in 0.. {
            'level: for at in level.clone() {
                let n = w.slots[at];
                let overlay = match extra.is_empty() {
                    true => &[][..],
                    false => extra.get(&n).map_or(&[][..], Vec::as_slice),
                };
                let parent = u32::try_from(at).unwrap_or(u32::MAX);
                for edges in [rows.of(n), overlay] {
                    for e in edges {
                        if marked(&seen, e.to)
                            || (check_removed && self.removed.contains_key(&e.rel))
                        {
                            continue;
                        }
                        if depth >= max_depth {
                            w.depth_limited = true;
                            break 'level;
                        }
                        mark(&mut seen, e.to);
                        mark(&mut next, e.to);
                        found.push((e.to, parent, e.rel));
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            let first = w.slots.len();
            w.levels.push(u32::try_from(first).unwrap_or(u32::MAX));
            if found.len() * 16 < words {
                // A few: sort them.
                found.sort_unstable_by_key(|f| f.0);
                for &(slot, parent, rel) in &found {
                    w.slots.push(slot);
                    w.via.push((parent, rel));
                    next[slot as usize / 64] = 0;
                }
            } else {
                // Many: each one's place is its rank among the level's marks, counted per word.
                rank.clear();
                let mut total = 0;
                for word in &next {
                    rank.push(total);
                    total += word.count_ones();
                }
                w.slots.resize(first + found.len(), 0);
                w.via.resize(first + found.len(), (0, 0));
                for &(slot, parent, rel) in &found {
                    let (i, bit) = (slot as usize / 64, slot % 64);
                    let below = (next[i] & ((1u64 << bit) - 1)).count_ones();
                    let at = first + (rank[i] + below) as usize;
                    w.slots[at] = slot;
                    w.via[at] = (parent, rel);
                }
                next.fill(0);
            }
            found.clear();
            level = first..w.slots.len();
        }
        Some(w)
    }
}

/// The identity key of a CI: the values of its class's identity fields, in order, joined by `|`.
/// `name` stands for the CI's name. Every identity value must be present.
pub fn identity_key(
    identity: &[String],
    name: &str,
    attributes: &Map<String, Value>,
) -> Result<String, FormError> {
    let mut parts = Vec::with_capacity(identity.len().max(1));
    for f in identity {
        let v = if f == "name" {
            Some(name.trim().to_lowercase())
        } else {
            attributes.get(f).map(|v| match v {
                Value::String(s) => s.trim().to_lowercase(),
                other => other.to_string(),
            })
        };
        match v.filter(|v| !v.is_empty()) {
            Some(v) => parts.push(v),
            None => {
                return Err(FormError {
                    field: if f == "name" {
                        "name".into()
                    } else {
                        format!("attributes.{f}")
                    },
                    detail: "is part of the identity key and is required".into(),
                });
            }
        }
    }
    if identity.is_empty() {
        parts.push(name.trim().to_lowercase());
    }
    Ok(parts.join("|"))
}

/// A CI as configurations are compared: keyed by `class/identity key`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CiState {
    pub name: String,
    pub status: String,
    pub attributes: Map<String, Value>,
}

/// A configuration: CIs by key, relationships as (source key, kind, target key).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Configuration {
    pub cis: BTreeMap<String, CiState>,
    pub rels: BTreeSet<(String, RelKind, String)>,
}

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttrDiff {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CiDiff {
    pub key: String,
    pub changes: Vec<AttrDiff>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelRef {
    pub source: String,
    pub kind: RelKind,
    pub target: String,
}

/// What turns `before` into `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Difference {
    /// CI keys only in `before`.
    pub removed: Vec<String>,
    /// CI keys only in `after`.
    pub added: Vec<String>,
    pub changed: Vec<CiDiff>,
    pub rels_removed: Vec<RelRef>,
    pub rels_added: Vec<RelRef>,
}

impl Difference {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.added.is_empty()
            && self.changed.is_empty()
            && self.rels_removed.is_empty()
            && self.rels_added.is_empty()
    }
}

fn ci_changes(a: &CiState, b: &CiState) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    let mut push = |field: String, before: Value, after: Value| {
        if before != after {
            out.push(AttrDiff {
                field,
                before,
                after,
            });
        }
    };
    push(
        "name".into(),
        Value::from(a.name.clone()),
        Value::from(b.name.clone()),
    );
    push(
        "status".into(),
        Value::from(a.status.clone()),
        Value::from(b.status.clone()),
    );
    let keys: BTreeSet<&String> = a.attributes.keys().chain(b.attributes.keys()).collect();
    for k in keys {
        push(
            format!("attributes.{k}"),
            a.attributes.get(k).cloned().unwrap_or(Value::Null),
            b.attributes.get(k).cloned().unwrap_or(Value::Null),
        );
    }
    out
}

fn rel_ref((source, kind, target): &(String, RelKind, String)) -> RelRef {
    RelRef {
        source: source.clone(),
        kind: *kind,
        target: target.clone(),
    }
}

/// Compare two configurations.
pub fn compare(before: &Configuration, after: &Configuration) -> Difference {
    let mut d = Difference::default();
    for (k, a) in &before.cis {
        match after.cis.get(k) {
            None => d.removed.push(k.clone()),
            Some(b) => {
                let changes = ci_changes(a, b);
                if !changes.is_empty() {
                    d.changed.push(CiDiff {
                        key: k.clone(),
                        changes,
                    });
                }
            }
        }
    }
    d.added = after
        .cis
        .keys()
        .filter(|k| !before.cis.contains_key(*k))
        .cloned()
        .collect();
    d.rels_removed = before.rels.difference(&after.rels).map(rel_ref).collect();
    d.rels_added = after.rels.difference(&before.rels).map(rel_ref).collect();
    d
}

/// Apply a difference to `before`: `compare(a, b)` applied to `a` gives `b` (the property
/// that checks `compare`).
#[cfg(test)]
fn apply(
    before: &Configuration,
    d: &Difference,
    after_cis: &BTreeMap<String, CiState>,
) -> Configuration {
    let mut out = before.clone();
    for k in &d.removed {
        out.cis.remove(k);
    }
    for k in d.added.iter().chain(d.changed.iter().map(|c| &c.key)) {
        if let Some(c) = after_cis.get(k) {
            out.cis.insert(k.clone(), c.clone());
        }
    }
    for r in &d.rels_removed {
        out.rels
            .remove(&(r.source.clone(), r.kind, r.target.clone()));
    }
    for r in &d.rels_added {
        out.rels
            .insert((r.source.clone(), r.kind, r.target.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// app —depends_on→ db —runs_on→ srv —connects_to→ sw; disk —part_of→ srv.
    fn sample() -> Graph {
        let mut g = Graph::new();
        g.add_rel(1, 10, RelKind::DependsOn, 20);
        g.add_rel(2, 20, RelKind::RunsOn, 30);
        g.add_rel(3, 30, RelKind::ConnectsTo, 40);
        g.add_rel(4, 50, RelKind::PartOf, 30);
        g
    }

    fn ids(w: &Walk) -> Vec<i64> {
        let mut v: Vec<i64> = w.cis().collect();
        v.sort();
        v
    }

    #[test]
    fn failure_travels_to_dependants() {
        let g = sample();
        let w = g.walk(50, Direction::Downstream, 10).expect("known");
        assert_eq!(ids(&w), vec![10, 20, 30, 50]);
        let app = w.cis().position(|ci| ci == 10).expect("app");
        assert_eq!(w.path(app), vec![50, 30, 20, 10]);
        assert_eq!(w.depth(app), 3);
        // The app relies on everything below it; nothing relies on it.
        let up = g.walk(10, Direction::Upstream, 10).expect("known");
        assert_eq!(ids(&up), vec![10, 20, 30, 40, 50]);
        assert_eq!(
            ids(&g.walk(10, Direction::Downstream, 10).expect("known")),
            vec![10]
        );
        assert!(g.walk(99, Direction::Downstream, 10).is_none());
    }

    #[test]
    fn depth_limit_and_removal() {
        let mut g = sample();
        let w = g.walk(40, Direction::Downstream, 1).expect("known");
        assert_eq!(ids(&w), vec![30, 40]);
        assert!(w.depth_limited);
        g.remove_rel(2);
        assert_eq!(
            ids(&g.walk(40, Direction::Downstream, 9).expect("known")),
            vec![30, 40]
        );
        g.remove_ci(30);
        assert_eq!(g.rel_count(), 1);
        assert!(!g.contains(30));
    }

    #[test]
    fn identity_keys() {
        let a = json!({"serial": "AB12 ", "n": 3});
        let a = a.as_object().expect("object");
        assert_eq!(identity_key(&[], " Web-01 ", a).expect("key"), "web-01");
        assert_eq!(
            identity_key(&["serial".into(), "n".into()], "x", a).expect("key"),
            "ab12|3"
        );
        assert_eq!(
            identity_key(&["mac".into()], "x", a)
                .expect_err("missing")
                .field,
            "attributes.mac"
        );
    }

    fn edges() -> impl Strategy<Value = Vec<(i64, u8, i64)>> {
        proptest::collection::vec((0i64..12, 0u8..4, 0i64..12), 0..40)
    }

    fn build(es: &[(i64, u8, i64)]) -> Graph {
        build_padded(es, 0)
    }

    /// With `pad` CIs that take part in nothing: a walk orders small levels by sorting and
    /// large ones by rank among the graph's slots, and which it takes depends on the graph's size.
    fn build_padded(es: &[(i64, u8, i64)], pad: i64) -> Graph {
        let mut g = Graph::new();
        for n in 0..12 + pad {
            g.add_ci(n);
        }
        for (i, (s, k, t)) in es.iter().enumerate() {
            g.add_rel(i as i64, *s, RelKind::ALL[*k as usize], *t);
        }
        g
    }

    /// Brute force: shortest impact distances from `start` by repeated relaxation.
    fn distances(es: &[(i64, u8, i64)], start: i64, dir: Direction) -> BTreeMap<i64, u32> {
        let mut arcs = Vec::new();
        for (s, k, t) in es {
            let k = RelKind::ALL[*k as usize];
            // A part's failure impairs the whole; for the other kinds the target's failure
            // impairs the source.
            let (x, y) = if k == RelKind::PartOf {
                (*s, *t)
            } else {
                (*t, *s)
            };
            arcs.push(match dir {
                Direction::Downstream => (x, y),
                Direction::Upstream => (y, x),
            });
        }
        let mut d = BTreeMap::from([(start, 0u32)]);
        loop {
            let mut changed = false;
            for (x, y) in &arcs {
                if let Some(&dx) = d.get(x)
                    && d.get(y).is_none_or(|&dy| dx + 1 < dy)
                {
                    d.insert(*y, dx + 1);
                    changed = true;
                }
            }
            if !changed {
                return d;
            }
        }
    }

    proptest! {
        /// The walk finds exactly the CIs within reach, each at its shortest distance, with a
        /// path that follows real relationships.
        #[test]
        fn walk_matches_brute_force(es in edges(), start in 0i64..12, depth in 0u32..6, up in any::<bool>(), pad in proptest::sample::select(vec![0i64, 100, 3000])) {
            let dir = if up { Direction::Upstream } else { Direction::Downstream };
            let g = build_padded(&es, pad);
            let w = g.walk(start, dir, depth).expect("known");
            let want: BTreeMap<i64, u32> = distances(&es, start, dir).into_iter().filter(|(_, d)| *d <= depth).collect();
            let got: BTreeMap<i64, u32> = w.nodes().map(|n| (n.ci, n.depth)).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(w.depth_limited, distances(&es, start, dir).values().any(|d| *d > depth));
            // Breadth first, each level in slot order (here the CIs' order): depths never fall,
            // and each CI's parent is one step nearer.
            let nodes: Vec<Reached> = w.nodes().collect();
            prop_assert!(nodes.windows(2).all(|p| p[0].depth < p[1].depth || (p[0].depth == p[1].depth && p[0].ci < p[1].ci)));
            for n in &nodes {
                if let Some(s) = n.via {
                    prop_assert_eq!(nodes[s.parent].depth + 1, n.depth);
                }
            }
            for (i, n) in w.nodes().enumerate() {
                let p = w.path(i);
                prop_assert_eq!(p.len() as u32, n.depth + 1);
                if let Some(s) = n.via {
                    let (src, kind, tgt) = es[s.rel as usize];
                    let parent = w.ci(s.parent);
                    prop_assert_eq!(RelKind::ALL[kind as usize], s.kind);
                    if s.forward { prop_assert_eq!((src, tgt), (parent, n.ci)); } else { prop_assert_eq!((tgt, src), (parent, n.ci)); }
                }
            }
        }

        /// Compacting changes nothing a walk sees, before or after further changes.
        #[test]
        fn compaction_is_invisible(es in edges(), more in edges(), drop in proptest::collection::vec(0usize..80, 0..10), start in 0i64..12, up in any::<bool>()) {
            let dir = if up { Direction::Upstream } else { Direction::Downstream };
            let set = |g: &Graph| { let mut v: Vec<(i64, u32)> = g.walk(start, dir, 20).expect("known").nodes().map(|n| (n.ci, n.depth)).collect(); v.sort(); v };
            let mut plain = build(&es);
            let mut compacted = build(&es);
            compacted.compact();
            prop_assert_eq!(set(&plain), set(&compacted));
            for (i, (s, k, t)) in more.iter().enumerate() {
                let id = 1000 + i as i64;
                plain.add_rel(id, *s, RelKind::ALL[*k as usize], *t);
                compacted.add_rel(id, *s, RelKind::ALL[*k as usize], *t);
            }
            for d in &drop {
                let id = if *d < 40 { *d as i64 } else { 1000 + (*d as i64 - 40) };
                plain.remove_rel(id);
                compacted.remove_rel(id);
            }
            prop_assert_eq!(set(&plain), set(&compacted));
            prop_assert_eq!(plain.rel_count(), compacted.rel_count());
            compacted.compact();
            prop_assert_eq!(set(&plain), set(&compacted));
        }

        /// Removing a relationship is the same as never adding it.
        #[test]
        fn removal_is_undo(es in edges(), drop in 0usize..40, start in 0i64..12) {
            let mut g = build(&es);
            let drop = drop.min(es.len().saturating_sub(1));
            if !es.is_empty() {
                g.remove_rel(drop as i64);
                let mut rest = es.clone();
                rest[drop] = (100, 0, 101); // an unrelated edge keeps the ids aligned
                let h = build(&rest);
                let set = |g: &Graph| { let mut v: Vec<i64> = g.walk(start, Direction::Downstream, 20).expect("known").cis().collect(); v.sort(); v };
                prop_assert_eq!(set(&g), set(&h));
            }
        }

        /// compare(a, b) applied to a gives b.
        #[test]
        fn compare_then_apply(a in configuration(), b in configuration()) {
            let d = compare(&a, &b);
            prop_assert_eq!(apply(&a, &d, &b.cis), b.clone());
            prop_assert!(compare(&a, &a).is_empty());
        }
    }

    fn configuration() -> impl Strategy<Value = Configuration> {
        let ci = (0u8..3, 0u8..2, proptest::option::of(0u8..3)).prop_map(|(n, s, v)| {
            let mut attributes = Map::new();
            if let Some(v) = v {
                attributes.insert("v".into(), json!(v));
            }
            CiState {
                name: format!("n{n}"),
                status: STATUSES[s as usize].into(),
                attributes,
            }
        });
        (
            proptest::collection::btree_map("[a-d]", ci, 0..4),
            proptest::collection::btree_set(("[a-d]", 0u8..4, "[a-d]"), 0..5),
        )
            .prop_map(|(cis, rels)| Configuration {
                cis,
                rels: rels
                    .into_iter()
                    .map(|(s, k, t)| (s, RelKind::ALL[k as usize], t))
                    .collect(),
            })
    }
}
