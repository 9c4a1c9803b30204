//! The answers of `POST /token` and `POST /token/revoke` (RFC 6749 §5,
//! RFC 7009 §2.2).

use poem_openapi::{ApiResponse, Object, payload::Json};

use super::forms::describe_form_error;
use crate::{
    api::client_auth::{basic_challenge, invalid_client_body},
    auth::{
        clients::ClientAuthError,
        grants::{GrantError, Issued},
    },
    error::{ApiError, ErrorBody},
};

const NO_STORE: &str = "no-store";
const NO_CACHE: &str = "no-cache";

/// RFC 6749 §5.1.
#[derive(Debug, Object)]
pub struct TokenBody {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: a refresh returns a new one and spends this one. Valid
    /// until a fixed time after the login; rotation does not extend it.
    /// Absent for `client_credentials`.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// The granted scopes, space-delimited.
    pub scope: String,
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "token_bad_request")]
pub enum TokenResponse {
    /// Tokens issued.
    #[oai(status = 200)]
    Ok(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_request`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    #[oai(status = 400)]
    BadRequest(
        Json<ErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_client`: unknown client, wrong or missing client credentials,
    /// or a disabled client; with a Basic challenge when Basic was tried.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// The request body is over 64 KiB (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Too many failed logins for this username, or failed client
    /// authentications for this client, from this address
    /// (`too_many_requests`); retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(
        Json<ErrorBody>,
        #[oai(header = "Retry-After")] u64,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// A fault on the server's side (`internal_error`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is busy or unreachable (`unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

impl TokenResponse {
    pub fn error(code: &str, description: impl Into<String>) -> Self {
        Self::BadRequest(
            ErrorBody::new(code, description),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }

    pub fn issued(issued: Issued) -> Self {
        Self::Ok(
            Json(TokenBody {
                access_token: issued.access_token,
                token_type: "bearer".into(),
                expires_in: issued.expires_in,
                refresh_token: issued.refresh_token,
                scope: issued.scope.to_string(),
            }),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }

    fn too_many(description: &str, retry_after: u64) -> Self {
        Self::TooManyRequests(
            ErrorBody::new("too_many_requests", description),
            retry_after.max(1),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }

    /// A failed client authentication; `basic` when HTTP Basic was tried.
    pub fn client_failed(err: ClientAuthError, basic: bool) -> Self {
        match err {
            ClientAuthError::Invalid => Self::Unauthorized(
                invalid_client_body(),
                basic.then(basic_challenge),
                NO_STORE.into(),
                NO_CACHE.into(),
            ),
            ClientAuthError::TooManyAttempts { retry_after } => Self::too_many(
                "too many failed client authentications; wait before trying again",
                retry_after,
            ),
            ClientAuthError::Db(err) => ApiError::from(err).into(),
        }
    }
}

impl From<GrantError> for TokenResponse {
    fn from(err: GrantError) -> Self {
        match err {
            GrantError::InvalidRequest(description) => Self::error("invalid_request", description),
            GrantError::InvalidGrant | GrantError::Reused => Self::error(
                "invalid_grant",
                "the username, password or refresh token is not valid",
            ),
            GrantError::InvalidScope(description) => Self::error("invalid_scope", description),
            GrantError::UnsupportedGrantType => Self::error(
                "unsupported_grant_type",
                "grant_type must be `password`, `refresh_token` or `client_credentials`",
            ),
            GrantError::UnauthorizedClient => Self::error(
                "unauthorized_client",
                "this client may not use this grant type",
            ),
            GrantError::TooManyAttempts { retry_after } => Self::too_many(
                "too many failed logins; wait before trying again",
                retry_after,
            ),
            GrantError::Db(err) => ApiError::from(err).into(),
            GrantError::Hash(err) => ApiError::from(err).into(),
            GrantError::Signing => ApiError::internal().into(),
        }
    }
}

impl From<ApiError> for TokenResponse {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unavailable(body, retry_after) => Self::Unavailable(body, retry_after),
            ApiError::PayloadTooLarge(body) => Self::PayloadTooLarge(body),
            ApiError::BadRequest(body) => Self::BadRequest(body, NO_STORE.into(), NO_CACHE.into()),
            _ => Self::Internal(ApiError::internal_body()),
        }
    }
}

/// Form parse failures (not a form, a repeated field) in the RFC 6749 shape.
fn token_bad_request(err: poem::Error) -> TokenResponse {
    TokenResponse::error("invalid_request", describe_form_error(&err))
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "revoke_bad_request")]
pub enum RevokeResponse {
    /// Revoked, or there was nothing to revoke (RFC 7009 §2.2).
    #[oai(status = 200)]
    Ok,
    /// `invalid_request`: no `token`, not a form body, or two client
    /// authentication methods.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `invalid_client`: client credentials were sent and are not valid.
    #[oai(status = 401)]
    Unauthorized(
        Json<ErrorBody>,
        #[oai(header = "WWW-Authenticate")] Option<String>,
    ),
    /// The request body is over 64 KiB (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Too many failed client authentications (`too_many_requests`).
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A fault on the server's side (`internal_error`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is busy or unreachable (`unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

impl RevokeResponse {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::BadRequest(ErrorBody::new("invalid_request", description))
    }

    pub fn client_failed(err: ClientAuthError, basic: bool) -> Self {
        match err {
            ClientAuthError::Invalid => {
                Self::Unauthorized(invalid_client_body(), basic.then(basic_challenge))
            }
            ClientAuthError::TooManyAttempts { retry_after } => Self::TooManyRequests(
                ErrorBody::new(
                    "too_many_requests",
                    "too many failed client authentications; wait before trying again",
                ),
                retry_after.max(1),
            ),
            ClientAuthError::Db(err) => ApiError::from(err).into(),
        }
    }
}

impl From<ApiError> for RevokeResponse {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unavailable(body, retry) => Self::Unavailable(body, retry),
            _ => Self::Internal(ApiError::internal_body()),
        }
    }
}

fn revoke_bad_request(err: poem::Error) -> RevokeResponse {
    RevokeResponse::invalid_request(describe_form_error(&err))
}
