//! What is particular to PostgreSQL: the pool, its migrations, advisory locks
//! in place of SQLite's single writer, which of its errors pass without a
//! restart, and PgBouncer.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, Row,
    error::DatabaseError,
    postgres::{PgConnectOptions, PgDatabaseError, PgPoolOptions},
};

use super::{BUSY_TIMEOUT, DbResult, OpenError, QUERY_DEADLINE};

/// How long a request waits for a connection (a new one included, while the
/// server is unreachable) before it answers 503.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// What every connection sets as it opens. Sent as `SET`, not as startup
/// parameters, which PgBouncer refuses or drops: a statement that waits on a
/// lock past [`BUSY_TIMEOUT`] answers 503, as on SQLite; the server stops a
/// statement the node has given up on ([`QUERY_DEADLINE`]); and the
/// migrator's "already exists, skipping" notices are not news.
fn session_settings() -> String {
    format!(
        "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; \
         SET client_min_messages = 'warning'",
        BUSY_TIMEOUT.as_millis(),
        QUERY_DEADLINE.as_millis()
    )
}

/// Connects, checks that the server answers, that no pooler in transaction
/// mode stands between, and applies the migrations. Several nodes starting
/// at once are safe: sqlx's migrator holds an advisory lock while it runs.
/// The pool of writes and everything else, and the pool of the hot reads
/// ([`read_fresh!`]).
pub(super) struct Pools {
    pub(super) main: PgPool,
    pub(super) reads: PgPool,
}

pub(super) async fn open(url: &str, shown: &str, max_connections: u32) -> Result<Pools, OpenError> {
    let connect = |err: sqlx::Error| OpenError::Connect {
        url: shown.to_owned(),
        reason: super::describe(&err),
    };
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| OpenError::Url {
            url: shown.to_owned(),
            reason: err.to_string(),
        })?
        .application_name("tollgate");
    let pool_options = || {
        let settings = session_settings();
        PgPoolOptions::new()
            // Two at least: the pooling check below holds two at once.
            .max_connections(max_connections.max(2))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                let settings = settings.clone();
                Box::pin(async move {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(settings))
                        .execute(conn)
                        .await
                        .map(drop)
                })
            })
    };
    reach(&options).await.map_err(|reason| OpenError::Connect {
        url: shown.to_owned(),
        reason,
    })?;
    let pool = pool_options()
        .min_connections(1)
        // A ping before each use: one round trip, but a connection that a
        // restart of the server left dead is replaced instead of failing a
        // request.
        .test_before_acquire(true)
        .connect_with(options.clone())
        .await
        .map_err(connect)?;
    // No ping: a dead connection is found by the read itself, which then
    // runs again on another (`read_fresh!`).
    let reads = pool_options()
        .test_before_acquire(false)
        .connect_lazy_with(options);
    if transaction_pooling(&pool).await.map_err(connect)? {
        return Err(OpenError::TransactionPooling {
            url: shown.to_owned(),
        });
    }
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .map_err(|err| OpenError::Migrate {
            url: shown.to_owned(),
            reason: super::describe::describe_migration(&err),
        })?;
    Ok(Pools { main: pool, reads })
}

/// One connection, opened and closed, so that a server that cannot be
/// reached or refuses the login is reported as such, naming its host: a pool
/// retries until its timeout and then reports only that it timed out.
async fn reach(options: &PgConnectOptions) -> Result<(), String> {
    use sqlx::{ConnectOptions, Connection};
    let host = format!("{}:{}", options.get_host(), options.get_port());
    match tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect()).await {
        Err(_) => Err(format!(
            "PostgreSQL at {host} did not answer within {} s",
            ACQUIRE_TIMEOUT.as_secs()
        )),
        Ok(Err(sqlx::Error::Io(err))) => Err(format!("cannot reach PostgreSQL at {host}: {err}")),
        Ok(Err(err)) => Err(format!(
            "PostgreSQL at {host} refused the connection: {}",
            super::describe(&err)
        )),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
    }
}

/// Runs `$body`, a read that uses `$conn`, on a connection of the read pool
/// (no ping before use), within the query deadline. A connection that turns
/// out dead (a server restart, a terminated backend) is closed and the read
/// runs again on another, up to one more time than the pool has
/// connections, so every dead idle one can be passed over. Only for reads:
/// a read that failed changed nothing, and the one that answers began after
/// the request arrived.
macro_rules! read_fresh {
    ($pool:expr, |$conn:ident| $body:expr) => {
        $crate::db::deadline(async {
            let attempts = $pool.options().get_max_connections() + 1;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut pooled = $pool.acquire().await?;
                let $conn = &mut *pooled;
                match $body {
                    Err(err) if attempt < attempts && $crate::db::postgres::lost(&err) => {
                        pooled.close_on_drop();
                    }
                    result => break Ok(result?),
                }
            }
        })
        .await
    };
}
pub(crate) use read_fresh;

/// The connection is gone: closed, reset, or its backend ended.
pub(crate) fn lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|err| err.code().starts_with("08") || err.code().starts_with("57P0")),
        _ => false,
    }
}

/// Whether a pooler that hands out server connections per transaction
/// (PgBouncer's `pool_mode = transaction` or `statement`) stands between
/// this node and PostgreSQL: there, session settings and prepared statements
/// do not last, so tollgate refuses to start. Directly, or in session
/// pooling, a client connection keeps one server backend; in transaction
/// pooling, a second client that opens a transaction takes the backend the
/// first just released, and the first's next statement runs on another (or
/// waits for one). Only the simple query protocol is used here, which works
/// through any pooler.
async fn transaction_pooling(pool: &PgPool) -> Result<bool, sqlx::Error> {
    const PID: &str = "SELECT pg_backend_pid()";
    let mut first = pool.acquire().await?;
    let mut second = pool.acquire().await?;
    let before: i32 = sqlx::raw_sql(PID).fetch_one(&mut *first).await?.get(0);
    sqlx::raw_sql("BEGIN").execute(&mut *second).await?;
    sqlx::raw_sql(PID).execute(&mut *second).await?;
    let after = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::raw_sql(PID).fetch_one(&mut *first),
    )
    .await;
    sqlx::raw_sql("ROLLBACK").execute(&mut *second).await?;
    Ok(match after {
        Ok(row) => row?.get::<i32, _>(0) != before,
        // Waiting for a backend: one is free only between transactions.
        Err(_) => {
            first.close_on_drop();
            true
        }
    })
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
