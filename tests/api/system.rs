//! Health, readiness, docs, and what survives a restart.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{PASSWORD, TestApp, header};

#[tokio::test]
async fn healthz_and_readyz_answer_ok_without_a_token() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": "ok"})
        );
    }
}

#[tokio::test]
async fn readyz_turns_503_when_the_users_table_cannot_be_read() {
    let app = TestApp::spawn().await;
    sqlx::query("ALTER TABLE users RENAME TO users_away")
        .execute(&app.sql().await)
        .await
        .unwrap();
    let response = app.get("/readyz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!header(&response, "retry-after").is_empty());
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unavailable"
    );
    assert_eq!(
        app.get("/healthz").send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs_with_the_password_flow() {
    let app = TestApp::spawn().await;
    let response = app.get("/docs").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let html = response.text().await.unwrap().to_lowercase();
    assert!(html.contains("swagger"), "{html}");

    let spec: Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow = &spec["components"]["securitySchemes"]["OAuth2"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/token");
    let mut scopes: Vec<String> = flow["scopes"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    scopes.sort();
    let mut every = ScopeSet::all().names();
    every.sort();
    assert_eq!(scopes, every);
}

#[tokio::test]
async fn a_restart_keeps_users_and_accepts_earlier_tokens() {
    let app = TestApp::spawn().await;
    let token = app
        .user_token("survivor", &["read:items", "write:items"])
        .await;
    let created = app
        .send_json(Method::POST, "/items", &token, &json!({"name": "kept"}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
        .fetch_one(&app.sql().await)
        .await
        .unwrap();
    assert_eq!(keys, 1, "the generated signing key is stored");

    let app = app.restart().await;
    let items = app.get_json("/items", &token).await;
    assert_eq!(items["data"][0]["name"], "kept");
    app.login("survivor", PASSWORD, None).await;
}
