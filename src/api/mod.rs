//! The HTTP surface: one `#[OpenApi]` impl per resource, combined into one
//! service whose metadata yields the spec, Swagger UI and the scope table.

pub mod bearer;
pub mod body;
pub mod client_auth;
pub mod clients;
pub mod discovery;
pub mod docs;
pub mod errors;
pub mod events;
mod examples;
pub mod fields;
pub mod introspect;
pub mod items;
pub mod me;
pub mod models;
pub mod reply;
pub mod system;
pub mod token;
pub mod users;

use poem_openapi::{OpenApiService, Tags};

/// The groups of `/docs`, in the order a user meets them.
#[derive(Tags)]
pub enum Tag {
    /// Get, refresh and revoke tokens (RFC 6749, RFC 7009).
    Token,
    /// The caller's own account.
    Me,
    /// The caller's items.
    Items,
    /// Manage users (needs the `admin` scope).
    Users,
    /// Manage registered OAuth2 clients (needs the `admin` scope).
    Clients,
    /// Public keys and metadata for the services that verify tokens.
    Discovery,
    /// Revocation events for the services that verify tokens themselves.
    Events,
    /// Liveness and readiness.
    System,
}

impl Tag {
    /// Every tag, in the order `/docs` shows them (`docs` sorts the spec's
    /// `tags` by it). The `match` makes a new variant a compile error here.
    pub const ORDER: [Tag; 8] = {
        const fn listed(tag: Tag) -> Tag {
            match tag {
                Tag::Token
                | Tag::Me
                | Tag::Items
                | Tag::Users
                | Tag::Clients
                | Tag::Discovery
                | Tag::Events
                | Tag::System => tag,
            }
        }
        [
            listed(Tag::Token),
            listed(Tag::Me),
            listed(Tag::Items),
            listed(Tag::Users),
            listed(Tag::Clients),
            listed(Tag::Discovery),
            listed(Tag::Events),
            listed(Tag::System),
        ]
    };
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
    events::EventsApi,
);

/// The API with its OpenAPI metadata; the same value serves the routes, the
/// spec and Swagger UI.
pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(Api::default(), "tollgate", env!("CARGO_PKG_VERSION"))
        .description(
            "OAuth2 password-flow token server and scoped API. Get a token at `POST /token` \
             (or with the Authorize button), then send it as `Authorization: Bearer <token>`.",
        )
        // Relative: the spec works on whatever host and port serves it.
        .server(poem_openapi::ServerObject::new("/"))
}
