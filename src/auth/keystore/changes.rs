//! What an operator does to the stored keys (`tollgate keys ...`): rotate,
//! revoke a compromised key, seal keys stored in the clear.

use std::time::Duration;

use super::{KeyStoreError, PUBLISHED_WITHIN, row_of, stored};
use crate::{
    auth::{
        kek::Kek,
        keys::{self, KeyRecord, SigningAlg},
    },
    db::{
        self, Store,
        keys::{Inserted, Revocation},
    },
};

/// When the next key takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It signs once every node has published it ([`PUBLISHED_WITHIN`]) and
    /// every cache of the JWKS has expired since (`max_age`); the current
    /// key signs until then and verifies until its tokens expire.
    Planned { max_age: Duration },
    /// The current key is compromised: the new key signs at once, and every
    /// other key is revoked, so each token they signed is refused.
    Now,
}

/// Adds the next key of `alg`, sealed with `kek` when one is given. Refused
/// without `kek` when the table holds sealed keys.
pub async fn rotate(
    store: &Store,
    alg: SigningAlg,
    kek: Option<&Kek>,
    rotation: Rotation,
) -> Result<KeyRecord, KeyStoreError> {
    let now = db::now();
    let activates_at = match rotation {
        Rotation::Planned { max_age } => now + (PUBLISHED_WITHIN + max_age).as_secs() as i64,
        Rotation::Now => now,
    };
    let record = keys::generate(alg, now, activates_at, kek)?;
    match store
        .keys()
        .rotate(&row_of(&record), rotation == Rotation::Now)
        .await?
    {
        Inserted::PlaintextBesideSealed => Err(KeyStoreError::PlaintextBesideSealed),
        Inserted::Stored | Inserted::NotNeeded => Ok(record),
    }
}

/// Revokes the key `kid` now, unless it is the one signing.
pub async fn revoke(store: &Store, kid: &str) -> Result<Revocation, KeyStoreError> {
    Ok(store.keys().revoke(kid, db::now()).await?)
}

/// What [`reseal`] did.
#[derive(Debug, Default)]
pub struct Resealed {
    /// Keys that were stored in the clear and are now sealed.
    pub sealed: Vec<String>,
    /// Keys sealed with another key-encryption key, left as they are.
    pub other_kek: Vec<String>,
}

/// Seals with `kek` every private key stored in the clear.
pub async fn reseal(store: &Store, kek: &Kek) -> Result<Resealed, KeyStoreError> {
    let mut done = Resealed::default();
    for record in stored(store).await? {
        match &record.encryption_key_id {
            None => {
                let sealed = keys::reseal(&record, None, Some(kek))?;
                if store
                    .keys()
                    .seal(&record.kid, &sealed.private_key, kek.id())
                    .await?
                {
                    done.sealed.push(record.kid);
                }
            }
            Some(id) if id != kek.id() => done.other_kek.push(record.kid),
            Some(_) => {}
        }
    }
    Ok(done)
}
