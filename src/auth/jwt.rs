//! Access tokens: RFC 9068 JWTs signed by the key ring, checked as RFC 8725
//! advises (the algorithm pinned per key, explicit `typ`, required claims).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use tollgate_resource::token::{ACCESS_TOKEN_TYP, TokenError, now};
use tollgate_resource::token::{check_claims, verify_compact};

use crate::auth::keys::{KeyRing, Verifier};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string; or, on a client's own token, its
    /// `client_id` (never all digits, so never a user's id).
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Space-delimited granted scopes.
    pub scope: String,
    pub client_id: String,
    /// The user's (or, on a client's own token, the client's) token version
    /// when minted; any other current version voids it.
    pub ver: i64,
    /// The token family (login) it descends from: the bearer check's key.
    /// Absent on a client's own token (`client_credentials`), which is how
    /// the two are told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<i64>,
    /// The session id (random, one per login, refreshes included): what
    /// revocation events name. Absent in tokens of no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

tollgate_resource::registered_claims!(AccessClaims);

/// Access tokens signed and verified: the key ring and the claims every
/// token must carry, built once at start.
pub struct AccessTokens {
    ring: KeyRing,
    /// `{"alg","typ","kid"}` of the signing key, base64url, computed once.
    header: String,
    issuer: String,
    audience: String,
}

impl AccessTokens {
    /// HS256 with a shared secret (`kid` derived from it).
    pub fn new(secret: &SecretString, issuer: &str, audience: &str) -> Self {
        Self::from_ring(KeyRing::hmac(secret), issuer, audience)
    }

    pub fn from_ring(ring: KeyRing, issuer: &str, audience: &str) -> Self {
        let header = serde_json::json!({
            "alg": ring.signing_alg().as_str(),
            "typ": ACCESS_TOKEN_TYP,
            "kid": ring.signing_kid(),
        });
        Self {
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            ring,
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

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign_with_header(&self.header, claims)
    }

    /// Signs `claims` as a JWT of type `typ` (another than `at+jwt`, such as
    /// a Security Event Token's `secevent+jwt`) with the current signing key.
    pub fn sign_typed(
        &self,
        typ: &str,
        claims: &impl Serialize,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let header = serde_json::json!({
            "alg": self.ring.signing_alg().as_str(),
            "typ": typ,
            "kid": self.ring.signing_kid(),
        });
        self.sign_with_header(&URL_SAFE_NO_PAD.encode(header.to_string()), claims)
    }

    fn sign_with_header(
        &self,
        header: &str,
        claims: &impl Serialize,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let payload = serde_json::to_vec(claims)?;
        let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = self
            .ring
            .signer
            .sign(message.as_bytes())
            .ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Checks signature, algorithm, `typ`, `kid`, `exp`, `iss`, `aud`, `sub`.
    ///
    /// The same checks as `jsonwebtoken::decode` would make, done once each:
    /// that function parses the header twice and the claims twice, which is
    /// most of a bearer check's CPU outside the database.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims: AccessClaims = verify_compact(token, |kid| self.verifier(kid))?;
        check_claims(&claims, &self.issuer, &self.audience, now())?;
        Ok(claims)
    }

    /// Verifies the signature and `typ` only, ignoring expiry and the other
    /// claims: enough to learn which family a presented access token belongs
    /// to, for revocation.
    pub fn family_of(&self, token: &str) -> Option<i64> {
        #[derive(Deserialize)]
        struct Family {
            fam: i64,
        }
        verify_compact::<Family>(token, |kid| self.verifier(kid))
            .ok()
            .map(|claims| claims.fam)
    }

    /// The key named by `kid`; a token without one is accepted only when the
    /// ring holds a single key (HS256 tokens of earlier versions).
    fn verifier(&self, kid: Option<&str>) -> Option<&Verifier> {
        match kid {
            Some(kid) => self.ring.verifiers.get(kid),
            None if self.ring.verifiers.len() == 1 => self.ring.verifiers.values().next(),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey};

    use super::*;

    fn keys() -> AccessTokens {
        AccessTokens::new(&SecretString::from("k".repeat(48)), "tollgate", "tollgate")
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
            fam: Some(2),
            sid: Some("s".into()),
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
        assert_eq!(keys.verify(&token).unwrap().fam, Some(2));
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
        let kid = keys.ring().signing_kid().to_owned();
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
