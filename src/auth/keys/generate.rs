//! Making key records: new key pairs, and moving a record to another
//! key-encryption key.

use aws_lc_rs::{
    encoding::AsDer,
    rsa::KeySize,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
        RsaPublicKeyComponents,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{KeyError, KeyRecord, SigningAlg};
use crate::auth::{jwks::PublicJwk, kek::Kek};

/// Makes a new key pair for `alg`, published from `now`, signing from
/// `activates_at`, its private key sealed with `kek` when one is given.
pub fn generate(
    alg: SigningAlg,
    now: i64,
    activates_at: i64,
    kek: Option<&Kek>,
) -> Result<KeyRecord, KeyError> {
    let failed = |_| KeyError::Generate(alg);
    let (pkcs8, jwk) = match alg {
        SigningAlg::HS256 => return Err(KeyError::Symmetric),
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der = pair.as_der().map_err(failed)?.as_ref().to_vec();
            (der, rsa_jwk(&pair))
        }
        SigningAlg::ES256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?;
            let der = pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec();
            (
                der,
                ec_jwk(pair.public_key().as_ref()).ok_or(KeyError::Generate(alg))?,
            )
        }
        SigningAlg::EdDSA => {
            let pair = Ed25519KeyPair::generate().map_err(failed)?;
            let der = pair.to_pkcs8().map_err(failed)?.as_ref().to_vec();
            (der, PublicJwk::okp(b64(pair.public_key().as_ref())))
        }
    };
    let jwk = jwk.with_kid_and_alg(alg);
    let (private_key, encryption_key_id) = match kek {
        Some(kek) => (kek.seal(&jwk.kid, &pkcs8), Some(kek.id().to_owned())),
        None => (pkcs8, None),
    };
    Ok(KeyRecord {
        kid: jwk.kid.clone(),
        alg,
        private_key,
        encryption_key_id,
        public_jwk: serde_json::to_string(&jwk).expect("a JWK serializes"),
        created_at: now,
        activates_at,
        retires_at: None,
        revoked_at: None,
    })
}

/// The record with its private key sealed under `to` (or in the clear with
/// `None`), opened with `from`: how records move to a new key-encryption key.
pub fn reseal(
    record: &KeyRecord,
    from: Option<&Kek>,
    to: Option<&Kek>,
) -> Result<KeyRecord, KeyError> {
    let pkcs8 = open_private_key(record, from)?;
    let (private_key, encryption_key_id) = match to {
        Some(kek) => (kek.seal(&record.kid, &pkcs8), Some(kek.id().to_owned())),
        None => (pkcs8, None),
    };
    Ok(KeyRecord {
        private_key,
        encryption_key_id,
        ..record.clone()
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(pair: &RsaKeyPair) -> PublicJwk {
    let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    PublicJwk::rsa(b64(&parts.n), b64(&parts.e))
}

/// An uncompressed P-256 point, `04 || x || y`.
fn ec_jwk(point: &[u8]) -> Option<PublicJwk> {
    let coordinates = point.strip_prefix(&[4])?;
    (coordinates.len() == 64).then(|| {
        let (x, y) = coordinates.split_at(32);
        PublicJwk::ec(b64(x), b64(y))
    })
}

/// The PKCS#8 DER of `record`, decrypted with `kek` when it is sealed.
pub(super) fn open_private_key(record: &KeyRecord, kek: Option<&Kek>) -> Result<Vec<u8>, KeyError> {
    Ok(match (&record.encryption_key_id, kek) {
        (None, _) => record.private_key.clone(),
        (Some(key_id), None) => {
            return Err(KeyError::MissingEncryptionKey {
                kid: record.kid.clone(),
                key_id: key_id.clone(),
            });
        }
        (Some(key_id), Some(kek)) if key_id != kek.id() => {
            return Err(KeyError::WrongEncryptionKey {
                kid: record.kid.clone(),
                key_id: key_id.clone(),
            });
        }
        (Some(_), Some(kek)) => kek.open(&record.kid, &record.private_key)?,
    })
}
