//! Builds the state (database, keys, hasher, scope table), assembles the
//! routes with their middleware, and serves until shut down.

use std::{future::Future, net::SocketAddr, ops::Deref, sync::Arc, time::Duration};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    web::headers::{ContentLength, HeaderMapExt},
};
use sqlx::SqlitePool;

use crate::{
    api,
    auth::{bearer::ScopeTable, jwt::Keys, password::Hasher, random_token, scopes::ScopeSet},
    config::{Config, Secret},
    db,
    error::{ApiError, shape_errors},
};

/// Request bodies over this many bytes are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long in-flight requests get to finish after SIGTERM or Ctrl-C.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<State>);

pub struct State {
    pub pool: SqlitePool,
    /// The bearer check's own query-only connections (see `db::readers`).
    pub readers: db::readers::Readers,
    pub config: Config,
    pub keys: Keys,
    pub hasher: Hasher,
    pub scopes: ScopeTable,
}

impl Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

pub type StartError = Box<dyn std::error::Error + Send + Sync>;

impl AppState {
    /// Opens and migrates the database and loads (or creates) the signing key.
    pub async fn open(config: Config) -> Result<Self, StartError> {
        let pool = db::connect(&config.database_url, pool_size()).await?;
        db::migrate(&pool).await?;
        let readers = db::readers::Readers::open(&config.database_url, reader_count()).await?;
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => Secret::new(
                db::settings::get_or_insert(&pool, "jwt_secret", &random_token(48)).await?,
            ),
        };
        let keys = Keys::new(&secret, &config.issuer, &config.audience);
        let hasher = Hasher::new(config.bcrypt_cost, Hasher::default_concurrency());
        Ok(Self(Arc::new(State {
            pool,
            readers,
            keys,
            hasher,
            scopes: ScopeTable::from_api::<api::Api>(),
            config,
        })))
    }
}

/// Read connections: SQLite in WAL mode serves readers in parallel, one per
/// core is enough to keep them busy; writers queue on the file lock anyway.
fn pool_size() -> u32 {
    std::thread::available_parallelism().map_or(4, |n| n.get() as u32 * 2)
}

/// Connections for the bearer check: its query runs on the async worker
/// threads, one per core, so one connection per core is never short.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A bound, ready-to-serve instance.
pub struct App {
    acceptor: TcpAcceptor,
    state: AppState,
}

impl App {
    /// Opens the state, creates the first admin on an empty database, and
    /// binds the listen address (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let bind = config.bind;
        let state = AppState::open(config).await?;
        bootstrap_admin(&state).await?;
        let warm = state.hasher.clone();
        tokio::spawn(async move {
            if let Err(err) = warm.warm_up().await {
                tracing::error!(error = %err, "could not prepare the dummy hash");
            }
        });
        let acceptor = TcpListener::bind(bind).into_acceptor().await?;
        Ok(Self { acceptor, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .expect("a TCP listener has a socket address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_periodically(self.state.clone()));
        tracing::info!(addr = %self.local_addr(), "listening");
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(routes(self.state), shutdown, Some(SHUTDOWN_GRACE))
            .await;
        purge.abort();
        result
    }
}

/// The whole application: the API, its spec and docs, and the middleware.
pub fn routes(state: AppState) -> impl Endpoint<Output = Response> {
    let service = api::service();
    let spec_json = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
    let docs = service.swagger_ui();
    Route::new()
        .nest("/", service)
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .data(state)
        .around(limit_body)
        .around(shape_errors)
        .around(crate::request_log::log_request)
}

/// Refuses bodies over [`MAX_BODY_BYTES`]: by `Content-Length` before reading
/// anything, or while reading a body sent without one.
async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    match req.headers().typed_get::<ContentLength>() {
        Some(ContentLength(len)) if len > MAX_BODY_BYTES as u64 => {
            return Err(ApiError::payload_too_large().into());
        }
        Some(_) => {}
        None => {
            let body = req
                .take_body()
                .into_bytes_limit(MAX_BODY_BYTES)
                .await
                .map_err(|err| match err {
                    poem::error::ReadBodyError::PayloadTooLarge => ApiError::payload_too_large(),
                    _ => ApiError::invalid_request("the request body could not be read"),
                })?;
            req.set_body(body);
        }
    }
    Ok(ep.call(req).await?.into_response())
}

/// On a database with no users at all, creates `admin` with every scope and a
/// random password, printed once to the log.
async fn bootstrap_admin(state: &AppState) -> Result<(), StartError> {
    if db::users::count(&state.pool).await? > 0 {
        return Ok(());
    }
    let password = random_token(18);
    let hash = state.hasher.hash(&password).await?;
    let admin = db::users::NewUser {
        username: "admin",
        password_hash: &hash,
        email: None,
        full_name: None,
        scopes: &ScopeSet::all().to_string(),
    };
    if db::users::create_if_none(&state.pool, &admin)
        .await?
        .is_some()
    {
        tracing::warn!("created user `admin` with every scope; initial admin password: {password}");
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
    let families = db::tokens::purge(&state.pool, now - grace, now - grace).await?;
    let stale = now - state.config.throttle.window.as_secs() as i64;
    let counters = db::throttle::purge(&state.pool, stale, now).await?;
    if families + counters > 0 {
        tracing::info!(families, counters, "purged expired sessions and counters");
    }
    Ok(())
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
