//! What changing a user does to their tokens, and the last-admin guard.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, error_of, expect_error, jwt_parts};

async fn status_of_me(app: &TestApp, token: &str) -> StatusCode {
    app.get_as("/users/me", token).await.status()
}

async fn patch_user(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    let request = app.patch(&format!("/users/{id}")).bearer_auth(admin);
    request.json(&body).send().await.unwrap()
}

#[tokio::test]
async fn a_change_of_scopes_disabled_or_password_ends_earlier_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let changes = [
        json!({"scopes": ["write:items"]}),
        json!({"disabled": true}),
        json!({"password": "a-new-password"}),
    ];
    for (n, change) in changes.into_iter().enumerate() {
        let name = format!("changed-{n}");
        let token = app.user_token(&name, &["read:items"]).await;
        let id = jwt_parts(&token).1["sub"].as_str().unwrap().to_owned();
        assert_eq!(status_of_me(&app, &token).await, StatusCode::OK);
        assert_eq!(
            patch_user(&app, &admin, &id, change.clone()).await.status(),
            StatusCode::OK
        );
        let response = app.get_as("/users/me", &token).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token", &change).await;
    }
}

#[tokio::test]
async fn a_change_of_profile_fields_or_the_same_scopes_keeps_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let token = app
        .user_token("steady", &["read:items", "write:items"])
        .await;
    let id = jwt_parts(&token).1["sub"].as_str().unwrap().to_owned();
    let unchanged = [
        json!({"email": "s@example.org", "full_name": "Steady"}),
        json!({"scopes": ["write:items", "read:items"]}),
        json!({"disabled": false}),
    ];
    for change in unchanged {
        assert_eq!(
            patch_user(&app, &admin, &id, change.clone()).await.status(),
            StatusCode::OK
        );
        assert_eq!(status_of_me(&app, &token).await, StatusCode::OK, "{change}");
    }
}

#[tokio::test]
async fn a_changed_password_replaces_the_old_one_at_login() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = app.create_user("hal", PASSWORD, &[]).await.to_string();
    patch_user(&app, &admin, &id, json!({"password": "a-new-password"})).await;
    let old = app
        .token_request(&[("username", "hal"), ("password", PASSWORD)])
        .await;
    assert_eq!(error_of(old).await.1, "invalid_grant");
    app.login("hal", "a-new-password", None).await;
}

#[tokio::test]
async fn a_re_enabled_user_logs_in_again() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = app.create_user("ivy", PASSWORD, &[]).await.to_string();
    patch_user(&app, &admin, &id, json!({"disabled": true})).await;
    let refused = app
        .token_request(&[("username", "ivy"), ("password", PASSWORD)])
        .await;
    assert_eq!(error_of(refused).await.1, "invalid_grant");
    patch_user(&app, &admin, &id, json!({"disabled": false})).await;
    app.login("ivy", PASSWORD, None).await;
}

#[tokio::test]
async fn the_last_enabled_admin_cannot_be_deleted_disabled_or_demoted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = jwt_parts(&admin).1["sub"].as_str().unwrap().to_owned();
    // A disabled admin does not count as one who could take over.
    let spare = app
        .create_user("spare-admin", PASSWORD, &["admin"])
        .await
        .to_string();
    patch_user(&app, &admin, &spare, json!({"disabled": true})).await;

    let attempts = [
        app.delete(&format!("/users/{id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        patch_user(&app, &admin, &id, json!({"disabled": true})).await,
        patch_user(
            &app,
            &admin,
            &id,
            json!({"scopes": ["read:items", "write:items"]}),
        )
        .await,
        patch_user(&app, &admin, &id, json!({"scopes": []})).await,
    ];
    for response in attempts {
        expect_error(response, StatusCode::CONFLICT, "conflict", "").await;
    }
    // Nothing changed: the admin and their token still work.
    let me = app.get_json("/users/me", &admin).await;
    assert_eq!(me["scopes"], json!(ScopeSet::all().names()));
    assert_eq!(me["disabled"], false);
}

#[tokio::test]
async fn with_a_second_enabled_admin_the_first_may_step_down() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = jwt_parts(&admin).1["sub"].as_str().unwrap().to_owned();
    app.create_user("second-admin", PASSWORD, &["admin"]).await;
    let demoted = patch_user(&app, &admin, &id, json!({"scopes": ["read:items"]})).await;
    assert_eq!(demoted.status(), StatusCode::OK);

    let second = app.login("second-admin", PASSWORD, None).await.access;
    let second_id = jwt_parts(&second).1["sub"].as_str().unwrap().to_owned();
    let last = app
        .delete(&format!("/users/{second_id}"))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(last).await.1, "conflict");
    let tokens = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(tokens.scope, "read:items");
}
