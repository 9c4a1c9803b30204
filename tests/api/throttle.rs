//! Brute-force throttling of the password grant.
//!
//! The first lock after the limit lasts one second, so each test sends its
//! next attempt right away; the only sleeps wait out a configured short lock.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use tollgate::config::Config;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, error_of, expect_error};

const WRONG: &str = "wrong-password-1";

fn user_limit(limit: u32) -> impl FnOnce(&mut Config) {
    move |config| config.throttle.user_limit = limit
}

async fn attempt(app: &TestApp, username: &str, password: &str) -> Response {
    app.token_request(&[("username", username), ("password", password)])
        .await
}

async fn fail(app: &TestApp, username: &str) {
    expect_error(
        attempt(app, username, WRONG).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "",
    )
    .await;
}

/// Checks a 429 in the RFC 6749 error shape and returns its `Retry-After`.
async fn assert_throttled(response: Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, code, _) = error_of(response).await;
    assert_eq!(code, "too_many_requests");
    assert!(retry_after >= 1);
    retry_after
}

#[tokio::test]
async fn past_the_limit_even_the_right_password_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    for _ in 0..3 {
        fail(&app, ADMIN).await;
    }
    let retry_after = assert_throttled(attempt(&app, ADMIN, ADMIN_PASSWORD).await).await;
    assert!(retry_after <= 900, "{retry_after}");
    assert_throttled(attempt(&app, ADMIN, WRONG).await).await;
}

#[tokio::test]
async fn the_default_limit_is_ten_failures() {
    let app = TestApp::spawn().await;
    for _ in 0..9 {
        fail(&app, ADMIN).await;
    }
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
    for _ in 0..10 {
        fail(&app, ADMIN).await;
    }
    assert_throttled(attempt(&app, ADMIN, ADMIN_PASSWORD).await).await;
}

#[tokio::test]
async fn unknown_usernames_are_throttled_like_known_ones() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    for _ in 0..3 {
        fail(&app, "ghost").await;
    }
    assert_throttled(attempt(&app, "Ghost", WRONG).await).await;
    // Other usernames from the same address are not affected by that lock.
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

#[tokio::test]
async fn the_address_limit_refuses_attempts_for_any_username() {
    let app = TestApp::spawn_with(|config| {
        config.throttle.user_limit = 100;
        config.throttle.addr_limit = 3;
    })
    .await;
    for name in ["ghost1", "ghost2", "ghost3"] {
        fail(&app, name).await;
    }
    assert_throttled(attempt(&app, ADMIN, ADMIN_PASSWORD).await).await;
    assert_throttled(attempt(&app, "ghost4", WRONG).await).await;
}

#[tokio::test]
async fn the_count_survives_a_restart() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    fail(&app, ADMIN).await;
    fail(&app, ADMIN).await;
    let app = app.restart().await;
    fail(&app, ADMIN).await;
    assert_throttled(attempt(&app, ADMIN, ADMIN_PASSWORD).await).await;
}

#[tokio::test]
async fn another_process_on_the_same_database_sees_the_count() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    let sibling = app.sibling().await;
    fail(&app, ADMIN).await;
    fail(&sibling, ADMIN).await;
    fail(&app, ADMIN).await;
    assert_throttled(attempt(&sibling, ADMIN, ADMIN_PASSWORD).await).await;
    assert_throttled(attempt(&app, ADMIN, ADMIN_PASSWORD).await).await;
}

#[tokio::test]
async fn a_success_before_the_limit_resets_the_username_count() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    fail(&app, ADMIN).await;
    fail(&app, ADMIN).await;
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
    fail(&app, ADMIN).await;
    fail(&app, ADMIN).await;
    // Four failures in all, but only two since the success.
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

#[tokio::test]
async fn the_back_off_grows_up_to_the_configured_cap_and_no_further() {
    let app = TestApp::spawn_with(|config| {
        config.throttle.user_limit = 2;
        config.throttle.max_delay = Duration::from_secs(3);
    })
    .await;
    fail(&app, ADMIN).await;
    fail(&app, ADMIN).await;
    assert_eq!(assert_throttled(attempt(&app, ADMIN, WRONG).await).await, 1);
    // Attempts refused during a lock are not counted: they neither push it
    // further out nor make the next lock longer.
    for _ in 0..20 {
        let retry_after = assert_throttled(attempt(&app, ADMIN, WRONG).await).await;
        assert!(retry_after <= 1, "{retry_after}");
    }

    tokio::time::sleep(Duration::from_millis(1100)).await;
    fail(&app, ADMIN).await;
    assert_eq!(assert_throttled(attempt(&app, ADMIN, WRONG).await).await, 2);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    fail(&app, ADMIN).await;
    // Four failures against a limit of two would be a 4 s lock: capped at 3 s.
    assert_eq!(assert_throttled(attempt(&app, ADMIN, WRONG).await).await, 3);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

#[tokio::test]
async fn counters_are_kept_in_the_database_and_never_by_bearer_checks() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    let tokens = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    for _ in 0..3 {
        assert_eq!(app.me_status(&tokens.access).await, StatusCode::OK);
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_failures")
        .fetch_one(&app.sql().await)
        .await
        .unwrap();
    assert_eq!(
        rows, 0,
        "a success with no earlier failure writes no counter"
    );

    fail(&app, ADMIN).await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM login_failures ORDER BY key")
        .fetch_all(&app.sql().await)
        .await
        .unwrap();
    assert_eq!(
        keys,
        ["addr:127.0.0.1", "pair:admin|127.0.0.1", "user:admin"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_parallel_guesses_gets_no_more_than_the_limit() {
    let app = TestApp::spawn_with(user_limit(3)).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(12));
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let (client, url, barrier) = (app.client.clone(), app.url("/token"), barrier.clone());
            let form = [
                ("username", ADMIN.to_owned()),
                ("password", format!("guess-{i:04}")),
            ];
            tokio::spawn(async move {
                barrier.wait().await;
                client.post(url).form(&form).send().await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let answered = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((answered, refused), (3, 9), "{statuses:?}");
}
