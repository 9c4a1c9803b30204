//! The hot reads on SQLite: the bearer check's query, the one query every
//! authenticated request makes, and the page of `GET /items`.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so every
//! query is two thread switches (and one more per row returned), and its pool
//! pings a connection each time it is given back: two more. For a primary-key
//! read that is most of a request's CPU (bench/README.md). So these run on the
//! request's own thread, on SQLite connections opened with rusqlite (the same
//! SQLite library that sqlx links): a few microseconds, like the JWT check
//! before them. Those connections never wait: their busy timeout is zero, and
//! when one is busy, failing or all are in use, the query goes through sqlx
//! instead (the bearer check on connections of its own, without the ping),
//! which waits up to the usual busy timeout.
//!
//! All connections here are `query_only`. Each query is its own read
//! transaction, so it sees whatever any process committed before it started.
//! The bearer check's rows and the item pages are also kept until anyone
//! commits anything ([`super::auth_cache`]), which is cheaper to learn than
//! to read them.

use std::{path::Path, str::FromStr, sync::Mutex};

use rusqlite::{OpenFlags, OptionalExtension};
use sqlx::{ConnectOptions, SqliteConnection, sqlite::SqliteConnectOptions};
use tokio::sync::Semaphore;

use super::{
    BUSY_TIMEOUT, DbError, DbResult,
    auth_cache::{AuthCache, PageCache, WalIndex},
    items::{ItemRow, LIST_SQL},
    sqlite::{cache_refused, url_parameter},
    tokens::{AUTH_ROW_SQL, AuthRow},
    users::UserRow,
};

pub struct Readers {
    /// Used from the request's thread; empty for an in-memory database.
    inline: Mutex<Vec<rusqlite::Connection>>,
    /// sqlx connections, opened as needed up to `permits`.
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    permits: Semaphore,
    /// The bearer check's rows and the item pages until the next commit
    /// (`auth_cache`); `None` for an in-memory database.
    cache: Option<AuthCache<WalIndex>>,
    pages: Option<PageCache<WalIndex>>,
}

impl Readers {
    /// Opens the `size` inline connections and the first sqlx one now, so a
    /// bad URL fails at start; up to `size` sqlx ones open as needed. The
    /// database must exist and be migrated (`super::connect`, `super::migrate`).
    /// With `cache`, the rows are kept until the next commit where the
    /// cache's assumptions hold ([`cache_refused`]); where they do not, one
    /// line says why and every read is a query.
    pub async fn open(url: &str, size: usize, cache: bool) -> DbResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(DbError::Other)?
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("query_only", "ON");
        let mut first = options.connect().await?;
        let path = options.get_filename().to_owned();
        let vfs = url_parameter(url, "vfs");
        if vfs.as_deref().is_some_and(|vfs| vfs != "unix") {
            // The inline connections would lock the file in another way than
            // sqlx's: every read goes through sqlx.
            tracing::warn!(vfs, "SQLite VFS other than unix: no inline reads, no cache");
            return Ok(Self::through_sqlx(options, first, size));
        }
        let modes: (String, String) =
            sqlx::query_as("SELECT * FROM pragma_journal_mode, pragma_locking_mode")
                .fetch_one(&mut first)
                .await?;
        let (inline, cache, pages) = tokio::task::spawn_blocking(move || {
            let inline = open_inline(&path, size);
            if inline.is_empty() || !cache {
                return (inline, None, None);
            }
            if let Some(reason) = cache_refused(&path, &modes.0, &modes.1) {
                tracing::warn!("the SQLite row cache is off: {reason}");
                return (inline, None, None);
            }
            (inline, AuthCache::open(&path), PageCache::open(&path))
        })
        .await
        .map_err(|_| DbError::Other(sqlx::Error::WorkerCrashed))?;
        Ok(Self {
            inline: Mutex::new(inline),
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
            cache,
            pages,
        })
    }

    /// Readers that only use sqlx: no inline connections, no cache.
    fn through_sqlx(options: SqliteConnectOptions, first: SqliteConnection, size: usize) -> Self {
        Self {
            inline: Mutex::new(Vec::new()),
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
            cache: None,
            pages: None,
        }
    }

    /// Whether reads are kept until the next commit.
    pub fn caches(&self) -> bool {
        self.cache.is_some()
    }

    /// The user and family behind an access token; `None` if either is gone.
    pub async fn auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        let Some((cache, stamp)) = self
            .cache
            .as_ref()
            .and_then(|cache| Some((cache, cache.stamp()?)))
        else {
            return self.read_auth_row(user_id, family_id).await;
        };
        if let Some(row) = cache.get(stamp, &(user_id, family_id)) {
            return Ok(Some(row));
        }
        let row = self.read_auth_row(user_id, family_id).await?;
        if let Some(row) = &row {
            cache.put(stamp, (user_id, family_id), row);
        }
        Ok(row)
    }

    /// How many bearer checks the cache has answered (0 without one).
    #[cfg(test)]
    pub fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, AuthCache::hits)
    }

    /// How many item pages the cache has answered (0 without one).
    #[cfg(test)]
    pub fn page_cache_hits(&self) -> u64 {
        self.pages.as_ref().map_or(0, PageCache::hits)
    }

    /// `auth_row` from the database.
    async fn read_auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        if let Some(row) = self.auth_row_inline(user_id, family_id) {
            return Ok(row);
        }
        let permit = tokio::time::timeout(BUSY_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolTimedOut))?
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolClosed))?;
        let idle = lock(&self.idle).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        let row = sqlx::query_as(AUTH_ROW_SQL)
            .bind(user_id)
            .bind(family_id)
            .fetch_optional(&mut conn)
            .await
            .map_err(DbError::from);
        // A connection that failed is dropped (closed); the next opens anew.
        // One whose query was cancelled is dropped too, with this future.
        if row.is_ok() {
            lock(&self.idle).push(conn);
        }
        drop(permit);
        row
    }

    /// `None` when no inline connection is free, or the query did not
    /// succeed at once (busy, or an error for the sqlx path to classify).
    fn auth_row_inline(&self, user_id: i64, family_id: i64) -> Option<Option<AuthRow>> {
        self.inline(|conn| query_inline(conn, user_id, family_id))
    }

    /// One page of an owner's items (`items::LIST_SQL`), or `None` when the
    /// caller should read it through sqlx instead, as for `auth_row`.
    /// Kept until the next commit, as the bearer check's rows are.
    pub fn items_page(&self, owner_id: i64, after_id: i64, limit: i64) -> Option<Vec<ItemRow>> {
        let key = (owner_id, after_id, limit);
        let cached = self
            .pages
            .as_ref()
            .and_then(|cache| Some((cache, cache.stamp()?)));
        if let Some((cache, stamp)) = cached
            && let Some(rows) = cache.get(stamp, &key)
        {
            return Some(rows);
        }
        let rows = self.items_page_inline(owner_id, after_id, limit)?;
        if let Some((cache, stamp)) = cached {
            cache.put(stamp, key, &rows);
        }
        Some(rows)
    }

    fn items_page_inline(&self, owner_id: i64, after_id: i64, limit: i64) -> Option<Vec<ItemRow>> {
        self.inline(|conn| {
            let mut statement = conn.prepare_cached(LIST_SQL)?;
            let rows = statement.query_map((owner_id, after_id, limit), |row| {
                Ok(ItemRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    description: row.get(2)?,
                    created_at: row.get(3)?,
                    updated_at: row.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Runs `read` on a free inline connection: `None` when none is free or
    /// it did not succeed at once.
    fn inline<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let conn = lock(&self.inline).pop()?;
        let result = read(&conn);
        lock(&self.inline).push(conn);
        result.ok()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `size` connections to the file at `path`, or none if it is not a file (an
/// in-memory database is private to each connection) or cannot be opened.
fn open_inline(path: &Path, size: usize) -> Vec<rusqlite::Connection> {
    if !path.is_file() {
        return Vec::new();
    }
    let open = || -> rusqlite::Result<rusqlite::Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.prepare_cached(AUTH_ROW_SQL)?;
        conn.prepare_cached(LIST_SQL)?;
        Ok(conn)
    };
    match (0..size).map(|_| open()).collect() {
        Ok(conns) => conns,
        Err(err) => {
            tracing::warn!(error = %err, "no inline read connections; bearer checks go through sqlx");
            Vec::new()
        }
    }
}

fn query_inline(
    conn: &rusqlite::Connection,
    user_id: i64,
    family_id: i64,
) -> rusqlite::Result<Option<AuthRow>> {
    let mut statement = conn.prepare_cached(AUTH_ROW_SQL)?;
    // By position, in the order of AUTH_ROW_SQL (by name costs a lookup
    // each); `column_names_match_the_query` keeps the two in step.
    statement
        .query_row((user_id, family_id), |row| {
            Ok(AuthRow {
                user: UserRow {
                    id: row.get(0)?,
                    username: row.get(1)?,
                    email: row.get(2)?,
                    full_name: row.get(3)?,
                    scopes: row.get(4)?,
                    disabled: row.get(5)?,
                    token_version: row.get(6)?,
                    created_at: row.get(7)?,
                },
                family_revoked: row.get(8)?,
            })
        })
        .optional()
}

#[cfg(test)]
mod tests;
