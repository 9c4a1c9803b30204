//! The `users` table.

use sqlx::{FromRow, SqlitePool};

use super::{DbResult, now, write_tx};

/// A user as the API shows it: no password hash here, so none can leak.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// Space-delimited scope names.
    pub scopes: String,
    pub disabled: bool,
    pub token_version: i64,
    pub created_at: i64,
}

/// What a login needs: the hash and whether the account may log in.
#[derive(FromRow)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub scopes: String,
    pub disabled: bool,
    pub token_version: i64,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub email: Option<&'a str>,
    pub full_name: Option<&'a str>,
    pub scopes: &'a str,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserPatch {
    pub email: Option<Option<String>>,
    pub full_name: Option<Option<String>>,
    pub scopes: Option<String>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

pub enum Change<T> {
    Done(T),
    NotFound,
    /// The change would leave no enabled user holding `admin`.
    LastAdmin,
}

const COLUMNS: &str = "id, username, email, full_name, scopes, disabled, token_version, created_at";

/// The key that uniqueness and login compare: the username without case.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// A real read of the users table, as cheap as one can be.
pub async fn ping(pool: &SqlitePool) -> DbResult<()> {
    sqlx::query("SELECT id FROM users LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(())
}

pub async fn count(pool: &SqlitePool) -> DbResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await?)
}

/// Inserts a user; a taken username (in any case) is `DbError::Conflict`.
pub async fn create(pool: &SqlitePool, user: &NewUser<'_>) -> DbResult<UserRow> {
    Ok(insert(
        "INSERT INTO users (username, username_key, email, full_name, password_hash, scopes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         RETURNING id, username, email, full_name, scopes, disabled, token_version, created_at",
        user,
    )
    .fetch_one(pool)
    .await?)
}

/// Inserts `user` only if the table is empty, atomically, so several processes
/// starting on a new database create one first user between them.
pub async fn create_if_none(pool: &SqlitePool, user: &NewUser<'_>) -> DbResult<Option<UserRow>> {
    Ok(insert(
        "INSERT INTO users (username, username_key, email, full_name, password_hash, scopes, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)
         RETURNING id, username, email, full_name, scopes, disabled, token_version, created_at",
        user,
    )
    .fetch_optional(pool)
    .await?)
}

/// `sql` with the new user's seven values bound, in column order.
fn insert<'q>(
    sql: &'static str,
    user: &'q NewUser<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, UserRow, sqlx::sqlite::SqliteArguments> {
    sqlx::query_as(sql)
        .bind(user.username)
        .bind(username_key(user.username))
        .bind(user.email)
        .bind(user.full_name)
        .bind(user.password_hash)
        .bind(user.scopes)
        .bind(now())
}

pub async fn get(pool: &SqlitePool, id: i64) -> DbResult<Option<UserRow>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = ?"));
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(pool).await?)
}

pub async fn get_by_username(pool: &SqlitePool, username: &str) -> DbResult<Option<UserRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE username_key = ?"
    ));
    Ok(sqlx::query_as(sql)
        .bind(username_key(username))
        .fetch_optional(pool)
        .await?)
}

/// One page of users in id order, starting after `after_id`.
pub async fn list(pool: &SqlitePool, after_id: i64, limit: i64) -> DbResult<Vec<UserRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?"
    ));
    Ok(sqlx::query_as(sql)
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

pub async fn credentials(pool: &SqlitePool, username: &str) -> DbResult<Option<Credentials>> {
    Ok(sqlx::query_as(
        "SELECT id, password_hash, scopes, disabled, token_version FROM users WHERE username_key = ?",
    )
    .bind(username_key(username))
    .fetch_optional(pool)
    .await?)
}

pub async fn password_hash(pool: &SqlitePool, id: i64) -> DbResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Replaces a hash with one of the same password at another cost. Changes
/// nothing if the password changed meanwhile; tokens stay valid.
pub async fn upgrade_hash(pool: &SqlitePool, id: i64, old: &str, new: &str) -> DbResult<()> {
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(pool)
        .await?;
    Ok(())
}

/// Makes every token minted so far for this user invalid.
pub async fn bump_version(pool: &SqlitePool, id: i64) -> DbResult<bool> {
    let done = sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Applies `patch`. A change of scopes, the disabled flag or the password
/// bumps the token version. Refused as `LastAdmin` if it takes the last
/// enabled admin's `admin` scope or disables them.
pub async fn update(pool: &SqlitePool, id: i64, patch: &UserPatch) -> DbResult<Change<UserRow>> {
    let mut tx = write_tx(pool).await?;
    let was_admin = is_enabled_admin(&mut tx, id).await?;
    let row: Option<UserRow> = sqlx::query_as(
        "UPDATE users SET
            email = CASE WHEN ? THEN ? ELSE email END,
            full_name = CASE WHEN ? THEN ? ELSE full_name END,
            token_version = token_version + CASE
                WHEN scopes <> COALESCE(?, scopes) OR disabled <> COALESCE(?, disabled)
                     OR ? IS NOT NULL THEN 1 ELSE 0 END,
            scopes = COALESCE(?, scopes),
            disabled = COALESCE(?, disabled),
            password_hash = COALESCE(?, password_hash)
         WHERE id = ?
         RETURNING id, username, email, full_name, scopes, disabled, token_version, created_at",
    )
    .bind(patch.email.is_some())
    .bind(patch.email.clone().flatten())
    .bind(patch.full_name.is_some())
    .bind(patch.full_name.clone().flatten())
    .bind(&patch.scopes)
    .bind(patch.disabled)
    .bind(&patch.password_hash)
    .bind(&patch.scopes)
    .bind(patch.disabled)
    .bind(&patch.password_hash)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Change::NotFound);
    };
    if was_admin && enabled_admins(&mut tx).await? == 0 {
        return Ok(Change::LastAdmin);
    }
    tx.commit().await?;
    Ok(Change::Done(row))
}

/// Deletes a user with its items and token families. Refused as `LastAdmin`
/// if it would leave no enabled admin.
pub async fn delete(pool: &SqlitePool, id: i64) -> DbResult<Change<()>> {
    let mut tx = write_tx(pool).await?;
    let was_admin = is_enabled_admin(&mut tx, id).await?;
    let done = sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(Change::NotFound);
    }
    if was_admin && enabled_admins(&mut tx).await? == 0 {
        return Ok(Change::LastAdmin);
    }
    tx.commit().await?;
    Ok(Change::Done(()))
}

async fn is_enabled_admin(tx: &mut sqlx::SqliteConnection, id: i64) -> DbResult<bool> {
    let found: Option<bool> = sqlx::query_scalar(
        "SELECT disabled = 0 AND (' ' || scopes || ' ') LIKE '% admin %' FROM users WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(tx)
    .await?;
    Ok(found.unwrap_or(false))
}

/// Counted inside the writing transaction, so two concurrent demotions cannot
/// both see the other admin still standing.
async fn enabled_admins(tx: &mut sqlx::SqliteConnection) -> DbResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE disabled = 0 AND (' ' || scopes || ' ') LIKE '% admin %'",
    )
    .fetch_one(tx)
    .await?)
}
