//! Every setting, read from `TOLLGATE_*` environment variables or the matching
//! command-line flags, documented in one place (and in the README's table).

use std::{fmt, net::SocketAddr, time::Duration};

use clap::Args;

use crate::auth::{
    hashes::{self, Argon2Params, Profile},
    kek::MIN_KEK_BYTES,
    keys::SigningAlg,
};

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

    /// Algorithm of new password hashes: `argon2id` or `bcrypt`. A login
    /// with a stored hash of the other algorithm, or of other parameters,
    /// replaces it, so either switch needs no password reset.
    #[arg(long, env = "TOLLGATE_PASSWORD_HASH", default_value_t = PasswordAlgorithm::Argon2id, value_enum)]
    pub password_hash: PasswordAlgorithm,

    /// bcrypt work factor for new hashes (4 to 31); logins upgrade older hashes.
    #[arg(long, env = "TOLLGATE_BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Argon2id memory per hash in KiB (up to 1 GiB); at most one hash per
    /// core runs at once, so hashing holds at most this times the cores.
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_MEMORY",
        default_value_t = DEFAULT_ARGON2.memory_kib,
        value_parser = clap::value_parser!(u32).range(8..=i64::from(hashes::MAX_ARGON2_MEMORY_KIB)),
    )]
    pub argon2_memory: u32,

    /// Argon2id passes over that memory (1 to 32).
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_ITERATIONS",
        default_value_t = DEFAULT_ARGON2.iterations,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(hashes::MAX_ARGON2_ITERATIONS)),
    )]
    pub argon2_iterations: u32,

    /// Argon2id lanes (1 to 16), computed one after another: more lanes
    /// change the hash, not its speed.
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_PARALLELISM",
        default_value_t = DEFAULT_ARGON2.parallelism,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(hashes::MAX_ARGON2_PARALLELISM)),
    )]
    pub argon2_parallelism: u32,
}

/// The Argon2id parameters of new hashes by default: OWASP's m=7 MiB, t=5,
/// p=1 (chosen by measurement: docs/decisions.md, bench/README.md).
pub const DEFAULT_ARGON2: Argon2Params = hashes::OWASP_ARGON2ID[4];

/// The algorithm of new password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PasswordAlgorithm {
    Argon2id,
    Bcrypt,
}

impl fmt::Display for PasswordAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Argon2id => "argon2id",
            Self::Bcrypt => "bcrypt",
        })
    }
}

impl DatabaseArgs {
    /// How new password hashes are made; refused when the Argon2id
    /// parameters do not go together (under 8 KiB of memory per lane).
    pub fn password_profile(&self) -> Result<Profile, String> {
        let argon2 = self.argon2_params()?;
        Ok(password_profile(
            self.password_hash,
            self.bcrypt_cost,
            argon2,
        ))
    }

    fn argon2_params(&self) -> Result<Argon2Params, String> {
        let argon2 = Argon2Params::new(
            self.argon2_memory,
            self.argon2_iterations,
            self.argon2_parallelism,
        );
        argon2
            .check()
            .map_err(|why| format!("TOLLGATE_ARGON2_MEMORY / _ITERATIONS / _PARALLELISM: {why}"))?;
        Ok(argon2)
    }
}

fn password_profile(
    algorithm: PasswordAlgorithm,
    bcrypt_cost: u32,
    argon2: Argon2Params,
) -> Profile {
    match algorithm {
        PasswordAlgorithm::Argon2id => Profile::Argon2id(argon2),
        PasswordAlgorithm::Bcrypt => Profile::Bcrypt { cost: bcrypt_cost },
    }
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
    #[arg(
        long,
        env = "TOLLGATE_JWT_SECRET",
        hide_env_values = true,
        value_parser = secret,
    )]
    pub jwt_secret: Option<Secret>,

    /// Access token signing algorithm: RS256, ES256, EdDSA or HS256.
    /// Default: HS256 when TOLLGATE_JWT_SECRET is set, else RS256.
    #[arg(long, env = "TOLLGATE_JWT_ALG", value_parser = clap::value_parser!(SigningAlg))]
    pub jwt_alg: Option<SigningAlg>,

    /// Encrypts private signing keys at rest; at least 32 bytes. Unset: keys
    /// are stored unencrypted. Prefer the variable to the flag.
    #[arg(
        long,
        env = "TOLLGATE_KEY_ENCRYPTION_KEY",
        hide_env_values = true,
        value_parser = secret,
    )]
    pub key_encryption_key: Option<Secret>,

    /// JWKS `Cache-Control: max-age`; a rotated key signs only after this.
    #[arg(long, env = "TOLLGATE_JWKS_MAX_AGE", default_value = "5m", value_parser = parse_duration)]
    pub jwks_max_age: Duration,

    /// `iss` claim written into access tokens and required of them, and the
    /// RFC 8414 issuer: an absolute http(s) URL without query or fragment,
    /// used exactly as written. Default: `http://127.0.0.1:<port>` from the
    /// listen address (its own address when it is neither 0.0.0.0 nor ::).
    #[arg(long, env = "TOLLGATE_ISSUER")]
    pub issuer: Option<String>,

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

    /// Password checks allowed to wait for a core; past it, `POST /token`
    /// answers 503 with `Retry-After` at once instead of queueing.
    #[arg(
        long,
        env = "TOLLGATE_HASH_QUEUE",
        default_value_t = crate::auth::password::DEFAULT_QUEUE_LIMIT,
    )]
    pub hash_queue: usize,

    /// Longest wait for a request's complete header (and, on HTTP/1.1, for
    /// the next request on a kept-alive connection); then the connection closes.
    #[arg(long, env = "TOLLGATE_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Longest wait for a request's whole body once its header is in; a body
    /// still arriving then fails the request (400) and closes the connection.
    #[arg(long, env = "TOLLGATE_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// A connection with no request in flight for this long is closed.
    #[arg(long, env = "TOLLGATE_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Open connections at most; further ones wait in the listen backlog
    /// until one closes.
    #[arg(
        long,
        env = "TOLLGATE_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..),
    )]
    pub max_connections: u32,

    /// How often expired refresh tokens and stale counters are deleted.
    #[arg(long, env = "TOLLGATE_PURGE_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub purge_interval: Duration,

    /// Address of a second listener serving Prometheus metrics at `/metrics`.
    /// Unset: no metrics listener. Never the API's own address.
    #[arg(long, env = "TOLLGATE_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
}

fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
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
    pub jwt_alg: SigningAlg,
    pub key_encryption_key: Option<Secret>,
    pub jwks_max_age: Duration,
    /// The configured issuer; `None` means the default from the bound address
    /// (see [`Config::issuer_for`]).
    pub issuer: Option<String>,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub password_hash: PasswordAlgorithm,
    pub bcrypt_cost: u32,
    pub argon2: Argon2Params,
    pub throttle: ThrottleConfig,
    pub purge_interval: Duration,
    pub metrics_bind: Option<SocketAddr>,
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
            Some(secret) if secret.expose().len() < MIN_SECRET_BYTES => {
                return Err(format!(
                    "TOLLGATE_JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES} bytes \
                     (or leave it unset to have one generated and kept in the database)",
                    secret.expose().len()
                ));
            }
            secret => secret,
        };
        let jwt_alg = args.jwt_alg.unwrap_or(if jwt_secret.is_some() {
            SigningAlg::HS256
        } else {
            SigningAlg::RS256
        });
        if jwt_secret.is_some() && jwt_alg != SigningAlg::HS256 {
            return Err(format!(
                "TOLLGATE_JWT_SECRET is an HS256 key, but TOLLGATE_JWT_ALG is {jwt_alg}: \
                 unset one of them"
            ));
        }
        let key_encryption_key = match args.key_encryption_key {
            Some(key) if key.expose().len() < MIN_KEK_BYTES => {
                return Err(format!(
                    "TOLLGATE_KEY_ENCRYPTION_KEY is {} bytes; it must be at least {MIN_KEK_BYTES} bytes",
                    key.expose().len()
                ));
            }
            key => key,
        };
        if let Some(issuer) = &args.issuer {
            check_issuer(issuer)?;
        }
        check_metrics_bind(args.bind, args.metrics_bind)?;
        let argon2 = args.db.argon2_params()?;
        Ok(Config {
            bind: args.bind,
            database_url: args.db.database_url,
            jwt_secret,
            jwt_alg,
            key_encryption_key,
            jwks_max_age: args.jwks_max_age,
            issuer: args.issuer,
            audience: args.audience,
            access_ttl: args.access_ttl,
            refresh_ttl: args.refresh_ttl,
            password_hash: args.db.password_hash,
            bcrypt_cost: args.db.bcrypt_cost,
            argon2,
            throttle: ThrottleConfig {
                user_limit: args.throttle_user_limit.max(1),
                account_limit: args.throttle_account_limit.max(1),
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

/// RFC 8414 §2: an `https` URL (`http` is allowed here for local use) with
/// no query or fragment.
fn check_issuer(issuer: &str) -> Result<(), String> {
    let refused = |why: &str| Err(format!("TOLLGATE_ISSUER `{issuer}` {why}"));
    let Ok(url) = url::Url::parse(issuer) else {
        return refused("is not an absolute URL");
    };
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return refused("is not an http(s) URL with a host");
    }
    if issuer.contains(['?', '#']) {
        return refused("has a query or fragment, which RFC 8414 forbids");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refused("carries credentials");
    }
    Ok(())
}

impl Config {
    /// How new password hashes are made.
    pub fn password_profile(&self) -> Profile {
        password_profile(self.password_hash, self.bcrypt_cost, self.argon2)
    }

    /// The issuer: as configured, else `http://127.0.0.1:<port>` of `bound`
    /// (the address actually bound, so port 0 gives the real port), with a
    /// wildcard address (0.0.0.0, ::) read as loopback.
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        if let Some(issuer) = &self.issuer {
            return issuer.clone();
        }
        let port = bound.port();
        match bound.ip() {
            ip if ip.is_unspecified() => format!("http://127.0.0.1:{port}"),
            std::net::IpAddr::V4(ip) => format!("http://{ip}:{port}"),
            std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
        }
    }

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
                match (&self.jwt_secret, self.jwt_alg.is_asymmetric()) {
                    (Some(_), _) => "set (hidden)".into(),
                    (None, true) => "unset (not used: the signing keys are in the database)".into(),
                    (None, false) => "unset (generated once, kept in the database)".into(),
                },
            ),
            ("TOLLGATE_ISSUER", self.issuer_for(self.bind)),
            ("TOLLGATE_JWT_ALG", self.jwt_alg.to_string()),
            (
                "TOLLGATE_KEY_ENCRYPTION_KEY",
                match self.key_encryption_key {
                    Some(_) => "set (hidden)".into(),
                    None => "unset (private keys stored unencrypted)".into(),
                },
            ),
            (
                "TOLLGATE_JWKS_MAX_AGE",
                humantime::format_duration(self.jwks_max_age).to_string(),
            ),
            ("TOLLGATE_AUDIENCE", self.audience.clone()),
            ("TOLLGATE_ACCESS_TTL", duration(self.access_ttl)),
            ("TOLLGATE_REFRESH_TTL", duration(self.refresh_ttl)),
            ("TOLLGATE_PASSWORD_HASH", self.describe_hashing()),
            ("TOLLGATE_BCRYPT_COST", self.bcrypt_cost.to_string()),
            ("TOLLGATE_ARGON2_MEMORY", self.argon2.memory_kib.to_string()),
            (
                "TOLLGATE_ARGON2_ITERATIONS",
                self.argon2.iterations.to_string(),
            ),
            (
                "TOLLGATE_ARGON2_PARALLELISM",
                self.argon2.parallelism.to_string(),
            ),
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

    /// The algorithm, and the most memory hashing can hold at once: one
    /// hash per core.
    fn describe_hashing(&self) -> String {
        let cores = crate::auth::password::Hasher::default_concurrency() as u64;
        let each = self.password_profile().memory_bytes();
        let peak = each * cores;
        let shown = |bytes: u64| match bytes {
            b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
            b => format!("{} KiB", b >> 10),
        };
        format!(
            "{} (at most {cores} hashes at once, one per core: peak hashing memory {} = {} x {cores})",
            self.password_hash,
            shown(peak),
            shown(each)
        )
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
mod metrics_tests {
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        args: ConfigArgs,
    }

    fn config(flags: &[&str]) -> Result<Config, String> {
        let args =
            Args::try_parse_from(["tollgate"].iter().chain(flags)).map_err(|e| e.to_string())?;
        Config::try_from(args.args)
    }

    #[test]
    fn the_issuer_defaults_to_the_bound_address_with_wildcards_as_loopback() {
        let config = config(&[]).unwrap();
        assert_eq!(config.issuer_for(config.bind), "http://127.0.0.1:8000");
        for (bound, issuer) in [
            ("0.0.0.0:9000", "http://127.0.0.1:9000"),
            ("[::]:9000", "http://127.0.0.1:9000"),
            ("10.1.2.3:80", "http://10.1.2.3:80"),
            ("[::1]:8000", "http://[::1]:8000"),
        ] {
            assert_eq!(config.issuer_for(bound.parse().unwrap()), issuer);
        }
    }

    #[test]
    fn the_issuer_is_used_as_written_and_must_be_an_http_url_without_query() {
        let written = "https://auth.example.com/tenant/";
        let configured = config(&["--issuer", written]).unwrap();
        assert_eq!(configured.issuer_for(configured.bind), written);
        for bad in [
            "tollgate",
            "ftp://auth.example.com",
            "https://auth.example.com/?a=b",
            "https://auth.example.com/#f",
            "https://user:pw@auth.example.com",
            "/relative",
        ] {
            assert!(config(&["--issuer", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_algorithm_follows_the_secret_unless_configured() {
        let secret = "s".repeat(32);
        assert_eq!(config(&[]).unwrap().jwt_alg, SigningAlg::RS256);
        let with_secret = config(&["--jwt-secret", &secret]).unwrap();
        assert_eq!(with_secret.jwt_alg, SigningAlg::HS256);
        assert_eq!(
            config(&["--jwt-alg", "EdDSA"]).unwrap().jwt_alg,
            SigningAlg::EdDSA
        );
        assert!(
            config(&["--jwt-alg", "eddsa"]).is_err(),
            "alg names are case-sensitive"
        );
        assert!(config(&["--jwt-alg", "none"]).is_err());
        assert!(config(&["--jwt-alg", "ES256", "--jwt-secret", &secret]).is_err());
    }

    #[test]
    fn the_password_hash_settings_are_flags_and_config_shows_the_peak_memory() {
        let bcrypt = config(&["--password-hash", "bcrypt", "--bcrypt-cost", "10"]).unwrap();
        assert_eq!(bcrypt.password_profile(), Profile::Bcrypt { cost: 10 });
        let flags = ["--argon2-memory", "7168", "--argon2-iterations", "5"];
        let argon2 = config(&flags).unwrap();
        let profile = Profile::Argon2id(Argon2Params::new(7168, 5, 1));
        assert_eq!(argon2.password_profile(), profile);
        let cores = crate::auth::password::Hasher::default_concurrency();
        let (_, shown) = argon2
            .describe()
            .into_iter()
            .find(|(name, _)| *name == "TOLLGATE_PASSWORD_HASH")
            .unwrap();
        let peak = format!(
            "peak hashing memory {:.1} MiB = 7.0 MiB x {cores}",
            7.0 * cores as f64
        );
        assert!(
            shown.starts_with("argon2id") && shown.contains(&peak),
            "{shown}"
        );
        for bad in [
            &["--argon2-memory", "4194304"][..],
            &["--argon2-memory", "7"],
            &["--argon2-iterations", "0"],
            &["--argon2-iterations", "33"],
            &["--argon2-parallelism", "17"],
            &["--argon2-memory", "16", "--argon2-parallelism", "4"],
            &["--password-hash", "scrypt"],
        ] {
            assert!(config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_short_key_encryption_key_is_refused_and_never_printed() {
        let short = "k".repeat(31);
        let err = config(&["--key-encryption-key", &short]).unwrap_err();
        assert!(err.contains("31 bytes") && !err.contains(&short), "{err}");
        let long = "k".repeat(32);
        let configured = config(&["--key-encryption-key", &long]).unwrap();
        assert!(!format!("{configured:?}").contains(&long));
        assert_eq!(configured.jwks_max_age, Duration::from_secs(300));
    }
}
