//! Password length: 8 to 72 bytes of UTF-8, bcrypt's limit, never cut.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_of, expect_error};

/// `POST /users` with this password; the status and, on failure, the description.
async fn create_with(app: &TestApp, username: &str, password: &str) -> (StatusCode, String) {
    let admin = app.admin_token().await;
    let body = json!({"username": username, "password": password, "scopes": ["read:items"]});
    let response = app.send_json(Method::POST, "/users", &admin, &body).await;
    if response.status() == StatusCode::CREATED {
        return (StatusCode::CREATED, String::new());
    }
    let (status, code, body) = error_of(response).await;
    assert_eq!(code, "invalid_request", "{body}");
    (
        status,
        body["error_description"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_password_of_73_bytes_is_refused_with_a_clear_message_and_72_accepted() {
    let app = TestApp::spawn().await;
    let (status, message) = create_with(&app, "long", &"a".repeat(73)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("password") && message.contains("72"),
        "{message}"
    );
    assert!(message.contains("bytes"), "{message}");

    let longest = "b".repeat(72);
    assert_eq!(
        create_with(&app, "longest", &longest).await.0,
        StatusCode::CREATED
    );
    app.login("longest", &longest, None).await;
    // Had the password been cut to 72 bytes, a 73rd byte would not matter.
    let extended = format!("{longest}c");
    let response = app
        .token_request(&[("username", "longest"), ("password", &extended)])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn multi_byte_characters_count_in_bytes() {
    let app = TestApp::spawn().await;
    // U+20AC is three bytes: 24 of them are 72 bytes, 25 are 75.
    let (status, message) = create_with(&app, "euro-long", &"\u{20ac}".repeat(25)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("72"), "{message}");

    let longest = "\u{20ac}".repeat(24);
    assert_eq!(
        create_with(&app, "euro", &longest).await.0,
        StatusCode::CREATED
    );
    app.login("euro", &longest, None).await;

    // Four characters, but twelve bytes: long enough.
    let short_in_chars = "\u{20ac}".repeat(4);
    assert_eq!(
        create_with(&app, "euro-short", &short_in_chars).await.0,
        StatusCode::CREATED
    );
    app.login("euro-short", &short_in_chars, None).await;
}

#[tokio::test]
async fn a_password_under_8_bytes_is_refused() {
    let app = TestApp::spawn().await;
    let (status, message) = create_with(&app, "short", "seven77").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("password") && message.contains('8'),
        "{message}"
    );
}

#[tokio::test]
async fn an_admin_setting_a_password_follows_the_same_rule() {
    let app = TestApp::spawn().await;
    let id = app.create_user("gina", PASSWORD, &[]).await;
    let admin = app.admin_token().await;
    let path = format!("/users/{id}");
    let set = |password: String| {
        app.patch(&path)
            .bearer_auth(&admin)
            .json(&json!({"password": password}))
            .send()
    };
    let body = expect_error(
        set("x".repeat(73)).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "",
    )
    .await;
    assert!(
        body["error_description"].as_str().unwrap().contains("72"),
        "{body}"
    );
    assert_eq!(
        set("\u{20ac}".repeat(4)).await.unwrap().status(),
        StatusCode::OK
    );
    app.login("gina", &"\u{20ac}".repeat(4), None).await;
}

#[tokio::test]
async fn a_password_over_72_bytes_at_login_is_just_invalid_grant() {
    let app = TestApp::spawn().await;
    let response = app
        .token_request(&[("username", "admin"), ("password", &"a".repeat(100))])
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_grant", "").await;
}
