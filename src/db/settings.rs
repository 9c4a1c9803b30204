//! The `settings` table: small values every process on the database must agree on.

use super::{DbResult, Store, on_pool};

impl Store {
    /// Returns the stored value for `key`, storing `candidate` first if there
    /// is none. Concurrent callers (several processes starting at once) all
    /// get the value that won.
    pub async fn setting_or_insert(&self, key: &str, candidate: &str) -> DbResult<String> {
        const INSERT: &str =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
        const SELECT: &str = "SELECT value FROM settings WHERE key = $1";
        Ok(on_pool!(self, |pool| {
            sqlx::query(INSERT)
                .bind(key)
                .bind(candidate)
                .execute(pool)
                .await?;
            sqlx::query_scalar(SELECT).bind(key).fetch_one(pool).await
        })?)
    }
}
