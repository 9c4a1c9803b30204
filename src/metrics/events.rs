//! The revocation event stream's metrics: events written by this process,
//! SETs delivered by it, and each receiver's oldest unacknowledged event.
//!
//! The `receiver` label is bounded: receivers are the principals an
//! administrator granted the `events` scope.

use std::sync::OnceLock;

use prometheus::{IntCounter, IntGaugeVec, Opts, Registry};

pub struct EventMetrics {
    produced: IntCounter,
    /// Read at each scrape: the storage layer counts what it commits.
    produced_source: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
    delivered: IntCounter,
    oldest_pending: IntGaugeVec,
}

impl EventMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let produced = IntCounter::new(
            "tollgate_events_produced_total",
            "Session-revoked events written by this process (one per ended session).",
        )
        .expect("a valid metric");
        let delivered = IntCounter::new(
            "tollgate_events_delivered_total",
            "SETs delivered by POST /events/poll from this process (redeliveries included).",
        )
        .expect("a valid metric");
        let oldest_pending = IntGaugeVec::new(
            Opts::new(
                "tollgate_events_oldest_unacknowledged_seconds",
                "Age of the oldest event a receiver has not acknowledged, as of its last poll \
                 here (0: none).",
            ),
            &["receiver"],
        )
        .expect("a valid metric");
        for metric in [
            Box::new(produced.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(delivered.clone()),
            Box::new(oldest_pending.clone()),
        ] {
            registry.register(metric).expect("a valid metric");
        }
        Self {
            produced,
            produced_source: OnceLock::new(),
            delivered,
            oldest_pending,
        }
    }

    /// Where the count of events written comes from (set once at start).
    pub fn count_produced_by(&self, source: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self.produced_source.set(Box::new(source));
    }

    pub fn delivered(&self, count: usize) {
        self.delivered.inc_by(count as u64);
    }

    pub fn oldest_pending(&self, receiver: &str, age_secs: i64) {
        self.oldest_pending
            .with_label_values(&[receiver])
            .set(age_secs);
    }

    /// Brings the produced counter up to its source, before a scrape.
    pub(super) fn refresh(&self) {
        if let Some(source) = self.produced_source.get() {
            let total = source();
            let counted = self.produced.get();
            if total > counted {
                self.produced.inc_by(total - counted);
            }
        }
    }
}
