//! A resource server introspecting (RFC 7662) as a registered client.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, error_of};

#[tokio::test]
async fn a_resource_server_introspects_with_its_own_credentials() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("api-server", &["client_credentials"], &["introspect"])
        .await;
    let user = app.login(ADMIN, ADMIN_PASSWORD, Some("read:items")).await;
    let response = app
        .post("/token/introspect")
        .basic_auth("api-server", Some(&secret))
        .form(&[("token", user.access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], ADMIN);
    assert_eq!(body["scope"], "read:items");

    // In the form too (client_secret_post is its own registration; Basic
    // is this one's), and a client token introspected is active, without
    // a username.
    let own = app.client_token("api-server", &secret, None).await;
    let response = app
        .post("/token/introspect")
        .basic_auth("api-server", Some(&secret))
        .form(&[("token", own["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], "api-server");
    assert!(body.get("username").is_none());
}

#[tokio::test]
async fn introspection_needs_a_confidential_client_holding_introspect() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("no-scope", &["client_credentials"], &["read:items"])
        .await;
    let user = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let form = [("token", user.access.as_str())];
    let response = app
        .post("/token/introspect")
        .basic_auth("no-scope", Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );

    let wrong = app
        .post("/token/introspect")
        .basic_auth("no-scope", Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::challenge(&wrong),
        r#"Basic realm="tollgate""#
    );
    let (status, code, _) = error_of(wrong).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );

    // No credentials at all is the bare 401, as before; naming a public
    // client (the built-in one) proves nothing, so it is the same.
    let nothing = app
        .post("/token/introspect")
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(nothing).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let named = app
        .post("/token/introspect")
        .form(&[("token", user.access.as_str()), ("client_id", "tollgate")])
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), StatusCode::UNAUTHORIZED);
}
