//! Waking the long polls of `POST /events/poll` when session events are
//! written: at once for a commit of this process, within
//! [`WATCH_INTERVAL`] for one of another process or node.
//!
//! No waiter holds a connection. While any poll waits, one watcher task per
//! process reads a small signature of the event table (its row count and
//! newest id) every [`WATCH_INTERVAL`] and rings when it moved; with no
//! poll waiting it reads nothing. The count is there because on PostgreSQL
//! ids can commit out of order: a smaller id committed after a larger one
//! leaves the newest id unchanged but not the count.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use tokio::sync::Notify;

use super::{Store, on_pool};

/// How often the watcher reads the table while a poll waits.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// See the module documentation. One per [`Store`].
#[derive(Default)]
pub struct Bell {
    notify: Notify,
    waiting: AtomicUsize,
    closed: AtomicBool,
    /// Events committed by this process so far.
    written: AtomicU64,
}

/// Counts a waiting poll for as long as it lives.
pub struct Waiting<'a>(&'a Bell);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Bell {
    /// Wakes every waiter (who then reads its queue again).
    pub fn ring(&self) {
        self.notify.notify_waiters();
    }

    /// Counts `count` events committed by this process, and rings.
    pub(super) fn written(&self, count: u64) {
        self.written.fetch_add(count, Ordering::Relaxed);
        self.ring();
    }

    /// How many events this process has committed.
    pub fn produced(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// A waiter's registration: the watcher reads while one lives.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        Waiting(self)
    }

    /// The next ring. Create it (and `enable` it) before reading the queue,
    /// so that an event written between the read and the wait is not missed.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Ends every wait at once, for good: the server is stopping.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ring();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }
}

impl Store {
    pub fn bell(&self) -> &Bell {
        &self.0.bell
    }

    /// The watcher of this process (see the module documentation); runs
    /// until aborted. A failed read is retried at the next tick: polls then
    /// still end at their timeout.
    pub async fn watch_events(&self) {
        const SQL: &str = "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM session_events";
        let mut ticker = tokio::time::interval(WATCH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: Option<(i64, i64)> = None;
        loop {
            ticker.tick().await;
            if !self.bell().has_waiters() {
                // Unknown again: the first read after a pause rings, since an
                // event may have come between a poll's read and this one.
                seen = None;
                continue;
            }
            let read = async {
                Ok::<(i64, i64), super::DbError>(on_pool!(self, |pool| sqlx::query_as(SQL)
                    .fetch_one(pool)
                    .await)?)
            }
            .await;
            match read {
                Ok(now) if seen != Some(now) => {
                    seen = Some(now);
                    self.bell().ring();
                }
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "reading the event table failed"),
            }
        }
    }
}
