//! Registered OAuth2 clients (RFC 6749 §2): what a client may be, its
//! registration, secret rotation, changes and deletion. How a request
//! authenticates as one is `authenticate`; the `private_key_jwt` assertion
//! is `assertion`.

mod assertion;
mod authenticate;
mod registry;

pub use authenticate::{ClientAuthError, Presented, authenticate};
pub use registry::{
    ClientChange, ClientError, ClientSpec, change, delete, register, rotate_secret,
};

use std::fmt;

use crate::{auth::scopes::ScopeSet, db::clients::ClientRow};

/// The built-in public client: password and refresh grants, every scope,
/// for requests that name no client (unless `TOLLGATE_PUBLIC_CLIENT=off`).
pub const BUILTIN_CLIENT_ID: &str = "tollgate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Confidential,
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    Password,
    RefreshToken,
    ClientCredentials,
}

macro_rules! names {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            pub fn parse(value: &str) -> Option<Self> {
                match value { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(ClientType {
    Confidential = "confidential",
    Public = "public"
});
names!(AuthMethod {
    ClientSecretBasic = "client_secret_basic",
    ClientSecretPost = "client_secret_post",
    PrivateKeyJwt = "private_key_jwt",
    None = "none",
});
names!(GrantType {
    Password = "password",
    RefreshToken = "refresh_token",
    ClientCredentials = "client_credentials",
});

impl AuthMethod {
    /// Whether the client authenticates with a generated secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// A client as the token endpoint sees it.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_type: ClientType,
    pub method: AuthMethod,
    pub grants: Vec<GrantType>,
    /// The most any token obtained through this client carries.
    pub scopes: ScopeSet,
    pub disabled: bool,
    pub token_version: i64,
    jwks: Option<String>,
    secret_hash: Option<String>,
}

impl Client {
    /// The built-in public client `tollgate`.
    pub fn builtin() -> Self {
        Self {
            client_id: BUILTIN_CLIENT_ID.to_owned(),
            client_type: ClientType::Public,
            method: AuthMethod::None,
            grants: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: ScopeSet::all(),
            disabled: false,
            token_version: 0,
            jwks: None,
            secret_hash: None,
        }
    }

    /// Reads a stored row; values outside the known names (written by hand)
    /// are dropped, so they grant nothing.
    pub fn from_row(row: ClientRow) -> Self {
        Self {
            client_type: ClientType::parse(&row.client_type).unwrap_or(ClientType::Public),
            method: AuthMethod::parse(&row.auth_method).unwrap_or(AuthMethod::None),
            grants: parse_grants(&row.grant_types).unwrap_or_default(),
            scopes: ScopeSet::parse_lenient(&row.scopes),
            disabled: row.disabled,
            token_version: row.token_version,
            jwks: row.jwks,
            secret_hash: row.secret_hash,
            client_id: row.client_id,
        }
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }
}

/// Space-delimited grant type names; `Err` names the first unknown one.
pub fn parse_grants(value: &str) -> Result<Vec<GrantType>, String> {
    let mut grants = Vec::new();
    for name in value.split_ascii_whitespace() {
        let grant = GrantType::parse(name).ok_or_else(|| {
            format!(
                "unknown grant type `{name}`: use password, refresh_token or client_credentials"
            )
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

pub(crate) fn grant_names(grants: &[GrantType]) -> String {
    // Canonical order, whatever order they were given in.
    GrantType::ALL
        .iter()
        .filter(|grant| grants.contains(grant))
        .map(|grant| grant.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
