//! The `login_failures` table: failed-login counters shared by every process.
//!
//! `updated_at` is in seconds like every other timestamp; `locked_until_ms`
//! is in milliseconds, so a lock of one second lasts one second.

use sqlx::{FromRow, SqliteConnection, SqlitePool};

use super::DbResult;

#[derive(Debug, Clone, FromRow)]
pub struct Failures {
    pub key: String,
    pub failures: i64,
    pub locked_until_ms: i64,
    pub updated_at: i64,
}

/// Milliseconds since the Unix epoch, for locks.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The counters for a username key and an address key, in one query.
pub async fn get(
    conn: &mut SqliteConnection,
    user_key: &str,
    addr_key: &str,
) -> DbResult<Vec<Failures>> {
    Ok(sqlx::query_as(
        "SELECT key, failures, locked_until_ms, updated_at FROM login_failures
         WHERE key IN (?, ?)",
    )
    .bind(user_key)
    .bind(addr_key)
    .fetch_all(conn)
    .await?)
}

/// Counts one failure for `key` at `now` (seconds), starting over when the
/// last one is older than `fresh_after`, and returns the new count.
pub async fn record(
    conn: &mut SqliteConnection,
    key: &str,
    now: i64,
    fresh_after: i64,
) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO login_failures (key, failures, locked_until_ms, updated_at)
         VALUES (?, 1, 0, ?)
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN login_failures.updated_at < ? THEN 1
                            ELSE login_failures.failures + 1 END,
            updated_at = excluded.updated_at
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(fresh_after)
    .fetch_one(conn)
    .await?)
}

/// Locks `key` until `until_ms`, never shortening a lock already set.
pub async fn lock(conn: &mut SqliteConnection, key: &str, until_ms: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE login_failures SET locked_until_ms = ? WHERE key = ? AND locked_until_ms < ?",
    )
    .bind(until_ms)
    .bind(key)
    .bind(until_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut SqliteConnection, key: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = ?")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes counters untouched since `stale_before` whose lock has passed by
/// `now` (both in seconds), in batches with a pause between them.
pub async fn purge(pool: &SqlitePool, stale_before: i64, now: i64) -> DbResult<u64> {
    super::delete_in_batches(
        pool,
        "DELETE FROM login_failures WHERE key IN (
            SELECT key FROM login_failures
            WHERE updated_at < ? AND locked_until_ms < ? LIMIT ?)",
        [stale_before, now.saturating_mul(1000)],
    )
    .await
}
