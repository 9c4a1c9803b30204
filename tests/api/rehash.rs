//! Raising `TOLLGATE_BCRYPT_COST` takes effect as users log in.

use reqwest::StatusCode;

use crate::helpers::{TEST_COST, TestApp, error_of};

const USER: &str = "carol";
const PASSWORD: &str = "carol-password-1";

async fn stored_hash(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE username = $1")
        .bind(USER)
        .fetch_one(&app.sql().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_login_rehashes_the_password_at_the_configured_cost() {
    let app = TestApp::spawn().await;
    app.create_user(USER, PASSWORD, &["read:items"]).await;
    assert!(
        stored_hash(&app)
            .await
            .starts_with(&format!("$2b$0{TEST_COST}$"))
    );
    let before = app.login(USER, PASSWORD, None).await;

    let app = app
        .restart_with(|config| config.bcrypt_cost = TEST_COST + 1)
        .await;
    app.login(USER, PASSWORD, None).await;
    let upgraded = stored_hash(&app).await;
    assert!(upgraded.starts_with("$2b$05$"), "the hash was not upgraded");

    // The password still works, and only it; the upgrade ended no session.
    app.login(USER, PASSWORD, None).await;
    assert_eq!(
        stored_hash(&app).await,
        upgraded,
        "a hash at the right cost is kept"
    );
    let wrong = app
        .token_request(&[("username", USER), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(wrong).await.1, "invalid_grant");
    assert_eq!(app.me_status(&before.access).await, StatusCode::OK);
    assert_eq!(
        app.refresh(&before.refresh, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_failed_login_does_not_rehash() {
    let app = TestApp::spawn().await;
    app.create_user(USER, PASSWORD, &[]).await;
    let original = stored_hash(&app).await;
    let app = app
        .restart_with(|config| config.bcrypt_cost = TEST_COST + 1)
        .await;
    let wrong = app
        .token_request(&[("username", USER), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(wrong).await.1, "invalid_grant");
    assert_eq!(stored_hash(&app).await, original);
}
