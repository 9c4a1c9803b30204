//! `POST /events/poll`: a queue per receiver, acknowledgements, `maxEvents`,
//! and the SETs' signatures checked with the JWKS.

use std::collections::HashSet;

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, expect_error, jwt_parts};

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// One poll's answer body, asserting a 200.
pub async fn poll(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app
        .post("/events/poll")
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    response.json().await.unwrap()
}

/// The `sub_id.id` (the session's `sid`) of each SET of an answer, by `jti`.
pub fn sids(answer: &Value) -> Vec<(String, String)> {
    let mut sids: Vec<_> = answer["sets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(jti, set)| {
            let (_, claims) = jwt_parts(set.as_str().unwrap());
            (
                jti.clone(),
                claims["sub_id"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    sids.sort();
    sids
}

pub fn sid(access_token: &str) -> String {
    jwt_parts(access_token).1["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Ends the session of `token` through RFC 7009.
pub async fn revoke(app: &TestApp, token: &str) {
    let response = app
        .post("/token/revoke")
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn each_receiver_has_its_own_queue_and_an_acknowledged_event_is_not_sent_again() {
    let app = TestApp::spawn().await;
    let one = app.user_token("receiver-one", &["events"]).await;
    let two = app.user_token("receiver-two", &["events"]).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    revoke(&app, &login.access).await;

    let now = json!({"returnImmediately": true});
    let first = poll(&app, &one, now.clone()).await;
    let got = sids(&first);
    assert_eq!(got.len(), 1, "{first}");
    assert_eq!(got[0].1, sid(&login.access));
    assert_eq!(first["moreAvailable"], false);
    // Not acknowledged: sent again.
    assert_eq!(sids(&poll(&app, &one, now.clone()).await), got);

    let jti = got[0].0.clone();
    let acked = poll(&app, &one, json!({"ack": [jti], "returnImmediately": true})).await;
    assert!(sids(&acked).is_empty(), "{acked}");
    assert!(sids(&poll(&app, &one, now.clone()).await).is_empty());
    // The other receiver still has it, with an `aud` of its own.
    let other = poll(&app, &two, now.clone()).await;
    assert_eq!(sids(&other), got);
    let aud = |answer: &Value| {
        let set = answer["sets"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        jwt_parts(set.as_str().unwrap()).1["aud"].clone()
    };
    assert_ne!(aud(&first), aud(&other));
}

#[tokio::test]
async fn a_new_receiver_starts_with_the_recent_events_and_max_events_pages_them() {
    let app = TestApp::spawn().await;
    let mut revoked = HashSet::new();
    for _ in 0..3 {
        let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
        revoke(&app, &login.refresh).await;
        revoked.insert(sid(&login.access));
    }
    let receiver = app.user_token("late-receiver", &["events"]).await;
    let page = poll(
        &app,
        &receiver,
        json!({"maxEvents": 2, "returnImmediately": true}),
    )
    .await;
    assert_eq!(sids(&page).len(), 2);
    assert_eq!(page["moreAvailable"], true);
    let acks: Vec<_> = sids(&page).into_iter().map(|(jti, _)| jti).collect();
    let only_ack = poll(&app, &receiver, json!({"ack": acks, "maxEvents": 0})).await;
    assert!(sids(&only_ack).is_empty());
    let rest = poll(&app, &receiver, json!({"returnImmediately": true})).await;
    assert_eq!(sids(&rest).len(), 1);
    assert_eq!(rest["moreAvailable"], false);
    let seen: HashSet<_> = sids(&page)
        .into_iter()
        .chain(sids(&rest))
        .map(|(_, sid)| sid)
        .collect();
    assert_eq!(seen, revoked);
}

#[tokio::test]
async fn sets_verify_with_the_jwks_and_carry_the_session_revoked_event() {
    let app = TestApp::spawn().await;
    let receiver = app.user_token("verifier", &["events"]).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    revoke(&app, &login.access).await;
    let answer = poll(&app, &receiver, json!({"returnImmediately": true})).await;
    let (jti, set) = answer["sets"].as_object().unwrap().iter().next().unwrap();
    let set = set.as_str().unwrap();

    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(set).unwrap();
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data =
        jsonwebtoken::decode::<Value>(set, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the SET verifies with the published key");
    let claims = data.claims;
    assert_eq!(claims["jti"], jti.as_str());
    assert_eq!(claims["iss"], jwt_parts(&login.access).1["iss"]);
    assert!(
        claims["aud"].is_string() && claims["iat"].is_i64(),
        "{claims}"
    );
    assert_eq!(
        claims["sub_id"],
        json!({"format": "opaque", "id": sid(&login.access)})
    );
    let timestamp = claims["events"][SESSION_REVOKED]["event_timestamp"].as_i64();
    assert!(timestamp.is_some_and(|t| t > 0), "{claims}");

    let mut tampered = set.to_owned();
    tampered.pop();
    tampered.push(if set.ends_with('A') { 'B' } else { 'A' });
    let refused =
        jsonwebtoken::decode::<Value>(&tampered, &DecodingKey::from_jwk(jwk).unwrap(), &validation);
    assert!(refused.is_err());
}

#[tokio::test]
async fn polling_needs_the_events_scope_and_a_well_formed_body() {
    let app = TestApp::spawn().await;
    let reader = app.user_token("no-events", &["read:items"]).await;
    let response = app
        .post("/events/poll")
        .bearer_auth(&reader)
        .json(&json!({"returnImmediately": true}))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        "no scope",
    )
    .await;
    let receiver = app.user_token("receiver", &["events"]).await;
    for body in [
        json!({"maxEvents": -1}),
        json!({"maxEvents": 1001}),
        json!({"maxEvents": "ten"}),
        json!({"ack": "not-a-list"}),
        json!({"ack": [1, 2]}),
        json!({"returnImmediately": null}),
        json!({"ack": ["x".repeat(65)]}),
        json!({"ack": vec!["x"; 501]}),
    ] {
        let response = app
            .post("/events/poll")
            .bearer_auth(&receiver)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", &body).await;
    }
    let unknown = poll(
        &app,
        &receiver,
        json!({"ack": ["no-such-jti"], "returnImmediately": true}),
    )
    .await;
    assert_eq!(unknown, json!({"sets": {}, "moreAvailable": false}));
}
