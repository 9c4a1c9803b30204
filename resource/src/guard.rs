//! The bearer check of a resource server: token, then the scopes the matched
//! operation declared, answered as RFC 6750 §3 says.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{OpenApi, auth::Bearer, error::AuthorizationError};

use crate::{
    scopes::{DeclaredScopes, matched_pattern},
    token::TokenError,
    verifier::{Claims, JwksVerifier, VerifyError},
};

/// The caller behind a valid token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `sub`: the tollgate user id, as a string.
    pub subject: String,
    pub claims: Claims,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scopes().any(|s| s == scope)
    }
}

/// The verifier and the declared scopes of one API. As a [`Middleware`]
/// (`route.with(guard)`) it makes itself available to [`check`] and answers
/// a request without an `Authorization: Bearer` header with the RFC 6750
/// challenge instead of poem-openapi's plain-text 401.
#[derive(Clone)]
pub struct ResourceGuard(Arc<Guard>);

struct Guard {
    verifier: JwksVerifier,
    scopes: DeclaredScopes,
    realm: String,
}

impl ResourceGuard {
    /// Enforces the scopes `T`'s operations declare, with tokens checked by
    /// `verifier`; `realm` is named in every `WWW-Authenticate` challenge.
    pub fn new<T: OpenApi>(verifier: JwksVerifier, realm: &str) -> Self {
        Self(Arc::new(Guard {
            verifier,
            scopes: DeclaredScopes::from_api::<T>(),
            realm: realm.replace(['"', '\\'], ""),
        }))
    }

    pub fn scopes(&self) -> &DeclaredScopes {
        &self.0.scopes
    }
}

/// The checker of a resource server's `SecurityScheme`:
///
/// ```ignore
/// #[derive(SecurityScheme)]
/// #[oai(ty = "oauth2", flows(password(token_url = "...", scopes = "MyScope")), checker = "check")]
/// struct Auth(Principal);
///
/// async fn check(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
///     tollgate::resource::check(req, bearer).await
/// }
/// ```
///
/// Verifies the token, then requires every scope the matched operation
/// declared with `#[oai(scope = ...)]`. Needs the [`ResourceGuard`]
/// middleware on the route.
pub async fn check(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let Some(guard) = req.data::<ResourceGuard>() else {
        tracing::error!("the ResourceGuard middleware is not on this route");
        return Err(poem::Error::from_response(answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal_error",
            "",
        )));
    };
    let realm = &guard.0.realm;
    if req.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    }) {
        let text = "send the access token in the Authorization header only";
        return Err(poem::Error::from_response(answer(
            StatusCode::BAD_REQUEST,
            None,
            "invalid_request",
            text,
        )));
    }
    let claims = guard
        .0
        .verifier
        .verify(&bearer.token)
        .await
        .map_err(|err| {
            poem::Error::from_response(match err {
                VerifyError::Token(token) => invalid_token(realm, token),
                VerifyError::KeysUnavailable => {
                    let mut response = answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                        "temporarily_unavailable",
                        "the token issuer's keys cannot be fetched; try again shortly",
                    );
                    let seconds = guard.0.verifier.retry_after().as_secs_f64().ceil().max(1.0);
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
                    response
                }
                VerifyError::EventsUnavailable => {
                    let mut response = answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                        "temporarily_unavailable",
                        "the token issuer's revocation events cannot be received; try again \
                         shortly",
                    );
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(5u64));
                    response
                }
            })
        })?;
    let (method, pattern) = (req.method(), matched_pattern(req));
    let Some(needed) = guard.0.scopes.needed(method, pattern) else {
        tracing::error!(%pattern, %method, "operation missing from the declared scopes");
        return Err(poem::Error::from_response(answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal_error",
            "",
        )));
    };
    if let Some(missing) = needed.iter().find(|s| !claims.scopes().any(|g| g == *s)) {
        tracing::debug!(%missing, "token lacks a declared scope");
        let needed = needed.join(" ");
        let challenge =
            format!("Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{needed}\"");
        let text = format!("this operation needs the scope(s): {needed}");
        return Err(poem::Error::from_response(answer(
            StatusCode::FORBIDDEN,
            Some(challenge),
            "insufficient_scope",
            &text,
        )));
    }
    Ok(Principal {
        subject: claims.sub.clone(),
        claims,
    })
}

fn invalid_token(realm: &str, err: TokenError) -> Response {
    let text = err.description();
    let challenge =
        format!("Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{text}\"");
    answer(
        StatusCode::UNAUTHORIZED,
        Some(challenge),
        "invalid_token",
        text,
    )
}

/// A JSON `{"error","error_description"}` answer, never cached.
fn answer(status: StatusCode, challenge: Option<String>, error: &str, text: &str) -> Response {
    let text = if text.is_empty() {
        "an internal error occurred; it has been logged"
    } else {
        text
    };
    let body = serde_json::json!({"error": error, "error_description": text});
    let mut response = Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body.to_string());
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

impl<E: Endpoint> Middleware<E> for ResourceGuard {
    type Output = GuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GuardEndpoint {
            inner,
            guard: self.clone(),
        }
    }
}

/// The endpoint [`ResourceGuard`] wraps.
pub struct GuardEndpoint<E> {
    inner: E,
    guard: ResourceGuard,
}

impl<E: Endpoint> Endpoint for GuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        req.extensions_mut().insert(self.guard.clone());
        match self.inner.call(req).await {
            Ok(response) => Ok(response.into_response()),
            Err(err) if err.is::<AuthorizationError>() => {
                let realm = &self.guard.0.realm;
                Ok(answer(
                    StatusCode::UNAUTHORIZED,
                    Some(format!("Bearer realm=\"{realm}\"")),
                    "unauthorized",
                    "this operation needs a bearer access token",
                ))
            }
            Err(err) => Err(err),
        }
    }
}
