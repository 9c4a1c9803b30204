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

/// The settings every command that opens the database takes.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://FILE` (created if missing, mode 0600) or
    /// `postgres://user:password@host:port/database`.
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        default_value = "sqlite://tollgate.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// bcrypt work factor for new hashes (4 to 31); logins upgrade older hashes.
    #[arg(long, env = "TOLLGATE_BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,
}

/// The settings of the server as flags; each falls back to its environment
/// variable, then to the default shown.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Listen address.
    #[arg(long, env = "TOLLGATE_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// HS256 signing key, at least 32 bytes. Unset: one is generated once and
    /// kept in the database. Prefer the variable to the flag (flags show in `ps`).
    #[arg(long, env = "TOLLGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// `iss` claim written into access tokens and required of them.
    #[arg(long, env = "TOLLGATE_ISSUER", default_value = "tollgate")]
    pub issuer: String,

    /// `aud` claim written into access tokens and required of them.
    #[arg(long, env = "TOLLGATE_AUDIENCE", default_value = "tollgate")]
    pub audience: String,

    /// Access token lifetime, like `90s`, `15m`, `2h`.
    #[arg(long, env = "TOLLGATE_ACCESS_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_ttl: Duration,

    /// Refresh token lifetime, counted from the login (rotation does not extend it).
    #[arg(long, env = "TOLLGATE_REFRESH_TTL", default_value = "14d", value_parser = parse_duration)]
    pub refresh_ttl: Duration,

    /// Failed logins for one username from one client address before that
    /// address is refused for that username (429).
    #[arg(long, env = "TOLLGATE_THROTTLE_USER_LIMIT", default_value_t = 10)]
    pub throttle_user_limit: u32,

    /// Failed logins for one username from all addresses within the window
    /// before each further failure refuses it for one second (429).
    #[arg(long, env = "TOLLGATE_THROTTLE_ACCOUNT_LIMIT", default_value_t = 100)]
    pub throttle_account_limit: u32,

    /// Failed logins from one client address (an IPv6 /64) before its attempts are refused (429).
    #[arg(long, env = "TOLLGATE_THROTTLE_ADDR_LIMIT", default_value_t = 100)]
    pub throttle_addr_limit: u32,

    /// Longest refusal after repeated failures; the back-off doubles up to it.
    #[arg(long, env = "TOLLGATE_THROTTLE_MAX_DELAY", default_value = "15m", value_parser = parse_duration)]
    pub throttle_max_delay: Duration,

    /// A failure counter with no new failure for this long starts over.
    #[arg(long, env = "TOLLGATE_THROTTLE_WINDOW", default_value = "1h", value_parser = parse_duration)]
    pub throttle_window: Duration,

    /// How often expired refresh tokens and stale counters are deleted.
    #[arg(long, env = "TOLLGATE_PURGE_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub purge_interval: Duration,

    /// Address of a second listener serving Prometheus metrics at `/metrics`.
    /// Unset: no metrics listener. Never the API's own address.
    #[arg(long, env = "TOLLGATE_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
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
    pub metrics_bind: Option<SocketAddr>,
}

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
        check_metrics_bind(args.bind, args.metrics_bind)?;
        Ok(Config {
            bind: args.bind,
            database_url: args.db.database_url,
            jwt_secret,
            issuer: args.issuer,
            audience: args.audience,
            access_ttl: args.access_ttl,
            refresh_ttl: args.refresh_ttl,
            bcrypt_cost: args.db.bcrypt_cost,
            throttle: ThrottleConfig {
                user_limit: args.throttle_user_limit.max(1),
                account_limit: args.throttle_account_limit.max(1),
                addr_limit: args.throttle_addr_limit.max(1),
                max_delay: args.throttle_max_delay,
                window: args.throttle_window,
            },
            purge_interval: args.purge_interval,
            metrics_bind: args.metrics_bind,
        })
    }
}

/// The metrics listener must not share the API's port: what it serves is for
/// the operator's scraper, and the API's port is the one open to clients.
/// Port 0 on both is fine (each gets a free port of its own).
pub fn check_metrics_bind(api: SocketAddr, metrics: Option<SocketAddr>) -> Result<(), String> {
    let Some(metrics) = metrics else {
        return Ok(());
    };
    let overlapping =
        api.ip() == metrics.ip() || api.ip().is_unspecified() || metrics.ip().is_unspecified();
    if metrics.port() != 0 && metrics.port() == api.port() && overlapping {
        return Err(format!(
            "TOLLGATE_METRICS_BIND ({metrics}) must not be the API's address \
             (TOLLGATE_BIND={api}): metrics get a listener of their own"
        ));
    }
    Ok(())
}

impl ConfigArgs {
    /// The settings from the environment alone (no flags), over the defaults.
    pub fn from_env() -> Result<Self, clap::Error> {
        use clap::Parser;

        #[derive(Parser)]
        #[command(name = "tollgate")]
        struct Defaults {
            #[command(flatten)]
            args: ConfigArgs,
        }
        Defaults::try_parse_from(["tollgate"]).map(|defaults| defaults.args)
    }
}

impl Config {
    /// The defaults, for tests and embedding: an in-directory database file.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        let mut args = ConfigArgs::from_env().expect("the environment's settings are valid");
        args.db.database_url = database_url.into();
        Config::try_from(args).expect("defaults are valid")
    }
}

impl Config {
    /// Every setting as `(variable, value)`, secrets masked: what `tollgate
    /// config` prints and `tollgate serve` logs at start.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        let t = &self.throttle;
        vec![
            ("TOLLGATE_BIND", self.bind.to_string()),
            (
                "TOLLGATE_DATABASE_URL",
                crate::db::mask_password(&self.database_url),
            ),
            (
                "TOLLGATE_JWT_SECRET",
                match self.jwt_secret {
                    Some(_) => "set (hidden)".into(),
                    None => "unset (generated once, kept in the database)".into(),
                },
            ),
            ("TOLLGATE_ISSUER", self.issuer.clone()),
            ("TOLLGATE_AUDIENCE", self.audience.clone()),
            ("TOLLGATE_ACCESS_TTL", duration(self.access_ttl)),
            ("TOLLGATE_REFRESH_TTL", duration(self.refresh_ttl)),
            ("TOLLGATE_BCRYPT_COST", self.bcrypt_cost.to_string()),
            ("TOLLGATE_THROTTLE_USER_LIMIT", t.user_limit.to_string()),
            (
                "TOLLGATE_THROTTLE_ACCOUNT_LIMIT",
                t.account_limit.to_string(),
            ),
            ("TOLLGATE_THROTTLE_ADDR_LIMIT", t.addr_limit.to_string()),
            ("TOLLGATE_THROTTLE_MAX_DELAY", duration(t.max_delay)),
            ("TOLLGATE_THROTTLE_WINDOW", duration(t.window)),
            ("TOLLGATE_PURGE_INTERVAL", duration(self.purge_interval)),
            (
                "TOLLGATE_METRICS_BIND",
                self.metrics_bind
                    .map_or_else(|| "unset (no metrics listener)".into(), |a| a.to_string()),
            ),
        ]
    }

    /// [`describe`](Self::describe) as one line, `NAME=value` pairs with a
    /// value quoted where it has spaces: what `tollgate serve` logs at start.
    pub fn describe_line(&self) -> String {
        self.describe()
            .into_iter()
            .map(|(name, value)| match value.contains(' ') {
                true => format!("{name}={value:?}"),
                false => format!("{name}={value}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_listener_may_not_take_the_api_port() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let api = addr("127.0.0.1:8000");
        assert!(check_metrics_bind(api, None).is_ok());
        assert!(check_metrics_bind(api, Some(addr("127.0.0.1:9100"))).is_ok());
        assert!(check_metrics_bind(api, Some(addr("127.0.0.2:8000"))).is_ok());
        for clash in ["127.0.0.1:8000", "0.0.0.0:8000", "[::]:8000"] {
            let err = check_metrics_bind(api, Some(addr(clash))).unwrap_err();
            assert!(err.contains("TOLLGATE_METRICS_BIND"), "{err}");
        }
        assert!(check_metrics_bind(addr("0.0.0.0:8000"), Some(api)).is_err());
        let any = addr("127.0.0.1:0");
        assert!(check_metrics_bind(any, Some(any)).is_ok());
    }

    #[test]
    fn the_start_line_masks_secrets() {
        let mut config = Config::with_database("postgres://u:hunter2pw@db.example/tollgate");
        config.jwt_secret = Some(Secret::new("s".repeat(40)));
        let line = config.describe_line();
        assert!(
            !line.contains("hunter2pw") && !line.contains(&"s".repeat(40)),
            "{line}"
        );
        assert!(
            line.contains("TOLLGATE_DATABASE_URL=postgres://u:***@db.example/tollgate"),
            "{line}"
        );
        assert!(
            line.contains("TOLLGATE_JWT_SECRET=\"set (hidden)\""),
            "{line}"
        );
        assert!(line.contains("TOLLGATE_METRICS_BIND="), "{line}");
    }
}
