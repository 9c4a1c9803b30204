//! Rotation and revocation as running nodes see them: a planned rotation is
//! published by every node within 2 s and signs only after the JWKS cache
//! age; `keys rotate --now` and `keys revoke` take a key out of every node's
//! verifiers and JWKS within 2 s, and its tokens are refused.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;
use tollgate::{
    auth::keys::SigningAlg,
    auth::keystore::{self, PUBLISHED_WITHIN, Rotation},
};

use crate::{
    cli::tollgate,
    helpers::{TestApp, jwt_parts},
};

fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_owned()
}

async fn published(app: &TestApp) -> Vec<String> {
    let response = app.get("/.well-known/jwks.json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set: serde_json::Value = response.json().await.unwrap();
    let keys = set["keys"].as_array().unwrap();
    keys.iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `holds` until it is true; fails once `PUBLISHED_WITHIN` (2 s, the
/// contract's bound) has passed since `since`.
async fn within_2_s<F: AsyncFnMut() -> bool>(since: Instant, what: &str, mut holds: F) {
    assert_eq!(PUBLISHED_WITHIN, Duration::from_secs(2));
    loop {
        if holds().await {
            return;
        }
        assert!(since.elapsed() < PUBLISHED_WITHIN, "not within 2 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn run(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = tollgate(app, args, "");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[tokio::test]
async fn after_rotate_now_no_running_node_accepts_or_publishes_the_old_key_within_2_s() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let before = app.admin_token().await;
    let old = kid_of(&before);
    for node in [&app, &sibling] {
        assert_eq!(node.me_status(&before).await, StatusCode::OK);
    }

    let (ok, text) = run(&app, &["keys", "rotate", "--now"]);
    assert!(ok, "{text}");
    let rotated = Instant::now();
    for node in [&app, &sibling] {
        within_2_s(rotated, "the old key's token refused", async || {
            node.me_status(&before).await == StatusCode::UNAUTHORIZED
        })
        .await;
        within_2_s(rotated, "the old key leaves the JWKS", async || {
            !published(node).await.contains(&old)
        })
        .await;
    }
    // A token the old key signs now (as with a stolen key) is refused too.
    let stolen = tollgate::auth::keystore::stored(app.store())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kid == old)
        .unwrap();
    let stolen = tollgate::auth::keys::KeyRecord {
        retires_at: None,
        revoked_at: None,
        ..stolen
    };
    let ring =
        tollgate::auth::keys::KeyRing::from_records(&[stolen], tollgate::db::now(), None).unwrap();
    let (_, claims) = jwt_parts(&before);
    let forged = tollgate::auth::jwt::AccessTokens::from_ring(ring, "", "")
        .sign(&serde_json::from_value(claims).unwrap())
        .unwrap();
    for node in [&app, &sibling] {
        assert_eq!(node.me_status(&forged).await, StatusCode::UNAUTHORIZED);
        let fresh = node.admin_token().await;
        assert_ne!(kid_of(&fresh), old);
        assert_eq!(node.me_status(&fresh).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_planned_rotation_is_published_by_every_running_node_within_2_s_and_signs_later() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let old = kid_of(&app.admin_token().await);
    for node in [&app, &sibling] {
        assert_eq!(published(node).await, std::slice::from_ref(&old));
    }

    let (ok, text) = run(&app, &["keys", "rotate"]);
    assert!(ok, "{text}");
    let rotated = Instant::now();
    let records = keystore::stored(app.store()).await.unwrap();
    let next = records.iter().find(|r| r.kid != old).unwrap();
    assert!(text.contains(&next.kid), "{text}");
    // It signs once every node has published it and every cache has expired.
    let wait = (PUBLISHED_WITHIN + app.config.jwks_max_age).as_secs() as i64;
    assert_eq!(next.activates_at, next.created_at + wait);
    for node in [&app, &sibling] {
        within_2_s(rotated, "the next key published", async || {
            published(node).await.contains(&next.kid)
        })
        .await;
        assert_eq!(kid_of(&node.admin_token().await), old, "not signing yet");
    }
}

#[tokio::test]
async fn keys_revoke_takes_a_key_that_does_not_sign_out_and_refuses_the_signing_one() {
    let app = TestApp::spawn().await;
    let before = app.admin_token().await;
    let first = kid_of(&before);
    let (ok, text) = run(&app, &["keys", "revoke", &first]);
    assert!(!ok, "the signing key is not revoked: {text}");
    assert!(text.contains("keys rotate --now"), "{text}");
    let (ok, text) = run(&app, &["keys", "revoke", "no-such-kid"]);
    assert!(!ok && text.contains("no stored key"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");

    // A published key revoked before it signs: the current key signs on.
    let store = app.store();
    let planned = Rotation::Planned {
        max_age: app.config.jwks_max_age,
    };
    let next = keystore::rotate(store, SigningAlg::RS256, None, planned)
        .await
        .unwrap();
    let (ok, text) = run(&app, &["keys", "revoke", &next.kid]);
    assert!(ok, "{text}");
    let revoked = Instant::now();
    within_2_s(revoked, "the revoked key leaves the JWKS", async || {
        published(&app).await == [first.clone()]
    })
    .await;
    let records = keystore::stored(store).await.unwrap();
    let current = records.iter().find(|r| r.kid == first).unwrap();
    assert_eq!(current.retires_at, None, "it signs on");

    // A superseded key that still verifies: revoked, its tokens are refused.
    let third = keystore::rotate(store, SigningAlg::RS256, None, planned)
        .await
        .unwrap();
    let pool = app.sql().await;
    let now = tollgate::db::now();
    sqlx::query("UPDATE signing_keys SET activates_at = $1 WHERE kid = $2")
        .bind(now - 1)
        .bind(&third.kid)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE signing_keys SET retires_at = $1 WHERE kid = $2")
        .bind(now - 1)
        .bind(&first)
        .execute(&pool)
        .await
        .unwrap();
    app.state.auth.keys.reload(store).await.unwrap();
    assert_eq!(kid_of(&app.admin_token().await), third.kid);
    assert_eq!(app.me_status(&before).await, StatusCode::OK);
    let (ok, text) = run(&app, &["keys", "revoke", &first]);
    assert!(ok, "{text}");
    let revoked = Instant::now();
    within_2_s(revoked, "the revoked key's token refused", async || {
        app.me_status(&before).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(published(&app).await, std::slice::from_ref(&third.kid));
    let (ok, list) = run(&app, &["keys", "list"]);
    assert!(ok, "{list}");
    let line = list.lines().find(|l| l.starts_with(&first)).unwrap();
    assert!(line.contains("revoked"), "{list}");
}
