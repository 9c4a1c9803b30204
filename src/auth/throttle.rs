//! Brute-force throttling of password checks: logins (RFC 6749 §4.3.2) and
//! the `current_password` of a password change.
//!
//! Failures are counted in the database, so the counts hold across restarts,
//! processes and nodes, under four keys:
//!
//! - `pair:<username>|<address>`: one party guessing at one account. Past
//!   `user_limit` failures the pair is refused, for 1 s doubling per further
//!   failure up to `max_delay`. This is the lock that stops a guesser, and it
//!   refuses no one else: the owner at another address is not affected.
//! - `addr:<address>`: one party guessing at many accounts, past
//!   `addr_limit`, with the same back-off. IPv6 addresses count per /64,
//!   since one host holds a whole /64.
//! - `user:<username>`: a guess at one account from many addresses. Its
//!   limit, `account_limit`, is ten times higher by default, and past it each
//!   failure refuses the username for one second only, never longer: a
//!   distributed attack can slow an account down, never lock its owner out.
//! - `session:<family>`: wrong `current_password` answers of one session;
//!   past [`SESSION_LIMIT`] the caller revokes that session.
//!
//! An attempt made while refused is neither counted nor lengthens any lock.
//! Each attempt is settled in one write transaction (see
//! [`Store::begin_write`]), after its password was checked, so parallel
//! attempts are settled one after the other and a burst gets no more answers
//! than the limit.

use std::{net::IpAddr, time::Duration};

use crate::db::{self, DbResult, Store, throttle::Failures, users::username_key};

/// The limits of the failure counters (the `TOLLGATE_THROTTLE_*` settings).
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Per username and client address.
    pub user_limit: u32,
    /// Per username, from every address.
    pub account_limit: u32,
    pub addr_limit: u32,
    pub max_delay: Duration,
    pub window: Duration,
}

/// Wrong `current_password` answers a session may give before it is revoked.
pub const SESSION_LIMIT: i64 = 5;

/// The account-wide refusal: short, and never escalating.
const ACCOUNT_LOCK_MS: i64 = 1_000;

/// The counters one attempt touches.
pub struct Counters {
    /// `None` for a username that cannot exist: nothing is counted for it
    /// but its address.
    pair: Option<String>,
    user: Option<String>,
    addr: Option<String>,
    session: Option<String>,
}

impl Counters {
    pub fn new(username: Option<&str>, addr: Option<IpAddr>) -> Self {
        let user = username.map(username_key);
        let addr = addr.map(address_group);
        Self {
            pair: user
                .as_deref()
                .map(|user| format!("pair:{user}|{}", addr.as_deref().unwrap_or("-"))),
            user: user.map(|user| format!("user:{user}")),
            addr: addr.map(|addr| format!("addr:{addr}")),
            session: None,
        }
    }

    /// The counters of a client authentication: per (client, address) and
    /// per address, never per client alone, so that no outsider can lock a
    /// client out by failing as it from elsewhere. `client:` keys cannot
    /// clash with a username's `pair:` keys.
    pub fn client(client_id: &str, addr: Option<IpAddr>) -> Self {
        let addr = addr.map(address_group);
        Self {
            pair: Some(format!(
                "client:{client_id}|{}",
                addr.as_deref().unwrap_or("-")
            )),
            user: None,
            addr: addr.map(|addr| format!("addr:{addr}")),
            session: None,
        }
    }

    /// Counts wrong answers of this session (token family) too.
    pub fn with_session(mut self, family_id: i64) -> Self {
        self.session = Some(format!("session:{family_id}"));
        self
    }

    fn all(&self) -> Vec<&str> {
        [&self.pair, &self.user, &self.addr, &self.session]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Each key with its limit and how a lock past it grows.
    fn limits(&self, config: &ThrottleConfig) -> Vec<(&str, i64, Backoff)> {
        let cap = config.max_delay.as_millis().min(i64::MAX as u128) as i64;
        let doubling = Backoff::Doubling { cap_ms: cap };
        [
            (&self.pair, i64::from(config.user_limit), doubling),
            (&self.user, i64::from(config.account_limit), Backoff::Flat),
            (&self.addr, i64::from(config.addr_limit), doubling),
            (&self.session, SESSION_LIMIT, Backoff::Never),
        ]
        .into_iter()
        .filter_map(|(key, limit, backoff)| Some((key.as_deref()?, limit, backoff)))
        .collect()
    }
}

/// The key an address is counted under: IPv4 as it is (an IPv4-mapped IPv6
/// address as its IPv4), IPv6 by its /64.
pub fn address_group(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
enum Backoff {
    /// 1 s at the limit, doubling per further failure, up to the cap.
    Doubling { cap_ms: i64 },
    /// 1 s per failure past the limit, whatever the count.
    Flat,
    /// Counted, never locked: the caller acts on the count.
    Never,
}

impl Backoff {
    fn delay_ms(self, over_limit: i64) -> Option<i64> {
        match self {
            Backoff::Doubling { cap_ms } => Some(backoff_ms(over_limit, cap_ms)),
            Backoff::Flat => Some(ACCOUNT_LOCK_MS),
            Backoff::Never => None,
        }
    }
}

/// How an attempt ends, once its password has been checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The password matched and no lock stands.
    Passed,
    /// The password did not match; the failure is counted. `session_spent`
    /// when the session's wrong answers reached [`SESSION_LIMIT`].
    Failed { session_spent: bool },
    /// A lock stands, whatever the password: retry after this many seconds.
    Refused { retry_after: u64 },
}

/// Reads the counters and records the outcome of one attempt in one write
/// transaction, on every key the attempt touches.
pub async fn settle(
    store: &Store,
    config: &ThrottleConfig,
    keys: &Counters,
    matched: bool,
) -> DbResult<Verdict> {
    let names = keys.all();
    let mut tx = store.begin_write(&names).await?;
    let now_ms = db::now_ms();
    let rows: Vec<Failures> = tx.failures(&names).await?;
    let retry_after = rows
        .iter()
        .filter(|row| row.locked_until_ms > now_ms)
        .map(|row| ((row.locked_until_ms - now_ms) as u64).div_ceil(1000))
        .max();
    let verdict = match (retry_after, matched) {
        // Neither counted nor lengthening anything: a refusal ends on time.
        (Some(retry_after), _) => Verdict::Refused { retry_after },
        (None, true) => {
            // A success clears the account's counters, not the address's:
            // one's own account must not reset the count of guesses at others.
            // With no counter, nothing is written.
            for key in [&keys.pair, &keys.user].into_iter().flatten() {
                if rows.iter().any(|row| row.key == *key) {
                    tx.clear(key).await?;
                }
            }
            Verdict::Passed
        }
        (None, false) => {
            let now = now_ms / 1000;
            let fresh_after = now - config.window.as_secs() as i64;
            let mut session_spent = false;
            for (key, limit, backoff) in keys.limits(config) {
                let failures = tx.record_failure(key, now, fresh_after).await?;
                if failures < limit {
                    continue;
                }
                match backoff.delay_ms(failures - limit) {
                    Some(delay) => tx.lock(key, now_ms.saturating_add(delay)).await?,
                    None => session_spent = true,
                }
            }
            Verdict::Failed { session_spent }
        }
    };
    tx.commit().await?;
    Ok(verdict)
}

/// [`settle`] for an attempt whose credentials were cheap to check (a
/// client's secret or assertion): a success with no counter on its keys
/// passes after one read, without a write transaction, so that a busy
/// client's every grant does not commit; anything else settles as usual.
pub async fn settle_cheap(
    store: &Store,
    config: &ThrottleConfig,
    keys: &Counters,
    matched: bool,
) -> DbResult<Verdict> {
    if matched && keys.user.is_none() && keys.session.is_none() {
        let names: Vec<&str> = [&keys.pair, &keys.addr]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !store.any_failures(&names).await? {
            return Ok(Verdict::Passed);
        }
    }
    settle(store, config, keys, matched).await
}

/// 1 s at the limit, doubling per further failure, never over `cap_ms`.
fn backoff_ms(over_limit: i64, cap_ms: i64) -> i64 {
    // 1000 << 52 still fits an i64; the cap is reached long before anyway.
    let exponent = over_limit.clamp(0, 52) as u32;
    (1000i64 << exponent).min(cap_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(0, 900_000), 1_000);
        assert_eq!(backoff_ms(3, 900_000), 8_000);
        assert_eq!(backoff_ms(10, 900_000), 900_000);
        assert_eq!(backoff_ms(10_000, 900_000), 900_000);
        assert_eq!(backoff_ms(62, i64::MAX), 1_000 << 52);
        assert_eq!(backoff_ms(0, 500), 500);
        assert_eq!(Backoff::Flat.delay_ms(10_000), Some(ACCOUNT_LOCK_MS));
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_group(a), address_group(b));
        assert_ne!(address_group(a), address_group(other));
        assert_eq!(address_group(a), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_group(mapped), "192.0.2.7");
    }

    #[test]
    fn keys_name_the_pair_the_account_and_the_address() {
        let keys = Counters::new(Some("Admin"), Some("192.0.2.7".parse().unwrap())).with_session(9);
        assert_eq!(
            keys.all(),
            [
                "pair:admin|192.0.2.7",
                "user:admin",
                "addr:192.0.2.7",
                "session:9"
            ]
        );
        assert_eq!(Counters::new(None, None).all(), Vec::<&str>::new());
    }
}
