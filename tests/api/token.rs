//! `POST /token`: the password grant, its answers and its error table.

use reqwest::{Response, StatusCode};
use serde_json::Value;
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{
    ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, error_of, expect_error, header, jwt_parts,
};

const FORM: &str = "application/x-www-form-urlencoded";

/// Asserts a 400 with `code` and the no-cache headers; returns the body.
async fn token_error(response: Response, code: &str) -> Value {
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "pragma"), "no-cache");
    expect_error(response, StatusCode::BAD_REQUEST, code, "").await
}

async fn raw_form(app: &TestApp, body: &str) -> Response {
    let request = app.post("/token").header("content-type", FORM);
    request.body(body.to_owned()).send().await.unwrap()
}

#[tokio::test]
async fn a_password_grant_answers_tokens_that_must_not_be_cached() {
    let app = TestApp::spawn().await;
    let response = app
        .token_request(&[
            ("grant_type", "password"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "pragma"), "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], ScopeSet::all().to_string());
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn a_missing_or_empty_grant_type_is_read_as_password() {
    let app = TestApp::spawn().await;
    let omitted = app
        .token_request(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(omitted.status(), StatusCode::OK);
    let empty = app
        .token_request(&[
            ("grant_type", ""),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .await;
    assert_eq!(empty.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_or_empty_username_or_password_is_invalid_request() {
    let app = TestApp::spawn().await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("password", ADMIN_PASSWORD)],
        &[("username", ADMIN)],
        &[("username", ""), ("password", ADMIN_PASSWORD)],
        &[("username", ADMIN), ("password", "")],
    ];
    for form in cases {
        token_error(app.token_request(form).await, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let app = TestApp::spawn().await;
    let twice = format!("username={ADMIN}&username={ADMIN}&password={ADMIN_PASSWORD}");
    let body = token_error(raw_form(&app, &twice).await, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("username"),
        "{body}"
    );
    let grant_twice = format!(
        "grant_type=password&grant_type=password&username={ADMIN}&password={ADMIN_PASSWORD}"
    );
    token_error(raw_form(&app, &grant_twice).await, "invalid_request").await;
}

#[tokio::test]
async fn a_body_that_is_not_a_form_is_invalid_request() {
    let app = TestApp::spawn().await;
    let json = app
        .post("/token")
        .json(&serde_json::json!({"grant_type": "password", "username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    token_error(json, "invalid_request").await;
    let nothing = app.post("/token").send().await.unwrap();
    token_error(nothing, "invalid_request").await;
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_user_get_one_identical_answer() {
    let app = TestApp::spawn().await;
    let id = app.create_user("dora", PASSWORD, &["read:items"]).await;
    let admin = app.admin_token().await;
    let disable = app.patch(&format!("/users/{id}")).bearer_auth(admin);
    let disabled = disable
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);

    let unknown = app
        .token_request(&[("username", "nobody"), ("password", PASSWORD)])
        .await;
    let unknown = token_error(unknown, "invalid_grant").await;
    let wrong = app
        .token_request(&[("username", ADMIN), ("password", "wrong-password")])
        .await;
    let wrong = token_error(wrong, "invalid_grant").await;
    let off = app
        .token_request(&[("username", "dora"), ("password", PASSWORD)])
        .await;
    let off = token_error(off, "invalid_grant").await;
    assert_eq!(unknown, wrong);
    assert_eq!(wrong, off);
}

#[tokio::test]
async fn another_grant_type_is_unsupported_grant_type() {
    let app = TestApp::spawn().await;
    for grant in ["authorization_code", "implicit", "PASSWORD"] {
        let form = [
            ("grant_type", grant),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ];
        token_error(app.token_request(&form).await, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn an_unknown_or_malformed_or_wrongly_cased_scope_is_invalid_scope() {
    let app = TestApp::spawn().await;
    for scope in [
        "delete:everything",
        "read:items delete:everything",
        "READ:ITEMS",
        "read\"items",
    ] {
        let form = [
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("scope", scope),
        ];
        token_error(app.token_request(&form).await, "invalid_scope").await;
    }
}

#[tokio::test]
async fn a_scope_the_user_does_not_hold_is_invalid_scope() {
    let app = TestApp::spawn().await;
    app.create_user("reader", PASSWORD, &["read:items"]).await;
    let form = [
        ("username", "reader"),
        ("password", PASSWORD),
        ("scope", "read:items admin"),
    ];
    token_error(app.token_request(&form).await, "invalid_scope").await;
}

#[tokio::test]
async fn a_requested_subset_is_all_the_token_carries() {
    let app = TestApp::spawn().await;
    let tokens = app
        .login(ADMIN, ADMIN_PASSWORD, Some("write:items  read:items"))
        .await;
    assert_eq!(tokens.scope, "read:items write:items");
    assert_eq!(
        jwt_parts(&tokens.access).1["scope"],
        "read:items write:items"
    );
    let users = app.get_as("/users", &tokens.access).await;
    assert_eq!(users.status(), StatusCode::FORBIDDEN);
    let items = app.get_as("/items", &tokens.access).await;
    assert_eq!(items.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_empty_scope_counts_as_omitted_and_grants_everything_held() {
    let app = TestApp::spawn().await;
    let tokens = app.login(ADMIN, ADMIN_PASSWORD, Some("")).await;
    assert_eq!(tokens.scope, ScopeSet::all().to_string());
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = TestApp::spawn().await;
    let form = [
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("nonce", "x"),
        ("state", "y"),
    ];
    assert_eq!(app.token_request(&form).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unregistered_client_credentials_are_invalid_client_and_swagger_basic_is_no_client() {
    let app = TestApp::spawn().await;
    let form = [
        ("username", ADMIN),
        ("password", ADMIN_PASSWORD),
        ("client_id", "my-app"),
        ("client_secret", "not-registered"),
    ];
    let (status, code, _) = error_of(app.token_request(&form).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code, "invalid_client");

    // What Swagger UI sends: an empty client id and secret as HTTP Basic.
    let swagger = app
        .post("/token")
        .header("authorization", "Basic Og==")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(format!(
            "grant_type=password&username={ADMIN}&password={ADMIN_PASSWORD}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(swagger.status(), StatusCode::OK);
    let token = swagger.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_parts(&token).1["client_id"], "tollgate");
}

#[tokio::test]
async fn the_token_endpoint_answers_only_post() {
    let app = TestApp::spawn().await;
    let query = format!("/token?username={ADMIN}&password={ADMIN_PASSWORD}");
    let response = app.get(&query).send().await.unwrap();
    let (status, _, body) = error_of(response).await;
    assert!(matches!(status.as_u16(), 400 | 405), "{status} {body}");
    assert!(body.get("access_token").is_none());
}

/// A `client_id` is stored with the session and printed by `tollgate
/// sessions list`: control and format characters are refused, so no login
/// can write a terminal escape or a bidi override into an operator's screen.
#[tokio::test]
async fn a_client_id_with_control_or_format_characters_is_refused() {
    let app = TestApp::spawn().await;
    for client_id in [
        "app\u{1b}[2J",
        "app\u{202e}gnp.exe",
        "app\u{0}",
        "app\nline",
    ] {
        let response = app
            .token_request(&[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("client_id", client_id),
            ])
            .await;
        let (status, code, _) = crate::helpers::error_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{client_id:?}");
        assert_eq!(code, "invalid_request", "{client_id:?}");
    }
    let fine = app
        .token_request(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("client_id", "tollgate"),
        ])
        .await;
    assert_eq!(fine.status(), StatusCode::OK);
}
