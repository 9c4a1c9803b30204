//! What other services read to verify tollgate's tokens: the JWKS (RFC 7517)
//! and the authorization server metadata (RFC 8414).

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, payload::Json};

use crate::{
    api::Tag,
    auth::{
        jwks::{AuthorizationServerMetadata, Jwks, jwks_cache_control},
        scopes::ScopeSet,
    },
    state::AppState,
};

#[derive(Debug, ApiResponse)]
pub enum JwksResponse {
    /// Every public key that may still verify a live token (none under HS256).
    #[oai(status = 200)]
    Ok(Json<Jwks>, #[oai(header = "Cache-Control")] String),
}

#[derive(Debug, ApiResponse)]
pub enum MetadataResponse {
    /// The issuer, its endpoints, scopes and signing algorithm.
    #[oai(status = 200)]
    Ok(
        Json<AuthorizationServerMetadata>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(Default)]
pub struct DiscoveryApi;

#[OpenApi(tag = "Tag::Discovery")]
impl DiscoveryApi {
    /// Public signing keys (JWKS)
    ///
    /// RFC 7517. A new key is published here `TOLLGATE_JWKS_MAX_AGE` before
    /// it signs, and a retired one stays until every token it signed has
    /// expired, so a verifier that honours `Cache-Control` always holds the
    /// key of any live token.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "get_jwks"
    )]
    async fn jwks(&self, state: Data<&AppState>) -> JwksResponse {
        let keys = state.auth.keys.current().ring().jwks();
        let max_age = jwks_cache_control(state.config.jwks_max_age);
        JwksResponse::Ok(Json(keys), max_age)
    }

    /// Authorization server metadata
    ///
    /// RFC 8414: the issuer (equal to every token's `iss`), the token,
    /// revocation and introspection endpoints, the JWKS, and the scopes.
    #[oai(
        path = "/.well-known/oauth-authorization-server",
        method = "get",
        operation_id = "get_authorization_server_metadata"
    )]
    async fn metadata(&self, state: Data<&AppState>) -> MetadataResponse {
        let keys = &state.auth.keys;
        let names = ScopeSet::all().names();
        let scopes: Vec<&str> = names.iter().map(String::as_str).collect();
        let metadata = AuthorizationServerMetadata::new(keys.issuer(), keys.alg(), &scopes);
        let max_age = jwks_cache_control(state.config.jwks_max_age);
        MetadataResponse::Ok(Json(metadata), max_age)
    }
}
