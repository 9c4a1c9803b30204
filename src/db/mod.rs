//! Storage: the SQLite pool, migrations, and one module of queries per table.
//!
//! Nothing here knows about HTTP. Every statement is parameterized and kept to
//! SQL that PostgreSQL reads too where that costs nothing.

pub mod items;
pub mod readers;
pub mod settings;
pub mod throttle;
pub mod tokens;
pub mod users;

use std::{str::FromStr, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// How long a statement waits for a lock held by another connection or process
/// before the request answers 503.
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
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or a broken database.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict,
            sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => DbError::Unavailable(err),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                DbError::Unavailable(err)
            }
            _ => DbError::Other(err),
        }
    }
}

/// SQLITE_BUSY, SQLITE_LOCKED and their extended codes, SQLITE_IOERR, SQLITE_FULL,
/// SQLITE_CANTOPEN: conditions that pass without a restart.
fn is_busy(code: Option<&str>) -> bool {
    let Some(code) = code.and_then(|c| c.parse::<i32>().ok()) else {
        return false;
    };
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
}

pub type DbResult<T> = Result<T, DbError>;

/// Opens (creating if missing) the SQLite database with the durability and
/// concurrency settings the service relies on.
pub async fn connect(url: &str, max_connections: u32) -> DbResult<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(DbError::Other)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(BUSY_TIMEOUT)
        // A ping before each use is one more round trip to the connection's
        // worker thread; a local file that broke fails the query itself.
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies the migrations under `migrations/` that have not run yet.
pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}

/// Seconds since the Unix epoch: the one time format stored.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A transaction that takes the write lock at its start, so a read followed by
/// a write in it can never fail halfway on a lock upgrade. (PostgreSQL: a plain
/// `BEGIN` with `SELECT ... FOR UPDATE` on the rows read.)
pub async fn write_tx(pool: &SqlitePool) -> DbResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// Repeats `delete`, a statement that deletes at most `PURGE_BATCH` rows and
/// takes that limit as its last parameter after `params`, until a batch comes
/// back short, pausing between batches so writers never wait on it for long.
pub async fn delete_in_batches(
    pool: &SqlitePool,
    delete: &'static str,
    params: [i64; 2],
) -> DbResult<u64> {
    let mut total = 0;
    loop {
        let done = sqlx::query(delete)
            .bind(params[0])
            .bind(params[1])
            .bind(PURGE_BATCH)
            .execute(pool)
            .await?;
        total += done.rows_affected();
        if done.rows_affected() < PURGE_BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(PURGE_PAUSE).await;
    }
}
