//! The sessions revoked events have told of, kept until the tokens they
//! name have expired, and how fresh that knowledge is.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    token::{TokenError, now},
    verifier::{Claims, VerifyError},
};

/// What the verifier does with a token while the event stream has been out
/// of reach for longer than [`EventsConfig::stale_after`](crate::EventsConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenStale {
    /// Answer 503 (`temporarily_unavailable`): no token is accepted that
    /// might have been revoked unseen. The default.
    #[default]
    Refuse,
    /// Accept tokens on their signature and claims alone, as a verifier
    /// without events would, and count each one
    /// ([`EventsStatus::accepted_stale`](crate::EventsStatus)).
    Accept,
}

/// The revoked sessions and the stream's freshness; shared by the verifier
/// (reads) and the polling task (writes).
pub(crate) struct Revocations {
    revoked: RwLock<HashMap<String, i64>>,
    /// When the last poll was answered; `None` before the first.
    synced: RwLock<Option<Instant>>,
    stale_after: Duration,
    when_stale: WhenStale,
    accepted_stale: AtomicU64,
}

impl Revocations {
    pub(crate) fn new(stale_after: Duration, when_stale: WhenStale) -> Self {
        Self {
            revoked: RwLock::default(),
            synced: RwLock::default(),
            stale_after,
            when_stale,
            accepted_stale: AtomicU64::new(0),
        }
    }

    /// Refuses a token of a revoked session; then, while the stream is
    /// stale, applies [`WhenStale`].
    pub(crate) fn admit(&self, claims: &Claims) -> Result<(), VerifyError> {
        if let Some(sid) = &claims.sid {
            let revoked = self.revoked.read().unwrap_or_else(|e| e.into_inner());
            if revoked.contains_key(sid) {
                return Err(TokenError::Invalid.into());
            }
        }
        if self.is_stale() {
            match self.when_stale {
                WhenStale::Refuse => return Err(VerifyError::EventsUnavailable),
                WhenStale::Accept => {
                    self.accepted_stale.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Records revoked sessions, each kept until its time (unix seconds);
    /// drops the entries whose time has passed.
    pub(crate) fn revoke(&self, sessions: impl IntoIterator<Item = (String, i64)>) {
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        let now = now();
        revoked.retain(|_, kept| *kept > now);
        for (sid, until) in sessions {
            let kept = revoked.entry(sid).or_insert(until);
            *kept = (*kept).max(until);
        }
    }

    /// A poll was answered: the set is current as of now.
    pub(crate) fn synced(&self) {
        *self.synced.write().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// No poll answered within `stale_after` (or none yet).
    pub(crate) fn is_stale(&self) -> bool {
        self.synced
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| at.elapsed() > self.stale_after)
    }

    pub(crate) fn revoked_count(&self) -> usize {
        self.revoked.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn accepted_stale(&self) -> u64 {
        self.accepted_stale.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sid: Option<&str>) -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "1".into(),
            exp: now() + 60,
            iat: None,
            jti: None,
            scope: String::new(),
            client_id: None,
            sid: sid.map(Into::into),
        }
    }

    #[test]
    fn a_revoked_session_is_refused_and_others_pass_once_synced() {
        let revocations = Revocations::new(Duration::from_secs(60), WhenStale::Refuse);
        assert_eq!(
            revocations.admit(&claims(Some("a"))),
            Err(VerifyError::EventsUnavailable),
            "nothing received yet counts as stale"
        );
        revocations.synced();
        revocations.revoke([("a".to_owned(), now() + 60)]);
        assert_eq!(
            revocations.admit(&claims(Some("a"))),
            Err(TokenError::Invalid.into())
        );
        assert_eq!(revocations.admit(&claims(Some("b"))), Ok(()));
        assert_eq!(revocations.admit(&claims(None)), Ok(()));
    }

    #[test]
    fn expired_entries_are_dropped_and_accepting_while_stale_is_counted() {
        let revocations = Revocations::new(Duration::ZERO, WhenStale::Accept);
        revocations.revoke([("old".to_owned(), now() - 1)]);
        revocations.revoke([("new".to_owned(), now() + 60)]);
        assert_eq!(revocations.revoked_count(), 1);
        assert_eq!(revocations.admit(&claims(Some("other"))), Ok(()));
        assert_eq!(revocations.accepted_stale(), 1);
        assert_eq!(
            revocations.admit(&claims(Some("new"))),
            Err(TokenError::Invalid.into()),
            "a known revocation is refused even while stale"
        );
    }
}
