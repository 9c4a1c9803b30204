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
}

const COLUMNS: &str =
    "kid, alg, private_key, encryption_key_id, public_jwk, created_at, activates_at, retires_at";

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
    };
}

const INSERT_SQL: &str = "INSERT INTO signing_keys
        (kid, alg, private_key, encryption_key_id, public_jwk, created_at, activates_at, retires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

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

    /// Stores `key` unless a key of its algorithm signs at `key.created_at`
    /// already, and retires then the keys of other
    /// algorithms (a change of `TOLLGATE_JWT_ALG`); returns whether it was
    /// stored. Several nodes starting at once store one key between them.
    pub async fn insert_first(&self, key: &KeyRow) -> DbResult<bool> {
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
            return Ok(false);
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
        Ok(true)
    }

    /// Stores `key` and retires, at `key.activates_at`, every key of its
    /// algorithm that has not retired yet: one transaction.
    pub async fn rotate(&self, key: &KeyRow) -> DbResult<u64> {
        const RETIRE: &str = "UPDATE signing_keys SET retires_at = $1
             WHERE alg = $2 AND (retires_at IS NULL OR retires_at > $1)";
        let mut tx = self.0.begin_write(&[KEYS_LOCK]).await?;
        let retired = on_tx!(tx, |conn| sqlx::query(RETIRE)
            .bind(key.activates_at)
            .bind(&key.alg)
            .execute(conn)
            .await?
            .rows_affected());
        on_tx!(tx, |conn| bind_key!(sqlx::query(INSERT_SQL), key)
            .execute(conn)
            .await
            .map(drop))?;
        tx.commit().await?;
        Ok(retired)
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
