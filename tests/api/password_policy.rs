//! New passwords are checked against the list of common passwords and the
//! username, wherever a password is set; the answer names the field and the
//! reason, never the value.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, expect_error};

/// On the shipped list (and within the length rules).
const COMMON: &[&str] = &["password1", "Iloveyou", "qwertyuiop", "1q2w3e4r5t"];

fn assert_named_not_echoed(body: &serde_json::Value, field: &str, value: &str) {
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(&format!("`{field}`")), "{body}");
    assert_eq!(body["invalid_fields"][0]["in"], "body", "{body}");
    assert_eq!(body["invalid_fields"][0]["name"], field, "{body}");
    assert!(
        !description.to_lowercase().contains(&value.to_lowercase()),
        "the value is echoed: {body}"
    );
}

#[tokio::test]
async fn creating_a_user_with_a_common_password_or_the_username_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for password in COMMON {
        let body = json!({"username": "frank", "password": password});
        let response = app.send_json(Method::POST, "/users", &admin, &body).await;
        let body = expect_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            password,
        )
        .await;
        assert_named_not_echoed(&body, "password", password);
        assert!(body.to_string().contains("common"), "{body}");
    }
    let body = json!({"username": "Frank.Jones", "password": "frank.JONES"});
    let response = app.send_json(Method::POST, "/users", &admin, &body).await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "same").await;
    assert_named_not_echoed(&body, "password", "frank.jones");
    assert!(body.to_string().contains("username"), "{body}");

    // No composition rules: lowercase words, not on the list, are fine.
    let body = json!({"username": "frank", "password": "purple monkey dishwasher"});
    let response = app.send_json(Method::POST, "/users", &admin, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_admin_cannot_set_a_common_password_or_the_username() {
    let app = TestApp::spawn().await;
    let id = app.create_user("grace-hopper", PASSWORD, &[]).await;
    let admin = app.admin_token().await;
    let path = format!("/users/{id}");
    for password in ["password1", "GRACE-HOPPER"] {
        let body = json!({"password": password});
        let response = app.send_json(Method::PATCH, &path, &admin, &body).await;
        let body = expect_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            password,
        )
        .await;
        assert_named_not_echoed(&body, "password", password);
    }
    let body = json!({"password": "grace-hopper-1"});
    let response = app.send_json(Method::PATCH, &path, &admin, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Not the username itself, but close: allowed (only equality is refused).
    app.login("grace-hopper", "grace-hopper-1", None).await;
}

#[tokio::test]
async fn changing_your_own_password_to_a_common_one_or_your_username_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.user_token("heidi-hh", &[]).await;
    for new in ["Password1", "HEIDI-HH"] {
        let body = json!({"current_password": PASSWORD, "new_password": new});
        let response = app
            .send_json(Method::PUT, "/users/me/password", &token, &body)
            .await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", new).await;
        assert_named_not_echoed(&body, "new_password", new);
    }
    // Only the username itself is refused, not a password containing it.
    let body = json!({"current_password": PASSWORD, "new_password": "heidi-hh-2"});
    let response = app
        .send_json(Method::PUT, "/users/me/password", &token, &body)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
