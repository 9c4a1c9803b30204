//! `tollgate keys`: the asymmetric signing keys every node shares.

use clap::Subcommand;

use super::users::rfc3339;
use crate::{
    app::StartError,
    auth::{
        kek::Kek,
        keystore::{self, PUBLISHED_WITHIN, Rotation},
    },
    config::Signing,
    db::{self, Store, keys::Revocation},
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: kid, algorithm, state, and when each was created,
    /// signs and retires.
    List,
    /// Add the next key: published on every running node within 2 s, signing
    /// TOLLGATE_JWKS_MAX_AGE after that, when the current key stops signing.
    /// Safe while servers run.
    Rotate {
        /// For a compromised key: the new key signs at once, and every other
        /// key is revoked: within 2 s no running node verifies or publishes
        /// them, and every token they signed is refused.
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key that does not sign now (a published or retired one):
    /// within 2 s no running node verifies or publishes it. For the signing
    /// key, use `rotate --now`.
    Revoke {
        /// The key's id, as `keys list` shows it (base64url: it may start
        /// with `-`, which is read as the id, not a flag).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Encrypt with TOLLGATE_KEY_ENCRYPTION_KEY every private key stored
    /// unencrypted.
    Reseal,
}

pub(super) async fn keys(
    store: &Store,
    config: &Signing,
    command: KeysCommand,
) -> Result<(), StartError> {
    let kek = config
        .key_encryption_key
        .as_ref()
        .map(Kek::new)
        .transpose()?;
    match command {
        KeysCommand::List => list(store).await?,
        KeysCommand::Rotate { now: at_once } => {
            if !config.jwt_alg.is_asymmetric() {
                return Err(
                    "TOLLGATE_JWT_ALG is HS256, which uses a shared secret and no stored keys: \
                     to rotate it, change TOLLGATE_JWT_SECRET"
                        .into(),
                );
            }
            let rotation = if at_once {
                Rotation::Now
            } else {
                Rotation::Planned {
                    max_age: config.jwks_max_age,
                }
            };
            let record = keystore::rotate(store, config.jwt_alg, kek.as_ref(), rotation).await?;
            let within = PUBLISHED_WITHIN.as_secs();
            if at_once {
                println!(
                    "added {} key {}: it signs now; every other key is revoked; \
                     running servers apply this within {within} s",
                    record.alg, record.kid
                );
            } else {
                println!(
                    "added {} key {}: published on running servers within {within} s, \
                     signs from {} ({within} s + TOLLGATE_JWKS_MAX_AGE from now)",
                    record.alg,
                    record.kid,
                    rfc3339(record.activates_at)
                );
            }
        }
        KeysCommand::Revoke { kid } => {
            let shown = kid.escape_debug().to_string();
            match keystore::revoke(store, &kid).await? {
                Revocation::Revoked => println!(
                    "revoked key {shown}: running servers stop verifying and publishing it \
                     within {} s",
                    PUBLISHED_WITHIN.as_secs()
                ),
                Revocation::AlreadyRevoked => println!("key {shown} was already revoked"),
                Revocation::Unknown => {
                    return Err(format!("no stored key {shown} (see `tollgate keys list`)").into());
                }
                Revocation::Signing => {
                    return Err(format!(
                        "key {shown} is the signing key: to replace a compromised signing key, \
                         run `tollgate keys rotate --now`"
                    )
                    .into());
                }
            }
        }
        KeysCommand::Reseal => {
            let Some(kek) = kek else {
                return Err(
                    "TOLLGATE_KEY_ENCRYPTION_KEY is not set: set it to the key to encrypt \
                     the stored private keys with"
                        .into(),
                );
            };
            let done = keystore::reseal(store, &kek).await?;
            for kid in &done.sealed {
                println!("encrypted key {kid}");
            }
            for kid in &done.other_kek {
                println!("key {kid} is encrypted with another key-encryption key; left as it is");
            }
            println!("{} key(s) encrypted", done.sealed.len());
        }
    }
    Ok(())
}

async fn list(store: &Store) -> Result<(), StartError> {
    let now = db::now();
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
            _ if record.revoked_at.is_some() => "revoked",
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
    Ok(())
}
