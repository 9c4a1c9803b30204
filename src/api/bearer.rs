//! The OAuth2 security scheme and its run-time check.
//!
//! An operation declares its scopes once, as `#[oai(scope = "Scope::X")]` on
//! its `Auth` parameter. poem-openapi writes that into the spec and nothing
//! more, so at start [`ScopeTable`] reads the same declarations back out of
//! the API's metadata (through [`DeclaredScopes`], which other services use
//! too), and `check` enforces them for the matched route. The table is
//! generic over the scope enum, so it knows no scope by name.

use std::sync::OnceLock;

use poem::{Request, http::Method};
use poem_openapi::{OpenApi, SecurityScheme, auth::Bearer};

pub use crate::auth::{Caller, ClientCaller, Principal};
use crate::{
    auth::{
        grants::client_token_is_live,
        scopes::{Scope, ScopeEnum, ScopeSet, ScopeSetOf},
    },
    error::ApiError,
    resource::scopes::{DeclaredScopes, matched_pattern},
    state::AppState,
};

/// OAuth2: a user's token by the password flow, or a registered client's
/// own by the client credentials flow, both at `/token`; send it as
/// `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(
    rename = "OAuth2",
    ty = "oauth2",
    flows(
        password(token_url = "/token", scopes = "Scope"),
        client_credentials(token_url = "/token", scopes = "Scope")
    ),
    checker = "check"
)]
pub struct Auth(pub Principal);

impl Auth {
    /// The user behind the token, for the operations on "the caller's own"
    /// account or items; a client's own token is refused there with 403
    /// (it has no account and no items).
    pub fn user(&self) -> Result<&Caller, ApiError> {
        match &self.0 {
            Principal::User(user) => Ok(user),
            Principal::Client(_) => Err(ApiError::not_a_user()),
        }
    }
}

/// The scopes each operation declared, by route pattern and then method. A
/// service has a few dozen patterns at most: a list, compared by length
/// first, is searched faster than a `HashMap` hashes the pattern.
#[derive(Debug, Clone)]
pub struct ScopeTableOf<S: ScopeEnum>(Vec<(String, MethodScopes<S>)>);

/// A pattern's methods and the scopes each needs.
type MethodScopes<S> = Vec<(Method, ScopeSetOf<S>)>;

/// The scope table of tollgate's own scopes.
pub type ScopeTable = ScopeTableOf<Scope>;

/// tollgate's scope table, read from its API's declarations once.
pub fn scope_table() -> &'static ScopeTable {
    static TABLE: OnceLock<ScopeTable> = OnceLock::new();
    TABLE.get_or_init(ScopeTable::from_api::<super::Api>)
}

impl<S: ScopeEnum> ScopeTableOf<S> {
    /// Reads every operation's `security` requirement from the API metadata.
    pub fn from_api<T: OpenApi>() -> Self {
        let declared = DeclaredScopes::from_api::<T>();
        let mut table = Self(Vec::new());
        for (method, pattern, names) in declared.operations() {
            let needed = names
                .iter()
                .map(|name| ScopeSetOf::parse(name).expect("declared scopes are known"))
                .fold(ScopeSetOf::EMPTY, ScopeSetOf::union);
            let at = match table.0.iter().position(|(known, _)| known == pattern) {
                Some(at) => at,
                None => {
                    table.0.push((pattern.to_owned(), Vec::new()));
                    table.0.len() - 1
                }
            };
            let methods = &mut table.0[at].1;
            match methods.iter_mut().find(|(known, _)| known == method) {
                Some((_, scopes)) => *scopes = needed,
                None => methods.push((method.clone(), needed)),
            }
        }
        table
    }

    /// The scopes the operation at `method` and poem route `pattern` needs, or
    /// `None` when it declared no security requirement.
    pub fn needed(&self, method: &Method, pattern: &str) -> Option<ScopeSetOf<S>> {
        let (_, methods) = self.0.iter().find(|(known, _)| known == pattern)?;
        methods
            .iter()
            .find(|(known, _)| known == method)
            .map(|(_, needed)| *needed)
    }

    pub fn operations(&self) -> impl Iterator<Item = (&Method, &str, ScopeSetOf<S>)> {
        self.0.iter().flat_map(|(pattern, methods)| {
            methods
                .iter()
                .map(move |(method, needed)| (method, pattern.as_str(), *needed))
        })
    }

    /// Refuses `granted` unless it holds every scope the operation that
    /// matched `req` declared (403 `insufficient_scope` naming them).
    pub fn authorize(&self, req: &Request, granted: ScopeSetOf<S>) -> Result<(), ApiError> {
        let pattern = matched_pattern(req);
        let Some(needed) = self.needed(req.method(), pattern) else {
            tracing::error!(%pattern, method = %req.method(), "operation missing from the scope table");
            return Err(ApiError::internal());
        };
        if !granted.contains(needed) {
            return Err(ApiError::insufficient_scope(&needed.to_string()));
        }
        Ok(())
    }
}

/// RFC 6750 §2.3 puts a token in `?access_token=`; tollgate reads tokens only
/// from the header and refuses a request that carries one there too.
pub fn has_query_token(req: &Request) -> bool {
    req.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    })
}

/// The answer to a token in the query string, with or without a header.
pub fn query_token_refused() -> ApiError {
    ApiError::invalid_request(
        "send the access token in the Authorization header only, not in the query string",
    )
}

/// The checker poem-openapi calls with the bearer value of every request to
/// an operation that takes [`Auth`].
async fn check(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    Ok(principal(req, &bearer.token).await?)
}

/// Who the bearer `token` of `req` speaks for, once the token, its user or
/// client, and the matched operation's scopes have been checked.
pub async fn principal(req: &Request, token: &str) -> Result<Principal, ApiError> {
    let ctx = &req
        .data::<AppState>()
        .expect("the application state is attached to every request")
        .auth;
    if has_query_token(req) {
        return Err(query_token_refused());
    }
    let claims = ctx
        .keys
        .verify(token)
        .map_err(|err| ApiError::invalid_token(err.description()))?;
    let revoked = || ApiError::invalid_token("the access token has been revoked");
    let Some(family_id) = claims.fam else {
        // A client's own token: the client is read like a user is.
        if !client_token_is_live(ctx, &claims)
            .await
            .map_err(ApiError::from)?
        {
            return Err(revoked());
        }
        let granted = ScopeSet::parse_lenient(&claims.scope);
        scope_table().authorize(req, granted)?;
        return Ok(Principal::Client(ClientCaller {
            client_id: claims.client_id,
            scopes: granted,
        }));
    };
    let user_id: i64 = claims.sub.parse().map_err(|_| revoked())?;
    let row = ctx
        .store
        .auth_row(user_id, family_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(revoked)?;
    if !row.admits(claims.ver) {
        return Err(revoked());
    }
    let user = row.user;
    let granted = ScopeSet::parse_lenient(&claims.scope);
    scope_table().authorize(req, granted)?;
    Ok(Principal::User(Caller {
        user_id,
        username: user.username.clone(),
        scopes: granted,
        family_id,
        user,
    }))
}
