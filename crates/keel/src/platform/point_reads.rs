//! Point reads on SQLite without a thread hand-off (see `docs/adr/0007-sqlite-point-reads.md`).
//!
//! sqlx runs every SQLite connection on its own worker thread, so each statement is a round
//! trip between a tokio thread and that worker; for a one-row lookup by key the two thread
//! wake-ups cost more than the query. The hottest reads (a work item by number) therefore run
//! on a small pool of read-only `rusqlite` connections, directly on the calling thread: the
//! lookup is an index probe of a few microseconds and, in WAL mode, never waits for the writer.
//!
//! Only reads go here, and only statements whose row type implements [`SyncRow`]; the SQL text
//! is the same as on the sqlx path, so nothing is written twice but the column decoding.

use super::db::{Arg, DbError, DbResult};
use rusqlite::types::{ToSql, ToSqlOutput};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// A row type that can also be decoded from a `rusqlite` row (by column name).
pub trait SyncRow: Sized {
    fn from_sync(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// Idle read-only connections to one SQLite file; more are opened on demand and at most
/// [`MAX_IDLE`] are kept.
pub struct PointReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

const MAX_IDLE: usize = 8;

impl std::fmt::Debug for PointReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointReaders")
            .field("path", &self.path)
            .finish()
    }
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::I64(v) => v.to_sql(),
            Arg::Text(v) => v.to_sql(),
            Arg::Bytes(v) => v.to_sql(),
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Point(e.to_string())
    }
}

impl PointReaders {
    pub fn new(path: PathBuf) -> Self {
        PointReaders {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(Duration::from_secs(10))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        match idle {
            Some(c) => Ok(c),
            None => self.open(),
        }
    }

    fn give_back(&self, c: Connection) {
        if let Ok(mut v) = self.idle.lock()
            && v.len() < MAX_IDLE
        {
            v.push(c);
        }
    }

    /// At most one row of `sql` with `args` bound in order.
    pub fn opt<T: SyncRow>(&self, sql: &str, args: &[Arg]) -> DbResult<Option<T>> {
        let conn = self.take()?;
        let result = (|| {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
            match rows.next()? {
                Some(r) => T::from_sync(r).map(Some),
                None => Ok(None),
            }
        })();
        // A connection that failed is dropped rather than reused.
        if result.is_ok() {
            self.give_back(conn);
        }
        Ok(result?)
    }
}
