use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp};

#[tokio::test]
async fn a_logged_in_admin_reads_their_account() {
    let app = TestApp::spawn().await;
    let tokens = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let response = app
        .get("/users/me")
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], ADMIN);
}
