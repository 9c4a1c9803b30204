//! Prometheus metrics: the registry, the handles the code counts with, the
//! request middleware and the `GET /metrics` page of the metrics listener.
//!
//! Each [`Metrics`] has a registry of its own (no global), carried in the
//! application state: two servers in one process, as in the tests, count
//! apart. The `From<DbError>` conversions have no context
//! to reach it through, so the request middleware also makes the request's
//! `Metrics` current for the task that serves it ([`database_error`]);
//! outside a request (the CLI, the purge) nothing is counted there.
//!
//! Labels take only bounded values: route patterns from the spec, standard
//! methods, status codes, fixed outcomes. Never a raw path, a username or
//! anything a client can vary at will.

use std::{
    sync::{Arc, OnceLock, PoisonError, RwLock},
    time::Duration,
};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, http::StatusCode, web::Data,
};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder, core::Collector,
};
use tokio::task::futures::TaskLocalFuture;

mod events;
mod operations;

pub use events::EventMetrics;

use operations::{METHOD_LABELS, Operations, method_index, method_name};

/// Latency buckets in seconds: a bearer-checked read takes well under a
/// millisecond, a login one password verify (tens to hundreds of milliseconds).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How a password grant ended.
#[derive(Debug, Clone, Copy)]
pub enum Login {
    Success,
    InvalidGrant,
    InvalidScope,
    Throttled,
}

/// How a refresh grant ended.
#[derive(Debug, Clone, Copy)]
pub enum Refresh {
    Success,
    InvalidGrant,
    InvalidScope,
    ReuseDetected,
}

/// The password hasher's load at a scrape.
#[derive(Debug, Clone, Copy)]
pub struct HashLoad {
    /// Hash jobs that could start now without waiting.
    pub free: usize,
    /// Hash jobs waiting for a core.
    pub waiting: usize,
}

/// Cheap to clone: every handle is shared.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    operations: Operations,
    /// By operation ([`Operations::of`]) and method label, made at first use.
    series: Vec<OnceLock<Series>>,
    hash_load: Box<dyn Fn() -> HashLoad + Send + Sync>,
    hash_slots: i64,
    requests: IntCounterVec,
    durations: HistogramVec,
    logins: IntCounterVec,
    refreshes: IntCounterVec,
    revocations: IntCounter,
    database_errors: IntCounterVec,
    unavailable: IntCounter,
    hash_running: IntGauge,
    hash_waiting: IntGauge,
    events: EventMetrics,
}

impl Metrics {
    /// A fresh registry, naming requests by the paths of the API `A`.
    /// `hash_load` is read at each scrape for the hash-job gauges;
    /// `hash_slots` is the concurrency the hasher was made with.
    pub fn new<A: poem_openapi::OpenApi>(
        hash_load: impl Fn() -> HashLoad + Send + Sync + 'static,
        hash_slots: usize,
    ) -> Self {
        let registry = Registry::new();
        // Names and labels are constants: a failure here is a bug, found by
        // any test that starts the app.
        let add = |metric: Box<dyn Collector>| registry.register(metric).expect("a valid metric");
        let counters = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
            add(Box::new(vec.clone()));
            vec
        };
        let counter = |name: &str, help: &str| {
            let counter = IntCounter::new(name, help).expect("a valid metric");
            add(Box::new(counter.clone()));
            counter
        };
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).expect("a valid metric");
            add(Box::new(gauge.clone()));
            gauge
        };
        let requests = counters(
            "tollgate_http_requests_total",
            "HTTP requests answered, by route pattern, method and status.",
            &["operation", "method", "status"],
        );
        let opts = HistogramOpts::new(
            "tollgate_http_request_duration_seconds",
            "Time from the request's arrival to its response, by route pattern and method.",
        )
        .buckets(LATENCY_BUCKETS.to_vec());
        let durations = HistogramVec::new(opts, &["operation", "method"]).expect("a valid metric");
        add(Box::new(durations.clone()));
        let logins = counters(
            "tollgate_logins_total",
            "Password grants, by outcome.",
            &["outcome"],
        );
        let refreshes = counters(
            "tollgate_refreshes_total",
            "Refresh grants, by outcome.",
            &["outcome"],
        );
        let revocations = counter(
            "tollgate_revocations_total",
            "Sessions ended through POST /token/revoke (RFC 7009).",
        );
        let database_errors = counters(
            "tollgate_database_errors_total",
            "Database errors answered to a request: unavailable (503) or other (500).",
            &["kind"],
        );
        let unavailable = counter(
            "tollgate_unavailable_responses_total",
            "Responses with status 503.",
        );
        let hash_running = gauge(
            "tollgate_hash_jobs_running",
            "Password hashes and verifies running now.",
        );
        let hash_waiting = gauge(
            "tollgate_hash_jobs_waiting",
            "Password hashes and verifies waiting for a core.",
        );
        let slots = gauge(
            "tollgate_hash_slots",
            "Password hash jobs that may run at once; more wait.",
        );
        slots.set(hash_slots as i64);
        let info = Opts::new("tollgate_build_info", "Always 1; the version is the label.");
        let build_info = IntGaugeVec::new(info, &["version"]).expect("a valid metric");
        add(Box::new(build_info.clone()));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let events = EventMetrics::new(&registry);
        let operations = Operations::from_api::<A>();
        Self(Arc::new(Inner {
            registry,
            series: (0..operations.len() * METHOD_LABELS)
                .map(|_| OnceLock::new())
                .collect(),
            operations,
            hash_load: Box::new(hash_load),
            hash_slots: hash_slots as i64,
            requests,
            durations,
            logins,
            refreshes,
            revocations,
            database_errors,
            unavailable,
            hash_running,
            hash_waiting,
            events,
        }))
    }

    pub fn login(&self, outcome: Login) {
        let label = match outcome {
            Login::Success => "success",
            Login::InvalidGrant => "invalid_grant",
            Login::InvalidScope => "invalid_scope",
            Login::Throttled => "throttled",
        };
        self.0.logins.with_label_values(&[label]).inc();
    }

    pub fn refresh(&self, outcome: Refresh) {
        let label = match outcome {
            Refresh::Success => "success",
            Refresh::InvalidGrant => "invalid_grant",
            Refresh::InvalidScope => "invalid_scope",
            Refresh::ReuseDetected => "reuse_detected",
        };
        self.0.refreshes.with_label_values(&[label]).inc();
    }

    pub fn revocation(&self) {
        self.0.revocations.inc();
    }

    /// The revocation event stream's metrics.
    pub fn events(&self) -> &EventMetrics {
        &self.0.events
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        self.0.events.refresh();
        let load = (self.0.hash_load)();
        self.0
            .hash_running
            .set((self.0.hash_slots - load.free as i64).max(0));
        self.0.hash_waiting.set(load.waiting as i64);
        TextEncoder::new()
            .encode_to_string(&self.0.registry.gather())
            .unwrap_or_default()
    }

    /// The series of `operation` and `method`: the handles a request
    /// counts with, looked up by label once rather than on every request.
    fn series(&self, operation: usize, method: usize) -> &Series {
        let inner = &self.0;
        inner.series[operation * METHOD_LABELS + method].get_or_init(|| Series {
            operation: inner.operations.name(operation).to_owned(),
            method: method_name(method),
            duration: inner
                .durations
                .with_label_values(&[inner.operations.name(operation), method_name(method)]),
            requests: RwLock::default(),
        })
    }

    fn observe(&self, series: &Series, status: StatusCode, elapsed: Duration) {
        series.duration.observe(elapsed.as_secs_f64());
        series.count(&self.0.requests, status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            self.0.unavailable.inc();
        }
    }
}

/// One operation and method's handles.
struct Series {
    operation: String,
    method: &'static str,
    duration: Histogram,
    /// By status: a few per operation, searched faster than hashed.
    requests: RwLock<Vec<(StatusCode, IntCounter)>>,
}

impl Series {
    fn count(&self, requests: &IntCounterVec, status: StatusCode) {
        {
            let known = self.requests.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, counter)) = known.iter().find(|(known, _)| *known == status) {
                counter.inc();
                return;
            }
        }
        let mut known = self
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another request may have added it since the read.
        let at = match known.iter().position(|(known, _)| *known == status) {
            Some(at) => at,
            None => {
                let labels = [self.operation.as_str(), self.method, status.as_str()];
                known.push((status, requests.with_label_values(&labels)));
                known.len() - 1
            }
        };
        known[at].1.inc();
    }
}

tokio::task_local! {
    static CURRENT: Metrics;
}

/// Counts a database error that a request is answered with: `unavailable`
/// (the 503 kind) or not. A no-op outside a request.
pub fn database_error(unavailable: bool) {
    let kind = if unavailable { "unavailable" } else { "other" };
    let _ = CURRENT.try_with(|metrics| metrics.0.database_errors.with_label_values(&[kind]).inc());
}

/// The counting of one request, from [`Metrics::start`] to [`Metrics::finish`].
pub struct Timing {
    operation: usize,
    method: usize,
}

impl Metrics {
    pub fn start(&self, req: &Request) -> Timing {
        Timing {
            operation: self.0.operations.of(req.uri().path()),
            method: method_index(req.method()),
        }
    }

    /// Runs `future`, the handling of a request, with these metrics current.
    /// (Not an `async fn`: that would keep a second copy of `future`.)
    pub fn scope<F: Future>(&self, future: F) -> TaskLocalFuture<Metrics, F> {
        CURRENT.scope(self.clone(), future)
    }

    /// Counts and times the answer by operation, given `elapsed` since the
    /// request arrived.
    pub fn finish(&self, timing: Timing, response: &Response, elapsed: Duration) {
        let series = self.series(timing.operation, timing.method);
        self.observe(series, response.status(), elapsed);
    }
}

/// The metrics listener's routes: `GET /metrics`, nothing else.
pub fn routes(metrics: Metrics) -> impl Endpoint<Output = Response> {
    #[poem::handler]
    fn scrape(metrics: Data<&Metrics>) -> Response {
        metrics
            .render()
            .with_content_type(prometheus::TEXT_FORMAT)
            .into_response()
    }
    Route::new().at("/metrics", poem::get(scrape)).data(metrics)
}
