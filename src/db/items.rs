//! The `items` table. Every query is scoped to the owner: another user's item
//! is simply not found.

use sqlx::FromRow;

use super::{DbResult, Store, now, on_pool};

#[derive(Debug, Clone, FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Default)]
pub struct ItemPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

pub struct Items<'a>(&'a Store);

/// One page of an owner's items; `LIMIT +$3`, not `LIMIT $3`: SQLite folds a
/// bound LIMIT value into the query plan, so rebinding it re-prepares the
/// statement on every request; an expression keeps the cached plan
/// (bench/README.md).
pub(crate) const LIST_SQL: &str = "SELECT id, name, description, created_at, updated_at
     FROM items WHERE owner_id = $1 AND id > $2 ORDER BY id LIMIT +$3";

impl Store {
    pub fn items(&self) -> Items<'_> {
        Items(self)
    }
}

impl Items<'_> {
    pub async fn create(
        &self,
        owner_id: i64,
        name: &str,
        description: Option<&str>,
    ) -> DbResult<ItemRow> {
        const SQL: &str = "INSERT INTO items (owner_id, name, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             RETURNING id, name, description, created_at, updated_at";
        let row = on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(owner_id)
            .bind(name)
            .bind(description)
            .bind(now())
            .fetch_one(pool)
            .await)?;
        Ok(row)
    }

    pub async fn get(&self, owner_id: i64, id: i64) -> DbResult<Option<ItemRow>> {
        const SQL: &str = "SELECT id, name, description, created_at, updated_at
             FROM items WHERE id = $1 AND owner_id = $2";
        Ok(on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(id)
            .bind(owner_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// One page of the owner's items in id order, starting after `after_id`.
    pub async fn list(&self, owner_id: i64, after_id: i64, limit: i64) -> DbResult<Vec<ItemRow>> {
        // On SQLite, on the request's thread when an inline connection is
        // free (`readers`): through sqlx, the rows cross threads one by one.
        if let Some(rows) = self
            .0
            .readers()
            .and_then(|readers| readers.items_page(owner_id, after_id, limit))
        {
            return Ok(rows);
        }
        if let Some(reads) = self.0.hot_reads() {
            return super::postgres::read_fresh!(reads, |conn| sqlx::query_as(LIST_SQL)
                .bind(owner_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(conn)
                .await);
        }
        Ok(on_pool!(self.0, |pool| sqlx::query_as(LIST_SQL)
            .bind(owner_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    pub async fn update(
        &self,
        owner_id: i64,
        id: i64,
        patch: &ItemPatch,
    ) -> DbResult<Option<ItemRow>> {
        const SQL: &str = "UPDATE items SET
                name = COALESCE($1, name),
                description = CASE WHEN $2 THEN $3 ELSE description END,
                updated_at = $4
             WHERE id = $5 AND owner_id = $6
             RETURNING id, name, description, created_at, updated_at";
        let row = on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(&patch.name)
            .bind(patch.description.is_some())
            .bind(patch.description.clone().flatten())
            .bind(now())
            .bind(id)
            .bind(owner_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row)
    }

    pub async fn delete(&self, owner_id: i64, id: i64) -> DbResult<bool> {
        const SQL: &str = "DELETE FROM items WHERE id = $1 AND owner_id = $2";
        let done = on_pool!(self.0, |pool| sqlx::query(SQL)
            .bind(id)
            .bind(owner_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }
}
