//! What is particular to PostgreSQL: the pool, its migrations, advisory locks
//! in place of SQLite's single writer, and which of its errors pass without
//! a restart.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    error::DatabaseError,
    postgres::{PgConnectOptions, PgDatabaseError, PgPoolOptions},
};

use super::{BUSY_TIMEOUT, DbResult, OpenError};

/// How long a request waits for a connection (a new one included, while the
/// server is unreachable) before it answers 503.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects, checks that the server answers, and applies the migrations.
/// Several nodes starting at once are safe: sqlx's migrator holds an
/// advisory lock while it runs.
pub(super) async fn open(
    url: &str,
    shown: &str,
    max_connections: u32,
) -> Result<PgPool, OpenError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| OpenError::Url {
            url: shown.to_owned(),
            reason: err.to_string(),
        })?
        .application_name("tollgate")
        .options([
            // A statement that waits on a lock this long answers 503, as on SQLite.
            (
                "lock_timeout",
                format!("{}ms", BUSY_TIMEOUT.as_millis()).as_str(),
            ),
            // The migrator's "already exists, skipping" notices are not news.
            ("client_min_messages", "warning"),
        ]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A ping before each use: one round trip, but the hot reads do not
        // use the pool (`batch`), and a connection that a restart of the
        // server left dead is replaced instead of failing a request.
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(|err| OpenError::Connect {
            url: shown.to_owned(),
            reason: err.to_string(),
        })?;
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .map_err(|err| OpenError::Migrate {
            url: shown.to_owned(),
            reason: err.to_string(),
        })?;
    Ok(pool)
}

/// `BEGIN`, then a transaction-scoped advisory lock on each name, in sorted
/// order. Released at commit or rollback.
pub(super) async fn begin_locked(
    pool: &PgPool,
    locks: &[&str],
) -> DbResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    let mut locks = locks.to_vec();
    locks.sort_unstable();
    locks.dedup();
    for name in locks {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(name)
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Connection loss (class 08), shutdown and recovery (57P01 to 57P03), too
/// many connections or no room (class 53), a lock wait past the timeout
/// (55P03), and a serialization failure or deadlock (40001, 40P01): a retry
/// later can succeed.
pub(super) fn is_transient(err: &dyn DatabaseError) -> bool {
    let Some(err) = err.try_downcast_ref::<PgDatabaseError>() else {
        return false;
    };
    let code = err.code();
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "55P03" | "40001" | "40P01"
        )
}
