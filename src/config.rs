//! Every setting, read from `TOLLGATE_*` environment variables or the matching
//! command-line flags, documented in one place (and in the README's table).

use std::{fmt, net::SocketAddr, time::Duration};

use clap::Args;

/// A value that must never reach a log: its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The settings as flags; each falls back to its environment variable, then
/// to the default shown.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Listen address.
    #[arg(
        long,
        env = "TOLLGATE_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,

    /// SQLite database URL; the file is created if missing.
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        default_value = "sqlite://tollgate.db",
        global = true
    )]
    pub database_url: String,

    /// HS256 signing key, at least 32 bytes. Unset: one is generated once and
    /// kept in the database. Prefer the variable to the flag (flags show in `ps`).
    #[arg(
        long,
        env = "TOLLGATE_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,

    /// `iss` claim written into access tokens and required of them.
    #[arg(
        long,
        env = "TOLLGATE_ISSUER",
        default_value = "tollgate",
        global = true
    )]
    pub issuer: String,

    /// `aud` claim written into access tokens and required of them.
    #[arg(
        long,
        env = "TOLLGATE_AUDIENCE",
        default_value = "tollgate",
        global = true
    )]
    pub audience: String,

    /// Access token lifetime, like `90s`, `15m`, `2h`.
    #[arg(long, env = "TOLLGATE_ACCESS_TTL", default_value = "15m", value_parser = parse_duration, global = true)]
    pub access_ttl: Duration,

    /// Refresh token lifetime, counted from the login (rotation does not extend it).
    #[arg(long, env = "TOLLGATE_REFRESH_TTL", default_value = "14d", value_parser = parse_duration, global = true)]
    pub refresh_ttl: Duration,

    /// bcrypt work factor for new hashes (4 to 31); logins upgrade older hashes.
    #[arg(long, env = "TOLLGATE_BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31), global = true)]
    pub bcrypt_cost: u32,

    /// Failed logins for one username before further attempts are refused (429).
    #[arg(
        long,
        env = "TOLLGATE_THROTTLE_USER_LIMIT",
        default_value_t = 10,
        global = true
    )]
    pub throttle_user_limit: u32,

    /// Failed logins from one client address before its attempts are refused (429).
    #[arg(
        long,
        env = "TOLLGATE_THROTTLE_ADDR_LIMIT",
        default_value_t = 100,
        global = true
    )]
    pub throttle_addr_limit: u32,

    /// Longest refusal after repeated failures; the back-off doubles up to it.
    #[arg(long, env = "TOLLGATE_THROTTLE_MAX_DELAY", default_value = "15m", value_parser = parse_duration, global = true)]
    pub throttle_max_delay: Duration,

    /// A failure counter with no new failure for this long starts over.
    #[arg(long, env = "TOLLGATE_THROTTLE_WINDOW", default_value = "1h", value_parser = parse_duration, global = true)]
    pub throttle_window: Duration,

    /// Password checks allowed to wait for a core; past it, `POST /token`
    /// answers 503 with `Retry-After` at once instead of queueing.
    #[arg(
        long,
        env = "TOLLGATE_HASH_QUEUE",
        default_value_t = crate::auth::password::DEFAULT_QUEUE_LIMIT,
        global = true
    )]
    pub hash_queue: usize,

    /// Longest wait for a request's complete header (and, on HTTP/1.1, for
    /// the next request on a kept-alive connection); then the connection closes.
    #[arg(long, env = "TOLLGATE_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub header_timeout: Duration,

    /// Longest wait for a request's whole body once its header is in; a body
    /// still arriving then fails the request (400) and closes the connection.
    #[arg(long, env = "TOLLGATE_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub body_timeout: Duration,

    /// A connection with no request in flight for this long is closed.
    #[arg(long, env = "TOLLGATE_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration, global = true)]
    pub idle_timeout: Duration,

    /// Open connections at most; further ones wait in the listen backlog
    /// until one closes.
    #[arg(
        long,
        env = "TOLLGATE_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub max_connections: u32,

    /// How often expired refresh tokens and stale counters are deleted.
    #[arg(long, env = "TOLLGATE_PURGE_INTERVAL", default_value = "10m", value_parser = parse_duration, global = true)]
    pub purge_interval: Duration,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// The validated settings the service runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub jwt_secret: Option<Secret>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub bcrypt_cost: u32,
    pub throttle: ThrottleConfig,
    pub purge_interval: Duration,
    pub hash_queue: usize,
    pub server: ServerConfig,
}

/// The limits on connections (see `server`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub user_limit: u32,
    pub addr_limit: u32,
    pub max_delay: Duration,
    pub window: Duration,
}

/// The shortest signing key accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

impl TryFrom<ConfigArgs> for Config {
    type Error = String;

    fn try_from(args: ConfigArgs) -> Result<Self, String> {
        let jwt_secret = match args.jwt_secret {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                return Err(format!(
                    "TOLLGATE_JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes \
                     (or leave it unset to have one generated and kept in the database)",
                    secret.len()
                ));
            }
            secret => secret.map(Secret::new),
        };
        Ok(Config {
            bind: args.bind,
            database_url: args.database_url,
            jwt_secret,
            issuer: args.issuer,
            audience: args.audience,
            access_ttl: args.access_ttl,
            refresh_ttl: args.refresh_ttl,
            bcrypt_cost: args.bcrypt_cost,
            throttle: ThrottleConfig {
                user_limit: args.throttle_user_limit.max(1),
                addr_limit: args.throttle_addr_limit.max(1),
                max_delay: args.throttle_max_delay,
                window: args.throttle_window,
            },
            purge_interval: args.purge_interval,
            hash_queue: args.hash_queue,
            server: ServerConfig {
                header_timeout: args.header_timeout,
                body_timeout: args.body_timeout,
                idle_timeout: args.idle_timeout,
                max_connections: args.max_connections as usize,
            },
        })
    }
}

impl Config {
    /// The defaults, for tests and embedding: an in-directory database file.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        use clap::Parser;

        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            args: ConfigArgs,
        }
        let mut args = Defaults::parse_from(["tollgate"]).args;
        args.database_url = database_url.into();
        Config::try_from(args).expect("defaults are valid")
    }
}
