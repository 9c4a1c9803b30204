//! The `signing_keys` table: asymmetric signing keys shared by every node.
//! What a key is, and which one signs when, is decided in `crate::auth`.

use sqlx::FromRow;

use super::{DbResult, Store, on_pool, on_tx};

/// A stored key. `private_key` is sealed when `encryption_key_id` is set.
#[derive(Clone, FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub encryption_key_id: Option<String>,
    pub public_jwk: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    /// Set when the key was declared compromised: it verifies no more.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "kid, alg, private_key, encryption_key_id, public_jwk, created_at, \
     activates_at, retires_at, revoked_at";

/// Serializes key creation and rotation across nodes (see [`Store::begin_write`]).
const KEYS_LOCK: &str = "tollgate:signing_keys";

pub struct Keys<'a>(&'a Store);

impl Store {
    pub fn keys(&self) -> Keys<'_> {
        Keys(self)
    }
}

macro_rules! bind_key {
    ($query:expr, $key:expr) => {
        $query
            .bind(&$key.kid)
            .bind(&$key.alg)
            .bind(&$key.private_key)
            .bind(&$key.encryption_key_id)
            .bind(&$key.public_jwk)
            .bind($key.created_at)
            .bind($key.activates_at)
            .bind($key.retires_at)
            .bind($key.revoked_at)
    };
}

const INSERT_SQL: &str = "INSERT INTO signing_keys
        (kid, alg, private_key, encryption_key_id, public_jwk, created_at, activates_at, retires_at,
         revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// What an insert of a new key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Stored,
    /// A key of its algorithm signs already (`insert_first` only).
    NotNeeded,
    /// The key is not sealed and the table holds sealed keys: nothing written.
    PlaintextBesideSealed,
}

/// What [`Keys::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyRevoked,
    Unknown,
    /// The key signs now: nothing written (a new key must sign first).
    Signing,
}

/// Sets `revoked_at` and ends the signing period at `$1` at the latest.
const REVOKE_SET: &str = "SET revoked_at = $1,
     retires_at = CASE WHEN retires_at IS NULL OR retires_at > $1 THEN $1 ELSE retires_at END";

impl Keys<'_> {
    /// Every stored key, oldest first.
    pub async fn all(&self) -> DbResult<Vec<KeyRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM signing_keys ORDER BY created_at, kid"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await)?)
    }

    /// A number that changes with every write to the table (a trigger bumps
    /// it): reading it is how a node learns cheaply that the keys changed.
    pub async fn version(&self) -> DbResult<i64> {
        Ok(on_pool!(self.0, |pool| sqlx::query_scalar(
            "SELECT version FROM signing_keys_version"
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Stores `key` unless a key of its algorithm signs at `key.created_at`
    /// already, and retires then the keys of other
    /// algorithms (a change of `TOLLGATE_JWT_ALG`); returns whether it was
    /// stored. Several nodes starting at once store one key between them.
    pub async fn insert_first(&self, key: &KeyRow) -> DbResult<Inserted> {
        const EXISTING: &str = "SELECT COUNT(*) FROM signing_keys
             WHERE alg = $1 AND activates_at <= $2 AND (retires_at IS NULL OR retires_at > $2)";
        const RETIRE_OTHERS: &str = "UPDATE signing_keys SET retires_at = $1
             WHERE alg <> $2 AND (retires_at IS NULL OR retires_at > $1)";
        let mut tx = self.0.begin_write(&[KEYS_LOCK]).await?;
        let existing: i64 = on_tx!(tx, |conn| sqlx::query_scalar(EXISTING)
            .bind(&key.alg)
            .bind(key.created_at)
            .fetch_one(conn)
            .await)?;
        if existing > 0 {
            return Ok(Inserted::NotNeeded);
        }
        if plaintext_beside_sealed(&mut tx, key).await? {
            return Ok(Inserted::PlaintextBesideSealed);
        }
        on_tx!(tx, |conn| sqlx::query(RETIRE_OTHERS)
            .bind(key.created_at)
            .bind(&key.alg)
            .execute(conn)
            .await
            .map(drop))?;
        on_tx!(tx, |conn| bind_key!(sqlx::query(INSERT_SQL), key)
            .execute(conn)
            .await
            .map(drop))?;
        tx.commit().await?;
        Ok(Inserted::Stored)
    }

    /// Stores `key` and retires, at `key.activates_at`, every key of its
    /// algorithm that has not retired yet: one transaction. With
    /// `revoke_others` (a compromise), every other key is revoked at
    /// `key.created_at` instead, whatever its algorithm.
    pub async fn rotate(&self, key: &KeyRow, revoke_others: bool) -> DbResult<Inserted> {
        const RETIRE: &str = "UPDATE signing_keys SET retires_at = $1
             WHERE alg = $2 AND (retires_at IS NULL OR retires_at > $1)";
        let revoke = sqlx::AssertSqlSafe(format!(
            "UPDATE signing_keys {REVOKE_SET} WHERE revoked_at IS NULL"
        ));
        let mut tx = self.0.begin_write(&[KEYS_LOCK]).await?;
        if plaintext_beside_sealed(&mut tx, key).await? {
            return Ok(Inserted::PlaintextBesideSealed);
        }
        if revoke_others {
            on_tx!(tx, |conn| sqlx::query(revoke)
                .bind(key.created_at)
                .execute(conn)
                .await
                .map(drop))?;
        } else {
            on_tx!(tx, |conn| sqlx::query(RETIRE)
                .bind(key.activates_at)
                .bind(&key.alg)
                .execute(conn)
                .await
                .map(drop))?;
        }
        on_tx!(tx, |conn| bind_key!(sqlx::query(INSERT_SQL), key)
            .execute(conn)
            .await
            .map(drop))?;
        tx.commit().await?;
        Ok(Inserted::Stored)
    }

    /// Revokes `kid` at `now` unless it signs at `now`. A key revoked before
    /// it signs hands its signing period back to the key it was to replace
    /// (whose `retires_at` is its `activates_at`), so some key always signs.
    pub async fn revoke(&self, kid: &str, now: i64) -> DbResult<Revocation> {
        const HAND_BACK: &str = "UPDATE signing_keys SET retires_at = $1
             WHERE alg = $2 AND retires_at = $3 AND revoked_at IS NULL AND kid <> $4";
        let select =
            sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM signing_keys WHERE kid = $1"));
        let revoke =
            sqlx::AssertSqlSafe(format!("UPDATE signing_keys {REVOKE_SET} WHERE kid = $2"));
        let mut tx = self.0.begin_write(&[KEYS_LOCK]).await?;
        let row: Option<KeyRow> = on_tx!(tx, |conn| sqlx::query_as(select)
            .bind(kid)
            .fetch_optional(conn)
            .await)?;
        let Some(row) = row else {
            return Ok(Revocation::Unknown);
        };
        if row.revoked_at.is_some() {
            return Ok(Revocation::AlreadyRevoked);
        }
        if row.activates_at <= now && row.retires_at.is_none_or(|at| at > now) {
            return Ok(Revocation::Signing);
        }
        on_tx!(tx, |conn| sqlx::query(revoke)
            .bind(now)
            .bind(kid)
            .execute(conn)
            .await
            .map(drop))?;
        if row.activates_at > now {
            on_tx!(tx, |conn| sqlx::query(HAND_BACK)
                .bind(row.retires_at)
                .bind(&row.alg)
                .bind(row.activates_at)
                .bind(kid)
                .execute(conn)
                .await
                .map(drop))?;
        }
        tx.commit().await?;
        Ok(Revocation::Revoked)
    }

    /// Replaces the private key of `kid` by its sealed form, if it is still
    /// stored in the clear; returns whether it was.
    pub async fn seal(&self, kid: &str, sealed: &[u8], encryption_key_id: &str) -> DbResult<bool> {
        const SEAL: &str = "UPDATE signing_keys SET private_key = $1, encryption_key_id = $2
             WHERE kid = $3 AND encryption_key_id IS NULL";
        Ok(on_pool!(self.0, |pool| sqlx::query(SEAL)
            .bind(sealed)
            .bind(encryption_key_id)
            .bind(kid)
            .execute(pool)
            .await?
            .rows_affected())
            == 1)
    }

    /// Deletes keys retired before `before`: no live token can carry them.
    pub async fn prune(&self, before: i64) -> DbResult<u64> {
        Ok(on_pool!(self.0, |pool| sqlx::query(
            "DELETE FROM signing_keys WHERE retires_at < $1"
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}

/// Whether `key` is in the clear while the table holds sealed keys: a key is
/// never written unencrypted beside encrypted ones.
async fn plaintext_beside_sealed(tx: &mut super::Tx, key: &KeyRow) -> DbResult<bool> {
    if key.encryption_key_id.is_some() {
        return Ok(false);
    }
    let sealed: i64 = on_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM signing_keys WHERE encryption_key_id IS NOT NULL"
    )
    .fetch_one(conn)
    .await)?;
    Ok(sealed > 0)
}
