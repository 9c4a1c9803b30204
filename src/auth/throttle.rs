//! Brute-force throttling of the password grant (RFC 6749 §4.3.2).
//!
//! Failures are counted per username and per client address in the database,
//! so the counts hold across restarts and across processes. Past the limit a
//! key is locked with a back-off that doubles per further failure, capped at
//! the configured maximum; a lock is never set further out than that cap.
//! Only `/token` touches these counters: bearer checks never write.

use std::net::IpAddr;

use sqlx::{SqliteConnection, SqlitePool};

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

/// How an attempt ends, once its password has been checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The password matched and no lock stands.
    Passed,
    /// The password did not match; the failure is counted.
    Failed,
    /// A lock stands, whatever the password: retry after this many seconds.
    Refused { retry_after: u64 },
}

/// Reads the counters and records the outcome of one attempt in one write
/// transaction. Concurrent attempts, in this process or another, are thus
/// settled one after the other, each seeing the counts and locks of those
/// before it: a burst of parallel guesses gets no more than the limit.
pub async fn settle(
    pool: &SqlitePool,
    config: &ThrottleConfig,
    keys: &Keys,
    matched: bool,
) -> DbResult<Verdict> {
    let mut tx = db::write_tx(pool).await?;
    let now_ms = db::throttle::now_ms();
    let rows: Vec<Failures> = db::throttle::get(
        &mut tx,
        keys.user.as_deref().unwrap_or(""),
        keys.addr.as_deref().unwrap_or(""),
    )
    .await?;
    let retry_after = rows
        .iter()
        .filter(|row| row.locked_until_ms > now_ms)
        .map(|row| ((row.locked_until_ms - now_ms) as u64).div_ceil(1000))
        .max();
    let verdict = match (retry_after, matched) {
        (Some(retry_after), _) => {
            // Counted, but not pushing the lock further out.
            record_failure(&mut tx, config, keys, now_ms, false).await?;
            Verdict::Refused { retry_after }
        }
        (None, false) => {
            record_failure(&mut tx, config, keys, now_ms, true).await?;
            Verdict::Failed
        }
        (None, true) => {
            // A success clears the username's counter (not the address's: one
            // account of one's own must not reset the count of guesses at others).
            // With no counter, nothing is written.
            if let Some(user) = keys
                .user
                .as_deref()
                .filter(|user| rows.iter().any(|r| r.key == *user))
            {
                db::throttle::clear(&mut tx, user).await?;
            }
            Verdict::Passed
        }
    };
    tx.commit().await?;
    Ok(verdict)
}

/// Counts a failed attempt against each key, and past a key's limit locks it
/// (unless `lock` is false) for the back-off, never longer than the cap.
async fn record_failure(
    conn: &mut SqliteConnection,
    config: &ThrottleConfig,
    keys: &Keys,
    now_ms: i64,
    lock: bool,
) -> DbResult<()> {
    let now = now_ms / 1000;
    let fresh_after = now - config.window.as_secs() as i64;
    let cap_ms = config.max_delay.as_millis().min(i64::MAX as u128) as i64;
    for (key, limit) in keys.limited(config) {
        let failures = db::throttle::record(conn, key, now, fresh_after).await?;
        if lock && failures >= i64::from(limit) {
            let delay = backoff_ms(failures - i64::from(limit), cap_ms);
            db::throttle::lock(conn, key, now_ms.saturating_add(delay)).await?;
        }
    }
    Ok(())
}

/// 1 s at the limit, doubling per further failure, never over `cap_ms`.
fn backoff_ms(over_limit: i64, cap_ms: i64) -> i64 {
    // 1000 << 52 still fits an i64; the cap is reached long before anyway.
    let exponent = over_limit.clamp(0, 52) as u32;
    (1000i64 << exponent).min(cap_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(0, 900_000), 1_000);
        assert_eq!(backoff_ms(3, 900_000), 8_000);
        assert_eq!(backoff_ms(10, 900_000), 900_000);
        assert_eq!(backoff_ms(10_000, 900_000), 900_000);
        assert_eq!(backoff_ms(62, i64::MAX), 1_000 << 52);
        assert_eq!(backoff_ms(0, 500), 500);
    }
}
