//! The signing keys a running server uses, kept in step with the database.
//!
//! With HS256 the key is the configured or generated secret. With an
//! asymmetric algorithm the keys live in the `signing_keys` table, shared by
//! every node: the first start generates one; `tollgate keys rotate` adds
//! the next, published at once and signing once `TOLLGATE_JWKS_MAX_AGE` has
//! passed. Each node reloads its key ring every [`RELOAD_INTERVAL`], so a key
//! that starts signing on one node does so on all, and a rotation with
//! `--now` reaches every node within that interval.

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
    db::{self, DbError, Store, keys::KeyRow},
};

/// How often a server rereads the keys.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the stored signing key {0} names an unknown algorithm")]
    UnknownAlg(String),
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
        }
        let (keys, fingerprint) = build(store, &source).await?;
        Ok(Self {
            source,
            current: RwLock::new(Arc::new(keys)),
            fingerprint: Mutex::new(fingerprint),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The keys as of the last load.
    pub fn current(&self) -> Arc<AccessTokens> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Rereads the keys from the database (asymmetric algorithms only).
    pub async fn reload(&self, store: &Store) -> Result<(), KeyStoreError> {
        if !self.source.alg.is_asymmetric() {
            return Ok(());
        }
        let (keys, fingerprint) = build(store, &self.source).await?;
        let mut current = lock(&self.fingerprint);
        if *current != fingerprint {
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
            *current = fingerprint;
            lock(&self.verified).clear();
        }
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
        let claims = self.current().verify(token)?;
        let mut verified = lock(&self.verified);
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

/// The keys, and a fingerprint of what they were built from (the stored
/// keys, their times, and which one signs now).
async fn build(store: &Store, source: &KeySource) -> Result<(AccessTokens, String), KeyStoreError> {
    if !source.alg.is_asymmetric() {
        let secret = source.secret.as_ref().ok_or(KeyError::Symmetric)?;
        let keys = AccessTokens::new(secret, &source.issuer, &source.audience);
        return Ok((keys, String::new()));
    }
    let records = stored(store).await?;
    let ring = KeyRing::from_records(&records, db::now(), source.kek.as_ref())?;
    let mut fingerprint = format!("signs:{}", ring.signing_kid());
    for r in &records {
        fingerprint += &format!(";{}:{}:{:?}", r.kid, r.activates_at, r.retires_at);
    }
    Ok((
        AccessTokens::from_ring(ring, &source.issuer, &source.audience),
        fingerprint,
    ))
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
    if store.keys().insert_first(&row_of(&record)).await? {
        tracing::info!(kid = %record.kid, alg = %record.alg, "generated a signing key");
    }
    Ok(())
}

/// Adds the next key: published at once, signing after `wait` (zero for a
/// compromised key), when the keys it replaces stop signing.
pub async fn rotate(
    store: &Store,
    alg: SigningAlg,
    kek: Option<&Kek>,
    wait: Duration,
) -> Result<KeyRecord, KeyStoreError> {
    let now = db::now();
    let record = keys::generate(alg, now, now + wait.as_secs() as i64, kek)?;
    store.keys().rotate(&row_of(&record)).await?;
    Ok(record)
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
    }
}
