//! Security headers: `nosniff` everywhere, `no-store` on every API answer,
//! and a `/docs` that cannot be framed but still runs its inline Swagger UI.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, header};

fn assert_api_headers(response: &reqwest::Response, what: &str) {
    assert_eq!(
        header(response, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(response, "cache-control"), "no-store", "{what}");
}

#[tokio::test]
async fn answers_that_depend_on_the_token_are_never_stored_nor_sniffed() {
    let app = TestApp::spawn().await;
    let token = app.user_token("judy", &["read:items", "write:items"]).await;
    let me = app.get_as("/users/me", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_api_headers(&me, "GET /users/me");
    let body = json!({"name": "first"});
    let created = app.send_json(Method::POST, "/items", &token, &body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_api_headers(&created, "POST /items");
    let list = app.get_as("/items", &token).await;
    assert_api_headers(&list, "GET /items");
    // Errors too: a refused token, a missing one, an unknown path.
    assert_api_headers(&app.get_as("/users/me", "not-a-token").await, "401");
    let bare = app.get("/users/me").send().await.unwrap();
    assert_api_headers(&bare, "401 without a token");
    let forbidden = app.get_as("/users", &token).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_api_headers(&forbidden, "403");
    assert_api_headers(&app.get("/nowhere").send().await.unwrap(), "404");
    assert_api_headers(&app.get("/healthz").send().await.unwrap(), "/healthz");
}

#[tokio::test]
async fn the_docs_cannot_be_framed_and_need_nothing_from_elsewhere() {
    let app = TestApp::spawn().await;
    let docs = app.get("/docs").send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert_eq!(header(&docs, "x-frame-options"), "DENY");
    assert_eq!(header(&docs, "x-content-type-options"), "nosniff");
    let policy = header(&docs, "content-security-policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'unsafe-inline'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    // The policy allows inline script and style only: the page must load no
    // script or style sheet from a URL.
    let html = docs.text().await.unwrap();
    assert!(html.contains("SwaggerUIBundle"));
    assert!(!html.contains("<script src"), "an external script");
    assert!(
        !html.contains("<link rel=\"stylesheet\""),
        "an external style"
    );

    let receiver = app.get("/docs/oauth-receiver.html").send().await.unwrap();
    assert_eq!(header(&receiver, "x-frame-options"), "DENY");

    // The spec is public and the same for everyone: cacheable, but not sniffed.
    let spec = app.get("/openapi.json").send().await.unwrap();
    assert_eq!(header(&spec, "x-content-type-options"), "nosniff");
    assert_eq!(header(&spec, "cache-control"), "");
}

#[tokio::test]
async fn the_token_endpoint_keeps_its_own_cache_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .token_request(&[("username", "nobody"), ("password", "wrong-password-1")])
        .await;
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "pragma"), "no-cache");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
}
