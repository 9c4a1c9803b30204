//! The `items` table. Every query is scoped to the owner: another user's item
//! is simply not found.

use sqlx::{FromRow, SqlitePool};

use super::{DbResult, now};

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

pub async fn create(
    pool: &SqlitePool,
    owner_id: i64,
    name: &str,
    description: Option<&str>,
) -> DbResult<ItemRow> {
    let now = now();
    Ok(sqlx::query_as(
        "INSERT INTO items (owner_id, name, description, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?)
         RETURNING id, name, description, created_at, updated_at",
    )
    .bind(owner_id)
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(now)
    .fetch_one(pool)
    .await?)
}

pub async fn get(pool: &SqlitePool, owner_id: i64, id: i64) -> DbResult<Option<ItemRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description, created_at, updated_at
         FROM items WHERE id = ? AND owner_id = ?",
    )
    .bind(id)
    .bind(owner_id)
    .fetch_optional(pool)
    .await?)
}

/// One page of the owner's items in id order, starting after `after_id`.
pub async fn list(
    pool: &SqlitePool,
    owner_id: i64,
    after_id: i64,
    limit: i64,
) -> DbResult<Vec<ItemRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description, created_at, updated_at
         FROM items WHERE owner_id = ? AND id > ? ORDER BY id LIMIT ?",
    )
    .bind(owner_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn update(
    pool: &SqlitePool,
    owner_id: i64,
    id: i64,
    patch: &ItemPatch,
) -> DbResult<Option<ItemRow>> {
    Ok(sqlx::query_as(
        "UPDATE items SET
            name = COALESCE(?, name),
            description = CASE WHEN ? THEN ? ELSE description END,
            updated_at = ?
         WHERE id = ? AND owner_id = ?
         RETURNING id, name, description, created_at, updated_at",
    )
    .bind(&patch.name)
    .bind(patch.description.is_some())
    .bind(patch.description.clone().flatten())
    .bind(now())
    .bind(id)
    .bind(owner_id)
    .fetch_optional(pool)
    .await?)
}

pub async fn delete(pool: &SqlitePool, owner_id: i64, id: i64) -> DbResult<bool> {
    let done = sqlx::query("DELETE FROM items WHERE id = ? AND owner_id = ?")
        .bind(id)
        .bind(owner_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
