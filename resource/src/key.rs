//! Verification keys, parsed once: aws-lc-rs checks each signature against a
//! key it has already validated, instead of rebuilding it per token.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::{SigningAlg, jwks::PublicJwk};

/// One key that verifies, with the one algorithm it verifies.
#[derive(Clone)]
pub struct Verifier {
    pub alg: SigningAlg,
    key: Key,
}

#[derive(Clone)]
enum Key {
    Public(ParsedPublicKey),
    Hmac(DecodingKey),
}

impl Verifier {
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            alg: SigningAlg::HS256,
            key: Key::Hmac(DecodingKey::from_secret(secret)),
        }
    }

    /// From a published JWK; `None` when it is not one of the three
    /// asymmetric algorithms or its parameters do not fit its algorithm.
    pub fn from_jwk(jwk: &PublicJwk) -> Option<Self> {
        let alg: SigningAlg = jwk.alg.parse().ok()?;
        let bytes = |v: &Option<String>| URL_SAFE_NO_PAD.decode(v.as_deref()?).ok();
        let key = match (alg, jwk.kty.as_str(), jwk.crv.as_deref()) {
            (SigningAlg::RS256, "RSA", None) => {
                let der = rsa_public_key_der(&bytes(&jwk.n)?, &bytes(&jwk.e)?);
                ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).ok()?
            }
            (SigningAlg::ES256, "EC", Some("P-256")) => {
                let (x, y) = (bytes(&jwk.x)?, bytes(&jwk.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let point = [&[4u8][..], &x, &y].concat();
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()?
            }
            (SigningAlg::EdDSA, "OKP", Some("Ed25519")) => {
                ParsedPublicKey::new(&ED25519, bytes(&jwk.x)?).ok()?
            }
            _ => return None,
        };
        Some(Self {
            alg,
            key: Key::Public(key),
        })
    }

    /// Checks `signature` (base64url) over `message`.
    pub fn verify(&self, message: &[u8], signature: &str) -> bool {
        match &self.key {
            Key::Public(key) => URL_SAFE_NO_PAD
                .decode(signature)
                .is_ok_and(|signature| key.verify_sig(message, &signature).is_ok()),
            // Compared in constant time by jsonwebtoken's aws-lc-rs backend.
            Key::Hmac(key) => matches!(
                jsonwebtoken::crypto::verify(signature, message, key, Algorithm::HS256),
                Ok(true)
            ),
        }
    }
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let body = [der_integer(n), der_integer(e)].concat();
    der(0x30, &body)
}

fn der_integer(unsigned: &[u8]) -> Vec<u8> {
    let trimmed = match unsigned.iter().position(|b| *b != 0) {
        Some(first) => &unsigned[first..],
        None => &[0][..],
    };
    // A leading 1 bit would make the integer negative.
    let value = if trimmed[0] & 0x80 != 0 {
        [&[0u8][..], trimmed].concat()
    } else {
        trimmed.to_vec()
    };
    der(0x02, &value)
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}
