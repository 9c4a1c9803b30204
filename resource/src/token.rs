//! Compact JWT access tokens, checked as RFC 8725 advises: `typ` first, the
//! key by `kid`, the algorithm pinned to the key, the signature before any
//! claim is read, then the registered claims.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, de::DeserializeOwned};

use crate::key::Verifier;

/// The media type of access tokens (RFC 9068 §2.1). Any other JWT signed with
/// the same key, a refresh token included, is not an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Seconds of clock skew tolerated on `exp` between processes.
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
}

impl TokenError {
    /// The fixed sentence for the error body and `WWW-Authenticate`.
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::Expired => "the access token has expired",
            TokenError::Invalid => "the access token is not valid",
        }
    }
}

/// The claims every verify checks, whatever else a token carries.
pub trait RegisteredClaims {
    fn iss(&self) -> &str;
    fn aud(&self) -> &str;
    fn sub(&self) -> &str;
    fn exp(&self) -> i64;
}

/// Implements [`RegisteredClaims`] for a claims struct whose `iss`, `aud`
/// and `sub` are `String` fields and `exp` an `i64` field.
#[macro_export]
macro_rules! registered_claims {
    ($claims:ty) => {
        impl $crate::token::RegisteredClaims for $claims {
            fn iss(&self) -> &str {
                &self.iss
            }
            fn aud(&self) -> &str {
                &self.aud
            }
            fn sub(&self) -> &str {
                &self.sub
            }
            fn exp(&self) -> i64 {
                self.exp
            }
        }
    };
}

/// A compact JWT split into its parts, its header parsed once and `typ`
/// checked: the key is looked up by [`Parsed::kid`] before the signature is.
pub struct Parsed<'t> {
    header: JoseHeader,
    message: &'t str,
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Parsed<'t> {
    pub fn new(token: &'t str) -> Result<Self, TokenError> {
        Self::of_type(token, ACCESS_TOKEN_TYP)
    }

    /// A JWT whose header's `typ` must be `typ` (such as a Security Event
    /// Token's `secevent+jwt`), checked the same way as an access token.
    pub fn of_type(token: &'t str, typ: &str) -> Result<Self, TokenError> {
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (header, payload) = message.split_once('.').ok_or(TokenError::Invalid)?;
        let header: JoseHeader = decode_part(header)?;
        if header.typ.as_deref() != Some(typ) {
            return Err(TokenError::Invalid);
        }
        Ok(Self {
            header,
            message,
            payload,
            signature,
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// Requires the header's `alg` to be the key's, checks the signature (in
    /// constant time, before any claim is read), then parses the claims once.
    pub fn verify<T: DeserializeOwned>(self, key: &Verifier) -> Result<T, TokenError> {
        if self.header.alg != key.alg.as_str()
            || !key.verify(self.message.as_bytes(), self.signature)
        {
            return Err(TokenError::Invalid);
        }
        decode_part(self.payload)
    }
}

/// [`Parsed`], then the key named by the `kid` (`None` when there is none).
pub fn verify_compact<'k, T: DeserializeOwned>(
    token: &str,
    key: impl FnOnce(Option<&str>) -> Option<&'k Verifier>,
) -> Result<T, TokenError> {
    let parsed = Parsed::new(token)?;
    let verifier = key(parsed.kid()).ok_or(TokenError::Invalid)?;
    parsed.verify(verifier)
}

/// `iss`, `aud` and a non-empty `sub` must match; `exp` may be up to
/// [`LEEWAY_SECS`] in the past. `exp`, `iss`, `aud` and `sub` are required by
/// the claim types: a token without one of them does not parse.
pub fn check_claims(
    claims: &impl RegisteredClaims,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<(), TokenError> {
    if claims.iss() != issuer || claims.aud() != audience || claims.sub().is_empty() {
        return Err(TokenError::Invalid);
    }
    if claims.exp() < now - LEEWAY_SECS as i64 {
        return Err(TokenError::Expired);
    }
    Ok(())
}

/// The JOSE header fields a verify reads; any others are ignored, as
/// jsonwebtoken ignores them.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// One base64url part of a compact JWT, parsed as JSON.
fn decode_part<T: DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let json = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Invalid)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)
}

/// Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
