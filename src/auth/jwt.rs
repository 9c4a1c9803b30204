//! Access tokens: RFC 9068 JWTs signed with HS256, checked as RFC 8725 advises
//! (one pinned algorithm, explicit `typ`, required claims).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// The media type of access tokens (RFC 9068 §2.1). Any other JWT signed with
/// the same key, a refresh token included, is not an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Seconds of clock skew tolerated on `exp` between processes.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Space-delimited granted scopes.
    pub scope: String,
    pub client_id: String,
    /// The user's token version when minted; any other current version voids it.
    pub ver: i64,
    /// The token family (login) it descends from.
    pub fam: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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

/// The signing and verifying keys, built once at start.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
    kid: String,
    issuer: String,
    audience: String,
}

impl Keys {
    pub fn new(secret: &Secret, issuer: &str, audience: &str) -> Self {
        let bytes = secret.expose().as_bytes();
        // The key id names the key without revealing it: a truncated hash.
        let kid =
            crate::auth::sha256_hex(&format!("tollgate-kid:{}", secret.expose()))[..16].to_owned();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(kid.clone());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            header,
            validation,
            kid,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&self.header, claims, &self.encoding)
    }

    /// Checks signature, algorithm, `typ`, `kid`, `exp`, `iss`, `aud`, `sub`.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.header.typ.as_deref() != Some(ACCESS_TOKEN_TYP)
            || data
                .header
                .kid
                .as_deref()
                .is_some_and(|kid| kid != self.kid)
        {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }

    /// Verifies the signature and `typ` only, ignoring expiry: enough to learn
    /// which family a presented access token belongs to, for revocation.
    pub fn family_of(&self, token: &str) -> Option<i64> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation).ok()?;
        (data.header.typ.as_deref() == Some(ACCESS_TOKEN_TYP)).then_some(data.claims.fam)
    }
}
