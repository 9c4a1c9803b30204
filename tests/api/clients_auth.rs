//! Client authentication at the token endpoint: each method, and each way
//! it is refused (RFC 6749 §2.3, §5.2).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, challenge, error_of};

async fn expect_invalid_client(response: reqwest::Response, basic: bool) {
    let header = challenge(&response);
    let (status, code, body) = error_of(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code, "invalid_client");
    if basic {
        assert_eq!(header, r#"Basic realm="tollgate""#);
    }
}

#[tokio::test]
async fn a_secret_works_by_basic_for_a_basic_client_and_in_the_form_for_a_post_client() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("sync", &["client_credentials"], &["admin"])
        .await;
    let form = [("grant_type", "client_credentials")];
    let ok = app.token_with_basic("sync", &secret, &form).await;
    assert_eq!(ok.status(), StatusCode::OK);

    let body = app
        .register_client(json!({
            "client_id": "poster",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .await;
    let secret = body["client_secret"].as_str().unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "poster"),
        ("client_secret", secret),
    ];
    assert_eq!(app.token_request(&form).await.status(), StatusCode::OK);
    // Each client uses the method it registered.
    let basic = app
        .token_with_basic("poster", secret, &[("grant_type", "client_credentials")])
        .await;
    expect_invalid_client(basic, true).await;
}

#[tokio::test]
async fn a_wrong_secret_an_unknown_client_and_a_disabled_client_are_invalid_client() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("sync", &["client_credentials"], &[])
        .await;
    let form = [("grant_type", "client_credentials")];
    let wrong = app.token_with_basic("sync", "not-the-secret", &form).await;
    expect_invalid_client(wrong, true).await;
    let unknown = app.token_with_basic("nobody", &secret, &form).await;
    expect_invalid_client(unknown, true).await;
    // Without Basic, no Basic challenge.
    let in_form = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "x"),
        ])
        .await;
    assert!(challenge(&in_form).is_empty());
    expect_invalid_client(in_form, false).await;

    let admin = app.admin_token().await;
    let disabled = app
        .patch("/clients/sync")
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let refused = app.token_with_basic("sync", &secret, &form).await;
    expect_invalid_client(refused, true).await;
    let enabled = app
        .patch("/clients/sync")
        .bearer_auth(&admin)
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);
    let back = app.token_with_basic("sync", &secret, &form).await;
    assert_eq!(back.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_confidential_client_naming_itself_without_credentials_is_invalid_client() {
    let app = TestApp::spawn().await;
    app.secret_client("sync", &["client_credentials"], &[])
        .await;
    let response = app
        .token_request(&[("grant_type", "client_credentials"), ("client_id", "sync")])
        .await;
    expect_invalid_client(response, false).await;
}

#[tokio::test]
async fn two_methods_in_one_request_are_invalid_request() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("sync", &["client_credentials"], &[])
        .await;
    let basic_and_form = app
        .token_with_basic(
            "sync",
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ],
        )
        .await;
    let (status, code, _) = error_of(basic_and_form).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let secret_and_assertion = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sync"),
            ("client_secret", &secret),
            ("client_assertion_type", crate::clients_support::JWT_BEARER),
            ("client_assertion", "a.b.c"),
        ])
        .await;
    let (status, code, _) = error_of(secret_and_assertion).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let two_ids = app
        .token_with_basic(
            "sync",
            &secret,
            &[("grant_type", "client_credentials"), ("client_id", "other")],
        )
        .await;
    let (status, code, _) = error_of(two_ids).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

/// RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic
/// joins them, so a `:`, `%`, `+` or space inside survives the trip.
#[tokio::test]
async fn basic_credentials_are_form_urldecoded() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("my.sync_client-1", &["client_credentials"], &[])
        .await;
    let response = app
        .token_with_basic(
            "my.sync_client-1",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // A secret with characters that need encoding (as a client would hold
    // one issued elsewhere): encoded, it matches nothing but is read
    // without error; sent raw, a `:` in it would be misread.
    let odd = "a:b%c+d e/é";
    let encoded = app
        .token_with_basic(
            "my.sync_client-1",
            odd,
            &[("grant_type", "client_credentials")],
        )
        .await;
    expect_invalid_client(encoded, true).await;
    let malformed = app
        .post("/token")
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    // Basic credentials that do not decode failed: 401 with the challenge.
    expect_invalid_client(malformed, true).await;
    // An empty id beside a secret is not "no credentials".
    let empty_id = app
        .token_with_basic("", "s3cret", &[("grant_type", "client_credentials")])
        .await;
    expect_invalid_client(empty_id, true).await;
}

/// Failed client authentications are throttled per client and address:
/// the guesser is refused, the client from elsewhere is not.
#[tokio::test]
async fn failed_client_authentications_are_throttled_without_locking_the_client_out() {
    let app = TestApp::spawn_with(|config| config.throttle.user_limit = 3).await;
    let secret = app
        .secret_client("sync", &["client_credentials"], &[])
        .await;
    let form = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        let wrong = app.token_with_basic("sync", "guess", &form).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = app.token_with_basic("sync", &secret, &form).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));

    // The counters are the (client, address) pair and the address: none
    // for the client alone, which a guesser elsewhere could fill.
    let pool = app.sql().await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM login_failures ORDER BY key")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(keys, ["addr:127.0.0.1", "client:sync|127.0.0.1"]);
}
