//! The `users` table.

use sqlx::FromRow;

use super::{DbResult, Store, Tx, now, on_pool, on_tx};

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

/// A user's row as a change leaves it (see [`Tx::write_user`]).
pub struct UserValues {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub scopes: String,
    pub disabled: bool,
    /// `None` keeps the stored hash.
    pub password_hash: Option<String>,
    pub token_version: i64,
}

const COLUMNS: &str = "id, username, email, full_name, scopes, disabled, token_version, created_at";

/// The key that uniqueness and login compare: the username without case.
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Binds the seven values of a new user, in column order.
macro_rules! bind_new {
    ($query:expr, $user:expr) => {
        $query
            .bind($user.username)
            .bind(username_key($user.username))
            .bind($user.email)
            .bind($user.full_name)
            .bind($user.password_hash)
            .bind($user.scopes)
            .bind(now())
    };
}

/// The queries of the `users` table that need no transaction.
pub struct Users<'a>(&'a Store);

impl Store {
    pub fn users(&self) -> Users<'_> {
        Users(self)
    }
}

impl Users<'_> {
    /// A real read of the users table, as cheap as one can be.
    pub async fn ping(&self) -> DbResult<()> {
        on_pool!(self.0, |pool| sqlx::query("SELECT id FROM users LIMIT 1")
            .fetch_optional(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    pub async fn count(&self) -> DbResult<i64> {
        Ok(on_pool!(self.0, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Inserts a user; a taken username (in any case) is `DbError::Conflict`.
    pub async fn create(&self, user: &NewUser<'_>) -> DbResult<UserRow> {
        const SQL: &str = "INSERT INTO users
                (username, username_key, email, full_name, password_hash, scopes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING id, username, email, full_name, scopes, disabled, token_version, created_at";
        Ok(on_pool!(self.0, |pool| bind_new!(
            sqlx::query_as(SQL),
            user
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Inserts `user` only if the table is empty, so several processes
    /// starting on a new database create one first user between them (on
    /// PostgreSQL the loser of a race fails on the unique username instead).
    pub async fn create_if_none(&self, user: &NewUser<'_>) -> DbResult<Option<UserRow>> {
        const SQL: &str = "INSERT INTO users
                (username, username_key, email, full_name, password_hash, scopes, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM users)
             RETURNING id, username, email, full_name, scopes, disabled, token_version, created_at";
        Ok(on_pool!(self.0, |pool| bind_new!(
            sqlx::query_as(SQL),
            user
        )
        .fetch_optional(pool)
        .await)?)
    }

    pub async fn get(&self, id: i64) -> DbResult<Option<UserRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1"));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn get_by_username(&self, username: &str) -> DbResult<Option<UserRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM users WHERE username_key = $1"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(username_key(username))
            .fetch_optional(pool)
            .await)?)
    }

    /// One page of users in id order, starting after `after_id`.
    pub async fn list(&self, after_id: i64, limit: i64) -> DbResult<Vec<UserRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT +$2"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    pub async fn credentials(&self, username: &str) -> DbResult<Option<Credentials>> {
        const SQL: &str = "SELECT id, password_hash, scopes, disabled, token_version
             FROM users WHERE username_key = $1";
        Ok(on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(username_key(username))
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn password_hash(&self, id: i64) -> DbResult<Option<String>> {
        Ok(on_pool!(self.0, |pool| sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Replaces a hash with one of the same password at another cost. Changes
    /// nothing if the password changed meanwhile; tokens stay valid.
    pub async fn upgrade_hash(&self, id: i64, old: &str, new: &str) -> DbResult<()> {
        const SQL: &str =
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3";
        on_pool!(self.0, |pool| sqlx::query(SQL)
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }
}

/// The statements of a user change, run in a [`Store::begin_write`]
/// transaction named [`USERS_LOCK`]: changes that could each remove the last
/// admin run one after the other, on every node.
impl Tx {
    /// The user's row, locked against other writers until the transaction ends.
    pub async fn user_for_update(&mut self, id: i64) -> DbResult<Option<UserRow>> {
        // SQLite's write transaction already excludes every other writer;
        // PostgreSQL locks the row.
        Ok(match &mut self.0 {
            super::TxInner::Sqlite(tx) => {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1"));
                sqlx::query_as(sql)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            super::TxInner::Postgres(tx) => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
                ));
                sqlx::query_as(sql)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        })
    }

    /// Whether any enabled user other than `id` has scopes that `holds`
    /// accepts. Reads in pages, stopping at the first match.
    pub async fn any_other_enabled_user(
        &mut self,
        id: i64,
        holds: impl Fn(&str) -> bool,
    ) -> DbResult<bool> {
        const SQL: &str = "SELECT id, scopes FROM users
             WHERE NOT disabled AND id <> $1 AND id > $2 ORDER BY id LIMIT 500";
        let mut after = 0;
        loop {
            let page: Vec<(i64, String)> = on_tx!(self, |conn| sqlx::query_as(SQL)
                .bind(id)
                .bind(after)
                .fetch_all(conn)
                .await)?;
            if page.iter().any(|(_, scopes)| holds(scopes)) {
                return Ok(true);
            }
            match page.last() {
                Some((last, _)) if page.len() == 500 => after = *last,
                _ => return Ok(false),
            }
        }
    }

    /// Writes a user's changeable columns as `values` has them.
    pub async fn write_user(&mut self, id: i64, values: &UserValues) -> DbResult<UserRow> {
        const SQL: &str = "UPDATE users SET
                email = $1, full_name = $2, scopes = $3, disabled = $4,
                password_hash = COALESCE($5, password_hash), token_version = $6
             WHERE id = $7
             RETURNING id, username, email, full_name, scopes, disabled, token_version, created_at";
        Ok(on_tx!(self, |conn| sqlx::query_as(SQL)
            .bind(&values.email)
            .bind(&values.full_name)
            .bind(&values.scopes)
            .bind(values.disabled)
            .bind(&values.password_hash)
            .bind(values.token_version)
            .bind(id)
            .fetch_one(conn)
            .await)?)
    }

    /// Makes every token minted so far for this user invalid. `false` when
    /// there is no such user.
    pub async fn bump_version(&mut self, id: i64) -> DbResult<bool> {
        const SQL: &str = "UPDATE users SET token_version = token_version + 1 WHERE id = $1";
        let done = on_tx!(self, |conn| sqlx::query(SQL)
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Deletes a user with its items and token families (by cascade).
    pub async fn delete_user(&mut self, id: i64) -> DbResult<bool> {
        let done = on_tx!(self, |conn| sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected());
        Ok(done == 1)
    }
}

/// The lock name that user changes take (see [`Store::begin_write`]).
pub const USERS_LOCK: &str = "tollgate:users";
