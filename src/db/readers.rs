//! Query-only connections for the bearer check, the one query every
//! authenticated request makes.
//!
//! sqlx's pool pings each connection it is given back: one more round trip to
//! the connection's worker thread, which costs as much as the query itself.
//! These connections are handed out without it. They are `query_only`, so no
//! write can be left half-done in one, and a query given up halfway (its
//! request cancelled) still finishes on the worker thread before the next.
//! Each query is its own read transaction: what any process committed before
//! it started is what it sees. Nothing is cached.

use std::{
    ops::{Deref, DerefMut},
    str::FromStr,
    sync::Mutex,
};

use sqlx::{ConnectOptions, SqliteConnection, sqlite::SqliteConnectOptions};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{BUSY_TIMEOUT, DbError, DbResult};

/// Up to `size` connections, opened as needed and then kept.
pub struct Readers {
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    permits: Semaphore,
}

/// One connection, back to the idle list when dropped.
pub struct Reader<'a> {
    readers: &'a Readers,
    conn: Option<SqliteConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Readers {
    /// Opens the first connection now, so that a bad URL fails at start. The
    /// database must exist and be migrated (`super::connect` does both).
    pub async fn open(url: &str, size: usize) -> DbResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(DbError::Other)?
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("query_only", "ON");
        let first = options.connect().await?;
        Ok(Self {
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
        })
    }

    /// Waits up to the busy timeout for a free connection.
    pub async fn acquire(&self) -> DbResult<Reader<'_>> {
        let permit = tokio::time::timeout(BUSY_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolTimedOut))?
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolClosed))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        Ok(Reader {
            readers: self,
            conn: Some(conn),
            _permit: permit,
        })
    }
}

impl Reader<'_> {
    /// Passes `result` through; after an error the connection is closed
    /// instead of kept, and the next `acquire` opens a fresh one.
    pub fn keep_if_ok<T>(mut self, result: DbResult<T>) -> DbResult<T> {
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

impl Deref for Reader<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.readers.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(conn);
        }
    }
}
