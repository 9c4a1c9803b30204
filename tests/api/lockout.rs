//! One outside party cannot keep an owner out: the throttle refuses the
//! guesser's (username, address) pair, and the per-username limit is high and
//! refuses for one second at a time. Also: wrong `current_password` answers
//! count in the same throttle.
//!
//! Every test client is on loopback; other addresses of 127.0.0.0/8 stand
//! for other hosts.

use std::{net::IpAddr, time::Duration};

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, expect_error, header};

const WRONG: &str = "wrong-password-1";

/// A client whose connections come from `addr` (a loopback address).
fn client_from(addr: &str) -> Client {
    let addr: IpAddr = addr.parse().unwrap();
    Client::builder().local_address(addr).build().unwrap()
}

async fn attempt(app: &TestApp, client: &Client, username: &str, password: &str) -> Response {
    client
        .post(app.url("/token"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_burst_of_guesses_from_one_address_does_not_lock_the_owner_out_elsewhere() {
    let app = TestApp::spawn().await;
    let attacker = client_from("127.0.0.1");
    let mut refused = 0;
    for _ in 0..40 {
        let status = attempt(&app, &attacker, ADMIN, WRONG).await.status();
        refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(
        refused >= 30,
        "the guesser was refused only {refused} times"
    );
    // The guesser's own address is refused even the right password...
    let own = attempt(&app, &attacker, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(own.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...but the owner, elsewhere, logs in at once.
    let owner = client_from("127.0.0.2");
    let response = attempt(&app, &owner, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_guess_from_many_addresses_refuses_the_account_for_one_second_at_a_time() {
    let app = TestApp::spawn_with(|config| {
        config.throttle.user_limit = 100;
        config.throttle.account_limit = 4;
    })
    .await;
    for host in 1..=4 {
        let client = client_from(&format!("127.0.1.{host}"));
        expect_error(
            attempt(&app, &client, ADMIN, WRONG).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            host,
        )
        .await;
    }
    let owner = client_from("127.0.0.2");
    let refused = attempt(&app, &owner, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after"), "1");
    // Refused attempts do not count, so more of them change nothing.
    for host in 5..=30 {
        let client = client_from(&format!("127.0.1.{host}"));
        let status = attempt(&app, &client, ADMIN, WRONG).await.status();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = attempt(&app, &owner, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn ipv4_hosts_are_counted_apart() {
    let app = TestApp::spawn_with(|config| config.throttle.addr_limit = 3).await;
    let guesser = client_from("127.0.0.3");
    for name in ["ghost1", "ghost2", "ghost3"] {
        attempt(&app, &guesser, name, WRONG).await;
    }
    let refused = attempt(&app, &guesser, "ghost4", WRONG).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let neighbour = client_from("127.0.0.4");
    let response = attempt(&app, &neighbour, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn change_password(app: &TestApp, token: &str, current: &str) -> Response {
    let body = json!({"current_password": current, "new_password": "a-brand-new-password"});
    app.send_json(Method::PUT, "/users/me/password", token, &body)
        .await
}

#[tokio::test]
async fn wrong_current_passwords_end_the_session_that_sent_them() {
    let app = TestApp::spawn().await;
    let token = app.user_token("oracle", &["read:items"]).await;
    for attempt in 1..=5 {
        expect_error(
            change_password(&app, &token, WRONG).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            attempt,
        )
        .await;
    }
    // The fifth wrong answer revoked the session: the token is dead, and so
    // is every further guess through it.
    assert_eq!(app.me_status(&token).await, StatusCode::UNAUTHORIZED);
    let response = change_password(&app, &token, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The password itself is unchanged.
    app.login("oracle", PASSWORD, None).await;
}

#[tokio::test]
async fn wrong_current_passwords_count_in_the_login_throttle() {
    let app = TestApp::spawn_with(|config| config.throttle.user_limit = 2).await;
    app.create_user("oracle", PASSWORD, &["read:items"]).await;
    let first = app.login("oracle", PASSWORD, None).await.access;
    let second = app.login("oracle", PASSWORD, None).await.access;
    for token in [&first, &second] {
        let response = change_password(&app, token, WRONG).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let refused = change_password(&app, &first, PASSWORD).await;
    assert!(!header(&refused, "retry-after").is_empty());
    expect_error(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "",
    )
    .await;
    // The same counter refuses a login of that user from this address.
    let login = app
        .token_request(&[("username", "oracle"), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_admin_is_not_locked_out_by_a_stranger_guessing_at_the_password_change() {
    let app = TestApp::spawn().await;
    let token = app.user_token("mallory", &[]).await;
    for _ in 0..5 {
        change_password(&app, &token, WRONG).await;
    }
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}
