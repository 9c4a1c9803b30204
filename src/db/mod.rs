//! Storage: the one way the rest of tollgate reaches its database.
//!
//! [`Store`] is SQLite (the embedded default) or PostgreSQL, chosen by the
//! URL. Above this module nothing knows which: callers get row structs and
//! [`DbError`], never a pool, a connection or a driver type. One module of
//! queries per table; each query is one SQL text that both engines read
//! (`$1`-style parameters, `RETURNING`, `ON CONFLICT`), run by [`on_pool!`] or
//! [`on_tx!`] against whichever engine this store has. Where the engines
//! differ (opening, migrations, locking, error codes), `sqlite.rs` and
//! `postgres.rs` say how.
//!
//! Nothing here knows about HTTP, and no policy lives in SQL: which change
//! ends sessions, who counts as an admin, when a login is refused are
//! decided in `crate::auth`.

mod auth_cache;
pub mod bell;
pub mod clients;
mod describe;
pub mod events;
pub mod items;
pub mod keys;
mod postgres;
pub mod readers;
pub mod settings;
mod sqlite;
pub mod throttle;
pub mod tokens;
mod url;
pub mod users;

use std::{sync::Arc, time::Duration};

pub use describe::describe;
pub use url::mask_password;

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

/// How long a statement waits for a lock held by another connection or
/// process, or a request for a connection, before the request answers 503.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows a purge deletes per statement, and its pause between statements, so
/// it never holds the write lock for long and queued writers get in between.
pub const PURGE_BATCH: i64 = 500;
pub const PURGE_PAUSE: Duration = Duration::from_millis(10);

/// A failure of the storage layer, classified by what the caller should answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the write (SQLite names no constraint).
    #[error("unique constraint violated")]
    Conflict,
    /// The database is locked past the busy timeout, or unreachable.
    #[error("database unavailable: {}", describe(.0))]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or a broken database.
    #[error("database error: {}", describe(.0))]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict,
            sqlx::Error::Database(db)
                if sqlite::is_transient(db.as_ref()) || postgres::is_transient(db.as_ref()) =>
            {
                DbError::Unavailable(err)
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(err),
            _ => DbError::Other(err),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Why the database could not be opened at start: one line for the operator,
/// never with the password of a URL.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("TOLLGATE_DATABASE_URL must start with sqlite:// or postgres://, not `{0}`")]
    Scheme(String),
    #[error("the database URL {url} is not valid: {reason}; {hint}", hint = url::PERCENT_ENCODE_HINT)]
    Url { url: String, reason: String },
    #[error("could not open the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("could not migrate the database at {url}: {reason}")]
    Migrate { url: String, reason: String },
    #[error(
        "the database at {url} is behind a pooler in transaction pooling mode, which tollgate \
         cannot use (its session settings and prepared statements would not last): set \
         pool_mode = session in PgBouncer for this database, or connect to PostgreSQL directly"
    )]
    TransactionPooling { url: String },
}

/// The database behind a [`Store`].
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The storage of one tollgate process: cheap to clone, shared by every
/// request. See the module documentation.
#[derive(Clone)]
pub struct Store(Arc<Inner>);

struct Inner {
    backend: Backend,
    /// SQLite only: the inline read connections of the bearer check and
    /// the item list, with their cache.
    readers: Option<readers::Readers>,
    /// PostgreSQL only: the pool of the bearer check and the item list
    /// (`postgres::read_fresh!`).
    hot_reads: Option<PgPool>,
    /// The URL with its password masked, for logs.
    shown_url: String,
    /// Rung when session events are written, by this process at commit or
    /// (seen by [`Store::watch_events`]) by another.
    bell: Arc<bell::Bell>,
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever engine it is,
/// within [`QUERY_DEADLINE`] (past it, `DbError::Unavailable` is returned with
/// `?`). The body is one SQL text both engines read; a `?` inside it
/// converts to [`DbError`].
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        $crate::db::deadline(async {
            Ok::<_, $crate::db::DbError>(match $store.backend() {
                $crate::db::Backend::Sqlite($pool) => $body,
                $crate::db::Backend::Postgres($pool) => $body,
            })
        })
        .await?
    };
}
pub(crate) use on_pool;

/// Runs `$body` with `$conn` bound to the transaction's connection, within
/// [`QUERY_DEADLINE`], as [`on_pool!`] does.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        $crate::db::deadline(async {
            Ok::<_, $crate::db::DbError>(match &mut $tx.0 {
                $crate::db::TxInner::Sqlite(tx) => {
                    let $conn = &mut **tx;
                    $body
                }
                $crate::db::TxInner::Postgres(tx) => {
                    let $conn = &mut **tx;
                    $body
                }
            })
        })
        .await?
    };
}
pub(crate) use on_tx;

/// The longest one statement (with the wait for its connection) may take
/// before the request answers 503: a lock wait of [`BUSY_TIMEOUT`] and a
/// connection wait of `postgres::ACQUIRE_TIMEOUT`, with room to spare. A
/// server that stops answering without closing the connection (a paused or
/// half-open connection, a paused server) costs this, never a hang: the
/// connection is dropped with the cancelled statement.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(10);

/// `work` within [`QUERY_DEADLINE`].
pub(crate) async fn deadline<T>(work: impl Future<Output = DbResult<T>>) -> DbResult<T> {
    tokio::time::timeout(QUERY_DEADLINE, work)
        .await
        .unwrap_or(Err(DbError::Unavailable(sqlx::Error::PoolTimedOut)))
}

impl Store {
    /// Opens the database at `url` (a SQLite file is created if missing) and
    /// applies the migrations that have not run yet. With `cache`, a SQLite
    /// store keeps the hot reads' rows until the next commit, where that is
    /// safe (`readers`); PostgreSQL keeps nothing.
    pub async fn open(url: &str, max_connections: u32, cache: bool) -> Result<Self, OpenError> {
        let shown_url = mask_password(url);
        let mut hot_reads = None;
        let (backend, readers) = if url.starts_with("sqlite:") {
            let pool = sqlite::open(url, &shown_url, max_connections).await?;
            let readers = readers::Readers::open(url, reader_count(), cache)
                .await
                .map_err(|err| OpenError::Connect {
                    url: shown_url.clone(),
                    reason: err.to_string(),
                })?;
            (Backend::Sqlite(pool), Some(readers))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pools = postgres::open(url, &shown_url, max_connections).await?;
            hot_reads = Some(pools.reads);
            (Backend::Postgres(pools.main), None)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(OpenError::Scheme(scheme.to_owned()));
        };
        Ok(Self(Arc::new(Inner {
            backend,
            readers,
            hot_reads,
            shown_url,
            bell: Arc::default(),
        })))
    }

    /// SQLite only: the inline read connections of the hot reads.
    pub(crate) fn readers(&self) -> Option<&readers::Readers> {
        self.0.readers.as_ref()
    }

    /// Whether this store keeps the hot reads' rows between requests.
    pub fn caches(&self) -> bool {
        self.readers().is_some_and(readers::Readers::caches)
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.0.backend
    }

    /// PostgreSQL: the value of a setting on a connection of the pool, as
    /// tollgate's statements run with it (`None` on SQLite).
    pub async fn setting(&self, name: &str) -> DbResult<Option<String>> {
        let Backend::Postgres(pool) = self.backend() else {
            return Ok(None);
        };
        deadline(async {
            Ok(Some(
                sqlx::query_scalar("SELECT current_setting($1)")
                    .bind(name)
                    .fetch_one(pool)
                    .await?,
            ))
        })
        .await
    }

    /// `sqlite` or `postgres`, for logs and metrics.
    pub fn engine(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The database URL with any password replaced by `***`.
    pub fn shown_url(&self) -> &str {
        &self.0.shown_url
    }

    /// A write transaction. On SQLite it takes the database's write lock at
    /// its start, so a read followed by a write can never fail halfway on a
    /// lock upgrade, and concurrent writers, in this process or another, run
    /// one after the other. On PostgreSQL it takes a transaction-scoped
    /// advisory lock on each of `locks` (in sorted order, so two transactions
    /// never wait on each other), which serializes the transactions that name
    /// the same lock the way SQLite's single writer does, on every node.
    pub async fn begin_write(&self, locks: &[&str]) -> DbResult<Tx> {
        let inner = deadline(async {
            Ok(match self.backend() {
                Backend::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
                Backend::Postgres(pool) => {
                    TxInner::Postgres(postgres::begin_locked(pool, locks).await?)
                }
            })
        })
        .await?;
        Ok(Tx(
            inner,
            TxEvents {
                bell: self.0.bell.clone(),
                written: 0,
            },
        ))
    }

    /// PostgreSQL only: the pool of the hot reads.
    pub(crate) fn hot_reads(&self) -> Option<&PgPool> {
        self.0.hot_reads.as_ref()
    }

    /// Closes every connection (tests, and the CLI before it exits).
    pub async fn close(&self) {
        if let Some(reads) = self.hot_reads() {
            reads.close().await;
        }
        match self.backend() {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Repeats `delete`, a statement that deletes at most `PURGE_BATCH` rows
    /// and takes that limit as `$3` after `params`, until a batch comes back
    /// short, pausing between batches so writers never wait on it for long.
    pub(crate) async fn delete_in_batches(
        &self,
        delete: &'static str,
        params: [i64; 2],
    ) -> DbResult<u64> {
        let mut total = 0;
        loop {
            let deleted = on_pool!(self, |pool| sqlx::query(delete)
                .bind(params[0])
                .bind(params[1])
                .bind(PURGE_BATCH)
                .execute(pool)
                .await?
                .rows_affected());
            total += deleted;
            if deleted < PURGE_BATCH as u64 {
                return Ok(total);
            }
            tokio::time::sleep(PURGE_PAUSE).await;
        }
    }
}

/// A write transaction from [`Store::begin_write`]; dropped without
/// [`commit`](Tx::commit), it rolls back. Each table's module adds the
/// statements it runs inside one.
pub struct Tx(pub(crate) TxInner, TxEvents);

/// The session events a transaction wrote: at its commit the bell rings.
struct TxEvents {
    bell: Arc<bell::Bell>,
    written: u64,
}

pub(crate) enum TxInner {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> DbResult<()> {
        let Tx(inner, events) = self;
        deadline(async {
            match inner {
                TxInner::Sqlite(tx) => tx.commit().await?,
                TxInner::Postgres(tx) => tx.commit().await?,
            }
            Ok(())
        })
        .await?;
        if events.written > 0 {
            events.bell.written(events.written);
        }
        Ok(())
    }
}

/// Connections for the bearer check's inline reads: that query runs on the
/// async worker threads, one per core, so one connection per core is never
/// short.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Seconds since the Unix epoch: the one time format stored, and the one
/// clock tokens are checked with.
pub use tollgate_resource::token::now;

/// Milliseconds since the Unix epoch, for throttle locks.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What the storage tests start from.
#[cfg(test)]
pub(crate) mod testing;
