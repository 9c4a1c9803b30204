//! The password and refresh grants per client: the built-in public client,
//! scopes within the client's, refresh tokens bound to their client.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, error_of, jwt_parts};

#[tokio::test]
async fn a_users_token_through_a_client_holds_at_most_the_clients_scopes() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("web", &["password", "refresh_token"], &["read:items"])
        .await;
    let login = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let response = app.token_with_basic("web", &secret, &login).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read:items", "admin holds every scope");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["sub"], "1");

    let wider = [
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("scope", "admin"),
    ];
    let (status, code, _) = error_of(app.token_with_basic("web", &secret, &wider).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
}

#[tokio::test]
async fn the_password_grant_is_refused_to_a_client_not_allowed_it() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("machine", &["client_credentials"], &["admin"])
        .await;
    let login = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let (status, code, _) = error_of(app.token_with_basic("machine", &secret, &login).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn a_refresh_by_another_client_is_invalid_grant_and_spends_nothing() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("web", &["password", "refresh_token"], &["read:items"])
        .await;
    let login = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let body: serde_json::Value = app
        .token_with_basic("web", &secret, &login)
        .await
        .json()
        .await
        .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();

    // The built-in public client, and a public client of its own.
    app.register_client(json!({
        "client_id": "spa", "type": "public", "grant_types": ["password", "refresh_token"],
        "scopes": ["read:items"],
    }))
    .await;
    for form in [
        vec![("grant_type", "refresh_token"), ("refresh_token", refresh)],
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "spa"),
        ],
    ] {
        let (status, code, _) = error_of(app.token_request(&form).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_grant")
        );
    }
    // Its own client still refreshes it: the attempts spent nothing.
    let own = app
        .token_with_basic(
            "web",
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_public_client_logs_in_by_naming_itself() {
    let app = TestApp::spawn().await;
    let body = app
        .register_client(json!({
            "client_id": "spa", "type": "public", "grant_types": ["password", "refresh_token"],
            "scopes": ["read:items"],
        }))
        .await;
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["token_endpoint_auth_method"], "none");
    let login = [
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("client_id", "spa"),
    ];
    let response = app.token_request(&login).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ("client_id", "spa"),
    ];
    assert_eq!(app.token_request(&refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_a_client_ends_its_refresh_tokens_and_sessions() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("web", &["password", "refresh_token"], &["read:items"])
        .await;
    let login = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let body: serde_json::Value = app
        .token_with_basic("web", &secret, &login)
        .await
        .json()
        .await
        .unwrap();
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(app.me_status(access).await, StatusCode::OK);
    // Another session of the same user, by the built-in client, is untouched.
    let other = app.login(ADMIN, ADMIN_PASSWORD, None).await;

    let admin = app.admin_token().await;
    let deleted = app
        .delete("/clients/web")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me_status(access).await, StatusCode::UNAUTHORIZED);
    // Re-registered under the same id, the client gets none of them back.
    let secret = app
        .secret_client("web", &["password", "refresh_token"], &["read:items"])
        .await;
    let again = app
        .token_with_basic(
            "web",
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    let (status, code, _) = error_of(again).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(app.me_status(&other.access).await, StatusCode::OK);
}

#[tokio::test]
async fn with_the_public_client_off_a_request_must_name_a_registered_client() {
    let app = TestApp::spawn_with(|config| config.public_client = false).await;
    let login = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    let (status, code, _) = error_of(app.token_request(&login).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let named = [
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("client_id", "tollgate"),
    ];
    let (status, code, _) = error_of(app.token_request(&named).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );

    // An admin registers a first-party client from the command line (the
    // API needs a token, which now needs a client).
    let output = crate::helpers::tollgate_command(app.database_url())
        .args(["client", "add", "cli", "--grants", "password refresh_token"])
        .args(["--scopes", "admin read:items write:items introspect"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let secret = stdout.lines().last().unwrap().trim();
    let response = app.token_with_basic("cli", secret, &login).await;
    assert_eq!(response.status(), StatusCode::OK);
}
