//! The one error shape, and what an error body must never carry.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, error_of, expect_error};

/// Text that would betray internals or secrets.
fn assert_clean(body: &serde_json::Value, secrets: &[&str]) {
    let text = body.to_string();
    for needle in [
        "sqlite", "SQL", "SELECT", "INSERT", "$2b$", "panicked", "sqlx",
    ] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
    for secret in secrets {
        assert!(!text.contains(secret), "a secret in {text}");
    }
}

#[tokio::test]
async fn an_unknown_path_is_not_found_in_json() {
    let app = TestApp::spawn().await;
    for path in ["/nope", "/users/1/extra", "/items/1/2"] {
        let body = expect_error(
            app.get(path).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
            &path,
        )
        .await;
        assert_clean(&body, &[]);
    }
}

#[tokio::test]
async fn a_method_a_path_does_not_answer_is_a_json_error() {
    let app = TestApp::spawn().await;
    let requests = [
        app.put("/items"),
        app.delete("/users"),
        app.post("/healthz"),
        app.put("/token"),
    ];
    for request in requests {
        let (status, code, _) = error_of(request.send().await.unwrap()).await;
        assert!(matches!(status.as_u16(), 400 | 405), "{status}");
        assert_eq!(code, "invalid_request");
    }
}

#[tokio::test]
async fn malformed_bodies_are_invalid_request_and_echo_no_value() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let secret = "hunter2-hunter2-hunter2";
    let requests = [
        app.post("/users")
            .json(&json!({"username": "x1y", "password": [secret]})),
        app.post("/users")
            .json(&json!({"username": "x1y", "password": {"p": secret}})),
        app.post("/users")
            .json(&json!({"username": secret, "password": 12345678})),
        app.post("/users")
            .header("content-type", "application/json")
            .body(format!("{{\"password\": \"{secret}\"")),
        app.post("/items")
            .header("content-type", "text/plain")
            .body(secret),
        app.patch("/items/1")
            .header("content-type", "application/json")
            .body("not json"),
    ];
    for request in requests {
        let response = request.bearer_auth(&token).send().await.unwrap();
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
        assert_clean(&body, &[secret, &token]);
    }
}

#[tokio::test]
async fn token_errors_echo_no_password_or_token() {
    let app = TestApp::spawn().await;
    let tokens = app.login("admin", ADMIN_PASSWORD, None).await;
    let forms: [&[(&str, &str)]; 3] = [
        &[("username", "admin"), ("password", "wrong-password-x")],
        &[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("scope", "not-a-scope"),
        ],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh),
            ("scope", "bogus"),
        ],
    ];
    for form in forms {
        let (_, _, body) = error_of(app.token_request(form).await).await;
        assert_clean(
            &body,
            &["wrong-password-x", ADMIN_PASSWORD, &tokens.refresh],
        );
    }
}

#[tokio::test]
async fn a_database_fault_is_internal_error_with_a_fixed_message() {
    let app = TestApp::spawn().await;
    let token = app
        .user_token("unlucky", &["read:items", "write:items"])
        .await;
    sqlx::query("DROP TABLE items")
        .execute(&app.sql().await)
        .await
        .unwrap();
    let requests = [
        app.get("/items"),
        app.post("/items").json(&json!({"name": "n"})),
    ];
    for request in requests {
        let body = expect_error(
            request.bearer_auth(&token).send().await.unwrap(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "",
        )
        .await;
        assert_clean(&body, &[&token]);
        assert!(!body.to_string().contains("items"), "{body}");
    }
}

#[tokio::test]
async fn a_body_field_of_the_wrong_type_or_missing_is_named() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let cases = [
        ("/items", json!({}), "body field `name`: is required"),
        (
            "/items",
            json!({"name": 42}),
            "body field `name`: must be a string",
        ),
        (
            "/items",
            json!({"name": "x", "description": ["hunter2"]}),
            "body field `description`: must be a string",
        ),
        (
            "/users",
            json!({"username": "carol", "password": 12345678}),
            "body field `password`: must be a string",
        ),
        (
            "/users",
            json!({"password": "long enough"}),
            "body field `username`: is required",
        ),
    ];
    for (path, body, expected) in cases {
        let response = app.send_json(Method::POST, path, &admin, &body).await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
        let description = error["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{body}: {description}");
        assert_clean(&error, &["hunter2", "12345678"]);
    }
}

/// The `invalid_fields` of a 400 as `(in, name, message)`.
async fn invalid_fields(response: reqwest::Response) -> Vec<(String, String, String)> {
    let (status, code, body) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{body}"
    );
    let text = body.to_string();
    for internal in [
        "param0",
        "exclusive",
        "verification failed",
        "failed to parse",
    ] {
        assert!(!text.contains(internal), "{internal} in {text}");
    }
    body["invalid_fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no invalid_fields in {body}"))
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (s("in"), s("name"), s("message"))
        })
        .collect()
}

#[tokio::test]
async fn a_bad_path_parameter_is_named_as_the_spec_names_it() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for path in ["/items/abc", "/users/1.5", "/items/99999999999999999999"] {
        let fields = invalid_fields(app.get_as(path, &token).await).await;
        assert_eq!(
            fields,
            [("path".into(), "id".into(), "must be an integer".into())],
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_bad_query_parameter_is_named_with_its_rule() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for query in ["limit=0", "limit=201", "limit=ten"] {
        let fields = invalid_fields(app.get_as(&format!("/items?{query}"), &token).await).await;
        assert_eq!(
            fields,
            [(
                "query".into(),
                "limit".into(),
                "must be an integer from 1 to 200".into()
            )],
            "{query}"
        );
    }
    let long = "x".repeat(65);
    let fields = invalid_fields(app.get_as(&format!("/users?cursor={long}"), &token).await).await;
    assert_eq!(fields[0].1, "cursor");
    assert_eq!(fields[0].2, "must be a string of at most 64 characters");
}

#[tokio::test]
async fn every_bad_body_field_is_named_and_no_value_is_echoed() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let secret = "hunter2-hunter2";
    let response = app
        .send_json(
            Method::POST,
            "/users",
            &token,
            &json!({"username": "a b", "password": [secret], "email": secret, "scopes": ["bogus"]}),
        )
        .await;
    let fields = invalid_fields(response).await;
    let names: Vec<&str> = fields.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        names,
        ["username", "password", "email", "scopes"],
        "{fields:?}"
    );
    assert!(fields.iter().all(|f| f.0 == "body"));
    assert_eq!(fields[1].2, "must be a string");
    assert!(fields[3].2.contains("`read:items`"), "{fields:?}");
    assert!(!format!("{fields:?}").contains(secret));

    let fields = invalid_fields(
        app.send_json(Method::POST, "/items", &token, &json!({"name": ""}))
            .await,
    )
    .await;
    assert_eq!(
        fields,
        [(
            "body".into(),
            "name".into(),
            "must be a string of 1 to 200 characters".into()
        )]
    );
    let fields = invalid_fields(
        app.send_json(Method::POST, "/items", &token, &json!({"description": "x"}))
            .await,
    )
    .await;
    assert_eq!(fields[0].1, "name");
    assert_eq!(fields[0].2, "is required");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_named_as_the_body() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let response = app
        .post("/items")
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let (_, _, body) = error_of(response).await;
    let field = &body["invalid_fields"][0];
    assert_eq!(field["in"], "body");
    assert!(field.get("name").is_none(), "{body}");
    assert!(
        field["message"]
            .as_str()
            .unwrap()
            .starts_with("is not valid JSON"),
        "{body}"
    );
}

/// A rule the handler checks (here the password policy) names its field too.
#[tokio::test]
async fn a_field_refused_by_a_rule_of_the_handler_is_named() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let fields = invalid_fields(
        app.send_json(
            Method::POST,
            "/users",
            &token,
            &json!({"username": "shorty", "password": "short"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields.len(), 1);
    assert_eq!(
        (fields[0].0.as_str(), fields[0].1.as_str()),
        ("body", "password")
    );
}
