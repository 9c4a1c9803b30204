//! Revocation events: a background task long-polls tollgate's
//! `POST /events/poll` (RFC 8936), verifies each Security Event Token with
//! the keys the verifier already holds, acknowledges it, and records the
//! revoked session (`sub_id.id`, the tokens' `sid`) so that
//! [`JwksVerifier::verify`] refuses its tokens.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::{
    revoked::{Revocations, WhenStale},
    token::Parsed,
    verifier::{JwksVerifier, VerifyError},
};

/// The media type of a SET's header.
pub const SET_TYP: &str = "secevent+jwt";

/// The OpenID CAEP event type tollgate sends for an ended session.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// How the poller authenticates to tollgate.
#[derive(Clone)]
pub enum EventsAuth {
    /// An access token holding the `events` scope.
    Bearer(String),
    /// A registered client's credentials (HTTP Basic, RFC 6749 §2.3.1), for
    /// a client granted the `events` scope.
    ClientSecret { client_id: String, secret: String },
}

impl std::fmt::Debug for EventsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventsAuth::Bearer(_) => f.write_str("Bearer(***)"),
            EventsAuth::ClientSecret { client_id, .. } => {
                write!(
                    f,
                    "ClientSecret {{ client_id: {client_id:?}, secret: *** }}"
                )
            }
        }
    }
}

/// The settings of [`JwksVerifier::subscribe`].
#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub auth: EventsAuth,
    /// The poll endpoint; default `{issuer}/events/poll`.
    pub endpoint: Option<String>,
    /// How long the stream may go without an answer before [`WhenStale`]
    /// applies. A long poll answers at least every 25 s, so the default
    /// (60 s) allows one lost poll and a retry.
    pub stale_after: Duration,
    /// What the verifier does meanwhile; default [`WhenStale::Refuse`].
    pub when_stale: WhenStale,
    /// How long a revoked session is remembered after its event: at least
    /// tollgate's access-token lifetime (`TOLLGATE_ACCESS_TTL`, 15 min by
    /// default) plus clock skew. Default 1 h.
    pub keep_revoked: Duration,
    /// The pause after a failed poll (doubled up to 8 times as long).
    pub retry_after: Duration,
}

impl EventsConfig {
    pub fn new(auth: EventsAuth) -> Self {
        Self {
            auth,
            endpoint: None,
            stale_after: Duration::from_secs(60),
            when_stale: WhenStale::Refuse,
            keep_revoked: Duration::from_secs(3600),
            retry_after: Duration::from_millis(500),
        }
    }
}

/// The running poller: abort it with [`EventsStatus::stop`] (dropping it
/// leaves the task running).
pub struct EventsStatus {
    revocations: Arc<Revocations>,
    task: JoinHandle<()>,
}

impl EventsStatus {
    /// Sessions currently remembered as revoked.
    pub fn revoked_sessions(&self) -> usize {
        self.revocations.revoked_count()
    }

    /// Tokens accepted while the stream was stale ([`WhenStale::Accept`]).
    pub fn accepted_stale(&self) -> u64 {
        self.revocations.accepted_stale()
    }

    /// Whether the stream is stale now.
    pub fn is_stale(&self) -> bool {
        self.revocations.is_stale()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

#[derive(Deserialize)]
struct PollAnswer {
    #[serde(default)]
    sets: BTreeMap<String, String>,
    #[serde(default, rename = "moreAvailable")]
    more_available: bool,
}

#[derive(Deserialize)]
struct SetClaims {
    iss: String,
    aud: serde_json::Value,
    sub_id: SubjectId,
    events: BTreeMap<String, EventBody>,
}

#[derive(Deserialize)]
struct SubjectId {
    format: String,
    id: String,
}

#[derive(Deserialize)]
struct EventBody {
    event_timestamp: Option<i64>,
}

/// How long one long poll may take before it counts as failed: tollgate
/// answers within 25 s.
const POLL_TIMEOUT: Duration = Duration::from_secs(35);

/// SETs asked for per poll.
const MAX_EVENTS: u32 = 500;

impl JwksVerifier {
    /// Starts polling tollgate's revocation events in a spawned task (needs
    /// a Tokio runtime): from then on [`verify`](Self::verify) refuses the
    /// tokens of revoked sessions, and applies `config.when_stale` while no
    /// poll has been answered for `config.stale_after` (until the first
    /// answer too). `None` if this verifier already subscribed.
    pub fn subscribe(&self, config: EventsConfig) -> Option<EventsStatus> {
        let revocations = Arc::new(Revocations::new(config.stale_after, config.when_stale));
        if !self.set_revocations(revocations.clone()) {
            return None;
        }
        let this = self.clone();
        let shared = revocations.clone();
        let task = tokio::spawn(async move { this.poll_forever(config, shared).await });
        Some(EventsStatus { revocations, task })
    }

    async fn poll_forever(&self, config: EventsConfig, revocations: Arc<Revocations>) {
        let endpoint = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/events/poll", self.issuer().trim_end_matches('/')));
        let mut ack: Vec<String> = Vec::new();
        let mut immediately = true;
        let mut failures: u32 = 0;
        loop {
            match self.poll_once(&config, &endpoint, &ack, immediately).await {
                Ok(answer) => {
                    if failures > 0 {
                        tracing::info!(%endpoint, "revocation events reachable again");
                    }
                    failures = 0;
                    revocations.synced();
                    ack = self.take_sets(&config, &revocations, answer.sets).await;
                    // At once again while more wait, or to send the acks.
                    immediately = answer.more_available || !ack.is_empty();
                }
                Err(reason) => {
                    if failures == 0 {
                        tracing::warn!(%endpoint, %reason, "polling revocation events failed; retrying");
                    }
                    failures = failures.saturating_add(1);
                    let pause = config.retry_after * 2u32.pow(failures.min(4) - 1);
                    tokio::time::sleep(pause).await;
                    immediately = true;
                }
            }
        }
    }

    async fn poll_once(
        &self,
        config: &EventsConfig,
        endpoint: &str,
        ack: &[String],
        immediately: bool,
    ) -> Result<PollAnswer, String> {
        self.check_transport(endpoint)?;
        let body = json!({"ack": ack, "maxEvents": MAX_EVENTS, "returnImmediately": immediately});
        let request = self
            .client()
            .post(endpoint)
            .json(&body)
            .timeout(POLL_TIMEOUT);
        let request = match &config.auth {
            EventsAuth::Bearer(token) => request.bearer_auth(token),
            EventsAuth::ClientSecret { client_id, secret } => {
                request.basic_auth(form_encode(client_id), Some(form_encode(secret)))
            }
        };
        let response = request.send().await.map_err(|e| format!("POST: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("POST: status {}", response.status()));
        }
        response.json().await.map_err(|e| format!("answer: {e}"))
    }

    /// Verifies each SET, records the sessions it revokes, and returns the
    /// `jti`s to acknowledge: every SET handled, the invalid ones included
    /// (logged; they would come back forever). SETs left unverified because
    /// no keys could be fetched, or signed by a key not fetched yet, are not
    /// acknowledged: they come again.
    async fn take_sets(
        &self,
        config: &EventsConfig,
        revocations: &Revocations,
        sets: BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut ack = Vec::with_capacity(sets.len());
        let mut revoked = Vec::new();
        for (jti, set) in sets {
            match self.verify_set(&set).await {
                Ok(claims) => {
                    if let Some(at) = claims.revoked_at() {
                        let until = at.saturating_add(config.keep_revoked.as_secs() as i64);
                        revoked.push((claims.sub_id.id, until));
                    }
                    ack.push(jti);
                }
                Err(VerifyError::KeysUnavailable) => {}
                // Signed by a key this process has not fetched yet (a
                // rotation it has not seen): not acknowledged, so it comes
                // again once the keys are refetched.
                Err(_) if !self.knows_key_of(&set) => {
                    tracing::info!(%jti, "a revocation event names a key not fetched yet; kept for the next poll");
                }
                Err(err) => {
                    tracing::warn!(%jti, error = %err, "a revocation event did not verify; skipped");
                    ack.push(jti);
                }
            }
        }
        revocations.revoke(revoked);
        ack
    }

    /// Whether the key `set` names is among the keys fetched.
    fn knows_key_of(&self, set: &str) -> bool {
        Parsed::of_type(set, SET_TYP)
            .ok()
            .and_then(|parsed| {
                parsed
                    .kid()
                    .map(|kid| self.current().keys.contains_key(kid))
            })
            .unwrap_or(true)
    }

    /// A SET's signature (with the issuer's keys), `typ`, `iss` and
    /// `sub_id` format checked.
    async fn verify_set(&self, set: &str) -> Result<SetClaims, VerifyError> {
        let parsed = Parsed::of_type(set, SET_TYP)?;
        let claims: SetClaims = self.verify_signature(parsed).await?;
        let invalid = crate::token::TokenError::Invalid;
        if claims.iss != self.issuer() || claims.sub_id.format != "opaque" || claims.aud.is_null() {
            return Err(invalid.into());
        }
        Ok(claims)
    }
}

impl SetClaims {
    /// When the session was revoked, if this SET says it was.
    fn revoked_at(&self) -> Option<i64> {
        let event = self.events.get(SESSION_REVOKED)?;
        Some(event.event_timestamp.unwrap_or_else(crate::token::now))
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they
/// go into the Basic header.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
