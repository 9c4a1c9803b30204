//! `POST /events/poll` (RFC 8936 §2.4): the revocation events of the
//! services that verify tokens themselves, as Security Event Tokens.

use std::collections::BTreeMap;

use poem::{Request, web::Data, web::RemoteAddr};
use poem_openapi::{Object, OpenApi, SecurityScheme};

use crate::{
    api::{
        Tag,
        bearer::Auth,
        body::Body,
        client_auth::{self, ClientFields},
        errors::{Errors, SCOPED, TOO_MANY_REQUESTS, WITH_BODY},
        models::strict,
        reply::Reply,
    },
    auth::{
        Principal,
        events::{self, MAX_ACKS, MAX_EVENTS, MAX_JTI_BYTES, PollError, PollRequest, Receiver},
        scopes::Scope,
    },
    error::ApiError,
    state::AppState,
};

/// A receiver's bearer token with the `events` scope, or else its client
/// credentials in HTTP Basic (the body is JSON, so no form methods).
#[derive(SecurityScheme)]
pub enum PollAuth {
    Bearer(Auth),
    #[oai(fallback)]
    Client,
}

/// RFC 8936 §2.4's poll request; every field is optional.
#[derive(Debug, Object)]
#[oai(rename = "EventPoll", rename_all = "camelCase")]
pub struct PollBody {
    /// The `jti`s of SETs received and processed (at most 500, each at most
    /// 64 bytes): they are not sent again. Unknown ones are passed over.
    #[oai(deserialize_with = "strict::text", validator(max_items = 500))]
    pub ack: Option<Vec<String>>,
    /// At most this many SETs (0: acknowledge only; default 100).
    #[oai(
        deserialize_with = "strict::not_null",
        validator(maximum(value = "1000"))
    )]
    pub max_events: Option<u32>,
    /// Answer at once even when no event is pending (default false: wait up
    /// to 25 s for one).
    #[oai(deserialize_with = "strict::not_null")]
    pub return_immediately: Option<bool>,
}

/// RFC 8936 §2.4's answer.
#[derive(Debug, Object, serde::Serialize)]
#[oai(rename = "EventBatch", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct PollReply {
    /// SETs by `jti`: each a JWT (`typ: secevent+jwt`) signed with the
    /// current signing key, verifiable with the JWKS.
    pub sets: BTreeMap<String, String>,
    /// More events are pending than were sent.
    pub more_available: bool,
}

#[derive(Default)]
pub struct EventsApi;

#[OpenApi(tag = "Tag::Events")]
impl EventsApi {
    /// Poll for revocation events
    ///
    /// RFC 8936 poll delivery of RFC 8417 SETs, one per ended session (OpenID
    /// CAEP `session-revoked`, the session named by `sub_id.id`, the `sid` of
    /// its access tokens). Each caller has its own queue: every event of the
    /// last access-token lifetime it has not acknowledged. Without
    /// `returnImmediately`, an empty queue answers when an event arrives or
    /// after 25 s.
    #[oai(path = "/events/poll", method = "post", operation_id = "poll_events")]
    async fn poll(
        &self,
        state: Data<&AppState>,
        req: &Request,
        remote: &RemoteAddr,
        #[oai(scope = "Scope::Events")] auth: PollAuth,
        body: Body<PollBody>,
    ) -> Result<Reply<PollReply>, Errors<{ SCOPED | WITH_BODY | TOO_MANY_REQUESTS }>> {
        let principal = match auth {
            PollAuth::Bearer(auth) => auth.0,
            PollAuth::Client => {
                let addr = remote.as_socket_addr().map(|addr| addr.ip());
                let fields = ClientFields::default();
                client_auth::bearer_or_client(&state, req, addr, fields, Scope::Events).await?
            }
        };
        let receiver = match &principal {
            Principal::User(user) => Receiver::user(user.user_id),
            Principal::Client(client) => Receiver::client(&client.client_id),
        };
        let body = body.0;
        let ack = body.ack.unwrap_or_default();
        if ack.len() > MAX_ACKS || ack.iter().any(|jti| jti.len() > MAX_JTI_BYTES) {
            return Err(ApiError::invalid_body_field(
                "ack",
                format!("at most {MAX_ACKS} jti values of at most {MAX_JTI_BYTES} bytes each"),
            )
            .into());
        }
        let max_events = body.max_events;
        if max_events.is_some_and(|max| max > MAX_EVENTS) {
            return Err(
                ApiError::invalid_body_field("maxEvents", format!("at most {MAX_EVENTS}")).into(),
            );
        }
        let request = PollRequest {
            ack,
            max_events,
            return_immediately: body.return_immediately.unwrap_or(false),
        };
        let answer = events::poll(&state.auth, &receiver, request)
            .await
            .map_err(|err| match err {
                PollError::Db(err) => ApiError::from(err),
                PollError::Signing => ApiError::internal(),
            })?;
        let metrics = state.metrics.events();
        metrics.delivered(answer.sets.len());
        if let Ok(age) = events::oldest_pending_age(&state.auth, &receiver).await {
            metrics.oldest_pending(receiver.as_str(), age);
        }
        Ok(Reply(PollReply {
            sets: answer.sets,
            more_available: answer.more_available,
        }))
    }
}
