//! Access token verification against the issuer's published keys: RFC 8414
//! metadata gives the `jwks_uri`, the JWKS gives the keys by `kid`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    jwks::{AuthorizationServerMetadata, Jwks, METADATA_PATH},
    key::Verifier,
    token::{Parsed, RegisteredClaims, TokenError, check_claims, now},
};

/// The claims of a tollgate access token that a resource server reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string.
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub jti: Option<String>,
    /// Space-delimited granted scopes.
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub client_id: Option<String>,
}

impl Claims {
    /// The granted scope names.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

impl RegisteredClaims for Claims {
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

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The issuer's keys could not be fetched and none are cached.
    #[error("the issuer's signing keys are not available")]
    KeysUnavailable,
}

/// How often and how long keys are cached.
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// An unknown `kid` refetches the JWKS at most once per this interval.
    pub min_refetch: Duration,
    /// Used when the JWKS response has no `Cache-Control: max-age`.
    pub default_max_age: Duration,
    /// The longest a JWKS is kept, whatever its `max-age`.
    pub max_max_age: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            min_refetch: Duration::from_secs(10),
            default_max_age: Duration::from_secs(300),
            max_max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// Verifies tollgate access tokens with the keys tollgate publishes; no
/// database and no shared secret. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct JwksVerifier(Arc<Inner>);

struct Inner {
    issuer: String,
    audience: String,
    client: reqwest::Client,
    policy: CachePolicy,
    cache: RwLock<Arc<KeySet>>,
    /// One fetch at a time; waiters then use its result.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Verifier>,
    fresh_until: Option<Instant>,
    fetched_at: Option<Instant>,
}

impl JwksVerifier {
    /// For tokens whose `iss` is `issuer` (exactly) and `aud` is `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::with_policy(issuer, audience, CachePolicy::default())
    }

    pub fn with_policy(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        policy: CachePolicy,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("a client without custom TLS settings builds");
        Self(Arc::new(Inner {
            issuer: issuer.into(),
            audience: audience.into(),
            client,
            policy,
            cache: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// Checks the signature with the key named by `kid` (its algorithm
    /// pinned), `typ`, `iss`, `aud`, `sub` and `exp`.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let parsed = Parsed::new(token)?;
        let kid = parsed.kid().ok_or(TokenError::Invalid)?.to_owned();
        let mut keys = self.current();
        if keys.fresh_until.is_none_or(|until| until <= Instant::now()) {
            keys = self.refresh(None).await?;
        } else if !keys.keys.contains_key(&kid) {
            keys = self.refresh(Some(&kid)).await?;
        }
        let key = keys.keys.get(&kid).ok_or(TokenError::Invalid)?;
        let claims: Claims = parsed.verify(key)?;
        check_claims(&claims, &self.0.issuer, &self.0.audience, now())?;
        Ok(claims)
    }

    fn current(&self) -> Arc<KeySet> {
        self.0
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fetches the keys unless another task just did, or (for an unknown
    /// `kid`) unless the last fetch is more recent than `min_refetch`. A
    /// failed fetch keeps the keys already held.
    async fn refresh(&self, unknown_kid: Option<&str>) -> Result<Arc<KeySet>, VerifyError> {
        let _one_at_a_time = self.0.fetching.lock().await;
        let held = self.current();
        let recent = held
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.0.policy.min_refetch);
        let fresh = held.fresh_until.is_some_and(|until| until > Instant::now());
        let settled = match unknown_kid {
            Some(kid) => held.keys.contains_key(kid) || recent,
            None => fresh,
        };
        if settled {
            return Ok(held);
        }
        match self.fetch().await {
            Ok(fetched) => {
                let fetched = Arc::new(fetched);
                *self.0.cache.write().unwrap_or_else(|e| e.into_inner()) = fetched.clone();
                Ok(fetched)
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.0.issuer, %reason, "could not fetch the issuer's keys");
                // Try again no sooner than `min_refetch`, with the keys held.
                let now = Instant::now();
                let kept = Arc::new(KeySet {
                    keys: held.keys.clone(),
                    fresh_until: Some(now + self.0.policy.min_refetch),
                    fetched_at: Some(now),
                });
                *self.0.cache.write().unwrap_or_else(|e| e.into_inner()) = kept.clone();
                if kept.keys.is_empty() {
                    return Err(VerifyError::KeysUnavailable);
                }
                Ok(kept)
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let metadata_url = metadata_url(&self.0.issuer)?;
        let metadata: AuthorizationServerMetadata = self
            .get(&metadata_url)
            .await?
            .json()
            .await
            .map_err(|e| format!("metadata: {e}"))?;
        // RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
        if metadata.issuer != self.0.issuer {
            return Err(format!("metadata names issuer `{}`", metadata.issuer));
        }
        let response = self.get(&metadata.jwks_uri).await?;
        let max_age = max_age(response.headers())
            .unwrap_or(self.0.policy.default_max_age)
            .clamp(self.0.policy.min_refetch, self.0.policy.max_max_age);
        let jwks: Jwks = response.json().await.map_err(|e| format!("JWKS: {e}"))?;
        let keys = jwks
            .keys
            .iter()
            .filter(|jwk| !jwk.kid.is_empty() && matches!(jwk.use_.as_str(), "sig" | ""))
            .filter_map(|jwk| Some((jwk.kid.clone(), Verifier::from_jwk(jwk)?)))
            .collect();
        let now = Instant::now();
        Ok(KeySet {
            keys,
            fresh_until: Some(now + max_age),
            fetched_at: Some(now),
        })
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, String> {
        let response = self
            .0
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        Ok(response)
    }
}

/// RFC 8414 §3.1: the well-known path goes between the host and the
/// issuer's path (`https://h/t` gives `https://h/.well-known/oauth-authorization-server/t`).
pub(crate) fn metadata_url(issuer: &str) -> Result<String, String> {
    let mut url = url::Url::parse(issuer).map_err(|e| format!("issuer `{issuer}`: {e}"))?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{METADATA_PATH}{path}"));
    Ok(url.to_string())
}

/// `max-age` of a `Cache-Control` header; `no-cache` and `no-store` count as 0.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').map(str::trim).find_map(|directive| {
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        {
            return Some(Duration::ZERO);
        }
        let (name, seconds) = directive.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_follows_rfc_8414_section_3_1() {
        let url = |issuer| metadata_url(issuer).unwrap();
        assert_eq!(
            url("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            url("https://auth.example.com/tenant/"),
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant"
        );
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let with = |value: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::CACHE_CONTROL, value.parse().unwrap());
            max_age(&headers)
        };
        assert_eq!(with("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(
            with("Max-Age=7, must-revalidate"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(with("no-cache"), Some(Duration::ZERO));
        assert_eq!(with("public"), None);
    }
}
