//! Limits: body size, string lengths, page sizes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, expect_error};

const OVER_LIMIT: usize = 64 * 1024 + 1;

#[tokio::test]
async fn a_body_over_64_kib_is_payload_too_large() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let big_item = json!({"name": "big", "description": "d".repeat(OVER_LIMIT)});
    let big_form = format!(
        "username={ADMIN}&password={ADMIN_PASSWORD}&pad={}",
        "p".repeat(OVER_LIMIT)
    );
    let requests = [
        app.post("/items").bearer_auth(&token).json(&big_item),
        app.post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big_form),
    ];
    for request in requests {
        expect_error(
            request.send().await.unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "",
        )
        .await;
    }
}

/// Sends a JSON body chunked (no `Content-Length`) and returns the status line and body.
async fn chunked_post(app: &TestApp, path: &str, token: &str, body: &[u8]) -> (String, Value) {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break; // the server may answer and close before the whole body is sent
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status_line = response.lines().next().unwrap_or_default().to_owned();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    // A chunked response: the JSON sits on its own line between chunk sizes.
    let json = body
        .lines()
        .find(|line| line.starts_with('{'))
        .unwrap_or("null");
    (
        status_line,
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_chunked_body_over_64_kib_is_payload_too_large() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let big = json!({"name": "big", "description": "d".repeat(OVER_LIMIT)}).to_string();
    let (status, body) = chunked_post(&app, "/items", &token, big.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert_eq!(body["error"], "payload_too_large", "{body}");

    // The same path still reads a small chunked body.
    let small = json!({"name": "small"}).to_string();
    let (status, body) = chunked_post(&app, "/items", &token, small.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 201"), "{status} {body}");
}

#[tokio::test]
async fn string_fields_over_their_limits_are_invalid_request() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let user = |extra: Value| {
        let mut body = json!({"username": "limited", "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.post("/users").bearer_auth(&token).json(&body)
    };
    let cases = [
        (
            "name",
            app.post("/items")
                .bearer_auth(&token)
                .json(&json!({"name": "n".repeat(201)})),
        ),
        (
            "description",
            app.post("/items")
                .bearer_auth(&token)
                .json(&json!({"name": "n", "description": "d".repeat(4001)})),
        ),
        ("username", user(json!({"username": "u".repeat(65)}))),
        ("full_name", user(json!({"full_name": "f".repeat(129)}))),
        (
            "email",
            user(json!({"email": format!("{}@example.org", "e".repeat(250))})),
        ),
        (
            "username",
            app.post("/token").form(&[
                ("username", "u".repeat(5000).as_str()),
                ("password", PASSWORD),
            ]),
        ),
    ];
    for (field, request) in cases {
        let body = expect_error(
            request.send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &field,
        )
        .await;
        assert!(
            body["error_description"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    // At the limits, accepted.
    let longest = json!({"name": "n".repeat(200), "description": "d".repeat(4000)});
    let ok = app
        .send_json(Method::POST, "/items", &token, &longest)
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_page_size_outside_1_to_200_is_invalid_request() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for list in ["/items", "/users"] {
        for limit in ["0", "201", "-1", "many"] {
            let response = app.get_as(&format!("{list}?limit={limit}"), &token).await;
            let body = expect_error(
                response,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("{list} {limit}"),
            )
            .await;
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("limit"),
                "{body}"
            );
        }
        for limit in ["1", "200"] {
            let response = app.get_as(&format!("{list}?limit={limit}"), &token).await;
            assert_eq!(response.status(), StatusCode::OK, "{list} {limit}");
        }
    }
}
