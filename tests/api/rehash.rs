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

/// The wall time of one login attempt.
async fn timed(app: &TestApp, username: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    let response = app
        .token_request(&[("username", username), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(response).await.1, "invalid_grant");
    started.elapsed()
}

#[tokio::test]
async fn after_the_cost_is_lowered_an_unknown_name_costs_what_an_older_hash_costs() {
    // carol's hash is made at cost 10, then the service runs at cost 4.
    let app = TestApp::spawn().await;
    let app = app.restart_with(|config| config.bcrypt_cost = 10).await;
    app.create_user(USER, PASSWORD, &[]).await;
    let app = app
        .restart_with(|config| config.bcrypt_cost = TEST_COST)
        .await;

    let older = timed(&app, USER).await;
    // The attempt made the hasher raise its dummy to carol's cost.
    app.state.auth.hasher.warm_up().await.unwrap();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        unknown.push(timed(&app, "no-such-user").await);
    }
    unknown.sort();
    assert!(
        unknown[1] * 4 > older,
        "an unknown name ({:?}) is told apart from a cost-10 user ({older:?})",
        unknown[1]
    );
}
