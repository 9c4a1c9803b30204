//! `POST /token` and `POST /token/revoke`.

use poem::web::RemoteAddr;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Form, payload::Json};
use serde::Deserialize;

use crate::{
    api::Tag,
    auth::grants::{self, GrantError, Issued, PasswordLogin},
    error::{ApiError, ErrorBody},
    metrics::{Login, Refresh},
    state::AppState,
    validate::MAX_FORM_FIELD_BYTES,
};

const NO_STORE: &str = "no-store";
const NO_CACHE: &str = "no-cache";

/// The form of `POST /token`. A field sent empty counts as omitted; unknown
/// fields are ignored; a repeated field is refused.
#[derive(Debug, Default, Object, Deserialize)]
pub struct TokenRequest {
    /// `password` (the default when omitted) or `refresh_token`.
    pub grant_type: Option<String>,
    /// For the password grant.
    pub username: Option<String>,
    /// For the password grant.
    #[oai(write_only)]
    pub password: Option<String>,
    /// Space-delimited scopes; omitted means all the user holds (password
    /// grant) or all of the original grant (refresh grant).
    pub scope: Option<String>,
    /// For the refresh grant: the `refresh_token` of an earlier response. This
    /// request spends it; presenting it again revokes its whole login.
    #[oai(write_only)]
    pub refresh_token: Option<String>,
    /// Accepted and ignored, except that it is echoed in the `client_id` claim.
    pub client_id: Option<String>,
    /// Accepted and ignored.
    #[oai(write_only)]
    pub client_secret: Option<String>,
}

/// The form of `POST /token/revoke` (RFC 7009 §2.1).
#[derive(Debug, Default, Object, Deserialize)]
pub struct RevokeRequest {
    /// An access or refresh token (required, RFC 7009 §2.1).
    #[oai(write_only, validator(min_length = 1))]
    #[serde(default)]
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only.
    pub token_type_hint: Option<String>,
    /// Accepted and ignored.
    pub client_id: Option<String>,
    /// Accepted and ignored.
    #[oai(write_only)]
    pub client_secret: Option<String>,
}

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
    pub refresh_token: String,
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
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type` or `invalid_scope`.
    #[oai(status = 400)]
    BadRequest(
        Json<ErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// The request body is over 64 KiB (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Too many failed logins for this username or from this address
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
    fn error(code: &str, description: impl Into<String>) -> Self {
        Self::BadRequest(
            ErrorBody::new(code, description),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }

    fn issued(issued: Issued) -> Self {
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
                "grant_type must be `password` or `refresh_token`",
            ),
            GrantError::TooManyAttempts { retry_after } => Self::TooManyRequests(
                ErrorBody::new(
                    "too_many_requests",
                    "too many failed logins; wait before trying again",
                ),
                retry_after.max(1),
                NO_STORE.into(),
                NO_CACHE.into(),
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

fn describe_form_error(err: &poem::Error) -> String {
    let message = err.to_string();
    if let Some(start) = message.find("duplicate field `") {
        let name = message[start + 17..].split('`').next().unwrap_or("");
        return format!("the parameter `{name}` was sent more than once");
    }
    if err.is::<poem_openapi::error::ContentTypeError>() {
        return "the body must be application/x-www-form-urlencoded".into();
    }
    "the body is not a valid application/x-www-form-urlencoded form".into()
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "revoke_bad_request")]
pub enum RevokeResponse {
    /// Revoked, or there was nothing to revoke (RFC 7009 §2.2).
    #[oai(status = 200)]
    Ok,
    /// `invalid_request`: no `token`, or not a form body.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The request body is over 64 KiB (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A fault on the server's side (`internal_error`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is busy or unreachable (`unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

fn revoke_bad_request(err: poem::Error) -> RevokeResponse {
    RevokeResponse::BadRequest(ErrorBody::new("invalid_request", describe_form_error(&err)))
}

/// A form value, with empty counting as omitted (RFC 6749 §3.2).
fn field<'a>(value: &'a Option<String>, name: &str) -> Result<Option<&'a str>, String> {
    match value.as_deref() {
        Some(v) if v.len() > MAX_FORM_FIELD_BYTES => Err(format!(
            "the parameter `{name}` is longer than {MAX_FORM_FIELD_BYTES} bytes"
        )),
        Some("") | None => Ok(None),
        Some(v) => Ok(Some(v)),
    }
}

#[derive(Default)]
pub struct TokenApi;

#[OpenApi(tag = "Tag::Token")]
impl TokenApi {
    /// Get tokens
    ///
    /// The password grant (RFC 6749 §4.3; `grant_type` may be omitted) or the
    /// refresh grant (§6), as a form. Client credentials, in the form or as
    /// HTTP Basic, are accepted and ignored. The refresh grant rotates the
    /// refresh token. Repeated failed logins for a username or from an address
    /// are answered 429 for a while, even with the right password.
    #[oai(path = "/token", method = "post", operation_id = "issue_token")]
    async fn token(
        &self,
        state: poem::web::Data<&AppState>,
        remote: &RemoteAddr,
        form: Form<TokenRequest>,
    ) -> TokenResponse {
        match grant(&state, remote, &form.0).await {
            Ok(issued) => TokenResponse::issued(issued),
            Err(err) => err.into(),
        }
    }

    /// Revoke a token
    ///
    /// RFC 7009: revokes the login (token family) the access or refresh token
    /// belongs to. Answers 200 for unknown, spent and malformed tokens too.
    #[oai(path = "/token/revoke", method = "post", operation_id = "revoke_token")]
    async fn revoke(
        &self,
        state: poem::web::Data<&AppState>,
        form: Form<RevokeRequest>,
    ) -> RevokeResponse {
        let token = Some(form.0.token);
        let token = match field(&token, "token") {
            Ok(Some(token)) => token,
            Ok(None) => {
                return RevokeResponse::BadRequest(ErrorBody::new(
                    "invalid_request",
                    "the parameter `token` is required",
                ));
            }
            Err(description) => {
                return RevokeResponse::BadRequest(ErrorBody::new("invalid_request", description));
            }
        };
        match grants::revoke(&state.auth, token)
            .await
            .map_err(ApiError::from)
        {
            Ok(revoked) => {
                if revoked {
                    state.metrics.revocation();
                }
                RevokeResponse::Ok
            }
            Err(ApiError::Unavailable(body, retry)) => RevokeResponse::Unavailable(body, retry),
            Err(_) => RevokeResponse::Internal(ApiError::internal_body()),
        }
    }
}

async fn grant(
    state: &AppState,
    remote: &RemoteAddr,
    form: &TokenRequest,
) -> Result<Issued, GrantError> {
    fn read<'a>(value: &'a Option<String>, name: &str) -> Result<Option<&'a str>, GrantError> {
        field(value, name).map_err(GrantError::InvalidRequest)
    }
    let scope = read(&form.scope, "scope")?;
    let client_id = read(&form.client_id, "client_id")?;
    // Stored with the session and printed by `tollgate sessions list`: no
    // control or format character (a terminal escape, a bidi override, NUL).
    if client_id.is_some_and(|id| id.chars().any(crate::validate::is_unprintable)) {
        return Err(GrantError::InvalidRequest(
            "the parameter `client_id` may not contain control or format characters".into(),
        ));
    }
    read(&form.client_secret, "client_secret")?;
    match read(&form.grant_type, "grant_type")? {
        None | Some("password") => {
            let (Some(username), Some(password)) = (
                read(&form.username, "username")?,
                read(&form.password, "password")?,
            ) else {
                return Err(GrantError::InvalidRequest(
                    "the password grant needs `username` and `password`".into(),
                ));
            };
            let login = PasswordLogin {
                username,
                password,
                scope,
                client_id,
                addr: remote.as_socket_addr().map(|addr| addr.ip()),
            };
            let result = grants::password(&state.auth, login).await;
            if let Some(outcome) = login_outcome(&result) {
                state.metrics.login(outcome);
            }
            result
        }
        Some("refresh_token") => {
            let Some(refresh_token) = read(&form.refresh_token, "refresh_token")? else {
                return Err(GrantError::InvalidRequest(
                    "the refresh grant needs `refresh_token`".into(),
                ));
            };
            let result = grants::refresh(&state.auth, refresh_token, scope, client_id).await;
            if let Some(outcome) = refresh_outcome(&result) {
                state.metrics.refresh(outcome);
            }
            result
        }
        Some(_) => Err(GrantError::UnsupportedGrantType),
    }
}

/// How a password grant ended, for the metrics; `None` for a failure on
/// the server's side (counted as such) or a malformed request.
fn login_outcome(result: &Result<Issued, GrantError>) -> Option<Login> {
    match result {
        Ok(_) => Some(Login::Success),
        Err(GrantError::InvalidGrant | GrantError::Reused) => Some(Login::InvalidGrant),
        Err(GrantError::InvalidScope(_)) => Some(Login::InvalidScope),
        Err(GrantError::TooManyAttempts { .. }) => Some(Login::Throttled),
        Err(_) => None,
    }
}

/// How a refresh grant ended, for the metrics.
fn refresh_outcome(result: &Result<Issued, GrantError>) -> Option<Refresh> {
    match result {
        Ok(_) => Some(Refresh::Success),
        Err(GrantError::InvalidGrant) => Some(Refresh::InvalidGrant),
        Err(GrantError::Reused) => Some(Refresh::ReuseDetected),
        Err(GrantError::InvalidScope(_)) => Some(Refresh::InvalidScope),
        Err(_) => None,
    }
}
