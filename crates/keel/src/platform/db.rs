//! One data-access layer for SQLite and PostgreSQL (see `docs/adr/0002-storage.md`).
//!
//! SQL is written once in the subset both engines accept (`$n` placeholders numbered in order of
//! first use, `RETURNING`, `ON CONFLICT`); the few real dialect differences branch on
//! [`Db::backend`]. Values cross the boundary as [`Arg`]s and rows decode into `sqlx::FromRow`
//! structs whose column types (BIGINT, TEXT, BLOB/BYTEA) decode the same on both.
//!
//! SQLite runs in WAL mode with one writer connection (writes are serialized anyway; one
//! connection avoids `SQLITE_BUSY` storms) and a pool of readers.

use super::point_reads::{PointReaders, SyncRow};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, PgPool, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("conflicts with an existing record ({0})")]
    Unique(String),
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL `{0}` (expected sqlite:// or postgres://)")]
    Url(String),
    #[error("database error: {0}")]
    Point(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DbError::Unique(d.constraint().unwrap_or_else(|| d.message()).to_string())
            }
            other => DbError::Sqlx(other),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub enum Arg {
    I64(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I64(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::I64(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::I64(Some(i64::from(v)))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(Some(v))
    }
}

/// A statement with its arguments.
#[derive(Debug, Clone)]
pub struct Q {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Q {
    pub fn new(sql: impl Into<String>) -> Self {
        Q {
            sql: sql.into(),
            args: Vec::new(),
        }
    }
    pub fn bind(mut self, a: impl Into<Arg>) -> Self {
        self.args.push(a.into());
        self
    }
    /// Push an argument and return its placeholder (`$n`), for dynamically built statements.
    pub fn arg(&mut self, a: impl Into<Arg>) -> String {
        self.args.push(a.into());
        format!("${}", self.args.len())
    }
}

/// A row of any shape as JSON: integers, text, blobs (as `{"hex": …}`) or null, whatever the
/// backend. For code whose columns are data (registers, backups), not a Rust type.
#[derive(Debug, Clone, Default)]
pub struct DynRow(pub serde_json::Map<String, serde_json::Value>);

fn decode_dyn<R>(row: &R) -> serde_json::Map<String, serde_json::Value>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use serde_json::{Value, json};
    use sqlx::Column;
    let mut m = serde_json::Map::new();
    for (i, c) in row.columns().iter().enumerate() {
        let v = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            json!(v)
        } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            json!(v)
        } else if let Ok(Some(v)) = row.try_get::<Option<Vec<u8>>, _>(i) {
            json!({ "hex": hex::encode(v) })
        } else {
            Value::Null
        };
        m.insert(c.name().to_string(), v);
    }
    m
}

impl<'r> FromRow<'r, SqliteRow> for DynRow {
    fn from_row(row: &'r SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(DynRow(decode_dyn(row)))
    }
}

impl<'r> FromRow<'r, PgRow> for DynRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(DynRow(decode_dyn(row)))
    }
}

/// A row type decodable from both backends.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for a in $args {
            q = match a {
                Arg::I64(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Run one statement against any executor of either backend; `$exec` names a sqlite and a
/// postgres executor expression. Kept a macro so each backend's code is monomorphized once.
macro_rules! run {
    ($self:expr, $q:expr, |$e:ident| $sqlite:expr, $pg:expr, $method:ident, $T:ty) => {{
        let Q { sql, args } = $q;
        match $self {
            Exec::Sqlite($e) => {
                bind_args!(sqlx::query_as::<_, $T>(sqlx::AssertSqlSafe(sql)), args)
                    .$method($sqlite)
                    .await
            }
            Exec::Pg($e) => {
                bind_args!(sqlx::query_as::<_, $T>(sqlx::AssertSqlSafe(sql)), args)
                    .$method($pg)
                    .await
            }
        }
    }};
}

/// The database: a pool per backend.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        /// Synchronous readers for hot point reads; `None` for in-memory databases.
        point: Option<Arc<PointReaders>>,
    },
    Postgres(PgPool),
}

/// A transaction on either backend. Dropped without [`Tx::commit`] it rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
}

enum Exec<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Pg(&'a mut sqlx::PgConnection),
}

impl Exec<'_> {
    async fn all<T: Row>(self, q: Q) -> DbResult<Vec<T>> {
        Ok(run!(self, q, |c| &mut *c, &mut *c, fetch_all, T)?)
    }
    async fn opt<T: Row>(self, q: Q) -> DbResult<Option<T>> {
        Ok(run!(self, q, |c| &mut *c, &mut *c, fetch_optional, T)?)
    }
    async fn exec(self, q: Q) -> DbResult<u64> {
        let Q { sql, args } = q;
        Ok(match self {
            Exec::Sqlite(c) => bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .execute(c)
                .await?
                .rows_affected(),
            Exec::Pg(c) => bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .execute(c)
                .await?
                .rows_affected(),
        })
    }
}

impl Db {
    /// Connect by URL (`sqlite://path`, `sqlite::memory:`, `postgres://…`) and migrate.
    pub async fn connect(url: &str) -> DbResult<Db> {
        let db = Db::connect_without_migrating(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub async fn connect_without_migrating(url: &str) -> DbResult<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                // No ping before every checkout (a network round trip per query); a broken
                // connection fails its query, is discarded, and the pool opens a new one.
                .test_before_acquire(false)
                .idle_timeout(Duration::from_secs(300))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL in WAL mode survives a killed process (the WAL is in the OS cache);
                // only an OS crash or power loss can lose the last commits.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("cache_size", "-32000")
                // Checkpoints run in the background (below), not inside a writer's commit, so
                // a write never stalls while the WAL is copied back into the database file.
                .pragma("wal_autocheckpoint", "0")
                // When the WAL starts over, shrink its file back to this size.
                .pragma("journal_size_limit", "67108864");
            let opts_path = opts.get_filename().to_path_buf();
            // An embedded connection cannot go away, so no ping before every checkout (each
            // ping is a round trip to the connection's worker thread).
            let write = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .connect_with(opts.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(4)
                .connect_with(opts)
                .await?;
            tokio::spawn(checkpointer(read.clone()));
            let point = (!url.contains("memory")).then(|| Arc::new(PointReaders::new(opts_path)));
            Ok(Db::Sqlite { write, read, point })
        } else {
            Err(DbError::Url(url.to_string()))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Apply pending migrations, each in its own transaction. Safe to run from several nodes at
    /// once: sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> DbResult<()> {
        match self {
            Db::Sqlite { write, .. } => SQLITE_MIGRATOR.run(write).await?,
            Db::Postgres(p) => PG_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    /// The schema version in force (the highest applied migration).
    pub async fn schema_version(&self) -> DbResult<i64> {
        let v: Option<(i64,)> = self
            .opt(Q::new(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE",
            ))
            .await?;
        Ok(v.map(|v| v.0).unwrap_or(0))
    }

    /// The newest migration this binary knows.
    pub fn latest_version(&self) -> i64 {
        let m = match self {
            Db::Sqlite { .. } => &SQLITE_MIGRATOR,
            Db::Postgres(_) => &PG_MIGRATOR,
        };
        m.iter().map(|m| m.version).max().unwrap_or(0)
    }

    pub async fn begin(&self) -> DbResult<Tx> {
        Ok(match self {
            // IMMEDIATE takes the write lock up front, so a transaction that reads then writes
            // never fails with SQLITE_BUSY half-way (another process, e.g. the CLI, may write).
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Pg(p.begin().await?),
        })
    }

    pub async fn all<T: Row>(&self, q: Q) -> DbResult<Vec<T>> {
        match self {
            Db::Sqlite { read, .. } => Exec::Sqlite(&mut *read.acquire().await?).all(q).await,
            Db::Postgres(p) => Exec::Pg(&mut *p.acquire().await?).all(q).await,
        }
    }

    pub async fn opt<T: Row>(&self, q: Q) -> DbResult<Option<T>> {
        match self {
            Db::Sqlite { read, .. } => Exec::Sqlite(&mut *read.acquire().await?).opt(q).await,
            Db::Postgres(p) => Exec::Pg(&mut *p.acquire().await?).opt(q).await,
        }
    }

    pub async fn one<T: Row>(&self, q: Q) -> DbResult<T> {
        self.opt(q).await?.ok_or(DbError::NotFound)
    }

    /// [`Db::opt`] for a hot one-row lookup by an indexed key: on a SQLite file it runs on the
    /// calling thread through [`PointReaders`] (no hand-off to a connection's worker thread).
    /// Keep it to statements that touch a handful of rows.
    pub async fn opt_point<T: Row + SyncRow>(&self, q: Q) -> DbResult<Option<T>> {
        match self {
            Db::Sqlite { point: Some(p), .. } => p.opt(&q.sql, &q.args),
            _ => self.opt(q).await,
        }
    }

    /// A write outside an explicit transaction (its own implicit one).
    pub async fn exec(&self, q: Q) -> DbResult<u64> {
        match self {
            Db::Sqlite { write, .. } => Exec::Sqlite(&mut *write.acquire().await?).exec(q).await,
            Db::Postgres(p) => Exec::Pg(&mut *p.acquire().await?).exec(q).await,
        }
    }

    /// Is the database reachable? Used by `/readyz`.
    pub async fn ping(&self) -> bool {
        self.opt::<(i64,)>(Q::new("SELECT CAST(1 AS BIGINT)"))
            .await
            .is_ok()
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    fn exec_ref(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(t) => Exec::Sqlite(t),
            Tx::Pg(t) => Exec::Pg(t),
        }
    }
    pub async fn all<T: Row>(&mut self, q: Q) -> DbResult<Vec<T>> {
        self.exec_ref().all(q).await
    }
    pub async fn opt<T: Row>(&mut self, q: Q) -> DbResult<Option<T>> {
        self.exec_ref().opt(q).await
    }
    pub async fn one<T: Row>(&mut self, q: Q) -> DbResult<T> {
        self.opt(q).await?.ok_or(DbError::NotFound)
    }
    pub async fn exec(&mut self, q: Q) -> DbResult<u64> {
        self.exec_ref().exec(q).await
    }
    /// The id of the row an `INSERT … RETURNING id` made.
    pub async fn insert(&mut self, q: Q) -> DbResult<i64> {
        Ok(self.one::<(i64,)>(q).await?.0)
    }
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Pg(_) => Backend::Postgres,
        }
    }
    /// Commit; the first commit of a request holding an `Idempotency-Key` writes the key in the
    /// same transaction (`platform::idempotency`).
    pub async fn commit(mut self) -> DbResult<()> {
        crate::platform::idempotency::claim_in(&mut self).await?;
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Copy the WAL back into the database file every half second from a reader connection.
/// `PASSIVE` never blocks the writer or readers, but under constant reads it may never let the
/// WAL start over, so once the WAL passes [`WAL_RESTART_FRAMES`] a `RESTART` checkpoint makes
/// it: it waits for readers and holds writers for the moment it takes. Stops when the pool closes.
async fn checkpointer(read: SqlitePool) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if read.is_closed() {
            return;
        }
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&read)
            .await;
        let result = match passive {
            Ok((_, frames, _)) if frames > WAL_RESTART_FRAMES => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&read)
                    .await
                    .map(|_| ())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if read.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint");
        }
    }
}

/// About 32 MiB of 4 KiB pages.
const WAL_RESTART_FRAMES: i64 = 8192;

/// Milliseconds since the Unix epoch: how every instant is stored.
/// The next number of a named sequence as `PREFIX-000123`, taken in the caller's transaction (a
/// rollback gives the number back; the counter row serializes concurrent creates).
pub async fn next_number(tx: &mut Tx, counter: &str, prefix: &str) -> DbResult<String> {
    let (seq,): (i64,) = tx
        .one(Q::new("INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value").bind(counter))
        .await?;
    Ok(format!("{prefix}-{seq:06}"))
}

/// The start (UTC midnight) of a calendar day, as epoch milliseconds.
pub fn day_start_ms(d: jiff::civil::Date) -> i64 {
    jiff::tz::TimeZone::UTC
        .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
        .map(|t| t.as_millisecond())
        .unwrap_or(0)
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Db {
    /// Apply migrations up to and including `version` only (for upgrade tests and staged
    /// roll-outs).
    pub async fn migrate_to(&self, version: i64) -> DbResult<()> {
        let base = match self {
            Db::Sqlite { .. } => &SQLITE_MIGRATOR,
            Db::Postgres(_) => &PG_MIGRATOR,
        };
        let mut m = sqlx::migrate::Migrator::DEFAULT;
        m.migrations = std::borrow::Cow::Owned(
            base.iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        );
        match self {
            Db::Sqlite { write, .. } => m.run(write).await?,
            Db::Postgres(p) => m.run(p).await?,
        }
        Ok(())
    }
}
