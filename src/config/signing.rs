//! The signing settings, declared and validated: shared by `serve` and `keys`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, FromArgMatches};
use secrecy::SecretString;

use super::{
    DatabaseArgs, MIN_SECRET_BYTES,
    args::{parse_duration, secret},
    name_as_given, secrets,
};
use crate::auth::{kek::MIN_KEK_BYTES, keys::SigningAlg};

/// The signing settings: what `serve` signs with, and what `keys` rotates,
/// revokes and reseals.
#[derive(Debug, Clone, Args)]
pub struct SigningArgs {
    /// HS256 signing key, at least 32 bytes and not easy to guess; setting it
    /// makes HS256 the default algorithm. Unused under RS256, ES256 and EdDSA;
    /// under HS256 without it, one is generated once and kept in the
    /// database. Prefer the variable or its file to the flag (flags show in
    /// `ps`).
    #[arg(
        long,
        env = "TOLLGATE_JWT_SECRET",
        global = true,
        hide_env_values = true,
        value_parser = secret,
    )]
    pub jwt_secret: Option<SecretString>,

    /// A file holding TOLLGATE_JWT_SECRET (a container secret); its trailing
    /// line ending is ignored. Not with TOLLGATE_JWT_SECRET.
    #[arg(long, env = "TOLLGATE_JWT_SECRET_FILE", global = true)]
    pub jwt_secret_file: Option<PathBuf>,

    /// Access token signing algorithm: RS256, ES256, EdDSA or HS256.
    /// Default: HS256 when TOLLGATE_JWT_SECRET is set, else RS256.
    #[arg(long, env = "TOLLGATE_JWT_ALG", global = true, value_parser = clap::value_parser!(SigningAlg))]
    pub jwt_alg: Option<SigningAlg>,

    /// Encrypts private signing keys at rest; at least 32 bytes and not easy
    /// to guess. Unset: keys are stored unencrypted. Prefer the variable or
    /// its file to the flag.
    #[arg(
        long,
        env = "TOLLGATE_KEY_ENCRYPTION_KEY",
        global = true,
        hide_env_values = true,
        value_parser = secret,
    )]
    pub key_encryption_key: Option<SecretString>,

    /// A file holding TOLLGATE_KEY_ENCRYPTION_KEY (a container secret); its
    /// trailing line ending is ignored. Not with TOLLGATE_KEY_ENCRYPTION_KEY.
    #[arg(long, env = "TOLLGATE_KEY_ENCRYPTION_KEY_FILE", global = true)]
    pub key_encryption_key_file: Option<PathBuf>,

    /// JWKS `Cache-Control: max-age`; a rotated key signs only after this.
    #[arg(long, env = "TOLLGATE_JWKS_MAX_AGE", global = true, default_value = "5m", value_parser = parse_duration)]
    pub jwks_max_age: Duration,
}

/// The settings of `tollgate keys`: the database and the signing settings.
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    #[command(flatten)]
    pub signing: SigningArgs,
}

/// What tokens are signed with, and how the stored keys are protected.
#[derive(Debug, Clone)]
pub struct Signing {
    pub jwt_secret: Option<SecretString>,
    pub jwt_alg: SigningAlg,
    pub key_encryption_key: Option<SecretString>,
    pub jwks_max_age: Duration,
}

impl TryFrom<SigningArgs> for Signing {
    type Error = String;

    fn try_from(args: SigningArgs) -> Result<Self, String> {
        let jwt_secret = secrets::one_of(
            "TOLLGATE_JWT_SECRET",
            args.jwt_secret,
            args.jwt_secret_file.as_deref(),
        )?;
        if let Some(secret) = &jwt_secret {
            secrets::check_strength("TOLLGATE_JWT_SECRET", secret, MIN_SECRET_BYTES).map_err(
                |err| format!("{err} (or leave it unset to sign with RS256, the default)"),
            )?;
        }
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
        let key_encryption_key = secrets::one_of(
            "TOLLGATE_KEY_ENCRYPTION_KEY",
            args.key_encryption_key,
            args.key_encryption_key_file.as_deref(),
        )?;
        if let Some(key) = &key_encryption_key {
            secrets::check_strength("TOLLGATE_KEY_ENCRYPTION_KEY", key, MIN_KEK_BYTES)?;
        }
        Ok(Signing {
            jwt_secret,
            jwt_alg,
            key_encryption_key,
            jwks_max_age: args.jwks_max_age,
        })
    }
}

/// The validated settings of `tollgate keys`.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    pub database_url: String,
    pub signing: Signing,
}

impl KeysConfig {
    /// The settings parsed from the matches of `tollgate keys`.
    pub fn from_matches(matches: &clap::ArgMatches) -> Result<Self, String> {
        let parsed = KeysArgs::from_arg_matches(matches).map_err(|err| err.to_string())?;
        let settings = || -> Result<Self, String> {
            Ok(KeysConfig {
                database_url: parsed.db.url()?,
                signing: Signing::try_from(parsed.signing.clone())?,
            })
        };
        settings().map_err(|err| name_as_given(&err, matches))
    }
}
