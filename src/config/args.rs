//! Every setting, declared once: a clap argument with its `TOLLGATE_*`
//! variable, its default and its help, which is the documentation.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{ArgMatches, Args};
use secrecy::{ExposeSecret, SecretString};

use super::SigningArgs;
use crate::auth::hashes::{self, Argon2Params, Profile};

/// The settings every command that opens the database takes. Like every
/// setting of a command with subcommands, they are `global`: accepted
/// before or after the subcommand (`tollgate user list --database-url ...`).
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://FILE` (created if missing, mode 0600) or
    /// `postgres://user:password@host:port/database`.
    /// Default: `sqlite://tollgate.db`.
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// A file holding the database URL (a container secret); its trailing
    /// line ending is ignored. Not with TOLLGATE_DATABASE_URL.
    #[arg(long, env = "TOLLGATE_DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,
}

/// How new password hashes are made: the settings of the commands that set
/// passwords (`serve`, `user`).
#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// Algorithm of new password hashes: `argon2id` or `bcrypt`. A login
    /// with a stored hash of the other algorithm, or of other parameters,
    /// replaces it, so either switch needs no password reset.
    #[arg(long, env = "TOLLGATE_PASSWORD_HASH", global = true, default_value_t = PasswordAlgorithm::Argon2id, value_enum)]
    pub password_hash: PasswordAlgorithm,

    /// bcrypt work factor for new hashes (4 to 31); logins upgrade older hashes.
    #[arg(long, env = "TOLLGATE_BCRYPT_COST", global = true, default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Argon2id memory per hash in KiB (up to 1 GiB); at most one hash per
    /// core runs at once, so hashing holds at most this times the cores.
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_MEMORY",
        global = true,
        default_value_t = DEFAULT_ARGON2.memory_kib,
        value_parser = clap::value_parser!(u32).range(8..=i64::from(hashes::MAX_ARGON2_MEMORY_KIB)),
    )]
    pub argon2_memory: u32,

    /// Argon2id passes over that memory (1 to 32).
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_ITERATIONS",
        global = true,
        default_value_t = DEFAULT_ARGON2.iterations,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(hashes::MAX_ARGON2_ITERATIONS)),
    )]
    pub argon2_iterations: u32,

    /// Argon2id lanes (1 to 16), computed one after another: more lanes
    /// change the hash, not its speed.
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_PARALLELISM",
        global = true,
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

impl std::fmt::Display for PasswordAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Argon2id => "argon2id",
            Self::Bcrypt => "bcrypt",
        })
    }
}

/// The URL used when neither `TOLLGATE_DATABASE_URL` nor its file is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tollgate.db";

impl PasswordArgs {
    /// How new password hashes are made; refused when the Argon2id
    /// parameters do not go together (under 8 KiB of memory per lane).
    pub fn password_profile(&self) -> Result<Profile, String> {
        Ok(password_profile(
            self.password_hash,
            self.bcrypt_cost,
            self.argon2_params()?,
        ))
    }

    pub(super) fn argon2_params(&self) -> Result<Argon2Params, String> {
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

impl DatabaseArgs {
    /// The database URL: as given, read from its file, or the default.
    pub fn url(&self) -> Result<String, String> {
        let given = self.database_url.clone().map(SecretString::from);
        let url = super::secrets::one_of(
            "TOLLGATE_DATABASE_URL",
            given,
            self.database_url_file.as_deref(),
        )?;
        Ok(url.map_or_else(
            || DEFAULT_DATABASE_URL.to_owned(),
            |url| url.expose_secret().to_owned(),
        ))
    }
}

/// The settings of the server as flags; each falls back to its environment
/// variable, then to the default shown.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Listen address.
    #[arg(long, env = "TOLLGATE_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub signing: SigningArgs,

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

    /// `off` turns every cross-request row cache off. `on` keeps the bearer
    /// check's rows and item pages on SQLite until the next commit, where
    /// that is safe (WAL on a local filesystem); PostgreSQL keeps none.
    #[arg(
        long,
        env = "TOLLGATE_CACHE",
        default_value = "on",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set,
    )]
    pub cache: bool,

    /// `off` removes the built-in public client `tollgate` (password and
    /// refresh grants for requests that name no client): every token request
    /// must then name a registered client allowed the grant.
    #[arg(
        long,
        env = "TOLLGATE_PUBLIC_CLIENT",
        default_value = "on",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set,
    )]
    pub public_client: bool,

    /// How often expired refresh tokens and stale counters are deleted.
    #[arg(long, env = "TOLLGATE_PURGE_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub purge_interval: Duration,

    /// Address of a second listener serving Prometheus metrics at `/metrics`.
    /// Unset: no metrics listener. Never the API's own address.
    #[arg(long, env = "TOLLGATE_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Browser origins allowed to call the token, revocation, introspection,
    /// metadata and JWKS endpoints (CORS), like `https://app.example.com`:
    /// exact origins, separated by commas or spaces; `*` is refused. Unset:
    /// no CORS headers at all.
    #[arg(long, env = "TOLLGATE_CORS_ORIGINS", value_parser = super::cors::parse)]
    pub cors_origins: Option<super::cors::CorsOrigins>,
}

pub(super) fn secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value))
}

pub(super) fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// The command that takes [`ConfigArgs`] alone (each argument's variable
/// read as clap reads it).
pub(super) fn command() -> clap::Command {
    ConfigArgs::augment_args(clap::Command::new("tollgate"))
}

/// Every setting of [`ConfigArgs`] as `(variable, value)`, in declaration
/// order: the value given (or the default), `unset`, or, for a secret (an
/// argument whose values are hidden), `set (hidden)`; a password in a URL
/// masked.
pub(super) fn settings(matches: &ArgMatches) -> Vec<(String, String)> {
    command()
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            let given = matches.get_raw(arg.get_id().as_str());
            // The database URL hides its value from `--help` too, but is
            // shown here with its password masked.
            let secret = arg.is_hide_env_values_set() && arg.get_id() != "database_url";
            let value = match given {
                None => "unset".to_owned(),
                Some(_) if secret => "set (hidden)".to_owned(),
                Some(values) => values
                    .map(|value| crate::db::mask_password(&value.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(","),
            };
            Some((name, value))
        })
        .collect()
}

/// The hashing of new passwords, from the settings.
pub(super) fn password_profile(
    algorithm: PasswordAlgorithm,
    bcrypt_cost: u32,
    argon2: Argon2Params,
) -> Profile {
    match algorithm {
        PasswordAlgorithm::Argon2id => Profile::Argon2id(argon2),
        PasswordAlgorithm::Bcrypt => Profile::Bcrypt { cost: bcrypt_cost },
    }
}
