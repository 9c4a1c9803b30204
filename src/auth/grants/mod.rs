//! The grants of the token endpoint (RFC 6749 §4.3 and §6), revocation
//! (RFC 7009) and the password checks that sessions depend on, independent
//! of HTTP.

mod password_change;
mod sessions;
#[cfg(test)]
mod tests;

pub use password_change::{PasswordChangeError, change_own_password};
pub use sessions::{Introspection, introspect, revoke};

use std::net::IpAddr;

use crate::{
    auth::{
        AuthContext,
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
    /// A spent refresh token presented again: its session has been revoked.
    /// Answered as [`InvalidGrant`](GrantError::InvalidGrant).
    Reused,
    InvalidScope(String),
    UnsupportedGrantType,
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
    pub client_id: Option<&'a str>,
    pub addr: Option<IpAddr>,
}

/// The resource owner password credentials grant.
pub async fn password(ctx: &AuthContext, login: PasswordLogin<'_>) -> Result<Issued, GrantError> {
    let requested = login.scope.map(ScopeSet::parse).transpose()?;
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
        None => held,
    };

    if ctx.hasher.needs_rehash(&user.password_hash) {
        upgrade_hash(ctx, user.id, login.password, &user.password_hash).await;
    }

    let now = db::now();
    let client_id = login.client_id.unwrap_or(DEFAULT_CLIENT_ID);
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
        .await?;
    let subject = Subject {
        user_id: user.id,
        version: user.token_version,
        family_id,
        sid: &sid,
    };
    let access_token = sign(ctx, &subject, granted, client_id, now)?;
    tracing::info!(user_id = user.id, family_id, "password grant issued");
    Ok(Issued {
        access_token,
        expires_in: ctx.policy.access_ttl.as_secs(),
        refresh_token,
        scope: granted,
    })
}

/// The refresh token grant, with rotation and reuse detection.
pub async fn refresh(
    ctx: &AuthContext,
    refresh_token: &str,
    scope: Option<&str>,
    client_id: Option<&str>,
) -> Result<Issued, GrantError> {
    let requested = scope.map(ScopeSet::parse).transpose()?;
    let now = db::now();
    let next = random_token(REFRESH_TOKEN_BYTES);
    let rotation = ctx
        .store
        .tokens()
        .rotate(
            &sha256_hex(refresh_token),
            &sha256_hex(&next),
            now,
            |grant| requested.is_none_or(|r| ScopeSet::parse_lenient(&grant.scope).contains(r)),
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
            return Err(GrantError::InvalidScope(
                "a refresh may narrow the original scope, never widen it".into(),
            ));
        }
    };
    let granted = requested.unwrap_or_else(|| ScopeSet::parse_lenient(&grant.scope));
    let client_id = client_id.unwrap_or(&grant.client_id);
    let subject = Subject {
        user_id: grant.user_id,
        version: grant.user_version,
        family_id: grant.family_id,
        sid: &grant.sid,
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
        refresh_token: next,
        scope: granted,
    })
}

/// A client address for the security log; `-` when the peer is not IP.
pub(super) fn shown(addr: Option<IpAddr>) -> String {
    addr.map_or_else(|| "-".to_owned(), |addr| addr.to_string())
}

/// Who a token is for: user, version, family and session id.
struct Subject<'a> {
    user_id: i64,
    version: i64,
    family_id: i64,
    sid: &'a str,
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
        sub: subject.user_id.to_string(),
        exp: now + ctx.policy.access_ttl.as_secs() as i64,
        iat: now,
        jti: random_token(16),
        scope: scope.to_string(),
        client_id: client_id.to_owned(),
        ver: subject.version,
        fam: subject.family_id,
        sid: Some(subject.sid.to_owned()),
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
