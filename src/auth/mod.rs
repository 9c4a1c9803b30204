//! Authentication and authorization: passwords, access tokens, scopes, the
//! grants of the token endpoint, login throttling and the rules of user
//! accounts. Independent of HTTP: the bearer check that reads requests is
//! `crate::api::bearer`.

pub mod clients;
pub mod events;
pub mod grants;
pub mod hashes;
pub mod jwt;
pub mod kek;
pub mod keys;
pub mod keystore;
pub mod password;
pub mod scopes;
pub mod throttle;
pub mod users;

pub use tollgate_resource::jwks;

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::Store;
use throttle::ThrottleConfig;

/// What the auth rules need, and nothing of the HTTP server: the store, the
/// signing keys, the hasher and the policy settings.
pub struct AuthContext {
    pub store: Store,
    pub keys: keystore::LiveKeys,
    pub hasher: password::Hasher,
    pub policy: Policy,
}

/// The caller behind a valid access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    /// The scopes granted to this token.
    pub scopes: scopes::ScopeSet,
    /// The token family (login) the token descends from.
    pub family_id: i64,
    /// The user's row as the bearer check read it.
    pub user: crate::db::users::UserRow,
}

/// A registered client calling with its own token (`client_credentials`).
#[derive(Debug, Clone)]
pub struct ClientCaller {
    pub client_id: String,
    /// The scopes granted to this token.
    pub scopes: scopes::ScopeSet,
}

/// Whoever a valid access token speaks for: a user (through a session), or
/// a client for itself.
#[derive(Debug, Clone)]
pub enum Principal {
    User(Caller),
    Client(ClientCaller),
}

impl Principal {
    /// The scopes granted to the token.
    pub fn scopes(&self) -> scopes::ScopeSet {
        match self {
            Principal::User(user) => user.scopes,
            Principal::Client(client) => client.scopes,
        }
    }

    /// Who acted, for the security log: `user:<id>` or `client:<client_id>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::User(user) => format!("user:{}", user.user_id),
            Principal::Client(client) => format!("client:{}", client.client_id),
        }
    }
}

/// Shared by every request (the bearer checker reads it from the request's
/// [`AppState`](crate::state::AppState)).
pub type Authority = Arc<AuthContext>;

/// The settings the rules follow.
#[derive(Debug, Clone)]
pub struct Policy {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub throttle: ThrottleConfig,
    /// Whether the built-in public client `tollgate` serves requests that
    /// name no client (`TOLLGATE_PUBLIC_CLIENT`).
    pub public_client: bool,
}

/// `bytes` bytes from the operating system's CSPRNG, URL-safe base64 encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256: how refresh tokens are stored and looked up.
pub fn sha256_hex(value: &str) -> String {
    format!("{:x}", Sha256::digest(value.as_bytes()))
}
