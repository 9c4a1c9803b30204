//! Registered clients as the admin API shows and takes them (no secret
//! hash ever; a secret only once, in the answer that made it).

use poem_openapi::{Enum, Object};
use time::OffsetDateTime;

use super::{Nullable, strict, timestamp};
use crate::{
    auth::{
        clients::{AuthMethod, Client, ClientType, GrantType},
        scopes::{Scope, ScopeSet},
    },
    db::clients::ClientRow,
};

/// `confidential` (holds credentials) or `public` (a browser or native
/// application that cannot keep a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ClientTypeName {
    Confidential,
    Public,
}

/// How the client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AuthMethodName {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

/// A grant type the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GrantTypeName {
    Password,
    RefreshToken,
    ClientCredentials,
}

macro_rules! convert {
    ($api:ident <=> $auth:ident { $($variant:ident),* }) => {
        impl From<$api> for $auth {
            fn from(value: $api) -> Self {
                match value { $($api::$variant => $auth::$variant),* }
            }
        }
        impl From<$auth> for $api {
            fn from(value: $auth) -> Self {
                match value { $($auth::$variant => $api::$variant),* }
            }
        }
    };
}

convert!(ClientTypeName <=> ClientType { Confidential, Public });
convert!(AuthMethodName <=> AuthMethod { ClientSecretBasic, ClientSecretPost, PrivateKeyJwt, None });
convert!(GrantTypeName <=> GrantType { Password, RefreshToken, ClientCredentials });

/// A registered client. Never carries its secret or the secret's hash.
#[derive(Debug, Object)]
#[oai(rename = "Client")]
pub struct ClientModel {
    /// 3 to 64 of `A-Z a-z 0-9 . _ -`, not all digits.
    pub client_id: String,
    pub name: String,
    #[oai(rename = "type")]
    pub client_type: ClientTypeName,
    pub token_endpoint_auth_method: AuthMethodName,
    pub grant_types: Vec<GrantTypeName>,
    /// The most any token obtained through this client carries.
    pub scopes: Vec<Scope>,
    /// The public keys of `private_key_jwt` (RFC 7517 JWK Set).
    #[oai(nullable)]
    pub jwks: Nullable<serde_json::Value>,
    /// A disabled client cannot authenticate; its sessions were ended.
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl From<ClientRow> for ClientModel {
    fn from(row: ClientRow) -> Self {
        let created_at = timestamp(row.created_at);
        let name = row.name.clone();
        let jwks = row
            .jwks
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok());
        let client = Client::from_row(row);
        Self {
            client_id: client.client_id,
            name,
            client_type: client.client_type.into(),
            token_endpoint_auth_method: client.method.into(),
            grant_types: client.grants.into_iter().map(Into::into).collect(),
            scopes: client.scopes.iter().collect(),
            jwks: Nullable(jwks),
            disabled: client.disabled,
            created_at,
        }
    }
}

/// A client just registered, with its secret: shown this once.
#[derive(Debug, Object)]
pub struct RegisteredClient {
    #[oai(flatten)]
    pub client: ClientModel,
    /// For the secret methods: keep it now, it is stored only as a hash.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

/// A new secret (the old one no longer works).
#[derive(Debug, Object)]
pub struct ClientSecret {
    pub client_id: String,
    pub client_secret: String,
}

/// A page of clients.
#[derive(Debug, Object)]
pub struct ClientPage {
    pub data: Vec<ClientModel>,
    /// Pass as `?cursor=` for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Nullable<String>,
}

/// A client to register. `type` defaults to `public` with method `none`,
/// else `confidential`; `token_endpoint_auth_method` to
/// `client_secret_basic` for a confidential client, `none` for a public one.
// No doc comments on the enum fields: poem-openapi would wrap their `$ref`
// in an `allOf`, which generators reject for enums.
#[derive(Debug, Object)]
pub struct NewClientBody {
    /// 3 to 64 of `A-Z a-z 0-9 . _ -`, not all digits.
    #[oai(
        deserialize_with = "strict::text",
        validator(pattern = r"^[A-Za-z0-9._-]{3,64}$")
    )]
    pub client_id: String,
    #[oai(deserialize_with = "strict::text", validator(max_length = 128))]
    pub name: Option<String>,
    #[oai(rename = "type", deserialize_with = "strict::not_null")]
    pub client_type: Option<ClientTypeName>,
    #[oai(deserialize_with = "strict::not_null")]
    pub token_endpoint_auth_method: Option<AuthMethodName>,
    #[oai(deserialize_with = "strict::not_null", validator(min_items = 1))]
    pub grant_types: Vec<GrantTypeName>,
    /// None when absent.
    #[oai(deserialize_with = "strict::not_null")]
    pub scopes: Option<Vec<Scope>>,
    /// For `private_key_jwt`: an RFC 7517 JWK Set of public keys.
    #[oai(deserialize_with = "strict::not_null")]
    pub jwks: Option<serde_json::Value>,
}

/// Absent fields are left as they are.
#[derive(Debug, Object)]
pub struct ClientUpdate {
    #[oai(deserialize_with = "strict::text", validator(max_length = 128))]
    pub name: Option<String>,
    #[oai(deserialize_with = "strict::not_null", validator(min_items = 1))]
    pub grant_types: Option<Vec<GrantTypeName>>,
    #[oai(deserialize_with = "strict::not_null")]
    pub scopes: Option<Vec<Scope>>,
    /// `true` ends every session obtained through the client.
    #[oai(deserialize_with = "strict::not_null")]
    pub disabled: Option<bool>,
    /// For `private_key_jwt` clients: replaces the registered keys.
    #[oai(deserialize_with = "strict::not_null")]
    pub jwks: Option<serde_json::Value>,
}

/// Scopes from a body as a set.
pub fn scopes(scopes: &[Scope]) -> ScopeSet {
    scopes.iter().copied().collect()
}
