//! `POST /token` and `POST /token/revoke`.

mod forms;
mod responses;

pub use forms::{RevokeRequest, TokenRequest};
pub use responses::{RevokeResponse, TokenBody, TokenResponse};

use std::net::IpAddr;

use poem::{Request, web::RemoteAddr};
use poem_openapi::{OpenApi, payload::Form};

use crate::{
    api::{Tag, client_auth},
    auth::{
        clients::{self, Client},
        grants::{self, GrantError, Issued, PasswordLogin},
    },
    error::ApiError,
    metrics::{Login, Refresh},
    state::AppState,
};
pub(crate) use forms::field;

#[derive(Default)]
pub struct TokenApi;

#[OpenApi(tag = "Tag::Token")]
impl TokenApi {
    /// Get tokens
    ///
    /// The password grant (RFC 6749 §4.3; `grant_type` may be omitted), the
    /// refresh grant (§6) or the client credentials grant (§4.4), as a form.
    /// A registered client authenticates with HTTP Basic, `client_secret` in
    /// the form, or a `private_key_jwt` assertion; a request that names no
    /// client is the built-in public client `tollgate`'s. The refresh grant
    /// rotates the refresh token. Repeated failed logins for a username or
    /// from an address are answered 429 for a while, even with the right
    /// password.
    #[oai(path = "/token", method = "post", operation_id = "issue_token")]
    async fn token(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
        remote: &RemoteAddr,
        form: Form<TokenRequest>,
    ) -> TokenResponse {
        let fields = match form.0.client_fields() {
            Ok(fields) => fields,
            Err(description) => return TokenResponse::error("invalid_request", description),
        };
        let found = match client_auth::read(req, fields) {
            Ok(found) => found,
            Err(description) => return TokenResponse::error("invalid_request", description),
        };
        let presented = found.presented();
        let addr = remote.as_socket_addr().map(|addr| addr.ip());
        let client = match clients::authenticate(&state.auth, presented, addr).await {
            Ok(client) => client,
            Err(err) => return TokenResponse::client_failed(err, presented.basic()),
        };
        match grant(&state, addr, &form.0, &client).await {
            Ok(issued) => TokenResponse::issued(issued),
            Err(err) => err.into(),
        }
    }

    /// Revoke a token
    ///
    /// RFC 7009: revokes the login (token family) the access or refresh token
    /// belongs to. The client authenticates as at `POST /token`. Answers 200
    /// for unknown, spent and malformed tokens too.
    #[oai(path = "/token/revoke", method = "post", operation_id = "revoke_token")]
    async fn revoke(
        &self,
        state: poem::web::Data<&AppState>,
        req: &Request,
        remote: &RemoteAddr,
        form: Form<RevokeRequest>,
    ) -> RevokeResponse {
        let token = Some(form.0.token.clone());
        let token = match field(&token, "token") {
            Ok(Some(token)) => token,
            Ok(None) => {
                return RevokeResponse::invalid_request("the parameter `token` is required");
            }
            Err(description) => return RevokeResponse::invalid_request(description),
        };
        let found = match form
            .0
            .client_fields()
            .and_then(|f| client_auth::read(req, f))
        {
            Ok(found) => found,
            Err(description) => return RevokeResponse::invalid_request(description),
        };
        let presented = found.presented();
        let addr = remote.as_socket_addr().map(|addr| addr.ip());
        let client = match clients::authenticate(&state.auth, presented, addr).await {
            Ok(client) => client,
            Err(err) => return RevokeResponse::client_failed(err, presented.basic()),
        };
        match grants::revoke(&state.auth, token, &client.client_id)
            .await
            .map_err(ApiError::from)
        {
            Ok(revoked) => {
                if revoked {
                    state.metrics.revocation();
                }
                RevokeResponse::Ok
            }
            Err(err) => err.into(),
        }
    }
}

async fn grant(
    state: &AppState,
    addr: Option<IpAddr>,
    form: &TokenRequest,
    client: &Client,
) -> Result<Issued, GrantError> {
    fn read<'a>(value: &'a Option<String>, name: &str) -> Result<Option<&'a str>, GrantError> {
        field(value, name).map_err(GrantError::InvalidRequest)
    }
    let scope = read(&form.scope, "scope")?;
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
                client,
                addr,
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
            let result = grants::refresh(&state.auth, refresh_token, scope, client).await;
            if let Some(outcome) = refresh_outcome(&result) {
                state.metrics.refresh(outcome);
            }
            result
        }
        Some("client_credentials") => grants::client_credentials(&state.auth, client, scope).await,
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
