//! Access tokens: RFC 9068 JWTs signed with HS256, checked as RFC 8725 advises
//! (one pinned algorithm, explicit `typ`, required claims).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

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
    ///
    /// The same checks as `jsonwebtoken::decode` with the `validation` above,
    /// done once each: that function parses the header twice and the claims
    /// twice (once for its own checks), which is most of a bearer check's CPU
    /// outside the database. The signature is checked by jsonwebtoken, in
    /// constant time, before any claim is read.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (header, payload) = message.split_once('.').ok_or(TokenError::Invalid)?;
        let header: JoseHeader = decode_part(header)?;
        if header.alg != "HS256"
            || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP)
            || header.kid.as_deref().is_some_and(|kid| kid != self.kid)
        {
            return Err(TokenError::Invalid);
        }
        let signed = jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &self.decoding,
            Algorithm::HS256,
        );
        if !matches!(signed, Ok(true)) {
            return Err(TokenError::Invalid);
        }
        // `exp`, `iss`, `aud` and `sub` are required by the type: a token
        // without one of them does not parse.
        let claims: AccessClaims = decode_part(payload)?;
        if claims.iss != self.issuer || claims.aud != self.audience || claims.sub.is_empty() {
            return Err(TokenError::Invalid);
        }
        if claims.exp < crate::db::now() - LEEWAY_SECS as i64 {
            return Err(TokenError::Expired);
        }
        Ok(claims)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&Secret::new("k".repeat(48)), "tollgate", "tollgate")
    }

    fn claims() -> AccessClaims {
        let now = crate::db::now();
        AccessClaims {
            iss: "tollgate".into(),
            aud: "tollgate".into(),
            sub: "1".into(),
            exp: now + 60,
            iat: now,
            jti: "j".into(),
            scope: "read:items".into(),
            client_id: "tollgate".into(),
            ver: 1,
            fam: 2,
        }
    }

    /// Signs `claims` (as JSON) under `header` with the test key.
    fn forge(header: serde_json::Value, claims: serde_json::Value) -> String {
        let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let message = format!("{}.{}", part(header), part(claims));
        let key = EncodingKey::from_secret("k".repeat(48).as_bytes());
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256);
        format!("{message}.{}", signature.unwrap())
    }

    #[test]
    fn verifies_its_own_tokens() {
        let keys = keys();
        let token = keys.sign(&claims()).unwrap();
        assert_eq!(keys.verify(&token).unwrap().fam, 2);
        assert_eq!(keys.family_of(&token), Some(2));
    }

    #[test]
    fn refuses_tampering_other_algorithms_types_and_keys() {
        let keys = keys();
        let token = keys.sign(&claims()).unwrap();
        let (message, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{message}.{flipped}{}", &signature[1..]);
        assert_eq!(keys.verify(&tampered).err(), Some(TokenError::Invalid));
        assert_eq!(keys.verify("a.b").err(), Some(TokenError::Invalid));
        let body = serde_json::to_value(claims()).unwrap();
        let kid = keys.kid.clone();
        for header in [
            serde_json::json!({"alg": "none", "typ": "at+jwt"}),
            serde_json::json!({"alg": "HS384", "typ": "at+jwt"}),
            serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
            serde_json::json!({"alg": "HS256", "kid": kid}),
            serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "other"}),
        ] {
            let token = forge(header.clone(), body.clone());
            assert_eq!(
                keys.verify(&token).err(),
                Some(TokenError::Invalid),
                "{header}"
            );
        }
        let good = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        assert!(keys.verify(&forge(good, body)).is_ok());
    }

    #[test]
    fn refuses_expired_foreign_and_incomplete_claims() {
        let keys = keys();
        let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt"});
        let with = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut body = serde_json::to_value(claims()).unwrap();
            change(&mut body);
            keys.verify(&forge(header.clone(), body)).err()
        };
        let now = crate::db::now();
        assert_eq!(
            with(&|c| c["exp"] = (now - 60).into()),
            Some(TokenError::Expired)
        );
        assert_eq!(
            with(&|c| c["exp"] = (now - 2).into()),
            None,
            "within the leeway"
        );
        assert_eq!(
            with(&|c| c["iss"] = "other".into()),
            Some(TokenError::Invalid)
        );
        assert_eq!(
            with(&|c| c["aud"] = "other".into()),
            Some(TokenError::Invalid)
        );
        for claim in ["exp", "iss", "aud", "sub"] {
            let removed = with(&|c| {
                c.as_object_mut().unwrap().remove(claim);
            });
            assert_eq!(removed, Some(TokenError::Invalid), "without {claim}");
        }
    }
}
