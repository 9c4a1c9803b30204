//! Access token verification against the issuer's published keys: RFC 8414
//! metadata gives the `jwks_uri`, the JWKS gives the keys by `kid`.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    fetch::{is_loopback, max_age, metadata_url},
    jwks::{AuthorizationServerMetadata, Jwks},
    key::Verifier,
    revoked::Revocations,
    token::{Parsed, TokenError, check_claims, now},
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
    /// The session (one per login, refreshes included) that revocation
    /// events name; absent in tokens of no session.
    #[serde(default)]
    pub sid: Option<String>,
}

impl Claims {
    /// The granted scope names.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

crate::registered_claims!(Claims);

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The issuer's keys could not be fetched and none are cached.
    #[error("the issuer's signing keys are not available")]
    KeysUnavailable,
    /// The revocation event stream has been out of reach for longer than
    /// its bound, and the policy is to refuse meanwhile
    /// ([`WhenStale::Refuse`](crate::WhenStale)).
    #[error("revocation events have not been received for too long")]
    EventsUnavailable,
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
    /// Fetch the metadata and keys over plain HTTP from a host that is not
    /// loopback. Off by default: anyone on the path could then hand out
    /// keys that make their own tokens valid.
    pub plain_http: bool,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            min_refetch: Duration::from_secs(10),
            default_max_age: Duration::from_secs(300),
            max_max_age: Duration::from_secs(24 * 3600),
            plain_http: false,
        }
    }
}

impl CachePolicy {
    /// Allows `http://` for an issuer (and `jwks_uri`) that is not on
    /// loopback; loopback (127.0.0.0/8, ::1, `localhost`) is always allowed.
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.plain_http = allow;
        self
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
    /// A background refresh is spawned or running.
    refreshing: AtomicBool,
    /// Revoked sessions, when revocation events are on.
    revocations: OnceLock<Arc<Revocations>>,
}

#[derive(Default)]
pub(crate) struct KeySet {
    pub(crate) keys: HashMap<String, Verifier>,
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
        // No redirects: the keys come from the URLs the issuer names, or not at all.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client without custom TLS settings builds");
        Self(Arc::new(Inner {
            issuer: issuer.into(),
            audience: audience.into(),
            client,
            policy,
            cache: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            revocations: OnceLock::new(),
        }))
    }

    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// How long a caller answered [`VerifyError::KeysUnavailable`] should
    /// wait before trying again: no fetch is made sooner.
    pub fn retry_after(&self) -> Duration {
        self.0.policy.min_refetch
    }

    /// Checks the signature with the key named by `kid` (its algorithm
    /// pinned), `typ`, `iss`, `aud`, `sub` and `exp`.
    ///
    /// Expired keys keep verifying while a spawned task refreshes them, so
    /// a slow issuer delays no request. Only two cases wait on a fetch: no
    /// keys held at all, and a `kid` not held (at most one fetch per
    /// [`CachePolicy::min_refetch`]; other requests do not wait on it).
    ///
    /// With revocation events on ([`JwksVerifier::subscribe`]), a token of a
    /// revoked session is refused as invalid, and while the stream has been
    /// out of reach too long the policy there applies.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims: Claims = self.verify_signature(Parsed::new(token)?).await?;
        check_claims(&claims, &self.0.issuer, &self.0.audience, now())?;
        if let Some(revocations) = self.0.revocations.get() {
            revocations.admit(&claims)?;
        }
        Ok(claims)
    }

    /// The claims of `parsed`, its signature checked with the key its `kid`
    /// names (fetched as [`verify`](Self::verify) says); no claim checked.
    pub(crate) async fn verify_signature<T: DeserializeOwned>(
        &self,
        parsed: Parsed<'_>,
    ) -> Result<T, VerifyError> {
        let kid = parsed.kid().ok_or(TokenError::Invalid)?.to_owned();
        let mut keys = self.current();
        if keys.keys.is_empty() {
            keys = self.refresh(Some(&kid)).await?;
        } else if keys.fresh_until.is_none_or(|until| until <= Instant::now()) {
            self.refresh_in_background();
        }
        if !keys.keys.contains_key(&kid) {
            keys = self.refresh(Some(&kid)).await?;
        }
        let key = keys.keys.get(&kid).ok_or(TokenError::Invalid)?;
        Ok(parsed.verify(key)?)
    }

    /// The revocations of [`JwksVerifier::subscribe`]; set once.
    pub(crate) fn set_revocations(&self, revocations: Arc<Revocations>) -> bool {
        self.0.revocations.set(revocations).is_ok()
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.0.client
    }

    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.0
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Spawns one refresh of expired keys unless one is already under way.
    fn refresh_in_background(&self) {
        if self.0.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.refresh(None).await;
            this.0.refreshing.store(false, Ordering::Release);
        });
    }

    /// Fetches the keys unless another task just did, or (for an unknown
    /// `kid`) unless the last attempt is more recent than `min_refetch`. A
    /// failed fetch keeps the keys already held; holding none is
    /// [`VerifyError::KeysUnavailable`], never a refused token.
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
        let held = if settled {
            held
        } else {
            match self.fetch().await {
                Ok(fetched) => {
                    let fetched = Arc::new(fetched);
                    *self.0.cache.write().unwrap_or_else(|e| e.into_inner()) = fetched.clone();
                    fetched
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
                    kept
                }
            }
        };
        if held.keys.is_empty() {
            return Err(VerifyError::KeysUnavailable);
        }
        Ok(held)
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let metadata_url = metadata_url(&self.0.issuer)?;
        self.check_transport(&metadata_url)?;
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
        self.check_transport(&metadata.jwks_uri)?;
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

    /// HTTPS, or plain HTTP to loopback, or plain HTTP allowed by the policy.
    pub(crate) fn check_transport(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if self.0.policy.plain_http || is_loopback(&parsed) => Ok(()),
            "http" => Err(format!(
                "`{url}` is plain HTTP to a host that is not loopback; use https \
                 (or allow plain HTTP in the cache policy)"
            )),
            scheme => Err(format!("`{url}`: the scheme `{scheme}` is not http(s)")),
        }
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
