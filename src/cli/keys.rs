//! `tollgate keys`: the asymmetric signing keys every node shares.

use clap::Subcommand;

use super::users::rfc3339;
use crate::{
    app::StartError,
    auth::{kek::Kek, keystore},
    config::Config,
    db::{self, Store},
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: kid, algorithm, state, and when each was created,
    /// signs and retires.
    List,
    /// Add the next key: published at once, signing once
    /// TOLLGATE_JWKS_MAX_AGE has passed, when the current key stops signing.
    /// Servers pick it up within 10 s; safe while they run.
    Rotate {
        /// Sign with the new key at once and retire the current one now: for
        /// a compromised key. Verifiers whose cached JWKS lacks the new key
        /// refuse its tokens until they refetch.
        #[arg(long)]
        now: bool,
    },
}

pub(super) async fn keys(
    store: &Store,
    config: &Config,
    command: KeysCommand,
) -> Result<(), StartError> {
    let now = db::now();
    match command {
        KeysCommand::List => {
            println!(
                "{:<44} {:<6} {:<10} {:<20} {:<20} {:<20}",
                "kid", "alg", "state", "created", "signs from", "retires"
            );
            let records = keystore::stored(store).await?;
            let signing = records
                .iter()
                .filter(|r| r.signs_at(now))
                .max_by_key(|r| (r.activates_at, r.created_at))
                .map(|r| r.kid.clone());
            for record in &records {
                let state = match record.retires_at {
                    Some(at) if at <= now => "retired",
                    _ if record.activates_at > now => "published",
                    _ if signing.as_deref() == Some(record.kid.as_str()) => "signing",
                    _ => "superseded",
                };
                println!(
                    "{:<44} {:<6} {:<10} {:<20} {:<20} {:<20}",
                    record.kid,
                    record.alg,
                    state,
                    rfc3339(record.created_at),
                    rfc3339(record.activates_at),
                    record.retires_at.map(rfc3339).unwrap_or_default()
                );
            }
        }
        KeysCommand::Rotate { now: at_once } => {
            if !config.jwt_alg.is_asymmetric() {
                return Err(
                    "TOLLGATE_JWT_ALG is HS256, which uses a shared secret and no stored keys: \
                     to rotate it, change TOLLGATE_JWT_SECRET"
                        .into(),
                );
            }
            let kek = config
                .key_encryption_key
                .as_ref()
                .map(Kek::new)
                .transpose()?;
            let wait = if at_once {
                std::time::Duration::ZERO
            } else {
                config.jwks_max_age
            };
            let record = keystore::rotate(store, config.jwt_alg, kek.as_ref(), wait).await?;
            println!(
                "added {} key {}: published now, signs from {}{}",
                record.alg,
                record.kid,
                rfc3339(record.activates_at),
                if at_once {
                    " (the previous key signs no more)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
