//! The signing keys a running server uses, kept in step with the database.
//!
//! With HS256 the key is the configured or generated secret. With an
//! asymmetric algorithm the keys live in the `signing_keys` table, shared by
//! every node: the first start generates one; `tollgate keys rotate` adds
//! the next, published on every node within [`PUBLISHED_WITHIN`] and signing
//! `TOLLGATE_JWKS_MAX_AGE` after that. Each node reads the table's version
//! every [`RELOAD_INTERVAL`] and rebuilds its key ring when it moved, or when
//! a key's signing period starts or ends: a key that starts signing on one
//! node does so on all, and a revoked key (`--now`, `keys revoke`) stops
//! verifying on every node within [`PUBLISHED_WITHIN`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::{
    auth::{
        jwt::{AccessClaims, AccessTokens, TokenError},
        kek::Kek,
        keys::{self, KeyError, KeyRecord, KeyRing, SigningAlg},
    },
    db::{
        self, DbError, Store,
        keys::{Inserted, KeyRow},
    },
};

/// How often a server reads the keys' version (one row).
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// A change of the keys has reached every running node by then: one
/// [`RELOAD_INTERVAL`], and as long again for the reread itself.
pub const PUBLISHED_WITHIN: Duration = Duration::from_secs(2);

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the stored signing key {0} names an unknown algorithm")]
    UnknownAlg(String),
    #[error(
        "the stored signing keys are encrypted, and TOLLGATE_KEY_ENCRYPTION_KEY is not set: \
         set it to the key that sealed them; a private key is never stored unencrypted \
         beside encrypted ones"
    )]
    PlaintextBesideSealed,
}

/// Where a server's keys come from.
pub struct KeySource {
    pub alg: SigningAlg,
    /// The HS256 secret (with HS256 only).
    pub secret: Option<SecretString>,
    pub kek: Option<Kek>,
    pub issuer: String,
    pub audience: String,
}

/// Verified access tokens kept, at most; past it the cache starts over.
const VERIFIED_CAPACITY: usize = 10_000;

/// The keys in use, swapped whole on reload; cheap to read per request.
pub struct LiveKeys {
    source: KeySource,
    current: RwLock<Arc<AccessTokens>>,
    /// The key ids and times the current ring was built from: a reload that
    /// finds the same keeps the ring and its verified tokens.
    fingerprint: Mutex<String>,
    /// The table's version the ring was built at, and the next time a key
    /// starts or stops signing: until either moves, a reload reads one row.
    seen: Mutex<(i64, Option<i64>)>,
    /// Asymmetric algorithms only: tokens whose signature and claims were
    /// checked, by the SHA-256 of the token. An RS256 verify costs more than
    /// the rest of a bearer check; a hit costs one hash. A hit still has its
    /// `exp` checked, and the bearer check still reads the user and session
    /// for every request, so a revocation is seen at the next request. Emptied
    /// when the keys change, and when full.
    verified: Mutex<HashMap<[u8; 32], AccessClaims>>,
}

impl LiveKeys {
    /// Loads the keys (generating the first asymmetric key on an empty
    /// table).
    pub async fn open(store: &Store, source: KeySource) -> Result<Self, KeyStoreError> {
        if source.alg.is_asymmetric() {
            ensure_key(store, &source).await?;
            warn_of_plaintext(store, &source).await?;
        }
        let version = version(store, &source).await?;
        let built = build(store, &source).await?;
        Ok(Self {
            source,
            current: RwLock::new(Arc::new(built.keys)),
            fingerprint: Mutex::new(built.fingerprint),
            seen: Mutex::new((version, built.next_change)),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The keys as of the last load.
    pub fn current(&self) -> Arc<AccessTokens> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Rereads the keys from the database if they changed since the last
    /// read, or a key's signing period started or ended (asymmetric
    /// algorithms only). Otherwise this reads one row.
    pub async fn reload(&self, store: &Store) -> Result<(), KeyStoreError> {
        if !self.source.alg.is_asymmetric() {
            return Ok(());
        }
        // The version is read before the keys: a write in between is seen
        // again at the next reload, never missed.
        let version = version(store, &self.source).await?;
        let (seen, next_change) = *lock(&self.seen);
        if version == seen && next_change.is_none_or(|at| db::now() < at) {
            return Ok(());
        }
        let built = build(store, &self.source).await?;
        let mut current = lock(&self.fingerprint);
        if *current != built.fingerprint {
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(built.keys);
            *current = built.fingerprint;
            lock(&self.verified).clear();
        }
        *lock(&self.seen) = (version, built.next_change);
        Ok(())
    }

    pub fn alg(&self) -> SigningAlg {
        self.source.alg
    }

    pub fn issuer(&self) -> &str {
        &self.source.issuer
    }

    pub fn audience(&self) -> &str {
        &self.source.audience
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        self.current().sign(claims)
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if !self.source.alg.is_asymmetric() {
            return self.current().verify(token);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = lock(&self.verified).get(&digest).cloned();
        if let Some(claims) = cached {
            if claims.exp < db::now() - tollgate_resource::token::LEEWAY_SECS as i64 {
                return Err(TokenError::Expired);
            }
            return Ok(claims);
        }
        let keys = self.current();
        let claims = keys.verify(token)?;
        let mut verified = lock(&self.verified);
        // A reload swaps the ring, then empties the cache: a token verified
        // by a ring swapped out meanwhile (a key revoked) is not kept.
        if !Arc::ptr_eq(&keys, &self.current()) {
            return Ok(claims);
        }
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    pub fn family_of(&self, token: &str) -> Option<i64> {
        self.current().family_of(token)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A key ring and what a reload compares it by.
struct Built {
    keys: AccessTokens,
    /// The stored keys, their times, and which one signs now.
    fingerprint: String,
    /// The next time a key starts or stops signing.
    next_change: Option<i64>,
}

async fn version(store: &Store, source: &KeySource) -> Result<i64, KeyStoreError> {
    if !source.alg.is_asymmetric() {
        return Ok(0);
    }
    Ok(store.keys().version().await?)
}

async fn build(store: &Store, source: &KeySource) -> Result<Built, KeyStoreError> {
    if !source.alg.is_asymmetric() {
        let secret = source.secret.as_ref().ok_or(KeyError::Symmetric)?;
        let keys = AccessTokens::new(secret, &source.issuer, &source.audience);
        return Ok(Built {
            keys,
            fingerprint: String::new(),
            next_change: None,
        });
    }
    let records = stored(store).await?;
    let now = db::now();
    let ring = KeyRing::from_records(&records, now, source.kek.as_ref())?;
    let mut fingerprint = format!("signs:{}", ring.signing_kid());
    for r in &records {
        fingerprint += &format!(
            ";{}:{}:{:?}:{:?}",
            r.kid, r.activates_at, r.retires_at, r.revoked_at
        );
    }
    let next_change = records
        .iter()
        .filter(|r| r.revoked_at.is_none())
        .flat_map(|r| [Some(r.activates_at), r.retires_at])
        .flatten()
        .filter(|&at| at > now)
        .min();
    Ok(Built {
        keys: AccessTokens::from_ring(ring, &source.issuer, &source.audience),
        fingerprint,
        next_change,
    })
}

/// With a key-encryption key configured, says once (at start) which stored
/// private keys are not sealed: `tollgate keys reseal` seals them.
async fn warn_of_plaintext(store: &Store, source: &KeySource) -> Result<(), KeyStoreError> {
    if source.kek.is_none() {
        return Ok(());
    }
    let plain: Vec<String> = stored(store)
        .await?
        .into_iter()
        .filter(|r| r.encryption_key_id.is_none())
        .map(|r| r.kid)
        .collect();
    if !plain.is_empty() {
        tracing::warn!(
            kids = %plain.join(","),
            "{} stored signing key(s) are not encrypted although TOLLGATE_KEY_ENCRYPTION_KEY \
             is set; run `tollgate keys reseal` to encrypt them",
            plain.len()
        );
    }
    Ok(())
}

/// On a table with no key of the configured algorithm that signs now,
/// stores a new one that signs at once. Several nodes starting at
/// once store one between them.
async fn ensure_key(store: &Store, source: &KeySource) -> Result<(), KeyStoreError> {
    let now = db::now();
    let records = stored(store).await?;
    let usable = records
        .iter()
        .any(|r| r.alg == source.alg && r.signs_at(now));
    if usable {
        return Ok(());
    }
    let record = keys::generate(source.alg, now, now, source.kek.as_ref())?;
    match store.keys().insert_first(&row_of(&record)).await? {
        Inserted::Stored => {
            tracing::info!(kid = %record.kid, alg = %record.alg, "generated a signing key");
        }
        Inserted::NotNeeded => {}
        Inserted::PlaintextBesideSealed => return Err(KeyStoreError::PlaintextBesideSealed),
    }
    Ok(())
}

/// Every stored key, as records.
pub async fn stored(store: &Store) -> Result<Vec<KeyRecord>, KeyStoreError> {
    store
        .keys()
        .all()
        .await?
        .into_iter()
        .map(record_of)
        .collect()
}

fn record_of(row: KeyRow) -> Result<KeyRecord, KeyStoreError> {
    let alg: SigningAlg = row
        .alg
        .parse()
        .map_err(|_| KeyStoreError::UnknownAlg(row.kid.clone()))?;
    Ok(KeyRecord {
        kid: row.kid,
        alg,
        private_key: row.private_key,
        encryption_key_id: row.encryption_key_id,
        public_jwk: row.public_jwk,
        created_at: row.created_at,
        activates_at: row.activates_at,
        retires_at: row.retires_at,
        revoked_at: row.revoked_at,
    })
}

fn row_of(record: &KeyRecord) -> KeyRow {
    KeyRow {
        kid: record.kid.clone(),
        alg: record.alg.as_str().to_owned(),
        private_key: record.private_key.clone(),
        encryption_key_id: record.encryption_key_id.clone(),
        public_jwk: record.public_jwk.clone(),
        created_at: record.created_at,
        activates_at: record.activates_at,
        retires_at: record.retires_at,
        revoked_at: record.revoked_at,
    }
}

mod changes;

pub use changes::{Resealed, Rotation, reseal, revoke, rotate};
