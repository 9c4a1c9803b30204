//! `private_key_jwt` (RFC 7523 §2.2, §3): a JWT signed with the client's
//! private key, checked against the public keys registered for it.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;

use super::ClientError;
use crate::db::{self, DbError, Store};
// Asymmetric only: a shared-key HS256 would need the secret stored in a
// form that can sign.
use tollgate_resource::jwks::CLIENT_ASSERTION_ALGS;

/// The latest `exp` accepted: an assertion is for one request, not a
/// credential to keep.
pub const MAX_LIFETIME_SECS: i64 = 300;

/// Clock difference allowed between the client and tollgate.
const LEEWAY_SECS: u64 = 5;

/// The longest `jti` recorded.
const MAX_JTI_BYTES: usize = 256;

/// Why an assertion was refused (logged, never answered: the client is told
/// `invalid_client` whatever the reason).
#[derive(Debug)]
pub enum AssertionError {
    Refused(&'static str),
    Db(DbError),
}

impl From<DbError> for AssertionError {
    fn from(err: DbError) -> Self {
        AssertionError::Db(err)
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    exp: i64,
    jti: Option<String>,
}

/// Checks a registered JWK Set: public keys only, each usable for
/// verification. Returns it as stored.
pub(super) fn check_jwks(jwks: &str) -> Result<String, ClientError> {
    let invalid = |why: &str| ClientError::Invalid(format!("jwks: {why}"));
    let value: serde_json::Value =
        serde_json::from_str(jwks).map_err(|_| invalid("not a JSON JWK Set"))?;
    let keys = value
        .get("keys")
        .and_then(|keys| keys.as_array())
        .filter(|keys| !keys.is_empty())
        .ok_or_else(|| invalid("needs a non-empty `keys` array"))?;
    for key in keys {
        // The private parts of RSA, EC and OKP keys, and symmetric keys.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|field| key.get(field).is_some())
        {
            return Err(invalid(
                "holds private or symmetric key material: register public keys only",
            ));
        }
    }
    let set: JwkSet = serde_json::from_value(value.clone())
        .map_err(|_| invalid("a key is not a valid RSA, EC or OKP public JWK"))?;
    for jwk in &set.keys {
        DecodingKey::from_jwk(jwk).map_err(|_| invalid("a key cannot verify signatures"))?;
    }
    Ok(value.to_string())
}

/// Verifies `assertion` for `client_id` against its registered `jwks`, with
/// `aud` one of `audiences`, and records its `jti` so that it is refused
/// if presented again on any node before its `exp`.
pub(super) async fn verify(
    store: &Store,
    client_id: &str,
    jwks: Option<&str>,
    assertion: &str,
    audiences: &[String],
) -> Result<(), AssertionError> {
    let set: JwkSet = jwks
        .and_then(|jwks| serde_json::from_str(jwks).ok())
        .ok_or(AssertionError::Refused("no registered keys"))?;
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| AssertionError::Refused("malformed assertion"))?;
    if !CLIENT_ASSERTION_ALGS.contains(&format!("{:?}", header.alg).as_str()) {
        return Err(AssertionError::Refused("algorithm not accepted"));
    }
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .ok_or(AssertionError::Refused("no registered key matches"))?;
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg.to_string() != format!("{:?}", header.alg))
    {
        return Err(AssertionError::Refused(
            "the key is registered for another algorithm",
        ));
    }
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|_| AssertionError::Refused("unusable registered key"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(audiences);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|_| AssertionError::Refused("signature or claims not valid"))?
        .claims;
    if claims.exp > db::now() + MAX_LIFETIME_SECS + LEEWAY_SECS as i64 {
        return Err(AssertionError::Refused("exp more than 5 minutes ahead"));
    }
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_BYTES)
        .ok_or(AssertionError::Refused("no usable jti"))?;
    if !store
        .clients()
        .record_assertion(client_id, &jti, claims.exp)
        .await?
    {
        return Err(AssertionError::Refused("jti seen before"));
    }
    Ok(())
}
