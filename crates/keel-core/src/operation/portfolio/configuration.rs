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

    /// Whether a failure of the source impacts the target.
    fn source_impacts_target(self) -> bool {
        matches!(self, RelKind::PartOf)
    }

    /// Whether a failure of the target impacts the source.
    fn target_impacts_source(self) -> bool {
        matches!(
            self,
            RelKind::DependsOn | RelKind::RunsOn | RelKind::ConnectsTo
        )
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

/// One impact edge: failure of one end impacts `to`.
#[derive(Debug, Clone, Copy)]
struct Edge {
    to: u32,
    rel: i64,
    kind: RelKind,
    /// The relationship's source is the end we walk from.
    from_source: bool,
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

/// Edges with the slot they leave from.
type Placed = Vec<(u32, Edge)>;

type SlotMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A relationship as the graph keeps it.
#[derive(Debug, Clone, Copy)]
struct Rel {
    source: i64,
    kind: RelKind,
    target: i64,
    /// In the compact rows (else in the overlay).
    compact: bool,
}

/// The configuration graph, indexed for impact walks in both directions: compact rows built at
/// load (and again when the overlay grows), plus an overlay of relationships added since and a
/// set of compact ones removed since.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    index: IdMap<u32>,
    ids: Vec<i64>,
    /// Edges to CIs a failure of the slot impacts.
    impacts: Csr,
    /// Edges to CIs whose failure impacts the slot.
    relies: Csr,
    extra_impacts: SlotMap<Vec<Edge>>,
    extra_relies: SlotMap<Vec<Edge>>,
    overlay: usize,
    removed: IdMap<()>,
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

/// The result of a walk: nodes in breadth-first order, the start first.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    pub nodes: Vec<Reached>,
    /// Some CIs lay beyond the depth limit.
    pub depth_limited: bool,
}

impl Walk {
    /// The CI ids from the start to node `i`.
    pub fn path(&self, mut i: usize) -> Vec<i64> {
        let mut out = vec![self.nodes[i].ci];
        while let Some(s) = self.nodes[i].via {
            i = s.parent;
            out.push(self.nodes[i].ci);
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

    /// Add a CI with no relationships (relationships add their ends themselves).
    pub fn add_ci(&mut self, ci: i64) {
        self.slot(ci);
    }

    /// The impact edges of relationship `rel`: (from slot, edge) for each direction.
    fn edges_of(&mut self, rel: i64, r: Rel) -> (Placed, Placed) {
        let s = self.slot(r.source);
        let t = self.slot(r.target);
        let (mut imp, mut rel_) = (vec![], vec![]);
        let mut link = |from: u32, to: u32, from_source: bool| {
            let e = |to| Edge {
                to,
                rel,
                kind: r.kind,
                from_source,
            };
            imp.push((from, e(to)));
            rel_.push((
                to,
                Edge {
                    from_source: !from_source,
                    ..e(from)
                },
            ));
        };
        if r.kind.source_impacts_target() {
            link(s, t, true);
        }
        if r.kind.target_impacts_source() {
            link(t, s, false);
        }
        (imp, rel_)
    }

    /// Add (or replace) relationship `rel`.
    pub fn add_rel(&mut self, rel: i64, source: i64, kind: RelKind, target: i64) {
        self.remove_rel(rel);
        let r = Rel {
            source,
            kind,
            target,
            compact: false,
        };
        let (imp, rel_) = self.edges_of(rel, r);
        for (from, e) in imp {
            self.extra_impacts.entry(from).or_default().push(e);
        }
        for (from, e) in rel_ {
            self.extra_relies.entry(from).or_default().push(e);
        }
        self.overlay += 1;
        self.rels.insert(rel, r);
    }

    pub fn remove_rel(&mut self, rel: i64) {
        let Some(r) = self.rels.remove(&rel) else {
            return;
        };
        if r.compact {
            self.removed.insert(rel, ());
            return;
        }
        for ci in [r.source, r.target] {
            if let Some(&i) = self.index.get(&ci) {
                for m in [&mut self.extra_impacts, &mut self.extra_relies] {
                    if let Some(v) = m.get_mut(&i) {
                        v.retain(|e| e.rel != rel);
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
            .map(|e| e.rel)
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

    /// Rebuild the compact rows from every live relationship and empty the overlay.
    pub fn compact(&mut self) {
        let rels: Vec<(i64, Rel)> = self.rels.iter().map(|(k, v)| (*k, *v)).collect();
        let (mut imp, mut rel_) = (
            Vec::with_capacity(rels.len() * 2),
            Vec::with_capacity(rels.len() * 2),
        );
        for (id, r) in rels {
            let (a, b) = self.edges_of(id, r);
            imp.extend(a);
            rel_.extend(b);
        }
        self.impacts = Csr::build(self.ids.len(), imp);
        self.relies = Csr::build(self.ids.len(), rel_);
        self.extra_impacts.clear();
        self.extra_relies.clear();
        self.removed.clear();
        self.overlay = 0;
        for r in self.rels.values_mut() {
            r.compact = true;
        }
    }

    /// Walk from `start` breadth first, up to `max_depth` relationships away. `None` when the CI
    /// is not in the graph.
    pub fn walk(&self, start: i64, dir: Direction, max_depth: u32) -> Option<Walk> {
        let &s = self.index.get(&start)?;
        let (rows, extra) = match dir {
            Direction::Downstream => (&self.impacts, &self.extra_impacts),
            Direction::Upstream => (&self.relies, &self.extra_relies),
        };
        // Visited marks in a flat array: one slot per CI, far cheaper than hashing on walks that
        // reach most of a large estate.
        let mut seen = vec![false; self.ids.len()];
        let mut walk = Walk::default();
        seen[s as usize] = true;
        walk.nodes.push(Reached {
            ci: start,
            depth: 0,
            via: None,
        });
        let mut slots = vec![s];
        let mut at = 0;
        let check_removed = !self.removed.is_empty();
        while at < walk.nodes.len() {
            let n = slots[at];
            let depth = walk.nodes[at].depth;
            let edges = rows
                .of(n)
                .iter()
                .filter(|e| !check_removed || !self.removed.contains_key(&e.rel))
                .chain(extra.get(&n).into_iter().flatten());
            for e in edges {
                if seen[e.to as usize] {
                    continue;
                }
                if depth >= max_depth {
                    walk.depth_limited = true;
                    break;
                }
                seen[e.to as usize] = true;
                walk.nodes.push(Reached {
                    ci: self.ids[e.to as usize],
                    depth: depth + 1,
                    via: Some(Step {
                        parent: at,
                        rel: e.rel,
                        kind: e.kind,
                        forward: e.from_source,
                    }),
                });
                slots.push(e.to);
            }
            at += 1;
        }
        Some(walk)
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
        let mut v: Vec<i64> = w.nodes.iter().map(|n| n.ci).collect();
        v.sort();
        v
    }

    #[test]
    fn failure_travels_to_dependants() {
        let g = sample();
        let w = g.walk(50, Direction::Downstream, 10).expect("known");
        assert_eq!(ids(&w), vec![10, 20, 30, 50]);
        let app = w.nodes.iter().position(|n| n.ci == 10).expect("app");
        assert_eq!(w.path(app), vec![50, 30, 20, 10]);
        assert_eq!(w.nodes[app].depth, 3);
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
        let mut g = Graph::new();
        for n in 0..12 {
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
            let (mut a, mut b) = (Vec::new(), Vec::new());
            if k.source_impacts_target() {
                a.push((*s, *t));
            }
            if k.target_impacts_source() {
                b.push((*t, *s));
            }
            for (x, y) in a.into_iter().chain(b) {
                arcs.push(match dir {
                    Direction::Downstream => (x, y),
                    Direction::Upstream => (y, x),
                });
            }
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
        fn walk_matches_brute_force(es in edges(), start in 0i64..12, depth in 0u32..6, up in any::<bool>()) {
            let dir = if up { Direction::Upstream } else { Direction::Downstream };
            let g = build(&es);
            let w = g.walk(start, dir, depth).expect("known");
            let want: BTreeMap<i64, u32> = distances(&es, start, dir).into_iter().filter(|(_, d)| *d <= depth).collect();
            let got: BTreeMap<i64, u32> = w.nodes.iter().map(|n| (n.ci, n.depth)).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(w.depth_limited, distances(&es, start, dir).values().any(|d| *d > depth));
            for (i, n) in w.nodes.iter().enumerate() {
                let p = w.path(i);
                prop_assert_eq!(p.len() as u32, n.depth + 1);
                if let Some(s) = n.via {
                    let (src, kind, tgt) = es[s.rel as usize];
                    let parent = w.nodes[s.parent].ci;
                    prop_assert_eq!(RelKind::ALL[kind as usize], s.kind);
                    if s.forward { prop_assert_eq!((src, tgt), (parent, n.ci)); } else { prop_assert_eq!((tgt, src), (parent, n.ci)); }
                }
            }
        }

        /// Compacting changes nothing a walk sees, before or after further changes.
        #[test]
        fn compaction_is_invisible(es in edges(), more in edges(), drop in proptest::collection::vec(0usize..80, 0..10), start in 0i64..12, up in any::<bool>()) {
            let dir = if up { Direction::Upstream } else { Direction::Downstream };
            let set = |g: &Graph| { let mut v: Vec<(i64, u32)> = g.walk(start, dir, 20).expect("known").nodes.iter().map(|n| (n.ci, n.depth)).collect(); v.sort(); v };
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
                let set = |g: &Graph| { let mut v: Vec<i64> = g.walk(start, Direction::Downstream, 20).expect("known").nodes.iter().map(|n| n.ci).collect(); v.sort(); v };
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
