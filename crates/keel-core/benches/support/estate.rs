//! The estate behind issue 4's impact target, shared by the walk microbenchmark (keel-core) and
//! the end-to-end impact benchmark (keel, which seeds it into SQLite and PostgreSQL): 100,000
//! CIs and 500,000 relationships, layered like a data centre. Ids are assigned in layer order
//! (core switches first, service CIs last); a fixed seed gives every run the same estate.

#![allow(dead_code)]

use keel_core::operation::portfolio::configuration::RelKind;
use std::collections::BTreeSet;

pub const CORE: i64 = 20;
pub const ACCESS: i64 = 480;
pub const SERVERS: i64 = 20_000;
pub const DATABASES: i64 = 25_000;
pub const SERVICES: i64 = 2_000;
pub const APPS: i64 = 100_000 - CORE - ACCESS - SERVERS - DATABASES - SERVICES;
/// Layer sizes in id order: core switches, access switches, servers, databases, applications,
/// service CIs.
pub const SIZES: [i64; 6] = [CORE, ACCESS, SERVERS, DATABASES, APPS, SERVICES];

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as i64
    }
}

/// The first id of a layer (6 gives one past the last CI).
pub fn first(layer: usize) -> i64 {
    1 + SIZES[..layer].iter().sum::<i64>()
}

/// Every relationship as (source, kind, target), ordered by source, kind name and target: the
/// order the benchmarks number them in.
pub fn relationships() -> Vec<(i64, RelKind, i64)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rels = BTreeSet::new();
    let pick = |layer: usize, rng: &mut Rng| first(layer) + rng.below(SIZES[layer]);
    // Access switches uplink to two core switches; servers to two access switches.
    for a in first(1)..first(2) {
        for _ in 0..2 {
            rels.insert((a, RelKind::ConnectsTo, pick(0, &mut rng)));
        }
    }
    for s in first(2)..first(3) {
        for _ in 0..2 {
            rels.insert((s, RelKind::ConnectsTo, pick(1, &mut rng)));
        }
    }
    // Databases run on two servers; applications run on two servers, use four databases and
    // one other application; service CIs depend on 20 applications.
    for d in first(3)..first(4) {
        for _ in 0..2 {
            rels.insert((d, RelKind::RunsOn, pick(2, &mut rng)));
        }
    }
    for a in first(4)..first(5) {
        for _ in 0..2 {
            rels.insert((a, RelKind::RunsOn, pick(2, &mut rng)));
        }
        for _ in 0..4 {
            rels.insert((a, RelKind::DependsOn, pick(3, &mut rng)));
        }
        let other = pick(4, &mut rng);
        if other != a {
            rels.insert((a, RelKind::DependsOn, other));
        }
    }
    for s in first(5)..first(6) {
        for _ in 0..20 {
            rels.insert((s, RelKind::DependsOn, pick(4, &mut rng)));
        }
    }
    // Disks and power units as parts of servers fill up to 500,000.
    while rels.len() < 500_000 {
        let part = pick(2, &mut rng);
        let whole = pick(2, &mut rng);
        if part != whole {
            rels.insert((part, RelKind::PartOf, whole));
        }
    }
    let mut rels: Vec<_> = rels.into_iter().collect();
    rels.sort_by_key(|(s, k, t)| (*s, k.as_str(), *t));
    rels
}
