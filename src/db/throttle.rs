//! The `login_failures` table: failed-attempt counters shared by every
//! process and node. What the keys are and when they lock is decided in
//! `crate::auth::throttle`; these are its statements.
//!
//! `updated_at` is in seconds like every other timestamp; `locked_until_ms`
//! is in milliseconds, so a lock of one second lasts one second.

use sqlx::FromRow;

use super::{DbResult, Store, Tx, on_tx};

#[derive(Debug, Clone, FromRow)]
pub struct Failures {
    pub key: String,
    pub failures: i64,
    pub locked_until_ms: i64,
    pub updated_at: i64,
}

impl Tx {
    /// The counters among `keys` that exist, in one query.
    pub async fn failures(&mut self, keys: &[&str]) -> DbResult<Vec<Failures>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        // Only placeholders are formatted into the text; the keys are bound.
        let sql = format!(
            "SELECT key, failures, locked_until_ms, updated_at FROM login_failures
             WHERE key IN ({})",
            placeholders.join(", ")
        );
        Ok(on_tx!(self, |conn| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for key in keys {
                query = query.bind(*key);
            }
            query.fetch_all(conn).await
        })?)
    }

    /// Counts one failure for `key` at `now` (seconds), starting over when the
    /// last one is older than `fresh_after`, and returns the new count.
    pub async fn record_failure(&mut self, key: &str, now: i64, fresh_after: i64) -> DbResult<i64> {
        const SQL: &str = "INSERT INTO login_failures (key, failures, locked_until_ms, updated_at)
             VALUES ($1, 1, 0, $2)
             ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN login_failures.updated_at < $3 THEN 1
                                ELSE login_failures.failures + 1 END,
                updated_at = excluded.updated_at
             RETURNING failures";
        Ok(on_tx!(self, |conn| sqlx::query_scalar(SQL)
            .bind(key)
            .bind(now)
            .bind(fresh_after)
            .fetch_one(conn)
            .await)?)
    }

    /// Locks `key` until `until_ms`, never shortening a lock already set.
    pub async fn lock(&mut self, key: &str, until_ms: i64) -> DbResult<()> {
        const SQL: &str = "UPDATE login_failures SET locked_until_ms = $1 WHERE key = $2 AND locked_until_ms < $1";
        on_tx!(self, |conn| sqlx::query(SQL)
            .bind(until_ms)
            .bind(key)
            .execute(conn)
            .await
            .map(drop))?;
        Ok(())
    }

    pub async fn clear(&mut self, key: &str) -> DbResult<()> {
        on_tx!(self, |conn| sqlx::query(
            "DELETE FROM login_failures WHERE key = $1"
        )
        .bind(key)
        .execute(conn)
        .await
        .map(drop))?;
        Ok(())
    }
}

impl Store {
    /// Whether any of `keys` has a counter, read outside a transaction (a
    /// hint only: the decision is taken in `settle`'s transaction).
    pub async fn any_failures(&self, keys: &[&str]) -> DbResult<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM login_failures WHERE key = $1 OR key = $2";
        let (first, second) = match keys {
            [] => return Ok(false),
            [one] => (*one, *one),
            [one, two, ..] => (*one, *two),
        };
        debug_assert!(keys.len() <= 2, "any_failures reads two keys at most");
        let count: i64 = super::on_pool!(self, |pool| sqlx::query_scalar(SQL)
            .bind(first)
            .bind(second)
            .fetch_one(pool)
            .await)?;
        Ok(count > 0)
    }

    /// Deletes counters untouched since `stale_before` whose lock has passed
    /// by `now` (both in seconds), in batches with a pause between them.
    pub async fn purge_failures(&self, stale_before: i64, now: i64) -> DbResult<u64> {
        self.delete_in_batches(
            "DELETE FROM login_failures WHERE key IN (
                SELECT key FROM login_failures
                WHERE updated_at < $1 AND locked_until_ms < $2 LIMIT $3)",
            [stale_before, now.saturating_mul(1000)],
        )
        .await
    }
}
