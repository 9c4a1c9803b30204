//! Ending every session of a user: logout-all, password change, admin changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, Tokens, error_of, expect_error};

const USER: &str = "carol";
const PASSWORD: &str = "carol-password-1";

/// Two logins of one user, so "every token" covers more than one family.
async fn two_logins(app: &TestApp) -> [Tokens; 2] {
    [
        app.login(USER, PASSWORD, None).await,
        app.login(USER, PASSWORD, None).await,
    ]
}

async fn assert_all_dead(app: &TestApp, logins: &[Tokens]) {
    for tokens in logins {
        assert_eq!(
            app.me_status(&tokens.access).await,
            StatusCode::UNAUTHORIZED
        );
        expect_error(
            app.refresh(&tokens.refresh, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "",
        )
        .await;
    }
}

async fn assert_all_live(app: &TestApp, logins: &[Tokens]) {
    for tokens in logins {
        assert_eq!(app.me_status(&tokens.access).await, StatusCode::OK);
        assert_eq!(
            app.refresh(&tokens.refresh, None).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_earlier_token() {
    let app = TestApp::spawn().await;
    app.create_user(USER, PASSWORD, &["read:items"]).await;
    let logins = two_logins(&app).await;

    let response = app
        .post("/users/me/logout-all")
        .bearer_auth(&logins[0].access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_all_dead(&app, &logins).await;
    assert_all_live(&app, &[app.login(USER, PASSWORD, None).await]).await;
}

async fn change_password(
    app: &TestApp,
    access: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.send_json(
        Method::PUT,
        "/users/me/password",
        access,
        &json!({"current_password": current, "new_password": new}),
    )
    .await
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_user(USER, PASSWORD, &[]).await;
    let logins = two_logins(&app).await;

    let response = change_password(
        &app,
        &logins[0].access,
        "not-the-password",
        "new-password-1",
    )
    .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("current_password"), "{description}");

    assert_all_live(&app, &logins).await;
    app.login(USER, PASSWORD, None).await;
}

#[tokio::test]
async fn changing_your_password_ends_every_earlier_token() {
    let app = TestApp::spawn().await;
    app.create_user(USER, PASSWORD, &[]).await;
    let logins = two_logins(&app).await;

    let response = change_password(&app, &logins[1].access, PASSWORD, "new-password-1").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_all_dead(&app, &logins).await;
    let old = app
        .token_request(&[("username", USER), ("password", PASSWORD)])
        .await;
    assert_eq!(error_of(old).await.1, "invalid_grant");
    assert_all_live(&app, &[app.login(USER, "new-password-1", None).await]).await;
}

/// An admin's `PATCH /users/{id}` with `change` ends the user's sessions.
async fn admin_change_ends_sessions(change: Value) {
    let app = TestApp::spawn().await;
    let id = app.create_user(USER, PASSWORD, &["read:items"]).await;
    let logins = two_logins(&app).await;

    let admin = app.admin_token().await;
    let response = app
        .patch(&format!("/users/{id}"))
        .bearer_auth(&admin)
        .json(&change)
        .send()
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::OK, "{change}");

    assert_all_dead(&app, &logins).await;
}

#[tokio::test]
async fn an_admin_change_of_scopes_ends_that_users_tokens() {
    admin_change_ends_sessions(json!({"scopes": ["read:items", "write:items"]})).await;
}

#[tokio::test]
async fn disabling_a_user_ends_that_users_tokens() {
    admin_change_ends_sessions(json!({"disabled": true})).await;
}

#[tokio::test]
async fn an_admin_password_reset_ends_that_users_tokens() {
    admin_change_ends_sessions(json!({"password": "reset-password-1"})).await;
}

#[tokio::test]
async fn a_disabled_and_re_enabled_user_starts_with_no_old_sessions() {
    let app = TestApp::spawn().await;
    let id = app.create_user(USER, PASSWORD, &[]).await;
    let logins = two_logins(&app).await;
    let admin = app.admin_token().await;
    for disabled in [true, false] {
        let response = app.patch(&format!("/users/{id}")).bearer_auth(&admin);
        let response = response
            .json(&json!({"disabled": disabled}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_all_dead(&app, &logins).await;
    app.login(USER, PASSWORD, None).await;
}

#[tokio::test]
async fn a_change_of_profile_fields_leaves_sessions_alone() {
    let app = TestApp::spawn().await;
    let id = app.create_user(USER, PASSWORD, &["read:items"]).await;
    let logins = two_logins(&app).await;
    let admin = app.admin_token().await;
    let change =
        json!({"full_name": "Carol C.", "email": "carol@example.com", "scopes": ["read:items"]});
    let response = app
        .patch(&format!("/users/{id}"))
        .bearer_auth(&admin)
        .json(&change)
        .send()
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
    assert_all_live(&app, &logins).await;
}
