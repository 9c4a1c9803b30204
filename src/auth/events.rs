//! Revocation events for the services that verify tokens themselves: each
//! ended session as an RFC 8417 Security Event Token carrying the OpenID
//! CAEP `session-revoked` event, delivered by RFC 8936 polling from a queue
//! per receiver.
//!
//! The events are rows written by `db::events` when sessions end; a SET is
//! signed at delivery with the current signing key, so a key rotation
//! applies to events already written. A receiver is named by a string
//! derived from the principal that polls ([`Receiver`]).

use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;
use tokio::time::Instant;

use crate::{
    auth::AuthContext,
    db::{self, DbError, events::EventRow},
};

/// The media type of a SET's JWT header (RFC 8417 §2.3).
pub const SET_TYP: &str = "secevent+jwt";

/// The OpenID CAEP event type of an ended session.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// How long a poll with nothing to deliver waits for an event.
pub const LONG_POLL: Duration = Duration::from_secs(25);

/// SETs per answer when the receiver names no `maxEvents`, and the most it
/// may name.
pub const DEFAULT_MAX_EVENTS: u32 = 100;
pub const MAX_EVENTS: u32 = 1000;

/// Acknowledgements one poll may carry: with [`MAX_JTI_BYTES`] each, a
/// full list stays well under the 64 KiB body limit.
pub const MAX_ACKS: usize = 500;

/// The longest `jti` an acknowledgement may name (tollgate's are 32).
pub const MAX_JTI_BYTES: usize = 64;

/// Who polls: its queue and the `aud` of its SETs. Built from the
/// authenticated principal; two principals never share one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver(String);

impl Receiver {
    /// A user polling with its own access token.
    pub fn user(user_id: i64) -> Self {
        Self(format!("user:{user_id}"))
    }

    /// A registered client authenticated as at `/token`.
    pub fn client(client_id: &str) -> Self {
        Self(format!("client:{client_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 8936 §2.4's request, validated by the caller.
#[derive(Debug, Default)]
pub struct PollRequest {
    pub ack: Vec<String>,
    pub max_events: Option<u32>,
    pub return_immediately: bool,
}

/// RFC 8936 §2.4's answer: SETs by `jti`.
#[derive(Debug, Default)]
pub struct PollAnswer {
    pub sets: BTreeMap<String, String>,
    pub more_available: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a SET could not be signed")]
    Signing,
}

#[derive(Serialize)]
struct SetClaims<'a> {
    iss: &'a str,
    iat: i64,
    jti: &'a str,
    aud: &'a str,
    sub_id: SubjectId<'a>,
    events: BTreeMap<&'static str, SessionRevoked>,
}

/// RFC 9493's `opaque` subject identifier: the session's `sid`.
#[derive(Serialize)]
struct SubjectId<'a> {
    format: &'static str,
    id: &'a str,
}

#[derive(Serialize)]
struct SessionRevoked {
    event_timestamp: i64,
}

/// Acknowledges `request.ack` for `receiver`, then answers its queue: at
/// once when it holds events or `return_immediately` is set, otherwise when
/// one arrives (woken by the store's bell, holding no connection while it
/// waits), at [`LONG_POLL`], or when the server stops (the bell closed).
pub async fn poll(
    ctx: &AuthContext,
    receiver: &Receiver,
    request: PollRequest,
) -> Result<PollAnswer, PollError> {
    let store = &ctx.store;
    store
        .events()
        .acknowledge(receiver.as_str(), &request.ack)
        .await?;
    let max = request.max_events.unwrap_or(DEFAULT_MAX_EVENTS);
    if max == 0 {
        return Ok(PollAnswer::default());
    }
    let bell = store.bell();
    let _waiting = (!request.return_immediately).then(|| bell.waiting());
    let deadline = Instant::now() + LONG_POLL;
    loop {
        let rung = bell.notified();
        tokio::pin!(rung);
        // Registered before the read: a ring between the read and the wait
        // is not lost.
        rung.as_mut().enable();
        let mut rows = store
            .events()
            .pending(receiver.as_str(), window_start(ctx), i64::from(max) + 1)
            .await?;
        let done = !rows.is_empty()
            || request.return_immediately
            || bell.is_closed()
            || Instant::now() >= deadline;
        if done {
            let more_available = rows.len() > max as usize;
            rows.truncate(max as usize);
            return Ok(PollAnswer {
                sets: sign_all(ctx, receiver, rows).await?,
                more_available,
            });
        }
        tokio::select! {
            () = &mut rung => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// The oldest event `receiver` has not acknowledged, in seconds of age.
pub async fn oldest_pending_age(ctx: &AuthContext, receiver: &Receiver) -> Result<i64, DbError> {
    let oldest = ctx
        .store
        .events()
        .oldest_pending(receiver.as_str(), window_start(ctx))
        .await?;
    Ok(oldest.map_or(0, |at| (db::now() - at).max(0)))
}

/// The oldest events a queue holds: one access-token lifetime (and the
/// leeway) back; an older event concerns only expired tokens.
fn window_start(ctx: &AuthContext) -> i64 {
    db::now()
        - ctx.policy.access_ttl.as_secs() as i64
        - tollgate_resource::token::LEEWAY_SECS as i64
}

/// Signs one SET per row, on the blocking pool: a thousand RS256
/// signatures take about half a second of CPU, never an async worker's.
async fn sign_all(
    ctx: &AuthContext,
    receiver: &Receiver,
    rows: Vec<EventRow>,
) -> Result<BTreeMap<String, String>, PollError> {
    let keys = ctx.keys.current();
    let issuer = ctx.keys.issuer().to_owned();
    let audience = receiver.as_str().to_owned();
    let now = db::now();
    let signed = tokio::task::spawn_blocking(move || {
        rows.iter()
            .map(|row| {
                let claims = SetClaims {
                    iss: &issuer,
                    iat: now,
                    jti: &row.jti,
                    aud: &audience,
                    sub_id: SubjectId {
                        format: "opaque",
                        id: &row.sid,
                    },
                    events: BTreeMap::from([(
                        SESSION_REVOKED,
                        SessionRevoked {
                            event_timestamp: row.created_at,
                        },
                    )]),
                };
                let set = keys.sign_typed(SET_TYP, &claims).map_err(|err| {
                    tracing::error!(error = %err, "signing a SET failed");
                    PollError::Signing
                })?;
                Ok((row.jti.clone(), set))
            })
            .collect()
    })
    .await;
    signed.unwrap_or(Err(PollError::Signing))
}
