//! The refresh grant: rotation, scope narrowing, reuse detection, races, expiry.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, Tokens, expect_error};

async fn refreshed(app: &TestApp, refresh_token: &str, scope: Option<&str>) -> Tokens {
    let response = app.refresh(refresh_token, scope).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from(response.json::<Value>().await.unwrap())
}

async fn assert_invalid_grant(app: &TestApp, refresh_token: &str) {
    expect_error(
        app.refresh(refresh_token, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "",
    )
    .await;
}

#[tokio::test]
async fn a_refresh_returns_new_tokens_and_spends_the_old_refresh_token() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD, None).await;

    let response = app.refresh(&first.refresh, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let second = Tokens::from(response.json::<Value>().await.unwrap());
    assert_eq!(second.body["token_type"], "bearer");
    assert!(second.body["expires_in"].as_u64().unwrap() > 0);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(second.scope, first.scope);
    assert_eq!(app.me_status(&second.access).await, StatusCode::OK);

    assert_invalid_grant(&app, &first.refresh).await;
}

#[tokio::test]
async fn a_refresh_token_can_be_rotated_many_times() {
    let app = TestApp::spawn().await;
    let mut tokens = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    for _ in 0..5 {
        tokens = refreshed(&app, &tokens.refresh, None).await;
    }
    assert_eq!(app.me_status(&tokens.access).await, StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_of_the_login() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;

    let narrow = refreshed(&app, &login.refresh, Some("read:items")).await;
    assert_eq!(narrow.scope, "read:items");
    let read = app.get_as("/items", &narrow.access).await;
    assert_eq!(read.status(), StatusCode::OK);
    let write = app
        .send_json(
            Method::POST,
            "/items",
            &narrow.access,
            &serde_json::json!({"name": "x"}),
        )
        .await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);

    // RFC 6749 §6: an omitted scope means the scope originally granted.
    let again = refreshed(&app, &narrow.refresh, None).await;
    assert_eq!(again.scope, login.scope);
}

#[tokio::test]
async fn a_refresh_may_not_widen_the_scope_of_the_login() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, Some("read:items")).await;

    for wider in [
        "read:items write:items",
        "admin",
        "read:items unknown:scope",
    ] {
        expect_error(
            app.refresh(&login.refresh, Some(wider)).await,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &wider,
        )
        .await;
    }
    // A refused refresh spends nothing: the token still works.
    let next = refreshed(&app, &login.refresh, None).await;
    assert_eq!(next.scope, "read:items");
}

#[tokio::test]
async fn replaying_a_spent_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let other_login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let second = refreshed(&app, &first.refresh, None).await;

    assert_invalid_grant(&app, &first.refresh).await;

    // The newest token of that family is dead too, and so are its access tokens.
    assert_invalid_grant(&app, &second.refresh).await;
    assert_eq!(app.me_status(&first.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.me_status(&second.access).await,
        StatusCode::UNAUTHORIZED
    );

    // Another login of the same user is another family, untouched.
    assert_eq!(app.me_status(&other_login.access).await, StatusCode::OK);
    refreshed(&app, &other_login.refresh, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_refreshes_of_one_token_give_exactly_one_success() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let racers = (0..2).map(|_| {
            let (client, url, barrier) = (app.client.clone(), app.url("/token"), barrier.clone());
            let form = [
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", login.refresh.clone()),
            ];
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.post(url).form(&form).send().await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (status, body)
            })
        });
        let mut results = Vec::new();
        for racer in racers.collect::<Vec<_>>() {
            results.push(racer.await.unwrap());
        }
        let wins = results
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        let loser = results
            .iter()
            .find(|(status, _)| *status != StatusCode::OK)
            .unwrap();
        assert_eq!(loser.0, StatusCode::BAD_REQUEST, "round {round}");
        assert_eq!(loser.1["error"], "invalid_grant", "round {round}");
    }
}

#[tokio::test]
async fn an_unknown_refresh_token_or_an_access_token_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_invalid_grant(&app, "not-a-refresh-token").await;
    assert_invalid_grant(&app, &login.access).await;

    let response = app.token_request(&[("grant_type", "refresh_token")]).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_invalid_grant() {
    let app = TestApp::spawn_with(|config| config.refresh_ttl = Duration::from_secs(1)).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid_grant(&app, &login.refresh).await;
}

#[tokio::test]
async fn rotation_does_not_extend_the_session_past_its_absolute_expiry() {
    let app = TestApp::spawn_with(|config| config.refresh_ttl = Duration::from_secs(4)).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rotated = refreshed(&app, &login.refresh, None).await;
    // Four seconds after the login, though not after the rotation.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_invalid_grant(&app, &rotated.refresh).await;
}
