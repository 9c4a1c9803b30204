//! The validated settings the service runs with. Each setting is declared
//! once, as a clap argument with its variable (`args.rs`); `tollgate
//! config`, the start-up line and the table in docs/configuration.md (a
//! test compares them) derive from those declarations.

mod args;
mod cors;
mod errors;
mod log;
mod secrets;
mod signing;

pub use args::{ConfigArgs, DEFAULT_ARGON2, DatabaseArgs, PasswordAlgorithm, PasswordArgs};
pub use cors::CorsOrigins;
pub use errors::{explain, name_as_given};
pub use log::LogArgs;
pub use secrets::warn_about_flags;
pub use signing::{KeysArgs, KeysConfig, Signing, SigningArgs};

use std::{net::SocketAddr, time::Duration};

use clap::FromArgMatches;

use crate::auth::hashes::{Argon2Params, Profile};
use secrecy::SecretString;

use crate::auth::{keys::SigningAlg, throttle::ThrottleConfig};

/// The validated settings the service runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub jwt_secret: Option<SecretString>,
    pub jwt_alg: SigningAlg,
    pub key_encryption_key: Option<SecretString>,
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
    pub cache: bool,
    /// The built-in public client `tollgate` is on.
    pub public_client: bool,
    pub server: ServerConfig,
    /// Browser origins allowed to call the token and discovery endpoints.
    pub cors_origins: CorsOrigins,
    /// Every setting as given (`describe`), from the declarations.
    settings: Vec<(String, String)>,
}

/// The limits on connections (see `server`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// The shortest signing key accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

impl TryFrom<ConfigArgs> for Config {
    type Error = String;

    fn try_from(args: ConfigArgs) -> Result<Self, String> {
        let Signing {
            jwt_secret,
            jwt_alg,
            key_encryption_key,
            jwks_max_age,
        } = Signing::try_from(args.signing)?;
        let database_url = args.db.url()?;
        if let Some(issuer) = &args.issuer {
            check_issuer(issuer)?;
        }
        check_database_url(&database_url)?;
        check_metrics_bind(args.bind, args.metrics_bind)?;
        let argon2 = args.password.argon2_params()?;
        Ok(Config {
            bind: args.bind,
            database_url,
            jwt_secret,
            jwt_alg,
            key_encryption_key,
            jwks_max_age,
            issuer: args.issuer,
            audience: args.audience,
            access_ttl: args.access_ttl,
            refresh_ttl: args.refresh_ttl,
            password_hash: args.password.password_hash,
            bcrypt_cost: args.password.bcrypt_cost,
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
            cache: args.cache,
            public_client: args.public_client,
            server: ServerConfig {
                header_timeout: args.header_timeout,
                body_timeout: args.body_timeout,
                idle_timeout: args.idle_timeout,
                max_connections: args.max_connections as usize,
            },
            metrics_bind: args.metrics_bind,
            cors_origins: args.cors_origins.unwrap_or_default(),
            settings: Vec::new(),
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

/// The engines the store opens (`db::Store::open` refuses the rest too).
fn check_database_url(url: &str) -> Result<(), String> {
    let known = ["sqlite:", "postgres:", "postgresql:"];
    if known.iter().any(|scheme| url.starts_with(scheme)) {
        return Ok(());
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(format!(
        "TOLLGATE_DATABASE_URL must start with sqlite:// or postgres://, not `{scheme}`"
    ))
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

    /// The defaults with this database, for tests and embedding. No
    /// variable of the environment is read.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        let command = args::command().mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["tollgate", "--database-url", &database_url.into()])
            .expect("the database URL is a valid setting");
        Config::from_matches(&matches).expect("the defaults are valid")
    }

    /// The settings parsed from `matches` of a command that takes
    /// [`ConfigArgs`], validated as `serve` validates them.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Self, String> {
        let parsed = ConfigArgs::from_arg_matches(matches).map_err(|err| err.to_string())?;
        let mut config = Config::try_from(parsed).map_err(|err| name_as_given(&err, matches))?;
        config.settings = args::settings(matches);
        Ok(config)
    }

    /// The settings from the environment alone (no flags), over the defaults:
    /// what `tollgate` with no command serves with.
    pub fn from_env() -> Result<Self, String> {
        let mut command = args::command();
        let matches = command
            .try_get_matches_from_mut(["tollgate"])
            .map_err(|err| explain(&err, &command, &[]).unwrap_or_else(|| err.to_string()))?;
        Config::from_matches(&matches)
    }
}

impl Config {
    /// Every setting as `(variable, value)`, in the order the settings are
    /// declared ([`ConfigArgs`]), secrets masked: what `tollgate config`
    /// prints and `tollgate serve` logs at start. A setting left to a default
    /// that depends on others says what it resolved to.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.settings
            .iter()
            .map(|(name, value)| {
                let value = match (name.as_str(), value.as_str()) {
                    ("TOLLGATE_ISSUER", "unset") => {
                        format!("{} (from the listen address)", self.issuer_for(self.bind))
                    }
                    ("TOLLGATE_JWT_ALG", "unset") => format!("{} (the default)", self.jwt_alg),
                    ("TOLLGATE_PASSWORD_HASH", _) => self.describe_hashing(),
                    ("TOLLGATE_DATABASE_URL", "unset") => {
                        let url = crate::db::mask_password(&self.database_url);
                        let from_file = self.settings.iter().any(|(name, value)| {
                            name == "TOLLGATE_DATABASE_URL_FILE" && value != "unset"
                        });
                        match from_file {
                            true => format!("{url} (from TOLLGATE_DATABASE_URL_FILE)"),
                            false => format!("{url} (the default)"),
                        }
                    }
                    _ => value.clone(),
                };
                (name.clone(), value)
            })
            .collect()
    }

    /// How new password hashes are made.
    pub fn password_profile(&self) -> Profile {
        args::password_profile(self.password_hash, self.bcrypt_cost, self.argon2)
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
mod tests;
