//! Clause 8.2.6 — each node's in-memory copy of the CI graph, kept current from the CMDB change
//! log (`cmdb_changes`, ordered by `cmdb_state.revision`), so impact analysis is a walk in memory
//! on every node of a cluster and never a recursive query. See ADR 0011.

use crate::platform::db::{Db, Q, Tx};
use crate::platform::error::AppResult;
use keel_core::operation::portfolio::configuration::{Graph, IdMap, RelKind};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A CI as impact answers show it.
#[derive(Debug, Clone)]
pub struct CiMeta {
    pub name: String,
    pub class_id: i64,
    pub status: String,
    pub service_id: Option<i64>,
}

/// The portfolio as impact answers need it: small tables, reloaded whenever the revision moves
/// (service and class writes take a revision too), so an impact query reads nothing else.
#[derive(Debug, Default, Clone)]
pub struct Portfolio {
    /// Service id → (name, stage).
    pub services: HashMap<i64, (String, String)>,
    /// Service id → the customers it serves.
    pub customers_of: HashMap<i64, Vec<i64>>,
    pub customer_names: HashMap<i64, String>,
    /// Service id → the services that depend on it.
    pub dependants: HashMap<i64, Vec<i64>>,
    pub class_names: HashMap<i64, String>,
}

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub graph: Graph,
    pub cis: IdMap<CiMeta>,
    /// CI → the service it stands for, for the few CIs that do: a small map that stays in cache
    /// while a walk over most of the estate asks it about every CI it reached.
    pub service_of: IdMap<i64>,
    pub portfolio: Portfolio,
    pub revision: i64,
}

async fn portfolio(db: &Db) -> AppResult<Portfolio> {
    let mut p = Portfolio::default();
    let services: Vec<(i64, String, String)> = db
        .all(Q::new("SELECT id, name, stage FROM services"))
        .await?;
    p.services = services.into_iter().map(|(i, n, s)| (i, (n, s))).collect();
    let sc: Vec<(i64, i64)> = db
        .all(Q::new(
            "SELECT service_id, customer_id FROM service_customers ORDER BY customer_id",
        ))
        .await?;
    for (s, c) in sc {
        p.customers_of.entry(s).or_default().push(c);
    }
    let customers: Vec<(i64, String)> = db.all(Q::new("SELECT id, name FROM customers")).await?;
    p.customer_names = customers.into_iter().collect();
    let deps: Vec<(i64, i64)> = db
        .all(Q::new(
            "SELECT service_id, depends_on_id FROM service_dependencies",
        ))
        .await?;
    for (s, on) in deps {
        p.dependants.entry(on).or_default().push(s);
    }
    let classes: Vec<(i64, String)> = db.all(Q::new("SELECT id, name FROM ci_classes")).await?;
    p.class_names = classes.into_iter().collect();
    Ok(p)
}

/// More changes than this since a node's revision and it reloads instead of catching up.
const CATCH_UP_LIMIT: i64 = 2_000;
/// Change-log rows older than this many revisions are pruned by housekeeping.
pub const KEEP_REVISIONS: i64 = 20_000;

/// The node's graph. Readers run a closure under the read lock (a walk never awaits); a refresh
/// reads the database first and then applies the changes in place under the write lock, so a
/// change costs microseconds of exclusive time, never a copy of the graph.
#[derive(Debug, Clone, Default)]
pub struct GraphCache {
    snap: Arc<RwLock<Snapshot>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
    loaded: Arc<std::sync::atomic::AtomicBool>,
}

/// This node's graph, kept in the application state (the configuration part builds it).
pub fn cache(st: &crate::platform::web::AppState) -> &GraphCache {
    st.ext::<GraphCache>()
}

impl GraphCache {
    fn revision(&self) -> i64 {
        match self.snap.read() {
            Ok(g) => g.revision,
            Err(p) => p.into_inner().revision,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        match self.snap.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Run `f` over the graph as of the database's current revision (or later).
    pub async fn read<R>(&self, db: &Db, f: impl FnOnce(&Snapshot) -> R) -> AppResult<R> {
        self.refresh(db).await?;
        let g = match self.snap.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        Ok(f(&g))
    }

    async fn refresh(&self, db: &Db) -> AppResult<()> {
        let rev = db
            .opt_point::<Revision>(Q::new("SELECT revision FROM cmdb_state WHERE id = 1"))
            .await?
            .map_or(0, |r| r.revision);
        if self.is_loaded() && self.revision() >= rev {
            return Ok(());
        }
        let _one = self.refresh.lock().await;
        let have = self.revision();
        if self.is_loaded() && have >= rev {
            return Ok(());
        }
        let delta = if !self.is_loaded() || rev - have > CATCH_UP_LIMIT {
            None
        } else {
            changes_since(db, have, rev).await?
        };
        match delta {
            Some(d) => apply(&mut self.write(), d),
            None => {
                let fresh = load(db).await?;
                *self.write() = fresh;
            }
        }
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// The CMDB's revision, read on the hot path of every impact query (a point read on SQLite).
#[derive(sqlx::FromRow)]
struct Revision {
    revision: i64,
}

impl crate::platform::point_reads::SyncRow for Revision {
    fn from_sync(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Revision {
            revision: row.get("revision")?,
        })
    }
}

type CiRow = (i64, String, i64, String, Option<i64>);
type RelRow = (i64, i64, String, i64);

fn meta((_, name, class_id, status, service_id): CiRow) -> CiMeta {
    CiMeta {
        name,
        class_id,
        status,
        service_id,
    }
}

fn add(g: &mut Graph, (id, s, k, t): RelRow) {
    if let Some(kind) = RelKind::parse(&k) {
        g.add_rel(id, s, kind, t);
    }
}

fn in_list(q: &mut Q, ids: &[i64]) -> String {
    ids.iter().map(|i| q.arg(*i)).collect::<Vec<_>>().join(", ")
}

async fn load(db: &Db) -> AppResult<Snapshot> {
    // The revision first: changes committed while loading are read again next time. CIs in id
    // order give slots in creation order on both databases, which keeps neighbours near each
    // other in memory.
    let (revision,): (i64,) = db
        .one(Q::new("SELECT revision FROM cmdb_state WHERE id = 1"))
        .await?;
    let cis: Vec<CiRow> = db
        .all(Q::new(
            "SELECT id, name, class_id, status, service_id FROM cis ORDER BY id",
        ))
        .await?;
    let rels: Vec<RelRow> = db
        .all(Q::new(
            "SELECT id, source_id, kind, target_id FROM ci_relationships",
        ))
        .await?;
    let mut graph = Graph::new();
    let mut map = IdMap::default();
    map.reserve(cis.len());
    let mut service_of = IdMap::default();
    for r in cis {
        graph.add_ci(r.0);
        if let Some(svc) = r.4 {
            service_of.insert(r.0, svc);
        }
        map.insert(r.0, meta(r));
    }
    for r in rels {
        add(&mut graph, r);
    }
    graph.compact();
    Ok(Snapshot {
        graph,
        cis: map,
        service_of,
        portfolio: portfolio(db).await?,
        revision,
    })
}

/// What changed since a snapshot: the rows to apply, read before taking the lock.
struct Delta {
    cis: Vec<CiRow>,
    rels: Vec<RelRow>,
    removed_rels: Vec<i64>,
    /// Reloaded only when a portfolio write is among the changes.
    portfolio: Option<Portfolio>,
    revision: i64,
}

async fn changes_since(db: &Db, from: i64, rev: i64) -> AppResult<Option<Delta>> {
    let changes: Vec<(Option<i64>, Option<i64>)> = db
        .all(
            Q::new("SELECT ci_id, rel_id FROM cmdb_changes WHERE revision > $1 AND revision <= $2")
                .bind(from)
                .bind(rev),
        )
        .await?;
    if changes.len() as i64 > CATCH_UP_LIMIT {
        return Ok(None);
    }
    let mut ci_ids: Vec<i64> = changes.iter().filter_map(|c| c.0).collect();
    let mut rel_ids: Vec<i64> = changes.iter().filter_map(|c| c.1).collect();
    ci_ids.sort_unstable();
    ci_ids.dedup();
    rel_ids.sort_unstable();
    rel_ids.dedup();
    let mut cis = vec![];
    if !ci_ids.is_empty() {
        let mut q = Q::new("");
        q.sql = format!(
            "SELECT id, name, class_id, status, service_id FROM cis WHERE id IN ({})",
            in_list(&mut q, &ci_ids)
        );
        cis = db.all(q).await?;
    }
    let mut rels: Vec<RelRow> = vec![];
    if !rel_ids.is_empty() {
        let mut q = Q::new("");
        q.sql = format!(
            "SELECT id, source_id, kind, target_id FROM ci_relationships WHERE id IN ({})",
            in_list(&mut q, &rel_ids)
        );
        rels = db.all(q).await?;
    }
    let present: std::collections::HashSet<i64> = rels.iter().map(|r| r.0).collect();
    let removed_rels = rel_ids
        .into_iter()
        .filter(|id| !present.contains(id))
        .collect();
    let portfolio_changed = changes.iter().any(|c| c.0.is_none() && c.1.is_none());
    Ok(Some(Delta {
        cis,
        rels,
        removed_rels,
        portfolio: if portfolio_changed {
            Some(portfolio(db).await?)
        } else {
            None
        },
        revision: rev,
    }))
}

fn apply(s: &mut Snapshot, d: Delta) {
    for r in d.cis {
        s.graph.add_ci(r.0);
        match r.4 {
            Some(svc) => s.service_of.insert(r.0, svc),
            None => s.service_of.remove(&r.0),
        };
        s.cis.insert(r.0, meta(r));
    }
    for id in d.removed_rels {
        s.graph.remove_rel(id);
    }
    for r in d.rels {
        add(&mut s.graph, r);
    }
    if s.graph.wants_compaction() {
        s.graph.compact();
    }
    if let Some(p) = d.portfolio {
        s.portfolio = p;
    }
    s.revision = d.revision;
}

/// Start loading the graph in the background (at `serve` start), so the first impact query
/// does not wait for it.
pub fn warm(cache: GraphCache, db: Db) {
    tokio::spawn(async move {
        let t = std::time::Instant::now();
        match cache
            .read(&db, |s| (s.graph.ci_count(), s.graph.rel_count()))
            .await
        {
            Ok((cis, relationships)) => {
                tracing::info!(
                    cis,
                    relationships,
                    ms = t.elapsed().as_millis() as u64,
                    "CMDB graph loaded"
                );
                // The rows read to build it are free now.
                crate::platform::memory::release_unused();
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the CMDB graph; the first impact query will try again")
            }
        }
    });
}

/// Record CMDB changes in the writing transaction: a new revision (taking `cmdb_state`'s row
/// lock, which orders CMDB writes across nodes) and one log row per changed CI or relationship.
/// Call it before `audit_trail::append`, so locks are always taken in the same order.
pub async fn record(tx: &mut Tx, cis: &[i64], rels: &[i64]) -> AppResult<i64> {
    let (rev,): (i64,) = tx
        .one(Q::new(
            "UPDATE cmdb_state SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        ))
        .await?;
    let mut rows: Vec<(Option<i64>, Option<i64>)> = cis
        .iter()
        .map(|c| (Some(*c), None))
        .chain(rels.iter().map(|r| (None, Some(*r))))
        .collect();
    // Neither a CI nor a relationship: the portfolio (services, customers, classes) changed,
    // and nodes reload it.
    if rows.is_empty() {
        rows.push((None, None));
    }
    for chunk in rows.chunks(300) {
        let mut q = Q::new("");
        let values: Vec<String> = chunk
            .iter()
            .map(|(c, r)| format!("({}, {}, {})", q.arg(rev), q.arg(*c), q.arg(*r)))
            .collect();
        q.sql = format!(
            "INSERT INTO cmdb_changes (revision, ci_id, rel_id) VALUES {}",
            values.join(", ")
        );
        tx.exec(q).await?;
    }
    Ok(rev)
}
