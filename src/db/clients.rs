//! The `clients` table (registered OAuth2 clients) and `client_assertions`
//! (the `jti` of each accepted `private_key_jwt` assertion, until its
//! `exp`). What the columns may hold is decided in `crate::auth::clients`.

use sqlx::FromRow;

use super::{DbResult, Store, Tx, on_pool, on_tx};

/// A registered client, as stored. The secret's hash is read only by
/// [`Clients::get`] for authentication; the API never shows it.
#[derive(Debug, Clone, FromRow)]
pub struct ClientRow {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    pub auth_method: String,
    /// Space-delimited grant types.
    pub grant_types: String,
    /// Space-delimited scope names.
    pub scopes: String,
    /// An RFC 7517 JWK Set, as JSON.
    pub jwks: Option<String>,
    pub secret_hash: Option<String>,
    pub disabled: bool,
    pub token_version: i64,
    pub created_at: i64,
}

pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub name: &'a str,
    pub client_type: &'a str,
    pub auth_method: &'a str,
    pub grant_types: &'a str,
    pub scopes: &'a str,
    pub jwks: Option<&'a str>,
    pub secret_hash: Option<&'a str>,
    /// Random, not 1: a client deleted and registered again under the same
    /// id must not find its old tokens' version matching.
    pub token_version: i64,
}

/// A client's row as a change leaves it (see [`Tx::write_client`]).
pub struct ClientValues {
    pub name: String,
    pub grant_types: String,
    pub scopes: String,
    pub jwks: Option<String>,
    pub disabled: bool,
    pub token_version: i64,
}

const COLUMNS: &str = "id, client_id, name, client_type, auth_method, grant_types, scopes, jwks,
    secret_hash, disabled, token_version, created_at";

pub struct Clients<'a>(&'a Store);

impl Store {
    pub fn clients(&self) -> Clients<'_> {
        Clients(self)
    }
}

impl Clients<'_> {
    /// Inserts a client; a taken `client_id` is `DbError::Conflict`.
    pub async fn create(&self, client: &NewClient<'_>, now: i64) -> DbResult<ClientRow> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO clients (client_id, name, client_type, auth_method, grant_types, scopes,
                 jwks, secret_hash, token_version, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(client.client_id)
            .bind(client.name)
            .bind(client.client_type)
            .bind(client.auth_method)
            .bind(client.grant_types)
            .bind(client.scopes)
            .bind(client.jwks)
            .bind(client.secret_hash)
            .bind(client.token_version)
            .bind(now)
            .fetch_one(pool)
            .await)?)
    }

    pub async fn get(&self, client_id: &str) -> DbResult<Option<ClientRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(client_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// What the bearer check of a client's own token needs: whether the
    /// client is disabled, and its token version. `None` when it is gone.
    pub async fn token_state(&self, client_id: &str) -> DbResult<Option<(bool, i64)>> {
        const SQL: &str = "SELECT disabled, token_version FROM clients WHERE client_id = $1";
        Ok(on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(client_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// One page of clients in creation order, starting after `after_id`.
    pub async fn list(&self, after_id: i64, limit: i64) -> DbResult<Vec<ClientRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM clients WHERE id > $1 ORDER BY id LIMIT +$2"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Replaces the secret's hash and voids the client's own tokens; `None`
    /// when there is no such client.
    pub async fn set_secret(&self, client_id: &str, secret_hash: &str) -> DbResult<Option<()>> {
        const SQL: &str = "UPDATE clients SET secret_hash = $1, token_version = token_version + 1
             WHERE client_id = $2";
        let done = on_pool!(self.0, |pool| sqlx::query(SQL)
            .bind(secret_hash)
            .bind(client_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok((done == 1).then_some(()))
    }

    /// Records the `jti` of an accepted assertion until `expires_at`;
    /// `false` when it was recorded before (a replay), on any node.
    pub async fn record_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> DbResult<bool> {
        const SQL: &str = "INSERT INTO client_assertions (client_id, jti, expires_at)
             VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING";
        let done = on_pool!(self.0, |pool| sqlx::query(SQL)
            .bind(client_id)
            .bind(jti)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Deletes the assertion records that expired before `before`.
    pub async fn purge_assertions(&self, before: i64) -> DbResult<u64> {
        self.0
            .delete_in_batches(
                "DELETE FROM client_assertions WHERE (client_id, jti) IN (
                    SELECT client_id, jti FROM client_assertions
                    WHERE expires_at < $1 AND expires_at >= $2 LIMIT $3)",
                [before, i64::MIN],
            )
            .await
    }
}

/// The statements of a client change or deletion, run in one
/// [`Store::begin_write`] transaction.
impl Tx {
    /// The client's row, locked against other writers until the transaction ends.
    pub async fn client_for_update(&mut self, client_id: &str) -> DbResult<Option<ClientRow>> {
        Ok(match &mut self.0 {
            super::TxInner::Sqlite(tx) => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
                ));
                sqlx::query_as(sql)
                    .bind(client_id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            super::TxInner::Postgres(tx) => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM clients WHERE client_id = $1 FOR UPDATE"
                ));
                sqlx::query_as(sql)
                    .bind(client_id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        })
    }

    /// Writes the changeable columns of a client, returning the new row.
    pub async fn write_client(
        &mut self,
        client_id: &str,
        values: &ClientValues,
    ) -> DbResult<ClientRow> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE clients SET name = $1, grant_types = $2, scopes = $3, jwks = $4,
                 disabled = $5, token_version = $6
             WHERE client_id = $7 RETURNING {COLUMNS}"
        ));
        Ok(on_tx!(self, |conn| sqlx::query_as(sql)
            .bind(&values.name)
            .bind(&values.grant_types)
            .bind(&values.scopes)
            .bind(values.jwks.as_deref())
            .bind(values.disabled)
            .bind(values.token_version)
            .bind(client_id)
            .fetch_one(conn)
            .await)?)
    }

    pub async fn delete_client(&mut self, client_id: &str) -> DbResult<bool> {
        let done = on_tx!(self, |conn| sqlx::query(
            "DELETE FROM clients WHERE client_id = $1"
        )
        .bind(client_id)
        .execute(conn)
        .await?
        .rows_affected());
        Ok(done == 1)
    }
}
