//! The grants of the token endpoint (RFC 6749 §4.3 and §6), revocation
//! (RFC 7009) and the password checks that sessions depend on, independent
//! of HTTP.

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
        users::{self, UserChange, UserError},
    },
    db::{self, DbError, tokens::Rotation},
    metrics::{self, Login, Refresh},
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
    /// The database is busy or unreachable: retry later.
    Unavailable,
    /// A fault on the server's side; the detail has been logged.
    Internal,
}

impl From<DbError> for GrantError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                metrics::database_error(true);
                GrantError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "database error");
                metrics::database_error(false);
                GrantError::Internal
            }
        }
    }
}

impl From<HashError> for GrantError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => GrantError::Unavailable,
            other => {
                tracing::error!(error = %other, "password hashing failed");
                GrantError::Internal
            }
        }
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
    let requested = login
        .scope
        .map(ScopeSet::parse)
        .transpose()
        .inspect_err(|_| ctx.metrics.login(Login::InvalidScope))?;
    let plausible = validate::username(login.username).is_ok();
    let keys = throttle::Keys::new(plausible.then_some(login.username), login.addr);

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
            ctx.metrics.login(Login::Throttled);
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
            ctx.metrics.login(Login::InvalidGrant);
            return Err(GrantError::InvalidGrant);
        }
    };

    let held = ScopeSet::parse_lenient(&user.scopes);
    let granted = match requested {
        Some(requested) if !held.contains(requested) => {
            ctx.metrics.login(Login::InvalidScope);
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
    let family = db::tokens::NewFamily {
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
    };
    let access_token = sign(ctx, &subject, granted, client_id, now)?;
    tracing::info!(user_id = user.id, family_id, "password grant issued");
    ctx.metrics.login(Login::Success);
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
    let requested = scope
        .map(ScopeSet::parse)
        .transpose()
        .inspect_err(|_| ctx.metrics.refresh(Refresh::InvalidScope))?;
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
            ctx.metrics.refresh(Refresh::ReuseDetected);
            return Err(GrantError::InvalidGrant);
        }
        Rotation::Invalid => {
            ctx.metrics.refresh(Refresh::InvalidGrant);
            return Err(GrantError::InvalidGrant);
        }
        Rotation::Refused => {
            ctx.metrics.refresh(Refresh::InvalidScope);
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
    };
    let access_token = sign(ctx, &subject, granted, client_id, now)?;
    tracing::info!(
        user_id = grant.user_id,
        family_id = grant.family_id,
        "refresh grant issued"
    );
    ctx.metrics.refresh(Refresh::Success);
    Ok(Issued {
        access_token,
        expires_in: ctx.policy.access_ttl.as_secs(),
        refresh_token: next,
        scope: granted,
    })
}

/// RFC 7009: revokes the family of an access or refresh token. Unknown and
/// malformed tokens are not an error.
pub async fn revoke(ctx: &AuthContext, token: &str) -> Result<(), DbError> {
    let now = db::now();
    let tokens = ctx.store.tokens();
    let revoked = match ctx.keys.family_of(token) {
        Some(family_id) => tokens.revoke_family(family_id, now).await?,
        None => tokens.revoke_by_refresh(&sha256_hex(token), now).await?,
    };
    if revoked {
        ctx.metrics.revocation();
        tracing::info!(
            event = "session_revoked",
            "a session was revoked (RFC 7009)"
        );
    }
    Ok(())
}

/// What RFC 7662 introspection tells of a live token; `None` for anything
/// else (revoked, expired, spent, malformed, foreign, unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub scope: String,
    pub client_id: String,
    pub username: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Option<String>,
    /// `Bearer` for an access token, `refresh_token` for a refresh token.
    pub token_type: &'static str,
}

/// RFC 7662 §2.2: whether `token` is live now, by the same checks its use
/// would face (for an access token: signature, claims, user and session;
/// for a refresh token: not spent, session live, user unchanged), so a
/// revocation is reflected at the next call.
pub async fn introspect(ctx: &AuthContext, token: &str) -> Result<Option<Introspection>, DbError> {
    if let Ok(claims) = ctx.keys.verify(token) {
        let Ok(user_id) = claims.sub.parse::<i64>() else {
            return Ok(None);
        };
        let live = ctx
            .store
            .auth_row(user_id, claims.fam)
            .await?
            .filter(|row| {
                !row.user.disabled && row.user.token_version == claims.ver && !row.family_revoked
            });
        return Ok(live.map(|row| Introspection {
            scope: claims.scope,
            client_id: claims.client_id,
            username: row.user.username,
            sub: claims.sub,
            exp: claims.exp,
            iat: claims.iat,
            jti: Some(claims.jti),
            token_type: "Bearer",
        }));
    }
    let now = db::now();
    let state = ctx.store.tokens().refresh_state(&sha256_hex(token)).await?;
    Ok(state
        .filter(|state| !state.spent && state.grant.is_live(now))
        .map(|state| Introspection {
            scope: state.grant.scope,
            client_id: state.grant.client_id,
            username: state.username,
            sub: state.grant.user_id.to_string(),
            exp: state.grant.expires_at,
            iat: state.issued_at,
            jti: None,
            token_type: "refresh_token",
        }))
}

/// Why `PUT /users/me/password` refused.
#[derive(Debug)]
pub enum PasswordChangeError {
    /// `current_password` is wrong; `session_revoked` when this session has
    /// now given too many wrong answers and was ended.
    WrongPassword {
        session_revoked: bool,
    },
    TooManyAttempts {
        retry_after: u64,
    },
    User(UserError),
}

impl From<UserError> for PasswordChangeError {
    fn from(err: UserError) -> Self {
        PasswordChangeError::User(err)
    }
}

impl From<DbError> for PasswordChangeError {
    fn from(err: DbError) -> Self {
        PasswordChangeError::User(err.into())
    }
}

impl From<HashError> for PasswordChangeError {
    fn from(err: HashError) -> Self {
        PasswordChangeError::User(err.into())
    }
}

/// The caller's own password change: `current` is checked like a login's
/// password, in the same throttle (per username and address, per username,
/// per address, and per session), so a stolen token is no password oracle.
pub async fn change_own_password(
    ctx: &AuthContext,
    caller: &crate::auth::bearer::Caller,
    addr: Option<IpAddr>,
    current: &str,
    new: &str,
) -> Result<(), PasswordChangeError> {
    if let Err(reason) = crate::auth::password::validate(new, Some(&caller.username)) {
        return Err(UserError::Invalid {
            field: "new_password",
            reason,
        }
        .into());
    }
    let keys = throttle::Keys::new(Some(&caller.username), addr).with_session(caller.family_id);
    let stored = ctx
        .store
        .users()
        .password_hash(caller.user_id)
        .await?
        .ok_or(UserError::NotFound)?;
    let matched = ctx.hasher.verify(current, Some(&stored)).await?;
    match throttle::settle(&ctx.store, &ctx.policy.throttle, &keys, matched).await? {
        Verdict::Passed => {}
        Verdict::Refused { retry_after } => {
            tracing::warn!(
                event = "password_change_refused",
                user_id = caller.user_id,
                addr = %shown(addr),
                retry_after,
                "password change refused by the throttle"
            );
            return Err(PasswordChangeError::TooManyAttempts { retry_after });
        }
        Verdict::Failed { session_spent } => {
            if session_spent {
                ctx.store
                    .tokens()
                    .revoke_family(caller.family_id, db::now())
                    .await?;
            }
            tracing::warn!(
                event = "password_change_failed",
                user_id = caller.user_id,
                addr = %shown(addr),
                session_revoked = session_spent,
                "wrong current password"
            );
            return Err(PasswordChangeError::WrongPassword {
                session_revoked: session_spent,
            });
        }
    }
    let change = UserChange {
        password: Some(new.to_owned()),
        ..UserChange::default()
    };
    users::change(&ctx.store, &ctx.hasher, caller.user_id, change).await?;
    tracing::info!(
        event = "password_changed",
        user_id = caller.user_id,
        addr = %shown(addr),
        "password changed; earlier sessions ended"
    );
    Ok(())
}

/// A client address for the security log; `-` when the peer is not IP.
fn shown(addr: Option<IpAddr>) -> String {
    addr.map_or_else(|| "-".to_owned(), |addr| addr.to_string())
}

/// Who a token is for: user, version and family.
struct Subject {
    user_id: i64,
    version: i64,
    family_id: i64,
}

fn sign(
    ctx: &AuthContext,
    subject: &Subject,
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
    };
    ctx.keys.sign(&claims).map_err(|err| {
        tracing::error!(error = %err, "signing an access token failed");
        GrantError::Internal
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
