//! The HTTP surface: one `#[OpenApi]` impl per resource, combined into one
//! service whose metadata yields the spec, Swagger UI and the scope table.

pub mod bearer;
pub mod body;
pub mod client_auth;
pub mod clients;
pub mod discovery;
pub mod introspect;
pub mod items;
pub mod me;
pub mod models;
pub mod reply;
pub mod system;
pub mod token;
pub mod users;

use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub enum Tag {
    /// Get, refresh and revoke tokens (RFC 6749, RFC 7009).
    Token,
    /// The caller's own account.
    Me,
    /// Manage users (needs the `admin` scope).
    Users,
    /// Manage registered OAuth2 clients (needs the `admin` scope).
    Clients,
    /// The caller's items.
    Items,
    /// Liveness and readiness.
    System,
    /// Public keys and metadata for the services that verify tokens.
    Discovery,
}

/// Every resource's `#[OpenApi]` impl: the one list to extend with a new one.
pub type Api = (
    token::TokenApi,
    introspect::IntrospectApi,
    me::MeApi,
    users::UsersApi,
    clients::ClientsApi,
    items::ItemsApi,
    system::SystemApi,
    discovery::DiscoveryApi,
);

/// The API with its OpenAPI metadata; the same value serves the routes, the
/// spec and Swagger UI.
pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(Api::default(), "tollgate", env!("CARGO_PKG_VERSION")).description(
        "OAuth2 password-flow token server and scoped API. Get a token at `POST /token` \
         (or with the Authorize button), then send it as `Authorization: Bearer <token>`.",
    )
}
