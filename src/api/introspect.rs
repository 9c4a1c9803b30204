//! `POST /token/introspect` (RFC 7662), for resource servers that must know
//! whether a token is still live, revocations included.

use poem::{Request, web::Data, web::RemoteAddr};
use poem_openapi::{Object, OpenApi, SecurityScheme, payload::Form, payload::Json};
use serde::Deserialize;

use crate::{
    api::{
        Tag,
        bearer::Auth,
        client_auth,
        errors::{Errors, SCOPED, TOO_MANY_REQUESTS, WITH_BODY},
    },
    auth::{grants, scopes::Scope},
    error::ApiError,
    state::AppState,
    validate::MAX_FORM_FIELD_BYTES,
};

/// A resource server's bearer token, or else its client credentials (HTTP
/// Basic or in the form), read by the handler.
#[derive(SecurityScheme)]
pub enum IntrospectAuth {
    Bearer(Auth),
    #[oai(fallback)]
    Client,
}

crate::client_fields!(IntrospectionRequest);

/// The form of `POST /token/introspect` (RFC 7662 §2.1).
#[derive(Debug, Default, Object, Deserialize)]
pub struct IntrospectionRequest {
    /// An access or refresh token.
    #[oai(write_only, validator(min_length = 1))]
    #[serde(default)]
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only.
    pub token_type_hint: Option<String>,
    /// A confidential client authenticating in the form, as at `POST /token`.
    pub client_id: Option<String>,
    #[oai(write_only)]
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    #[oai(write_only)]
    pub client_assertion: Option<String>,
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
    /// token with the `introspect` scope, or authenticates as a registered
    /// confidential client whose scopes include `introspect` (HTTP Basic,
    /// `client_secret` or `private_key_jwt`, as at `POST /token`). A live
    /// access or refresh token answers its claims; a revoked, expired,
    /// spent, malformed or foreign one answers `{"active": false}`.
    #[oai(
        path = "/token/introspect",
        method = "post",
        operation_id = "introspect_token"
    )]
    async fn introspect(
        &self,
        state: Data<&AppState>,
        req: &Request,
        remote: &RemoteAddr,
        #[oai(scope = "Scope::Introspect")] auth: IntrospectAuth,
        form: Form<IntrospectionRequest>,
    ) -> Result<IntrospectResponse, Errors<{ SCOPED | WITH_BODY | TOO_MANY_REQUESTS }>> {
        if let IntrospectAuth::Client = auth {
            let addr = remote.as_socket_addr().map(|addr| addr.ip());
            caller_client(&state, req, addr, &form.0).await?;
        }
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
                username: live.username,
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

/// The caller of an introspection request that carried no usable bearer
/// token: a confidential client whose scopes include `introspect`.
async fn caller_client(
    state: &AppState,
    req: &Request,
    addr: Option<std::net::IpAddr>,
    form: &IntrospectionRequest,
) -> Result<(), ApiError> {
    let fields = form.client_fields().map_err(ApiError::invalid_request)?;
    client_auth::bearer_or_client(state, req, addr, fields, Scope::Introspect)
        .await
        .map(drop)
}
