//! Token families (one per login) and their refresh tokens, stored as hashes.

use sqlx::{FromRow, SqlitePool};

use super::{DbResult, write_tx};

/// What a bearer token check needs, read in one query: the user as it is now
/// (which `/users/me` answers with, without a second read) and its family.
#[derive(Debug, FromRow)]
pub struct AuthRow {
    #[sqlx(flatten)]
    pub user: super::users::UserRow,
    pub family_revoked: bool,
}

/// A family as the refresh grant sees it, with its user's current state.
#[derive(Debug, FromRow)]
pub struct Grant {
    pub family_id: i64,
    pub user_id: i64,
    pub user_version: i64,
    pub scope: String,
    pub client_id: String,
    pub expires_at: i64,
    pub revoked: bool,
    pub user_scopes: String,
    pub user_disabled: bool,
    pub token_version: i64,
}

impl Grant {
    /// The family is live and its user unchanged since the login.
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked
            && self.expires_at > now
            && !self.user_disabled
            && self.user_version == self.token_version
    }
}

pub enum Rotation {
    /// The presented token is now spent and the new one stored.
    Rotated(Grant),
    /// The token was spent before: its family is now revoked.
    Reused,
    /// Unknown token, or a dead family.
    Invalid,
    /// `allow` said no; nothing was changed.
    Refused,
}

pub struct NewFamily<'a> {
    pub user_id: i64,
    pub user_version: i64,
    pub scope: &'a str,
    pub client_id: &'a str,
    pub expires_at: i64,
}

/// Starts a family with its first refresh token, atomically.
pub async fn start_family(
    pool: &SqlitePool,
    family: &NewFamily<'_>,
    token_hash: &str,
    now: i64,
) -> DbResult<i64> {
    let mut tx = pool.begin().await?;
    let family_id: i64 = sqlx::query_scalar(
        "INSERT INTO token_families (user_id, user_version, scope, client_id, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(family.user_id)
    .bind(family.user_version)
    .bind(family.scope)
    .bind(family.client_id)
    .bind(now)
    .bind(family.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES (?, ?, ?)")
        .bind(token_hash)
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(family_id)
}

/// The query behind [`AuthRow`], by user id and family id; also run through
/// rusqlite by `super::readers`.
pub(crate) const AUTH_ROW_SQL: &str =
    "SELECT u.id, u.username, u.email, u.full_name, u.scopes, u.disabled,
            u.token_version, u.created_at, f.revoked_at IS NOT NULL AS family_revoked
     FROM users u JOIN token_families f ON f.user_id = u.id
     WHERE u.id = ? AND f.id = ?";

/// The user and family behind an access token; `None` if either is gone.
/// Takes the pool or one connection. The bearer check calls it through
/// `super::readers::Readers::auth_row`.
pub async fn auth_row<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    user_id: i64,
    family_id: i64,
) -> DbResult<Option<AuthRow>> {
    Ok(sqlx::query_as(AUTH_ROW_SQL)
        .bind(user_id)
        .bind(family_id)
        .fetch_optional(db)
        .await?)
}

/// Spends the refresh token `old_hash` and stores `new_hash` in its family,
/// if the family is live and `allow` accepts it. The conditional update makes
/// two concurrent uses of one token yield one rotation; the loser, like any
/// later replay, revokes the family.
pub async fn rotate(
    pool: &SqlitePool,
    old_hash: &str,
    new_hash: &str,
    now: i64,
    allow: impl FnOnce(&Grant) -> bool,
) -> DbResult<Rotation> {
    let mut tx = write_tx(pool).await?;
    let family_id: Option<i64> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? AND spent_at IS NULL
         RETURNING family_id",
    )
    .bind(now)
    .bind(old_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(family_id) = family_id else {
        let spent: Option<i64> =
            sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = ?")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        return match spent {
            Some(family_id) => {
                revoke_family_in(&mut tx, family_id, now).await?;
                tx.commit().await?;
                Ok(Rotation::Reused)
            }
            None => Ok(Rotation::Invalid),
        };
    };
    let grant: Grant = sqlx::query_as(
        "SELECT f.id AS family_id, f.user_id, f.user_version, f.scope, f.client_id, f.expires_at,
                f.revoked_at IS NOT NULL AS revoked, u.scopes AS user_scopes,
                u.disabled AS user_disabled, u.token_version
         FROM token_families f JOIN users u ON u.id = f.user_id WHERE f.id = ?",
    )
    .bind(family_id)
    .fetch_one(&mut *tx)
    .await?;
    if !grant.is_live(now) {
        tx.commit().await?;
        return Ok(Rotation::Invalid);
    }
    if !allow(&grant) {
        return Ok(Rotation::Refused);
    }
    sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES (?, ?, ?)")
        .bind(new_hash)
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(grant))
}

/// Revokes the family of a refresh token, spent or not. Unknown hashes change nothing.
pub async fn revoke_by_refresh(pool: &SqlitePool, token_hash: &str, now: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE token_families SET revoked_at = ?
         WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)
           AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(token_hash)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn revoke_family(pool: &SqlitePool, family_id: i64, now: i64) -> DbResult<()> {
    let mut conn = pool.acquire().await?;
    revoke_family_in(&mut conn, family_id, now).await
}

async fn revoke_family_in(
    conn: &mut sqlx::SqliteConnection,
    family_id: i64,
    now: i64,
) -> DbResult<()> {
    sqlx::query("UPDATE token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(family_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes families no token of which can work any more (expired before
/// `expired_before`, revoked before `revoked_before`, or minted before a
/// password, scope or logout-all change), with their refresh tokens. Runs in
/// batches with a pause between them, so requests never wait on it for long.
pub async fn purge(pool: &SqlitePool, expired_before: i64, revoked_before: i64) -> DbResult<u64> {
    super::delete_in_batches(
        pool,
        "DELETE FROM token_families WHERE id IN (
            SELECT f.id FROM token_families f JOIN users u ON u.id = f.user_id
            WHERE f.expires_at < ? OR f.revoked_at < ? OR f.user_version <> u.token_version
            LIMIT ?)",
        [expired_before, revoked_before],
    )
    .await
}
