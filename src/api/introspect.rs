//! `POST /token/introspect` (RFC 7662), for resource servers that must know
//! whether a token is still live, revocations included.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Form, payload::Json};
use serde::Deserialize;

use crate::{
    api::Tag,
    api::bearer::Auth,
    api::errors::{Errors, SCOPED, WITH_BODY},
    auth::{grants, scopes::Scope},
    error::ApiError,
    state::AppState,
    validate::MAX_FORM_FIELD_BYTES,
};

/// The form of `POST /token/introspect` (RFC 7662 §2.1).
#[derive(Debug, Default, Object, Deserialize)]
pub struct IntrospectionRequest {
    /// An access or refresh token.
    #[oai(write_only, validator(min_length = 1))]
    #[serde(default)]
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only.
    pub token_type_hint: Option<String>,
}

/// RFC 7662 §2.2. A token that is not live answers `{"active": false}` and
/// nothing else.
#[derive(Debug, Default, Object)]
pub struct Introspection {
    pub active: bool,
    /// Space-delimited scopes.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    /// `Bearer` (an access token) or `refresh_token`.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<i64>,
    /// The user id, as a string.
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<String>,
}

#[derive(Debug, poem_openapi::ApiResponse)]
pub enum IntrospectResponse {
    /// The token's claims when it is live, else `{"active": false}`.
    #[oai(status = 200)]
    Ok(Json<Introspection>),
}

#[derive(Default)]
pub struct IntrospectApi;

#[OpenApi(tag = "Tag::Token")]
impl IntrospectApi {
    /// Introspect a token
    ///
    /// RFC 7662, for resource servers: the caller presents its own access
    /// token with the `introspect` scope. A live access or refresh token
    /// answers its claims; a revoked, expired, spent, malformed or foreign
    /// one answers `{"active": false}`.
    #[oai(
        path = "/token/introspect",
        method = "post",
        operation_id = "introspect_token"
    )]
    async fn introspect(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Introspect")] _auth: Auth,
        form: Form<IntrospectionRequest>,
    ) -> Result<IntrospectResponse, Errors<{ SCOPED | WITH_BODY }>> {
        let token = form.0.token;
        if token.is_empty() || token.len() > MAX_FORM_FIELD_BYTES {
            return Err(ApiError::invalid_body_field(
                "token",
                format!("is required, at most {MAX_FORM_FIELD_BYTES} bytes"),
            )
            .into());
        }
        let found = grants::introspect(&state.auth, &token).await?;
        let keys = &state.auth.keys;
        Ok(IntrospectResponse::Ok(Json(match found {
            Some(live) => Introspection {
                active: true,
                scope: Some(live.scope),
                client_id: Some(live.client_id),
                username: Some(live.username),
                token_type: Some(live.token_type.to_owned()),
                exp: Some(live.exp),
                iat: Some(live.iat),
                sub: Some(live.sub),
                aud: Some(keys.audience().to_owned()),
                iss: Some(keys.issuer().to_owned()),
                jti: live.jti,
            },
            None => Introspection::default(),
        })))
    }
}
