//! Token families (one per login) and their refresh tokens, stored as hashes.

use sqlx::FromRow;

use super::{
    DbResult, Store, Tx,
    events::{Ending, Reason},
    on_pool, on_tx,
};

/// What a bearer token check needs, read in one query: the user as it is now
/// (which `/users/me` answers with, without a second read) and its family.
#[derive(Debug, Clone, FromRow)]
pub struct AuthRow {
    #[sqlx(flatten)]
    pub user: super::users::UserRow,
    pub family_revoked: bool,
}

impl AuthRow {
    /// Whether an access token of this session, minted at user version
    /// `version`, may still be used: the session is not revoked, and the
    /// user is enabled and unchanged since (no password, scope or disabled
    /// change, no logout-all). The one rule for access tokens; refresh
    /// tokens follow [`Grant::is_live`].
    pub fn admits(&self, version: i64) -> bool {
        !self.family_revoked && !self.user.disabled && self.user.token_version == version
    }
}

/// A family as the refresh grant sees it, with its user's current state.
#[derive(Debug, FromRow)]
pub struct Grant {
    pub family_id: i64,
    /// The session id access tokens carry as `sid`.
    pub sid: String,
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
    Reused(Grant),
    /// Unknown token, or a dead family.
    Invalid,
    /// `allow` said no; nothing was changed.
    Refused,
}

pub struct NewFamily<'a> {
    /// The session id: random, unique (`crate::auth::random_token`).
    pub sid: &'a str,
    pub user_id: i64,
    pub user_version: i64,
    pub scope: &'a str,
    pub client_id: &'a str,
    pub expires_at: i64,
}

/// A refresh token as introspection sees it: its family and user as they
/// are now, and whether it is spent.
#[derive(Debug, FromRow)]
pub struct RefreshState {
    #[sqlx(flatten)]
    pub grant: Grant,
    pub username: String,
    pub issued_at: i64,
    pub spent: bool,
}

/// A session as `tollgate sessions list` shows it: never a token value.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the newest refresh token was issued (the login's own, or a rotation).
    pub last_refresh: i64,
}

/// The query behind [`AuthRow`], by user id and family id; also run through
/// rusqlite by `super::readers`.
pub(crate) const AUTH_ROW_SQL: &str =
    "SELECT u.id, u.username, u.email, u.full_name, u.scopes, u.disabled,
            u.token_version, u.created_at, f.revoked_at IS NOT NULL AS family_revoked
     FROM users u JOIN token_families f ON f.user_id = u.id
     WHERE u.id = $1 AND f.id = $2";

const GRANT_SQL: &str =
    "SELECT f.id AS family_id, f.sid, f.user_id, f.user_version, f.scope, f.client_id,
            f.expires_at, f.revoked_at IS NOT NULL AS revoked, u.scopes AS user_scopes,
            u.disabled AS user_disabled, u.token_version
     FROM token_families f JOIN users u ON u.id = f.user_id WHERE f.id = $1";

const INSERT_TOKEN_SQL: &str =
    "INSERT INTO refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)";

pub struct Tokens<'a>(&'a Store);

impl Store {
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens(self)
    }

    /// The user and family behind an access token; `None` if either is gone.
    /// On SQLite on the request's own thread (`super::readers`); on
    /// PostgreSQL one query of the request's own, which began after the
    /// request arrived and so sees every commit answered before it, on any
    /// node.
    pub async fn auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        if let Some(readers) = &self.0.readers {
            return readers.auth_row(user_id, family_id).await;
        }
        if let Some(reads) = self.hot_reads() {
            return super::postgres::read_fresh!(reads, |conn| sqlx::query_as(AUTH_ROW_SQL)
                .bind(user_id)
                .bind(family_id)
                .fetch_optional(conn)
                .await);
        }
        Ok(on_pool!(self, |pool| sqlx::query_as(AUTH_ROW_SQL)
            .bind(user_id)
            .bind(family_id)
            .fetch_optional(pool)
            .await)?)
    }
}

impl Tokens<'_> {
    /// Starts a family with its first refresh token, atomically, if its user
    /// is still enabled and at `family.user_version`; `None` when not (a
    /// password change, logout-all or disabling committed since the login
    /// read the user). On PostgreSQL the user's row is locked for share
    /// until the commit, so such a change waits for this family and then
    /// ends it, with its event; SQLite's single writer orders them alike.
    pub async fn start_family(
        &self,
        family: &NewFamily<'_>,
        token_hash: &str,
        now: i64,
    ) -> DbResult<Option<i64>> {
        const SQL: &str = "INSERT INTO token_families
                (user_id, user_version, scope, client_id, created_at, expires_at, sid)
             SELECT id, token_version, $3, $4, $5, $6, $7 FROM users
             WHERE id = $1 AND token_version = $2 AND NOT disabled
             RETURNING id";
        const SQL_LOCKING: &str = "INSERT INTO token_families
                (user_id, user_version, scope, client_id, created_at, expires_at, sid)
             SELECT id, token_version, $3, $4, $5, $6, $7 FROM users
             WHERE id = $1 AND token_version = $2 AND NOT disabled
             FOR SHARE
             RETURNING id";
        let sql = match self.0.backend() {
            super::Backend::Sqlite(_) => SQL,
            super::Backend::Postgres(_) => SQL_LOCKING,
        };
        Ok(on_pool!(self.0, |pool| {
            let mut tx = pool.begin().await?;
            let family_id: Option<i64> = sqlx::query_scalar(sql)
                .bind(family.user_id)
                .bind(family.user_version)
                .bind(family.scope)
                .bind(family.client_id)
                .bind(now)
                .bind(family.expires_at)
                .bind(family.sid)
                .fetch_optional(&mut *tx)
                .await?;
            match family_id {
                // Dropped: the transaction rolls back, having written nothing.
                None => Ok(None),
                Some(family_id) => {
                    sqlx::query(INSERT_TOKEN_SQL)
                        .bind(token_hash)
                        .bind(family_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await.map(|()| Some(family_id))
                }
            }
        })?)
    }

    /// The refresh token with this hash, with its family and user.
    pub async fn refresh_state(&self, token_hash: &str) -> DbResult<Option<RefreshState>> {
        const SQL: &str = "SELECT f.id AS family_id, f.sid, f.user_id, f.user_version, f.scope,
                f.client_id, f.expires_at, f.revoked_at IS NOT NULL AS revoked,
                u.scopes AS user_scopes, u.disabled AS user_disabled, u.token_version,
                u.username, r.created_at AS issued_at, r.spent_at IS NOT NULL AS spent
             FROM refresh_tokens r
             JOIN token_families f ON f.id = r.family_id
             JOIN users u ON u.id = f.user_id
             WHERE r.token_hash = $1";
        Ok(on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(token_hash)
            .fetch_optional(pool)
            .await)?)
    }

    /// The family as the grant sees it, by id.
    pub async fn grant(&self, family_id: i64) -> DbResult<Option<Grant>> {
        Ok(on_pool!(self.0, |pool| sqlx::query_as(GRANT_SQL)
            .bind(family_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Spends the refresh token `old_hash` and stores `new_hash` in its family,
    /// if the family is live and `allow` accepts it. The conditional update
    /// makes two concurrent uses of one token yield one rotation on either
    /// engine (on PostgreSQL the second update waits for the first's row lock,
    /// then finds the token spent); the loser, like any later replay, revokes
    /// the family.
    pub async fn rotate(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: i64,
        allow: impl FnOnce(&Grant) -> bool,
    ) -> DbResult<Rotation> {
        const SPEND: &str = "UPDATE refresh_tokens SET spent_at = $1
             WHERE token_hash = $2 AND spent_at IS NULL RETURNING family_id";
        const SPENT: &str = "SELECT family_id FROM refresh_tokens WHERE token_hash = $1";
        let mut tx = self.0.begin_write(&[]).await?;
        let family_id: Option<i64> = on_tx!(tx, |conn| sqlx::query_scalar(SPEND)
            .bind(now)
            .bind(old_hash)
            .fetch_optional(conn)
            .await)?;
        let Some(family_id) = family_id else {
            let spent: Option<i64> = on_tx!(tx, |conn| sqlx::query_scalar(SPENT)
                .bind(old_hash)
                .fetch_optional(conn)
                .await)?;
            let Some(family_id) = spent else {
                return Ok(Rotation::Invalid);
            };
            let grant = tx.grant(family_id).await?;
            tx.end_sessions(Ending::Family(family_id), Reason::RefreshReuse, now)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Reused(grant));
        };
        let grant = tx.grant(family_id).await?;
        if !grant.is_live(now) {
            tx.commit().await?;
            return Ok(Rotation::Invalid);
        }
        if !allow(&grant) {
            return Ok(Rotation::Refused);
        }
        on_tx!(tx, |conn| sqlx::query(INSERT_TOKEN_SQL)
            .bind(new_hash)
            .bind(family_id)
            .bind(now)
            .execute(conn)
            .await
            .map(drop))?;
        tx.commit().await?;
        Ok(Rotation::Rotated(grant))
    }

    /// The sessions that can still be used (not revoked, not expired, minted
    /// at the user's current version), newest first; one user's or everyone's.
    pub async fn live_sessions(&self, user_id: Option<i64>, now: i64) -> DbResult<Vec<SessionRow>> {
        const SQL: &str = "SELECT f.id, f.user_id, u.username, f.client_id, f.scope, f.created_at,
                f.expires_at,
                (SELECT MAX(r.created_at) FROM refresh_tokens r WHERE r.family_id = f.id)
                    AS last_refresh
             FROM token_families f JOIN users u ON u.id = f.user_id
             WHERE f.revoked_at IS NULL AND f.expires_at > $1
               AND f.user_version = u.token_version AND NOT u.disabled
               AND ($2 IS NULL OR f.user_id = $2)
             ORDER BY f.id DESC";
        Ok(on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(now)
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Deletes families no token of which can work any more (expired before
    /// `expired_before`, revoked before `revoked_before`, or minted before a
    /// password, scope or logout-all change), with their refresh tokens. Runs
    /// in batches with a pause between them, so requests never wait on it.
    pub async fn purge(&self, expired_before: i64, revoked_before: i64) -> DbResult<u64> {
        self.0
            .delete_in_batches(
                "DELETE FROM token_families WHERE id IN (
                    SELECT f.id FROM token_families f JOIN users u ON u.id = f.user_id
                    WHERE f.expires_at < $1 OR f.revoked_at < $2
                       OR f.user_version <> u.token_version
                    LIMIT $3)",
                [expired_before, revoked_before],
            )
            .await
    }
}

impl Tx {
    async fn grant(&mut self, family_id: i64) -> DbResult<Grant> {
        Ok(on_tx!(self, |conn| sqlx::query_as(GRANT_SQL)
            .bind(family_id)
            .fetch_one(conn)
            .await)?)
    }
}
