//! Registering and managing clients: the `/clients` API and `tollgate
//! client`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    cli::tollgate,
    helpers::{TestApp, error_of, header},
};

#[tokio::test]
async fn a_client_is_registered_shown_paged_and_changed_without_its_secret() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let created = app
        .post("/clients")
        .bearer_auth(&admin)
        .json(&json!({
            "client_id": "user-sync", "name": "User sync",
            "grant_types": ["client_credentials"], "scopes": ["admin"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "location"), "/clients/user-sync");
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["type"], "confidential");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    let secret = body["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "at least 256 bits, base64url");

    for i in 0..3 {
        app.secret_client(&format!("extra-{i}"), &["client_credentials"], &[])
            .await;
    }
    let first: Value = app.get_json("/clients?limit=2", &admin).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get_json(&format!("/clients?limit=2&cursor={cursor}"), &admin)
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let listed = first.to_string() + &rest.to_string();
    assert!(
        !listed.contains(secret) && !listed.contains("\"client_secret\""),
        "{listed}"
    );

    let shown: Value = app.get_json("/clients/user-sync", &admin).await;
    assert_eq!(shown["name"], "User sync");
    assert_eq!(shown["grant_types"], json!(["client_credentials"]));
    assert!(shown.get("client_secret").is_none());
    let changed = app
        .patch("/clients/user-sync")
        .bearer_auth(&admin)
        .json(&json!({"scopes": ["admin", "read:items"], "name": "Sync"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["scopes"], json!(["read:items", "admin"]));

    let missing = app.get_as("/clients/nobody", &admin).await;
    assert_eq!(error_of(missing).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_registrations_are_refused_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.secret_client("taken", &["client_credentials"], &[])
        .await;
    for (body, status) in [
        (
            json!({"client_id": "taken", "grant_types": ["password"]}),
            409,
        ),
        (
            json!({"client_id": "12345", "grant_types": ["password"]}),
            400,
        ),
        (
            json!({"client_id": "tollgate", "grant_types": ["password"]}),
            400,
        ),
        (
            json!({"client_id": "a b", "grant_types": ["password"]}),
            400,
        ),
        (json!({"client_id": "ok-id", "grant_types": []}), 400),
        (
            json!({"client_id": "ok-id", "grant_types": ["implicit"]}),
            400,
        ),
        (
            json!({"client_id": "ok-id", "type": "public", "grant_types": ["client_credentials"]}),
            400,
        ),
        (
            json!({"client_id": "ok-id", "type": "public", "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["password"]}),
            400,
        ),
        (
            json!({"client_id": "ok-id", "token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"]}),
            400,
        ),
    ] {
        let response = app
            .post("/clients")
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (got, _, error) = error_of(response).await;
        assert_eq!(got.as_u16(), status, "{body} -> {error}");
    }
    // A user's token without `admin` cannot manage clients.
    let reader = app.user_token("reader", &["read:items"]).await;
    let response = app.get_as("/clients", &reader).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_command_line_prints_the_secret_alone_on_the_last_line_and_manages_clients() {
    let app = TestApp::spawn().await;
    let added = tollgate(
        &app,
        &[
            "client",
            "add",
            "user-sync",
            "--grants",
            "client_credentials",
            "--scopes",
            "admin",
        ],
        "",
    );
    assert!(added.status.success(), "{added:?}");
    let stdout = String::from_utf8(added.stdout).unwrap();
    let secret = stdout.lines().last().unwrap();
    assert!(!secret.contains(' ') && secret.len() >= 43, "{stdout}");
    let token = app.client_token("user-sync", secret, None).await;
    let token = token["access_token"].as_str().unwrap();
    assert_eq!(app.get_as("/users", token).await.status(), StatusCode::OK);
    assert_eq!(
        app.get_as("/users/me", token).await.status(),
        StatusCode::FORBIDDEN
    );

    let listed = tollgate(&app, &["client", "list", "--json"], "");
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["client_id"], "user-sync");
    assert!(!listed.to_string().contains(secret));
    let shown = tollgate(&app, &["client", "show", "user-sync"], "");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("\"admin\""));

    let rotated = tollgate(&app, &["client", "rotate-secret", "user-sync"], "");
    assert!(rotated.status.success());
    let new_secret = String::from_utf8(rotated.stdout).unwrap();
    let new_secret = new_secret.lines().last().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(
        app.get_as("/users", token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.client_token("user-sync", &new_secret, None).await;

    assert!(
        tollgate(&app, &["client", "disable", "user-sync"], "")
            .status
            .success()
    );
    let refused = app
        .token_with_basic(
            "user-sync",
            &new_secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        tollgate(&app, &["client", "enable", "user-sync"], "")
            .status
            .success()
    );
    app.client_token("user-sync", &new_secret, None).await;
    assert!(
        tollgate(&app, &["client", "delete", "user-sync"], "")
            .status
            .success()
    );
    let gone = tollgate(&app, &["client", "show", "user-sync"], "");
    assert!(!gone.status.success());
}
