//! Builds the state (database, keys, hasher, scope table), assembles the
//! routes with their middleware, and serves until shut down.

use secrecy::SecretString;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use poem::{Endpoint, IntoEndpoint, Response};
use tokio::net::TcpListener;

use crate::{
    api,
    auth::{
        AuthContext, Policy,
        kek::Kek,
        keystore::{self, KeySource, LiveKeys},
        password::Hasher,
        random_token, users,
    },
    config::{self, Config},
    db::{self, Store},
    metrics::{self, HashLoad, Metrics},
    middleware::Middleware,
    server,
    state::{AppState, State},
};

/// How long in-flight requests get to finish after SIGTERM or Ctrl-C.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Opens and migrates the database, loads (or creates) the signing key,
/// and makes the state every request reads.
pub async fn open_state(config: Config) -> Result<AppState, StartError> {
    let store = Store::open(&config.database_url, pool_size(), config.cache).await?;
    let keys = LiveKeys::open(&store, key_source(&store, &config).await?).await?;
    let hash_slots = Hasher::default_concurrency();
    let hasher =
        Hasher::new(config.password_profile(), hash_slots).with_queue_limit(config.hash_queue);
    let load = hasher.clone();
    let metrics = Metrics::new::<api::Api>(
        move || HashLoad {
            free: load.free_slots(),
            waiting: load.waiting(),
        },
        hash_slots,
    );
    let bell_of = store.clone();
    metrics
        .events()
        .count_produced_by(move || bell_of.bell().produced());
    let auth = Arc::new(AuthContext {
        store,
        keys,
        hasher,
        policy: Policy {
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            throttle: config.throttle.clone(),
            public_client: config.public_client,
        },
    });
    Ok(AppState::new(State {
        auth,
        config,
        metrics,
    }))
}

/// Where the signing keys come from: the HS256 secret (configured, else
/// generated once and kept in the database), or the stored asymmetric keys
/// with the key-encryption key.
async fn key_source(store: &Store, config: &Config) -> Result<KeySource, StartError> {
    let secret = match (&config.jwt_secret, config.jwt_alg.is_asymmetric()) {
        (_, true) => None,
        (Some(secret), false) => Some(secret.clone()),
        (None, false) => Some(SecretString::from(
            store
                .setting_or_insert("jwt_secret", &random_token(48))
                .await?,
        )),
    };
    let kek = config
        .key_encryption_key
        .as_ref()
        .map(Kek::new)
        .transpose()?;
    if config.jwt_alg.is_asymmetric() && kek.is_none() {
        tracing::warn!(
            "TOLLGATE_KEY_ENCRYPTION_KEY is not set: private signing keys are stored \
             unencrypted, protected only by access to the database"
        );
    }
    Ok(KeySource {
        alg: config.jwt_alg,
        secret,
        kek,
        issuer: config.issuer_for(config.bind),
        audience: config.audience.clone(),
    })
}

/// Connections per pool. SQLite in WAL mode serves readers in parallel and
/// queues writers on the file lock, so two per core keep every core busy;
/// PostgreSQL gets the same, per node; mind `max_connections` on the server
/// when running many nodes.
fn pool_size() -> u32 {
    std::thread::available_parallelism().map_or(4, |n| n.get() as u32 * 2)
}

/// A listener on `addr`; the error names `which` and the address.
async fn bind(which: &str, addr: std::net::SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|err| {
        let why = match err.kind() {
            std::io::ErrorKind::AddrInUse => "the address is already in use".to_owned(),
            std::io::ErrorKind::AddrNotAvailable => "no interface of this host has it".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => err.to_string(),
        };
        format!("cannot listen on {addr} for {which}: {why}").into()
    })
}

/// How long scrapes in flight get to finish once the server stops.
const METRICS_GRACE: Duration = Duration::from_secs(1);

/// A bound, ready-to-serve instance.
pub struct App {
    listener: TcpListener,
    /// The metrics listener, when `TOLLGATE_METRICS_BIND` is set.
    metrics: Option<TcpListener>,
    state: AppState,
}

impl App {
    /// Logs the settings (secrets masked), opens the state, creates the first
    /// admin on an empty database, and binds the listen address and the
    /// metrics listener's, if any (port 0 picks a free port).
    pub async fn build(mut config: Config) -> Result<Self, StartError> {
        tracing::info!("configuration {}", config.describe_line());
        config::check_metrics_bind(config.bind, config.metrics_bind)?;
        // Both listeners first, so a port in use stops the start before the
        // database is touched, with the address and which listener it was.
        let listener = bind("the API (--bind, TOLLGATE_BIND)", config.bind).await?;
        let metrics = match config.metrics_bind {
            Some(addr) => Some(
                bind(
                    "the metrics listener (--metrics-bind, TOLLGATE_METRICS_BIND)",
                    addr,
                )
                .await?,
            ),
            None => None,
        };
        // The default issuer names the port actually bound (port 0 included).
        config.issuer = Some(config.issuer_for(listener.local_addr()?));
        let state = open_state(config).await?;
        bootstrap_admin(&state).await?;
        let warm = state.auth.hasher.clone();
        tokio::spawn(async move {
            if let Err(err) = warm.warm_up().await {
                tracing::error!(error = %err, "could not prepare the dummy hash");
            }
        });
        Ok(Self {
            listener,
            metrics,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a socket address")
    }

    /// The metrics listener's address, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|listener| {
            listener
                .local_addr()
                .expect("a bound TCP listener has an address")
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    /// The metrics listener stops with the API.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_periodically(self.state.clone()));
        let reload = tokio::spawn(reload_keys_periodically(self.state.clone()));
        let store = self.state.store().clone();
        let watch = tokio::spawn(async move { store.watch_events().await });
        let bell = self.state.store().clone();
        tracing::info!(
            addr = %self.local_addr(),
            database = %self.state.store().shown_url(),
            "listening"
        );
        // Dropped (so the metrics server stops) when the API's shutdown
        // fires, or when the API server ends on an error.
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = self.state.config.server.clone();
        let metrics = self.metrics.map(|listener| {
            let addr = listener.local_addr().ok();
            tracing::info!(metrics_addr = ?addr, "serving metrics at /metrics");
            let routes = metrics::routes(self.state.metrics.clone());
            let stopped = async move {
                let _ = metrics_stopped.await;
            };
            // The API's connection limits, on a listener of its own: a
            // client holding metrics connections cannot take the API's.
            let limits = limits.clone();
            tokio::spawn(async move {
                server::serve(listener, routes, &limits, stopped, METRICS_GRACE).await
            })
        });
        let shutdown = async move {
            shutdown.await;
            drop(stop_metrics);
            // Long polls answer now rather than at their timeout.
            bell.bell().close();
        };
        let result = server::serve(
            self.listener,
            routes(self.state),
            &limits,
            shutdown,
            SHUTDOWN_GRACE,
        )
        .await;
        purge.abort();
        reload.abort();
        watch.abort();
        let metrics_result = match metrics {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        };
        result.and(metrics_result)
    }
}

/// The whole application: the API, its spec and docs, and the middleware.
pub fn routes(state: AppState) -> impl Endpoint<Output = Response> {
    Middleware::new(
        api::service().into_endpoint(),
        api::docs::documents(),
        state,
    )
}

/// On a database with no users at all, creates `admin` with every scope and a
/// random password, written once to standard error itself, so that no log
/// filter or format can hide it, and kept out of the log.
async fn bootstrap_admin(state: &AppState) -> Result<(), StartError> {
    if let Some(password) = users::create_first_admin(state.store(), &state.auth.hasher).await? {
        tracing::warn!(
            "created user `admin` with every scope; its password is on standard error, once"
        );
        eprintln!(
            "tollgate: initial admin password: {password} (shown only now; \
             to replace it: tollgate user set-password admin)"
        );
    }
    Ok(())
}

/// Deletes dead token families and stale throttle counters every
/// `purge_interval`. Each delete is one short statement, off the request path.
async fn purge_periodically(state: AppState) {
    let mut ticker = tokio::time::interval(state.config.purge_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = purge(&state).await {
            tracing::warn!(error = %err, "purge failed; will retry");
        }
    }
}

/// One purge pass; public so tests and operators can run it on demand.
pub async fn purge(state: &AppState) -> Result<(), db::DbError> {
    let now = db::now();
    // An access token can outlive its family's end by up to one access TTL.
    let grace = state.config.access_ttl.as_secs() as i64;
    let store = state.store();
    let families = store.tokens().purge(now - grace, now - grace).await?;
    // An event concerns only tokens minted before it: after one access TTL
    // (and the leeway) every one of them has expired.
    let events = store
        .events()
        .purge(now - grace - tollgate_resource::token::LEEWAY_SECS as i64)
        .await?;
    let stale = now - state.config.throttle.window.as_secs() as i64;
    let counters = store.purge_failures(stale, now).await?;
    // An assertion past its `exp` (with the leeway) is refused anyway.
    let assertions = store
        .clients()
        .purge_assertions(now - tollgate_resource::token::LEEWAY_SECS as i64)
        .await?;
    // A retired key verifies until every token it signed has expired.
    let keys = store
        .keys()
        .prune(now - grace - tollgate_resource::token::LEEWAY_SECS as i64)
        .await?;
    if families + events + counters + keys + assertions > 0 {
        tracing::info!(
            families,
            events,
            counters,
            keys,
            assertions,
            "purged expired sessions, events, counters, keys and client assertions"
        );
    }
    Ok(())
}

/// Rereads the signing keys every [`keystore::RELOAD_INTERVAL`], so that a
/// rotation, from any node or the command line, takes effect here.
async fn reload_keys_periodically(state: AppState) {
    let mut ticker = tokio::time::interval(keystore::RELOAD_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    // A failure is logged when it starts and when it ends, not at every tick.
    let mut failing = false;
    loop {
        ticker.tick().await;
        match state.auth.keys.reload(state.store()).await {
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "reloading the signing keys failed; keeping the current ones until it works again");
            }
            Ok(()) if failing => {
                failing = false;
                tracing::info!("reloading the signing keys works again");
            }
            _ => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed by this call,
/// not at the first poll: call it before binding, so that a signal arriving
/// as soon as the server accepts never meets the default (fatal) action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        tokio::select! {
            () = next_signal(&mut interrupt) => {},
            () = next_signal(&mut terminate) => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down; finishing requests in flight");
    }
}

#[cfg(unix)]
async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
