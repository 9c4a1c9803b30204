//! Registering, changing and deleting clients, and their secrets.

use secrecy::SecretString;

use super::{AuthMethod, BUILTIN_CLIENT_ID, Client, ClientType, GrantType, assertion, grant_names};
use crate::{
    auth::{random_token, scopes::ScopeSet, sha256_hex},
    db::{
        self, DbError, Store,
        clients::{ClientRow, ClientValues, NewClient},
        events::{Ending, Reason},
    },
    validate,
};

/// Generated secrets carry 256 bits from the OS CSPRNG.
const SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A value breaks the rules; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("a client with that client_id exists")]
    Taken,
    #[error("no such client")]
    NotFound,
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for ClientError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Conflict => ClientError::Taken,
            other => ClientError::Db(other),
        }
    }
}

/// A client to register. `client_type` and `method` default from each
/// other: confidential with `client_secret_basic`, public with `none`.
pub struct ClientSpec<'a> {
    pub client_id: &'a str,
    pub name: Option<&'a str>,
    pub client_type: Option<ClientType>,
    pub method: Option<AuthMethod>,
    pub grants: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub jwks: Option<String>,
}

/// Registers a client; the secret, for the secret methods, is returned
/// once and stored only as its SHA-256.
pub async fn register(
    store: &Store,
    spec: ClientSpec<'_>,
) -> Result<(ClientRow, Option<SecretString>), ClientError> {
    validate::client_id(spec.client_id).map_err(ClientError::Invalid)?;
    if spec.client_id == BUILTIN_CLIENT_ID {
        return Err(ClientError::Invalid(format!(
            "client_id `{BUILTIN_CLIENT_ID}` is the built-in public client's"
        )));
    }
    let name = spec.name.unwrap_or("");
    check_name(name)?;
    let (client_type, method) = match (spec.client_type, spec.method) {
        (None, None) => (ClientType::Confidential, AuthMethod::ClientSecretBasic),
        (Some(ClientType::Public), None) | (None, Some(AuthMethod::None)) => {
            (ClientType::Public, AuthMethod::None)
        }
        (Some(ClientType::Confidential), None) => {
            (ClientType::Confidential, AuthMethod::ClientSecretBasic)
        }
        (None, Some(method)) => (ClientType::Confidential, method),
        (Some(client_type), Some(method)) => (client_type, method),
    };
    if (client_type == ClientType::Public) != (method == AuthMethod::None) {
        return Err(ClientError::Invalid(
            "a public client uses token_endpoint_auth_method `none`, and only a public one does"
                .into(),
        ));
    }
    check_grants(client_type, &spec.grants)?;
    let jwks = match (method, spec.jwks) {
        (AuthMethod::PrivateKeyJwt, Some(jwks)) => Some(assertion::check_jwks(&jwks)?),
        (AuthMethod::PrivateKeyJwt, None) => {
            return Err(ClientError::Invalid(
                "private_key_jwt needs the client's public keys in `jwks`".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(ClientError::Invalid(
                "`jwks` is for token_endpoint_auth_method private_key_jwt only".into(),
            ));
        }
        (_, None) => None,
    };
    let secret = method
        .uses_secret()
        .then(|| SecretString::from(random_token(SECRET_BYTES)));
    let secret_hash = secret.as_ref().map(hash_secret);
    let new = NewClient {
        client_id: spec.client_id,
        name,
        client_type: client_type.as_str(),
        auth_method: method.as_str(),
        grant_types: &grant_names(&spec.grants),
        scopes: &spec.scopes.to_string(),
        jwks: jwks.as_deref(),
        secret_hash: secret_hash.as_deref(),
        // Positive and far from any earlier registration's versions.
        token_version: i64::from(rand::random::<u32>()) << 20,
    };
    let row = store.clients().create(&new, db::now()).await?;
    tracing::info!(event = "client_registered", client_id = %row.client_id, "client registered");
    Ok((row, secret))
}

/// Gives a secret-method client a new secret; the old one stops working at
/// once, and so do the client's own tokens.
pub async fn rotate_secret(store: &Store, client_id: &str) -> Result<SecretString, ClientError> {
    let row = store
        .clients()
        .get(client_id)
        .await?
        .ok_or(ClientError::NotFound)?;
    let method = AuthMethod::parse(&row.auth_method);
    if !method.is_some_and(AuthMethod::uses_secret) {
        return Err(ClientError::Invalid(format!(
            "client `{client_id}` authenticates with {}, not a secret",
            row.auth_method
        )));
    }
    let secret = SecretString::from(random_token(SECRET_BYTES));
    store
        .clients()
        .set_secret(client_id, &hash_secret(&secret))
        .await?
        .ok_or(ClientError::NotFound)?;
    tracing::info!(
        event = "client_secret_rotated",
        client_id,
        "client secret rotated"
    );
    Ok(secret)
}

/// A change to a client; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClientChange {
    pub name: Option<String>,
    pub grants: Option<Vec<GrantType>>,
    pub scopes: Option<ScopeSet>,
    pub disabled: Option<bool>,
    pub jwks: Option<String>,
}

/// Applies `change`. Disabling a client ends the sessions obtained through
/// it; disabling it or changing its scopes voids its own tokens.
pub async fn change(
    store: &Store,
    client_id: &str,
    change: ClientChange,
) -> Result<ClientRow, ClientError> {
    let mut tx = store.begin_write(&["tollgate:clients"]).await?;
    let row = tx
        .client_for_update(client_id)
        .await?
        .ok_or(ClientError::NotFound)?;
    let current = Client::from_row(row.clone());
    if let Some(name) = &change.name {
        check_name(name)?;
    }
    if let Some(grants) = &change.grants {
        check_grants(current.client_type, grants)?;
    }
    let jwks = match change.jwks {
        Some(jwks) if current.method == AuthMethod::PrivateKeyJwt => {
            Some(assertion::check_jwks(&jwks)?)
        }
        Some(_) => {
            return Err(ClientError::Invalid(
                "`jwks` is for token_endpoint_auth_method private_key_jwt only".into(),
            ));
        }
        None => row.jwks.clone(),
    };
    let scopes = change.scopes.unwrap_or(current.scopes);
    let disabled = change.disabled.unwrap_or(row.disabled);
    let voids = scopes != current.scopes || (disabled && !row.disabled);
    let values = ClientValues {
        name: change.name.unwrap_or(row.name),
        grant_types: grant_names(change.grants.as_deref().unwrap_or(&current.grants)),
        scopes: scopes.to_string(),
        jwks,
        disabled,
        token_version: row.token_version + i64::from(voids),
    };
    let updated = tx.write_client(client_id, &values).await?;
    if disabled && !row.disabled {
        let ended = tx
            .end_sessions(Ending::Client(client_id), Reason::ClientDisabled, db::now())
            .await?;
        tracing::info!(
            event = "client_disabled",
            client_id,
            ended,
            "client disabled"
        );
    }
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a client and ends every session obtained through it, in one
/// transaction.
pub async fn delete(store: &Store, client_id: &str) -> Result<(), ClientError> {
    let mut tx = store.begin_write(&["tollgate:clients"]).await?;
    if !tx.delete_client(client_id).await? {
        return Err(ClientError::NotFound);
    }
    let ended = tx
        .end_sessions(Ending::Client(client_id), Reason::ClientDeleted, db::now())
        .await?;
    tx.commit().await?;
    tracing::info!(event = "client_deleted", client_id, ended, "client deleted");
    Ok(())
}

/// SHA-256 suffices for a generated 256-bit secret: no dictionary to try,
/// and a guess costs 2^255 tries on average (docs/decisions.md).
fn hash_secret(secret: &SecretString) -> String {
    use secrecy::ExposeSecret;
    sha256_hex(secret.expose_secret())
}

fn check_name(name: &str) -> Result<(), ClientError> {
    if name.chars().count() > 128 || name.chars().any(validate::is_unprintable) {
        return Err(ClientError::Invalid(
            "name must be at most 128 characters, without control or format characters".into(),
        ));
    }
    Ok(())
}

fn check_grants(client_type: ClientType, grants: &[GrantType]) -> Result<(), ClientError> {
    if grants.is_empty() {
        return Err(ClientError::Invalid(
            "grant_types must name at least one of password, refresh_token, client_credentials"
                .into(),
        ));
    }
    if client_type == ClientType::Public && grants.contains(&GrantType::ClientCredentials) {
        return Err(ClientError::Invalid(
            "a public client cannot use client_credentials: it has no credentials".into(),
        ));
    }
    Ok(())
}
