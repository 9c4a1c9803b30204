//! Signing keys: what storage keeps per key ([`KeyRecord`]), how a new one is
//! made ([`generate`]), and the ring built from the records ([`KeyRing`]):
//! one key that signs now, and every published key, by `kid`, for verifying.
//!
//! Private keys are parsed once, when the ring is built; signing goes straight
//! to aws-lc-rs (constant-time RSA, ECDSA and Ed25519). Each verification key
//! pins its algorithm: a token whose header names another is refused.
//!
//! Storage keeps one row per [`KeyRecord`] and:
//! - at start, with an asymmetric algorithm and no record that signs now,
//!   inserts `generate(alg, now, now, kek)` (one node wins; all re-read);
//! - rebuilds the ring with [`KeyRing::from_records`] from every row within
//!   a second of a change, and when a key's signing period starts or ends;
//! - on rotation inserts `generate(alg, now, now + 2 s + max_age, kek)` and
//!   sets the current key's `retires_at` to the new `activates_at` (`--now`:
//!   the new key signs at `now`, and every other key is revoked);
//! - deletes rows for which [`KeyRecord::prunable_at`] holds with the access
//!   token lifetime;
//! - after a change of key-encryption key, rewrites rows with [`reseal`].

use secrecy::{ExposeSecret, SecretString};
use std::{collections::HashMap, fmt};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::auth::{
    jwks::{Jwks, PublicJwk},
    kek::{Kek, KekError},
};

pub use tollgate_resource::SigningAlg;

/// What storage keeps per asymmetric key. Times are Unix seconds.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint of the public key (SHA-256, base64url).
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 DER when `encryption_key_id` is `None`; otherwise the sealed
    /// form of it (see [`Kek::seal`]).
    pub private_key: Vec<u8>,
    /// The id of the key-encryption key that sealed `private_key`.
    pub encryption_key_id: Option<String>,
    /// The public key as a JWK (JSON), exactly what the JWKS publishes.
    pub public_jwk: String,
    pub created_at: i64,
    /// The key signs from this time on (it is published from `created_at`).
    pub activates_at: i64,
    /// The key signs no more from this time on; it still verifies until pruned.
    pub retires_at: Option<i64>,
    /// The key was declared compromised at this time: it neither signs nor
    /// verifies, and is not published.
    pub revoked_at: Option<i64>,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_key", &"[redacted]")
            .field("encryption_key_id", &self.encryption_key_id)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

impl KeyRecord {
    /// Whether the key may sign at `now`.
    pub fn signs_at(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.activates_at <= now
            && self.retires_at.is_none_or(|retired| now < retired)
    }

    /// Whether storage may delete the record: retired for longer than the
    /// longest-lived token it can have signed (`max_token_lifetime` seconds).
    pub fn prunable_at(&self, now: i64, max_token_lifetime: i64) -> bool {
        self.retires_at
            .is_some_and(|retired| retired + max_token_lifetime < now)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("HS256 keys are not generated or stored as key records")]
    Symmetric,
    #[error("generating a {0} key failed")]
    Generate(SigningAlg),
    #[error(
        "signing key {kid} is encrypted with key-encryption key {key_id}, \
         but TOLLGATE_KEY_ENCRYPTION_KEY is not set"
    )]
    MissingEncryptionKey { kid: String, key_id: String },
    #[error(
        "signing key {kid} is encrypted with key-encryption key {key_id}, \
         which is not the configured TOLLGATE_KEY_ENCRYPTION_KEY"
    )]
    WrongEncryptionKey { kid: String, key_id: String },
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error("signing key {kid} is not a valid {alg} key")]
    Malformed { kid: String, alg: SigningAlg },
    #[error("no stored signing key is active at this time")]
    NoActiveKey,
}

/// A parsed private key, ready to sign.
pub(crate) enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(EncodingKey),
}

impl Signer {
    pub(crate) fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        match self {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .ok()?;
                Some(signature)
            }
            Signer::Ec(pair) => Some(
                pair.sign(&SystemRandom::new(), message)
                    .ok()?
                    .as_ref()
                    .to_vec(),
            ),
            Signer::Ed(pair) => Some(pair.sign(message).as_ref().to_vec()),
            Signer::Hmac(key) => {
                let signature = jsonwebtoken::crypto::sign(message, key, Algorithm::HS256).ok()?;
                URL_SAFE_NO_PAD.decode(signature).ok()
            }
        }
    }
}

/// The signing key of the moment and every key that still verifies.
pub struct KeyRing {
    pub(crate) signer: Signer,
    pub(crate) signing_kid: String,
    pub(crate) signing_alg: SigningAlg,
    pub(crate) verifiers: HashMap<String, Verifier>,
    jwks: Vec<PublicJwk>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.signing_kid)
            .field("signing_alg", &self.signing_alg)
            .field("verifying_kids", &self.verifiers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// HS256 with a shared secret, as before key records: the `kid` is a
    /// truncated hash of the secret, and the JWKS is empty.
    pub fn hmac(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let kid = crate::auth::sha256_hex(&format!("tollgate-kid:{}", secret.expose_secret()))
            [..16]
            .to_owned();
        let verifier = Verifier::hmac(bytes);
        Self {
            signer: Signer::Hmac(EncodingKey::from_secret(bytes)),
            signing_kid: kid.clone(),
            signing_alg: SigningAlg::HS256,
            verifiers: HashMap::from([(kid, verifier)]),
            jwks: Vec::new(),
        }
    }

    /// The ring at `now`: the newest record (by `activates_at`) that signs at
    /// `now` signs; every record given that is not revoked verifies and is
    /// published, so pass the records not yet pruned. `kek` opens sealed private keys; only the
    /// signing key's is opened.
    pub fn from_records(
        records: &[KeyRecord],
        now: i64,
        kek: Option<&Kek>,
    ) -> Result<Self, KeyError> {
        let current = records
            .iter()
            .filter(|r| r.signs_at(now))
            .max_by_key(|r| (r.activates_at, r.created_at))
            .ok_or(KeyError::NoActiveKey)?;
        let signer = open_signer(current, kek)?;
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for record in records.iter().filter(|r| r.revoked_at.is_none()) {
            let malformed = || KeyError::Malformed {
                kid: record.kid.clone(),
                alg: record.alg,
            };
            let jwk: PublicJwk =
                serde_json::from_str(&record.public_jwk).map_err(|_| malformed())?;
            let verifier = Verifier::from_jwk(&jwk)
                .filter(|v| v.alg == record.alg && jwk.kid == record.kid)
                .ok_or_else(malformed)?;
            verifiers.insert(record.kid.clone(), verifier);
            jwks.push(jwk);
        }
        Ok(Self {
            signer,
            signing_kid: current.kid.clone(),
            signing_alg: current.alg,
            verifiers,
            jwks,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    pub fn signing_alg(&self) -> SigningAlg {
        self.signing_alg
    }

    /// The public keys to publish, in the order of the records.
    pub fn public_keys(&self) -> &[PublicJwk] {
        &self.jwks
    }

    /// The JWKS document: every published key; `{"keys": []}` under HS256.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.jwks.clone(),
        }
    }
}

fn open_signer(record: &KeyRecord, kek: Option<&Kek>) -> Result<Signer, KeyError> {
    let pkcs8 = open_private_key(record, kek)?;
    let malformed = || KeyError::Malformed {
        kid: record.kid.clone(),
        alg: record.alg,
    };
    Ok(match record.alg {
        SigningAlg::HS256 => return Err(KeyError::Symmetric),
        SigningAlg::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| malformed())?),
        SigningAlg::ES256 => Signer::Ec(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .map_err(|_| malformed())?,
        ),
        SigningAlg::EdDSA => {
            Signer::Ed(Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| malformed())?)
        }
    })
}

mod generate;

use generate::open_private_key;
pub use generate::{generate, reseal};
pub(crate) use tollgate_resource::key::Verifier;

#[cfg(test)]
mod tests;
