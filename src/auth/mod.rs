//! Authentication and authorization: passwords, access tokens, scopes, the
//! bearer check, the grants of the token endpoint and login throttling.

pub mod bearer;
pub mod grants;
pub mod jwks;
pub mod jwt;
pub mod kek;
pub mod keys;
pub mod password;
pub mod scopes;
pub mod throttle;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `bytes` bytes from the operating system's CSPRNG, URL-safe base64 encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256: how refresh tokens are stored and looked up.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
