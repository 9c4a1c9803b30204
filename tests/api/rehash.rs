//! A change of `TOLLGATE_PASSWORD_HASH`, `TOLLGATE_BCRYPT_COST` or the
//! Argon2id parameters takes effect as users log in, in either direction.

use reqwest::StatusCode;
use tollgate::{
    auth::hashes::Argon2Params,
    config::{Config, PasswordAlgorithm},
};

use crate::helpers::{TEST_COST, TestApp, error_of};

/// Argon2id at `memory_kib` and `iterations`: small, so the suite stays fast.
fn argon2(memory_kib: u32, iterations: u32) -> impl FnOnce(&mut Config) {
    move |config| {
        config.password_hash = PasswordAlgorithm::Argon2id;
        config.argon2 = Argon2Params::new(memory_kib, iterations, 1);
    }
}

fn bcrypt(cost: u32) -> impl FnOnce(&mut Config) {
    move |config| {
        config.password_hash = PasswordAlgorithm::Bcrypt;
        config.bcrypt_cost = cost;
    }
}

/// Logs in under the settings of `after`, then checks that the stored hash
/// starts with `expected`, that only the password matches it, that a second
/// login keeps it, and that the upgrade ended no session.
async fn upgraded_on_login(app: TestApp, after: impl FnOnce(&mut Config), expected: &str) {
    let before = app.login(USER, PASSWORD, None).await;
    let old = stored_hash(&app).await;
    assert!(!old.starts_with(expected), "{expected} already");
    let app = app.restart_with(after).await;
    let wrong = app
        .token_request(&[("username", USER), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(wrong).await.1, "invalid_grant");
    assert_eq!(stored_hash(&app).await, old, "a failed login rehashed");

    app.login(USER, PASSWORD, None).await;
    let upgraded = stored_hash(&app).await;
    assert!(upgraded.starts_with(expected), "not upgraded to {expected}");
    app.login(USER, PASSWORD, None).await;
    assert_eq!(stored_hash(&app).await, upgraded, "a current hash is kept");
    let wrong = app
        .token_request(&[("username", USER), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(wrong).await.1, "invalid_grant");
    assert_eq!(app.me_status(&before.access).await, StatusCode::OK);
}

#[tokio::test]
async fn switching_to_argon2id_rehashes_bcrypt_hashes_at_login() {
    let app = TestApp::spawn().await;
    app.create_user(USER, PASSWORD, &[]).await;
    upgraded_on_login(app, argon2(1024, 1), "$argon2id$v=19$m=1024,t=1,p=1$").await;
}

#[tokio::test]
async fn switching_back_to_bcrypt_rehashes_argon2id_hashes_at_login() {
    let app = TestApp::spawn_with(argon2(1024, 1)).await;
    app.create_user(USER, PASSWORD, &[]).await;
    assert!(stored_hash(&app).await.starts_with("$argon2id$"));
    upgraded_on_login(app, bcrypt(TEST_COST + 1), "$2b$05$").await;
}

#[tokio::test]
async fn changed_argon2id_parameters_rehash_at_login() {
    let app = TestApp::spawn_with(argon2(1024, 1)).await;
    app.create_user(USER, PASSWORD, &[]).await;
    let app = app.restart_with(argon2(2048, 1)).await;
    upgraded_on_login(app, argon2(2048, 2), "$argon2id$v=19$m=2048,t=2,p=1$").await;
}

#[tokio::test]
async fn lowered_argon2id_parameters_rehash_too() {
    // Any other parameters are replaced, not only weaker ones: the
    // operator's setting is the one in force.
    let app = TestApp::spawn_with(argon2(2048, 2)).await;
    app.create_user(USER, PASSWORD, &[]).await;
    upgraded_on_login(app, argon2(1024, 1), "$argon2id$v=19$m=1024,t=1,p=1$").await;
}

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
