//! Brute-force throttling of the password grant (RFC 6749 §4.3.2).
//!
//! Failures are counted per username and per client address in the database,
//! so the counts hold across restarts and across processes. Past the limit a
//! key is locked with a back-off that doubles per further failure, capped at
//! the configured maximum; a lock is never set further out than that cap.
//! Only `/token` touches these counters: bearer checks never write.

use std::net::IpAddr;

use sqlx::SqlitePool;

use crate::{
    config::ThrottleConfig,
    db::{self, DbResult, throttle::Failures},
};

/// The two counters one login attempt touches.
pub struct Keys {
    /// `None` for a username that cannot exist: nothing is counted for it.
    user: Option<String>,
    addr: Option<String>,
}

impl Keys {
    pub fn new(username: Option<&str>, addr: Option<IpAddr>) -> Self {
        Self {
            user: username.map(|name| format!("user:{}", db::users::username_key(name))),
            addr: addr.map(|ip| format!("addr:{ip}")),
        }
    }

    fn limited<'a>(&'a self, config: &ThrottleConfig) -> impl Iterator<Item = (&'a str, u32)> {
        [
            self.user.as_deref().map(|k| (k, config.user_limit)),
            self.addr.as_deref().map(|k| (k, config.addr_limit)),
        ]
        .into_iter()
        .flatten()
    }
}

/// What the counters say about an attempt about to be made.
pub struct Status {
    /// Seconds until the attempt may be made, if it may not be made now.
    pub retry_after: Option<u64>,
    /// Whether the username has a counter to clear on success.
    pub user_counted: bool,
}

pub async fn status(pool: &SqlitePool, keys: &Keys, now: i64) -> DbResult<Status> {
    let rows: Vec<Failures> = db::throttle::get(
        pool,
        keys.user.as_deref().unwrap_or(""),
        keys.addr.as_deref().unwrap_or(""),
    )
    .await?;
    let retry_after = rows
        .iter()
        .filter(|row| row.locked_until > now)
        .map(|row| (row.locked_until - now) as u64)
        .max();
    let user_counted = keys
        .user
        .as_deref()
        .is_some_and(|user| rows.iter().any(|row| row.key == user));
    Ok(Status {
        retry_after,
        user_counted,
    })
}

/// Counts a failed attempt. `lock` is false for attempts refused while a lock
/// stands: they are counted, but do not push the lock further out.
pub async fn record_failure(
    pool: &SqlitePool,
    config: &ThrottleConfig,
    keys: &Keys,
    now: i64,
    lock: bool,
) -> DbResult<()> {
    let fresh_after = now - config.window.as_secs() as i64;
    for (key, limit) in keys.limited(config) {
        let failures = db::throttle::record(pool, key, now, fresh_after).await?;
        if lock && failures >= i64::from(limit) {
            let delay = backoff(failures - i64::from(limit), config.max_delay.as_secs());
            db::throttle::lock(pool, key, now + delay as i64).await?;
        }
    }
    Ok(())
}

/// A successful login clears the username's counter (not the address's: one
/// account of one's own must not reset the count of guesses at others).
pub async fn record_success(pool: &SqlitePool, keys: &Keys, status: &Status) -> DbResult<()> {
    match &keys.user {
        Some(user) if status.user_counted => db::throttle::clear(pool, user).await,
        _ => Ok(()),
    }
}

/// 1 s at the limit, doubling per further failure, never over `cap` seconds.
fn backoff(over_limit: i64, cap: u64) -> u64 {
    let exponent = over_limit.clamp(0, 62) as u32;
    1u64.checked_shl(exponent)
        .unwrap_or(u64::MAX)
        .min(cap.max(1))
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0, 900), 1);
        assert_eq!(backoff(3, 900), 8);
        assert_eq!(backoff(10, 900), 900);
        assert_eq!(backoff(10_000, 900), 900);
    }
}
