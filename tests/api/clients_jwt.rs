//! `private_key_jwt` (RFC 7523): an assertion signed with the client's
//! registered key, accepted once, on any node.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    clients_support::{ClientKey, assertion_form},
    helpers::{TestApp, error_of},
};

async fn jwt_client(app: &TestApp, key: &ClientKey) {
    let body = app
        .register_client(json!({
            "client_id": "signer",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks,
            "scopes": ["admin"],
        }))
        .await;
    assert!(body.get("client_secret").is_none(), "{body}");
}

fn grant(assertion: &str) -> Vec<(&str, &str)> {
    let mut form = assertion_form(assertion);
    form.push(("grant_type", "client_credentials"));
    form
}

async fn expect_invalid_client(response: reqwest::Response) {
    let (status, code, body) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client"),
        "{body}"
    );
}

#[tokio::test]
async fn a_signed_assertion_authenticates_once() {
    let app = TestApp::spawn().await;
    let key = ClientKey::generate("k1");
    jwt_client(&app, &key).await;
    let assertion = key.assertion(&app, "signer");
    let ok = app.token_request(&grant(&assertion)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let replay = app.token_request(&grant(&assertion)).await;
    expect_invalid_client(replay).await;

    // `aud` may be the issuer too; `client_id` in the form may name it.
    let now = tollgate::db::now();
    let issuer = app.state.auth.keys.issuer().to_owned();
    let to_issuer = key.sign(&json!({
        "iss": "signer", "sub": "signer", "aud": issuer, "exp": now + 60, "jti": "j-issuer",
    }));
    let mut form = grant(&to_issuer);
    form.push(("client_id", "signer"));
    assert_eq!(app.token_request(&form).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn assertions_with_bad_claims_or_another_key_are_refused() {
    let app = TestApp::spawn().await;
    let key = ClientKey::generate("k1");
    jwt_client(&app, &key).await;
    let now = tollgate::db::now();
    let aud = format!("{}/token", app.state.auth.keys.issuer());
    let good = json!({"iss": "signer", "sub": "signer", "aud": aud, "exp": now + 60});
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut claims = good.clone();
        claims["jti"] = json!(format!("j-{}", rand::random::<u64>()));
        change(&mut claims);
        claims
    };
    for (why, claims) in [
        ("exp too far ahead", with(&|c| c["exp"] = json!(now + 3600))),
        ("expired", with(&|c| c["exp"] = json!(now - 120))),
        (
            "another audience",
            with(&|c| c["aud"] = json!("https://elsewhere/token")),
        ),
        (
            "iss is not the client",
            with(&|c| c["iss"] = json!("other")),
        ),
        (
            "sub is not the client",
            with(&|c| c["sub"] = json!("other")),
        ),
        (
            "no jti",
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
    ] {
        let response = app.token_request(&grant(&key.sign(&claims))).await;
        let (status, code, _) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_client"),
            "{why}"
        );
    }
    let stranger = ClientKey::generate("k1");
    let forged = stranger.assertion(&app, "signer");
    expect_invalid_client(app.token_request(&grant(&forged)).await).await;
    expect_invalid_client(app.token_request(&grant("not.a.jwt")).await).await;
}

/// The `jti` is recorded in the database: an assertion accepted by one node
/// is refused by the other.
#[tokio::test]
async fn a_replayed_assertion_is_refused_on_a_second_node() {
    let a = TestApp::spawn().await;
    let b = a.sibling().await;
    let key = ClientKey::generate("k1");
    jwt_client(&a, &key).await;
    let assertion = key.assertion(&a, "signer");
    assert_eq!(
        a.token_request(&grant(&assertion)).await.status(),
        StatusCode::OK
    );
    expect_invalid_client(b.token_request(&grant(&assertion)).await).await;
    let fresh = key.assertion(&b, "signer");
    assert_eq!(
        b.token_request(&grant(&fresh)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn private_or_symmetric_keys_are_refused_at_registration() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for jwks in [
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "d": "AA"}]}),
        json!({"keys": []}),
        json!("not a set"),
    ] {
        let response = app
            .post("/clients")
            .bearer_auth(&admin)
            .json(&json!({
                "client_id": "signer",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": jwks,
            }))
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{jwks}"
        );
    }
}

/// The same assertion sent to two nodes at once: the unique key admits
/// exactly one.
#[tokio::test]
async fn one_assertion_raced_on_two_nodes_is_accepted_once() {
    let a = TestApp::spawn().await;
    let b = a.sibling().await;
    let key = ClientKey::generate("k1");
    jwt_client(&a, &key).await;
    for _ in 0..5 {
        let assertion = key.assertion(&a, "signer");
        let form = grant(&assertion);
        let (first, second) = tokio::join!(a.token_request(&form), b.token_request(&form));
        let statuses = [first.status(), second.status()];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert!(statuses.contains(&StatusCode::UNAUTHORIZED), "{statuses:?}");
    }
}
