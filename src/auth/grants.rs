//! The grants of the token endpoint (RFC 6749 §4.3 and §6) and revocation
//! (RFC 7009), independent of HTTP.

use std::net::IpAddr;

use crate::{
    app::AppState,
    auth::{
        jwt::AccessClaims,
        password::HashError,
        random_token,
        scopes::{InvalidScope, ScopeSet},
        sha256_hex,
        throttle::{self, Verdict},
    },
    db::{self, DbError, tokens::Rotation},
    error::ApiError,
    validate,
};

/// The `client_id` claim when the client names none.
pub const DEFAULT_CLIENT_ID: &str = "tollgate";

/// Refresh tokens carry 256 bits from the OS CSPRNG.
const REFRESH_TOKEN_BYTES: usize = 32;

/// A successful token response.
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: ScopeSet,
}

#[derive(Debug)]
pub enum GrantError {
    InvalidRequest(String),
    /// One answer for every credential failure: nothing tells which.
    InvalidGrant,
    InvalidScope(String),
    UnsupportedGrantType,
    TooManyAttempts {
        retry_after: u64,
    },
    Server(ApiError),
}

impl From<DbError> for GrantError {
    fn from(err: DbError) -> Self {
        GrantError::Server(err.into())
    }
}

impl From<HashError> for GrantError {
    fn from(err: HashError) -> Self {
        GrantError::Server(err.into())
    }
}

impl From<InvalidScope> for GrantError {
    fn from(err: InvalidScope) -> Self {
        GrantError::InvalidScope(err.0)
    }
}

pub struct PasswordLogin<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub scope: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub addr: Option<IpAddr>,
}

/// The resource owner password credentials grant.
pub async fn password(state: &AppState, login: PasswordLogin<'_>) -> Result<Issued, GrantError> {
    let requested = login.scope.map(ScopeSet::parse).transpose()?;
    let plausible = validate::username(login.username).is_ok();
    let keys = throttle::Keys::new(plausible.then_some(login.username), login.addr);

    // Every attempt, refused or not, costs one bcrypt verify (a dummy one for
    // an unknown user), so timing tells none of the cases apart.
    let credentials = match plausible {
        true => db::users::credentials(&state.pool, login.username).await?,
        false => None,
    };
    let hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    if let Some(hash) = hash {
        state.hasher.note_cost(hash);
    }
    let matched = state.hasher.verify(login.password, hash).await?;

    // The counters are consulted only after the verify, in one transaction
    // with the recording of the outcome: attempts queued behind the hasher
    // when a lock was set are refused too, and a lock refuses even the right
    // password.
    let user = credentials.filter(|user| matched && !user.disabled);
    let verdict = throttle::settle(&state.pool, &state.config.throttle, &keys, user.is_some());
    let user = match (verdict.await?, user) {
        (Verdict::Refused { retry_after }, _) => {
            return Err(GrantError::TooManyAttempts { retry_after });
        }
        (Verdict::Passed, Some(user)) => user,
        _ => return Err(GrantError::InvalidGrant),
    };

    let held = ScopeSet::parse_lenient(&user.scopes);
    let granted = match requested {
        Some(requested) if !held.contains(requested) => {
            return Err(GrantError::InvalidScope(
                "the requested scope is not held by this user".into(),
            ));
        }
        Some(requested) => requested,
        None => held,
    };

    if state.hasher.needs_rehash(&user.password_hash) {
        upgrade_hash(state, user.id, login.password, &user.password_hash).await;
    }

    let now = db::now();
    let client_id = login.client_id.unwrap_or(DEFAULT_CLIENT_ID);
    let refresh_token = random_token(REFRESH_TOKEN_BYTES);
    let family = db::tokens::NewFamily {
        user_id: user.id,
        user_version: user.token_version,
        scope: &granted.to_string(),
        client_id,
        expires_at: now + state.config.refresh_ttl.as_secs() as i64,
    };
    let family_id =
        db::tokens::start_family(&state.pool, &family, &sha256_hex(&refresh_token), now).await?;
    let access_token = sign(
        state,
        user.id,
        user.token_version,
        family_id,
        granted,
        client_id,
        now,
    )?;
    tracing::info!(user_id = user.id, family_id, "password grant issued");
    Ok(Issued {
        access_token,
        expires_in: state.config.access_ttl.as_secs(),
        refresh_token,
        scope: granted,
    })
}

/// The refresh token grant, with rotation and reuse detection.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    scope: Option<&str>,
    client_id: Option<&str>,
) -> Result<Issued, GrantError> {
    let requested = scope.map(ScopeSet::parse).transpose()?;
    let now = db::now();
    let next = random_token(REFRESH_TOKEN_BYTES);
    let rotation = db::tokens::rotate(
        &state.pool,
        &sha256_hex(refresh_token),
        &sha256_hex(&next),
        now,
        |grant| requested.is_none_or(|r| ScopeSet::parse_lenient(&grant.scope).contains(r)),
    )
    .await?;
    let grant = match rotation {
        Rotation::Rotated(grant) => grant,
        Rotation::Reused => {
            tracing::warn!("a spent refresh token was presented again; its family is revoked");
            return Err(GrantError::InvalidGrant);
        }
        Rotation::Invalid => return Err(GrantError::InvalidGrant),
        Rotation::Refused => {
            return Err(GrantError::InvalidScope(
                "a refresh may narrow the original scope, never widen it".into(),
            ));
        }
    };
    let granted = requested.unwrap_or_else(|| ScopeSet::parse_lenient(&grant.scope));
    let client_id = client_id.unwrap_or(&grant.client_id);
    let access_token = sign(
        state,
        grant.user_id,
        grant.user_version,
        grant.family_id,
        granted,
        client_id,
        now,
    )?;
    tracing::info!(
        user_id = grant.user_id,
        family_id = grant.family_id,
        "refresh grant issued"
    );
    Ok(Issued {
        access_token,
        expires_in: state.config.access_ttl.as_secs(),
        refresh_token: next,
        scope: granted,
    })
}

/// RFC 7009: revokes the family of an access or refresh token. Unknown and
/// malformed tokens are not an error.
pub async fn revoke(state: &AppState, token: &str) -> Result<(), DbError> {
    let now = db::now();
    match state.keys.family_of(token) {
        Some(family_id) => db::tokens::revoke_family(&state.pool, family_id, now).await,
        None => db::tokens::revoke_by_refresh(&state.pool, &sha256_hex(token), now).await,
    }
}

fn sign(
    state: &AppState,
    user_id: i64,
    version: i64,
    family_id: i64,
    scope: ScopeSet,
    client_id: &str,
    now: i64,
) -> Result<String, GrantError> {
    let claims = AccessClaims {
        iss: state.keys.issuer().to_owned(),
        aud: state.keys.audience().to_owned(),
        sub: user_id.to_string(),
        exp: now + state.config.access_ttl.as_secs() as i64,
        iat: now,
        jti: random_token(16),
        scope: scope.to_string(),
        client_id: client_id.to_owned(),
        ver: version,
        fam: family_id,
    };
    state.keys.sign(&claims).map_err(|err| {
        tracing::error!(error = %err, "signing an access token failed");
        GrantError::Server(ApiError::internal())
    })
}

/// Rehashes at the configured cost after a successful login. A failure is
/// logged and the login goes on: the old hash still works.
async fn upgrade_hash(state: &AppState, user_id: i64, password: &str, old: &str) {
    let result = match state.hasher.hash(password).await {
        Ok(new) => db::users::upgrade_hash(&state.pool, user_id, old, &new)
            .await
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    match result {
        Ok(()) => tracing::info!(
            user_id,
            cost = state.hasher.cost(),
            "password hash upgraded"
        ),
        Err(error) => tracing::warn!(user_id, %error, "password hash upgrade failed"),
    }
}
