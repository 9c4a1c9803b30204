//! The `login_failures` table: failed-login counters shared by every process.

use sqlx::{FromRow, SqlitePool};

use super::DbResult;

#[derive(Debug, Clone, FromRow)]
pub struct Failures {
    pub key: String,
    pub failures: i64,
    pub locked_until: i64,
    pub updated_at: i64,
}

/// The counters for a username key and an address key, in one query.
pub async fn get(pool: &SqlitePool, user_key: &str, addr_key: &str) -> DbResult<Vec<Failures>> {
    Ok(sqlx::query_as(
        "SELECT key, failures, locked_until, updated_at FROM login_failures WHERE key IN (?, ?)",
    )
    .bind(user_key)
    .bind(addr_key)
    .fetch_all(pool)
    .await?)
}

/// Counts one failure for `key`, starting over when the last one is older than
/// `fresh_after`, and returns the new count.
pub async fn record(pool: &SqlitePool, key: &str, now: i64, fresh_after: i64) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO login_failures (key, failures, locked_until, updated_at) VALUES (?, 1, 0, ?)
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN login_failures.updated_at < ? THEN 1
                            ELSE login_failures.failures + 1 END,
            updated_at = excluded.updated_at
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(fresh_after)
    .fetch_one(pool)
    .await?)
}

/// Locks `key` until `until`, never shortening a lock already set.
pub async fn lock(pool: &SqlitePool, key: &str, until: i64) -> DbResult<()> {
    sqlx::query("UPDATE login_failures SET locked_until = ? WHERE key = ? AND locked_until < ?")
        .bind(until)
        .bind(key)
        .bind(until)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn clear(pool: &SqlitePool, key: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = ?")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes counters untouched since `stale_before` whose lock has passed.
pub async fn purge(pool: &SqlitePool, stale_before: i64, now: i64) -> DbResult<u64> {
    let done = sqlx::query("DELETE FROM login_failures WHERE updated_at < ? AND locked_until < ?")
        .bind(stale_before)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
