//! The grants of the token endpoint (RFC 6749 §4.3 and §6), revocation
//! (RFC 7009) and the password checks that sessions depend on, independent
//! of HTTP.

mod client_credentials;
mod password_change;
mod sessions;
#[cfg(test)]
mod tests;

pub use client_credentials::client_credentials;
pub use password_change::{PasswordChangeError, change_own_password};
pub use sessions::{Introspection, client_token_is_live, introspect, revoke};

use std::net::IpAddr;

use crate::{
    auth::{
        AuthContext,
        clients::{Client, GrantType},
        jwt::AccessClaims,
        password::HashError,
        random_token,
        scopes::{InvalidScope, ScopeSet},
        sha256_hex,
        throttle::{self, Verdict},
    },
    db::{self, DbError, tokens::Rotation},
    validate,
};

/// Refresh tokens carry 256 bits from the OS CSPRNG.
const REFRESH_TOKEN_BYTES: usize = 32;

/// A successful token response.
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    /// `None` for `client_credentials` (RFC 6749 §4.4.3).
    pub refresh_token: Option<String>,
    pub scope: ScopeSet,
}

#[derive(Debug)]
pub enum GrantError {
    InvalidRequest(String),
    /// One answer for every credential failure: nothing tells which.
    InvalidGrant,
    /// A spent refresh token presented again: its session has been revoked.
    /// Answered as [`InvalidGrant`](GrantError::InvalidGrant).
    Reused,
    InvalidScope(String),
    UnsupportedGrantType,
    /// The client may not use this grant type.
    UnauthorizedClient,
    TooManyAttempts {
        retry_after: u64,
    },
    /// The store failed; the caller answers (and logs) as for any
    /// storage error.
    Db(DbError),
    /// Hashing failed or its queue is full.
    Hash(HashError),
    /// Signing failed; the detail has been logged.
    Signing,
}

impl From<DbError> for GrantError {
    fn from(err: DbError) -> Self {
        GrantError::Db(err)
    }
}

impl From<HashError> for GrantError {
    fn from(err: HashError) -> Self {
        GrantError::Hash(err)
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
    /// The authenticated client the request is from.
    pub client: &'a Client,
    pub addr: Option<IpAddr>,
}

/// The resource owner password credentials grant.
pub async fn password(ctx: &AuthContext, login: PasswordLogin<'_>) -> Result<Issued, GrantError> {
    if !login.client.allows(GrantType::Password) {
        return Err(GrantError::UnauthorizedClient);
    }
    let requested = login.scope.map(ScopeSet::parse).transpose()?;
    // Like an unknown scope, this depends on the request alone: refused
    // before the password is checked.
    if requested.is_some_and(|requested| !login.client.scopes.contains(requested)) {
        return Err(GrantError::InvalidScope(
            "the requested scope is beyond this client's scopes".into(),
        ));
    }
    let plausible = validate::username(login.username).is_ok();
    let keys = throttle::Counters::new(plausible.then_some(login.username), login.addr);

    // Every attempt, refused or not, costs one hash verify (a dummy one for
    // an unknown user), so timing tells none of the cases apart.
    let credentials = match plausible {
        true => ctx.store.users().credentials(login.username).await?,
        false => None,
    };
    let hash = credentials.as_ref().map(|c| c.password_hash.as_str());
    if let Some(hash) = hash {
        ctx.hasher.note(hash);
    }
    let matched = ctx.hasher.verify(login.password, hash).await?;

    // The counters are consulted only after the verify, in one transaction
    // with the recording of the outcome: attempts queued behind the hasher
    // when a lock was set are refused too, and a lock refuses even the right
    // password.
    let user = credentials.filter(|user| matched && !user.disabled);
    let verdict = throttle::settle(&ctx.store, &ctx.policy.throttle, &keys, user.is_some());
    let user = match (verdict.await?, user) {
        (Verdict::Refused { retry_after }, _) => {
            tracing::warn!(
                event = "login_refused",
                username = ?login.username,
                addr = %shown(login.addr),
                retry_after,
                "login refused by the throttle"
            );
            return Err(GrantError::TooManyAttempts { retry_after });
        }
        (Verdict::Passed, Some(user)) => user,
        _ => {
            tracing::info!(
                event = "login_failed",
                username = ?login.username,
                addr = %shown(login.addr),
                reason = "invalid_grant",
                "login failed"
            );
            return Err(GrantError::InvalidGrant);
        }
    };

    let held = ScopeSet::parse_lenient(&user.scopes);
    let granted = match requested {
        Some(requested) if !held.contains(requested) => {
            return Err(GrantError::InvalidScope(
                "the requested scope is not held by this user".into(),
            ));
        }
        Some(requested) => requested,
        None => held.intersection(login.client.scopes),
    };

    if ctx.hasher.needs_rehash(&user.password_hash) {
        upgrade_hash(ctx, user.id, login.password, &user.password_hash).await;
    }

    let now = db::now();
    let client_id = login.client.client_id.as_str();
    let refresh_token = random_token(REFRESH_TOKEN_BYTES);
    let sid = random_token(SID_BYTES);
    let family = db::tokens::NewFamily {
        sid: &sid,
        user_id: user.id,
        user_version: user.token_version,
        scope: &granted.to_string(),
        client_id,
        expires_at: now + ctx.policy.refresh_ttl.as_secs() as i64,
    };
    let family_id = ctx
        .store
        .tokens()
        .start_family(&family, &sha256_hex(&refresh_token), now)
        .await?
        // The user changed (password, logout-all, disabled) since it was
        // read: the password checked may no longer be theirs.
        .ok_or(GrantError::InvalidGrant)?;
    let subject = Subject {
        sub: user.id.to_string(),
        version: user.token_version,
        family_id: Some(family_id),
        sid: Some(&sid),
    };
    let access_token = sign(ctx, &subject, granted, client_id, now)?;
    tracing::info!(
        user_id = user.id,
        family_id,
        client_id,
        "password grant issued"
    );
    Ok(Issued {
        access_token,
        expires_in: ctx.policy.access_ttl.as_secs(),
        refresh_token: Some(refresh_token),
        scope: granted,
    })
}

/// The refresh token grant, with rotation and reuse detection. The token is
/// bound to the client that obtained it: another client's attempt is
/// `invalid_grant` and leaves the token as it was.
pub async fn refresh(
    ctx: &AuthContext,
    refresh_token: &str,
    scope: Option<&str>,
    client: &Client,
) -> Result<Issued, GrantError> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(GrantError::UnauthorizedClient);
    }
    let requested = scope.map(ScopeSet::parse).transpose()?;
    let mut refusal = None;
    let now = db::now();
    let next = random_token(REFRESH_TOKEN_BYTES);
    let rotation = ctx
        .store
        .tokens()
        .rotate(
            &sha256_hex(refresh_token),
            &sha256_hex(&next),
            now,
            |grant| {
                if grant.client_id != client.client_id {
                    refusal = Some(GrantError::InvalidGrant);
                } else if !requested
                    .is_none_or(|r| ScopeSet::parse_lenient(&grant.scope).contains(r))
                {
                    refusal = Some(GrantError::InvalidScope(
                        "a refresh may narrow the original scope, never widen it".into(),
                    ));
                }
                refusal.is_none()
            },
        )
        .await?;
    let grant = match rotation {
        Rotation::Rotated(grant) => grant,
        Rotation::Reused(grant) => {
            tracing::warn!(
                event = "refresh_reuse",
                user_id = grant.user_id,
                family_id = grant.family_id,
                "a spent refresh token was presented again; its session is revoked"
            );
            return Err(GrantError::Reused);
        }
        Rotation::Invalid => {
            return Err(GrantError::InvalidGrant);
        }
        Rotation::Refused => {
            if matches!(refusal, Some(GrantError::InvalidGrant)) {
                tracing::info!(
                    event = "refresh_other_client",
                    client_id = %client.client_id,
                    "a refresh token was presented by another client than its own"
                );
            }
            return Err(refusal.unwrap_or(GrantError::InvalidGrant));
        }
    };
    // The client's scopes may have narrowed since the login.
    let granted = requested
        .unwrap_or_else(|| ScopeSet::parse_lenient(&grant.scope))
        .intersection(client.scopes);
    let client_id = client.client_id.as_str();
    let subject = Subject {
        sub: grant.user_id.to_string(),
        version: grant.user_version,
        family_id: Some(grant.family_id),
        sid: Some(&grant.sid),
    };
    let access_token = sign(ctx, &subject, granted, client_id, now)?;
    tracing::info!(
        user_id = grant.user_id,
        family_id = grant.family_id,
        "refresh grant issued"
    );
    Ok(Issued {
        access_token,
        expires_in: ctx.policy.access_ttl.as_secs(),
        refresh_token: Some(next),
        scope: granted,
    })
}

/// A client address for the security log; `-` when the peer is not IP.
pub(super) fn shown(addr: Option<IpAddr>) -> String {
    addr.map_or_else(|| "-".to_owned(), |addr| addr.to_string())
}

/// Who a token is for: the user (or client) as `sub`, its version, and the
/// family and session id (none for a client's own token).
struct Subject<'a> {
    sub: String,
    version: i64,
    family_id: Option<i64>,
    sid: Option<&'a str>,
}

/// Random bytes of a session id: unguessable and unique, and telling
/// nothing of how many logins came before.
const SID_BYTES: usize = 16;

fn sign(
    ctx: &AuthContext,
    subject: &Subject<'_>,
    scope: ScopeSet,
    client_id: &str,
    now: i64,
) -> Result<String, GrantError> {
    let claims = AccessClaims {
        iss: ctx.keys.issuer().to_owned(),
        aud: ctx.keys.audience().to_owned(),
        sub: subject.sub.clone(),
        exp: now + ctx.policy.access_ttl.as_secs() as i64,
        iat: now,
        jti: random_token(16),
        scope: scope.to_string(),
        client_id: client_id.to_owned(),
        ver: subject.version,
        fam: subject.family_id,
        sid: subject.sid.map(str::to_owned),
    };
    ctx.keys.sign(&claims).map_err(|err| {
        tracing::error!(error = %err, "signing an access token failed");
        GrantError::Signing
    })
}

/// Rehashes with the configured algorithm and parameters after a successful
/// login. A failure is logged and the login goes on: the old hash still works.
async fn upgrade_hash(ctx: &AuthContext, user_id: i64, password: &str, old: &str) {
    let result = match ctx.hasher.hash(password).await {
        Ok(new) => ctx
            .store
            .users()
            .upgrade_hash(user_id, old, &new)
            .await
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    match result {
        Ok(()) => tracing::info!(user_id, to = %ctx.hasher.profile(), "password hash upgraded"),
        Err(error) => tracing::warn!(user_id, %error, "password hash upgrade failed"),
    }
}
