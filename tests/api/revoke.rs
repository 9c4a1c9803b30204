//! `POST /token/revoke` (RFC 7009).

use reqwest::{Response, StatusCode};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, expect_error};

async fn revoke(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.post("/token/revoke").form(form).send().await.unwrap()
}

async fn assert_revoked_ok(response: Response) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "RFC 7009 answers an empty 200"
    );
}

async fn refresh_status(app: &TestApp, refresh_token: &str) -> (StatusCode, String) {
    let response = app.refresh(refresh_token, None).await;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_login() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;

    assert_revoked_ok(revoke(&app, &[("token", &login.refresh)]).await).await;

    let (status, error) = refresh_status(&app, &login.refresh).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_an_access_token_ends_its_family_and_no_other() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let other = app.login(ADMIN, ADMIN_PASSWORD, None).await;

    let form = [
        ("token", login.access.as_str()),
        ("token_type_hint", "access_token"),
    ];
    assert_revoked_ok(revoke(&app, &form).await).await;

    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
    let (status, error) = refresh_status(&app, &login.refresh).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    assert_eq!(app.me_status(&other.access).await, StatusCode::OK);
    assert_eq!(refresh_status(&app, &other.refresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_type_hint_does_not_stop_the_revocation() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let form = [
        ("token", login.refresh.as_str()),
        ("token_type_hint", "access_token"),
    ];
    assert_revoked_ok(revoke(&app, &form).await).await;
    assert_eq!(
        refresh_status(&app, &login.refresh).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn revoking_an_unknown_or_garbage_token_answers_an_empty_200() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let garbage = [
        "unknown-token",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "a.b.c",
        "\u{00e9}\u{00e9}\u{00e9}",
    ];
    for token in garbage {
        assert_revoked_ok(revoke(&app, &[("token", token)]).await).await;
        let hinted = [("token", token), ("token_type_hint", "refresh_token")];
        assert_revoked_ok(revoke(&app, &hinted).await).await;
    }
    // Nothing real was touched.
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
}

#[tokio::test]
async fn revoking_a_spent_refresh_token_answers_200_and_ends_its_family() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let response = app.refresh(&login.refresh, None).await;
    let newest: serde_json::Value = response.json().await.unwrap();
    let newest = newest["refresh_token"].as_str().unwrap();

    assert_revoked_ok(revoke(&app, &[("token", &login.refresh)]).await).await;
    assert_eq!(
        refresh_status(&app, newest).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn revoking_twice_answers_200_both_times() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_revoked_ok(revoke(&app, &[("token", &login.refresh)]).await).await;
    assert_revoked_ok(revoke(&app, &[("token", &login.refresh)]).await).await;
    assert_revoked_ok(revoke(&app, &[("token", &login.access)]).await).await;
}

#[tokio::test]
async fn revoking_without_a_token_is_invalid_request() {
    let app = TestApp::spawn().await;
    for form in [
        &[("token_type_hint", "refresh_token")][..],
        &[("token", "")][..],
    ] {
        let body = expect_error(
            revoke(&app, form).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "",
        )
        .await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("token"),
            "{body}"
        );
    }
}
