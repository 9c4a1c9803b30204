//! The purge of dead token families and stale throttle counters.
//!
//! Rows are aged by rewriting their timestamps, rather than by waiting.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::AnyPool;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, Tokens};

const HOUR: i64 = 3600;

async fn count(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn execute(pool: &AnyPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

/// The id of the family of the most recent login.
async fn newest_family(pool: &AnyPool) -> i64 {
    count(pool, "SELECT MAX(id) FROM token_families").await
}

async fn family_rows(pool: &AnyPool, family: i64) -> (i64, i64) {
    let families = format!("SELECT COUNT(*) FROM token_families WHERE id = {family}");
    let tokens = format!("SELECT COUNT(*) FROM refresh_tokens WHERE family_id = {family}");
    (count(pool, &families).await, count(pool, &tokens).await)
}

#[tokio::test]
async fn the_purge_removes_dead_families_with_their_refresh_tokens() {
    let app = TestApp::spawn().await;
    let pool = &app.sql().await;
    app.create_user("carol", "carol-password-1", &[]).await;

    app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let expired = newest_family(pool).await;
    execute(
        pool,
        &format!(
            "UPDATE token_families SET expires_at = expires_at - 30 * 86400 WHERE id = {expired}"
        ),
    )
    .await;

    let revoked_login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let revoked = newest_family(pool).await;
    app.post("/token/revoke")
        .form(&[("token", &revoked_login.refresh)])
        .send()
        .await
        .unwrap();
    execute(
        pool,
        &format!("UPDATE token_families SET revoked_at = revoked_at - {HOUR} WHERE id = {revoked}"),
    )
    .await;

    let carol_login = app.login("carol", "carol-password-1", None).await;
    let logged_out = newest_family(pool).await;
    let response = app
        .post("/users/me/logout-all")
        .bearer_auth(&carol_login.access)
        .send()
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);

    let live_login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let live = newest_family(pool).await;
    let rotated = app.refresh(&live_login.refresh, None).await;
    let rotated = Tokens::from(rotated.json::<serde_json::Value>().await.unwrap());

    tollgate::app::purge(&app.state).await.unwrap();

    for dead in [expired, revoked, logged_out] {
        assert_eq!(
            family_rows(pool, dead).await,
            (0, 0),
            "family {dead} was kept"
        );
    }
    assert_eq!(
        family_rows(pool, live).await,
        (1, 2),
        "the live family and its spent token stay"
    );
    assert_eq!(app.me_status(&rotated.access).await, StatusCode::OK);
    assert_eq!(
        app.refresh(&rotated.refresh, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_family_just_revoked_or_expired_outlives_its_access_tokens_in_the_table() {
    let app = TestApp::spawn().await;
    let pool = &app.sql().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let family = newest_family(pool).await;
    app.post("/token/revoke")
        .form(&[("token", &login.refresh)])
        .send()
        .await
        .unwrap();

    tollgate::app::purge(&app.state).await.unwrap();
    assert_eq!(family_rows(pool, family).await.0, 1);
    // Kept for one access TTL; the refresh token is refused all the same.
    assert_eq!(
        app.refresh(&login.refresh, None).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_purge_works_through_more_rows_than_one_batch() {
    let app = TestApp::spawn().await;
    let pool = &app.sql().await;
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
    execute(
        pool,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1234)
         INSERT INTO token_families (user_id, user_version, scope, client_id, created_at, expires_at)
         SELECT 1, 1, '', 'tollgate', 0, 1 FROM n",
    )
    .await;
    assert_eq!(
        count(pool, "SELECT COUNT(*) FROM token_families").await,
        1235
    );

    tollgate::app::purge(&app.state).await.unwrap();
    assert_eq!(count(pool, "SELECT COUNT(*) FROM token_families").await, 1);
}

#[tokio::test]
async fn the_purge_removes_stale_counters_but_not_fresh_ones_or_standing_locks() {
    let app = TestApp::spawn().await;
    let pool = &app.sql().await;
    for name in ["stale", "fresh", "locked"] {
        let form = [("username", name), ("password", "wrong-password-1")];
        assert_eq!(
            app.token_request(&form).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    let two_hours_ago = tollgate::db::now() - 2 * HOUR;
    execute(pool, &format!("UPDATE login_failures SET updated_at = {two_hours_ago} WHERE key LIKE '%stale%' OR key LIKE '%locked%'")).await;
    let in_a_minute = (tollgate::db::now() + 60) * 1000;
    execute(
        pool,
        &format!(
            "UPDATE login_failures SET locked_until_ms = {in_a_minute} WHERE key = 'pair:locked|127.0.0.1'"
        ),
    )
    .await;

    tollgate::app::purge(&app.state).await.unwrap();

    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM login_failures ORDER BY key")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        keys,
        [
            "addr:127.0.0.1",
            "pair:fresh|127.0.0.1",
            "pair:locked|127.0.0.1",
            "user:fresh"
        ]
    );
}

#[tokio::test]
async fn the_server_purges_on_its_own_at_the_configured_interval() {
    let app =
        TestApp::spawn_with(|config| config.purge_interval = Duration::from_millis(200)).await;
    let pool = &app.sql().await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let response = app
        .post("/users/me/logout-all")
        .bearer_auth(&login.access)
        .send()
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);

    let mut remaining = i64::MAX;
    for _ in 0..50 {
        remaining = count(pool, "SELECT COUNT(*) FROM token_families").await;
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0, "the background purge never ran");
}
