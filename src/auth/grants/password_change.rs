//! The caller's own password change, checked like a login.

use std::net::IpAddr;

use super::shown;
use crate::{
    auth::{
        AuthContext,
        password::HashError,
        throttle::{self, Verdict},
        users::{self, UserChange, UserError},
    },
    db::{
        self, DbError,
        events::{Ending, Reason},
    },
};

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
    caller: &crate::auth::Caller,
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
    let keys = throttle::Counters::new(Some(&caller.username), addr).with_session(caller.family_id);
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
                    .end_sessions(
                        Ending::Family(caller.family_id),
                        Reason::PasswordGuessing,
                        db::now(),
                    )
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
