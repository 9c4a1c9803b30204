//! The `settings` table: small values every process on the database must agree on.

use sqlx::SqlitePool;

use super::DbResult;

/// Returns the stored value for `key`, storing `candidate` first if there is
/// none. Concurrent callers (several processes starting at once) all get the
/// value that won.
pub async fn get_or_insert(pool: &SqlitePool, key: &str, candidate: &str) -> DbResult<String> {
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(candidate)
        .execute(pool)
        .await?;
    let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(key)
        .fetch_one(pool)
        .await?;
    Ok(value)
}
