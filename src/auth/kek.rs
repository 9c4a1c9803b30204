//! The key-encryption key (`TOLLGATE_KEY_ENCRYPTION_KEY`) that seals private
//! signing keys at rest.
//!
//! The configured string goes through HKDF-SHA256 into an AES-256-GCM key.
//! A sealed key is `nonce (12 bytes, random) || ciphertext || tag`, with the
//! signing key's `kid` as associated data, so a ciphertext cannot be moved to
//! another record. Each record stores the [`Kek::id`] that sealed it: after a
//! change of the configured key, a record names the key it needs.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    hkdf::{HKDF_SHA256, KeyType, Salt},
    rand::{SecureRandom, SystemRandom},
};

/// The shortest key-encryption key accepted, in bytes.
pub const MIN_KEK_BYTES: usize = 32;

const SALT: &[u8] = b"tollgate key-encryption key v1";
const AEAD_INFO: &[u8] = b"aes-256-gcm";
const ID_INFO: &[u8] = b"key id";

/// A derived AES-256-GCM key and its public id. `Debug` shows the id only.
pub struct Kek {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish()
    }
}

/// An HKDF output length.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// Why a key-encryption key could not be made, or a sealed key not opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KekError {
    #[error("TOLLGATE_KEY_ENCRYPTION_KEY is {0} bytes; it must be at least 32 bytes")]
    Short(usize),
    #[error("signing key {kid} could not be decrypted: the stored ciphertext is damaged")]
    Damaged { kid: String },
}

impl Kek {
    /// Derives the key from the configured string (at least 32 bytes).
    pub fn new(secret: &SecretString) -> Result<Self, KekError> {
        let input = secret.expose_secret().as_bytes();
        if input.len() < MIN_KEK_BYTES {
            return Err(KekError::Short(input.len()));
        }
        let prk = Salt::new(HKDF_SHA256, SALT).extract(input);
        let mut key = [0u8; 32];
        let mut id = [0u8; 8];
        prk.expand(&[AEAD_INFO], Len(key.len()))
            .and_then(|okm| okm.fill(&mut key))
            .expect("32 bytes are a valid HKDF-SHA256 length");
        // The id comes from its own HKDF output: it names the key without
        // revealing anything about it.
        prk.expand(&[ID_INFO], Len(id.len()))
            .and_then(|okm| okm.fill(&mut id))
            .expect("8 bytes are a valid HKDF-SHA256 length");
        let key = UnboundKey::new(&AES_256_GCM, &key).expect("32 bytes fit AES-256-GCM");
        Ok(Self {
            key: LessSafeKey::new(key),
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// 16 hex digits naming this key; stored beside each ciphertext.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext` for the record `kid`, under a fresh random nonce.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the operating system's CSPRNG works");
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .expect("a key fits in one AES-GCM message");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Decrypts what [`Kek::seal`] made for `kid`.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        let damaged = || KekError::Damaged {
            kid: kid.to_owned(),
        };
        if sealed.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| damaged())?;
        Ok(plain.to_vec())
    }
}
