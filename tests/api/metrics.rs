//! The metrics listener: what moves when, route patterns rather than raw
//! paths, and nothing of it on the API's port.

use std::collections::HashMap;

use reqwest::StatusCode;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp};

const WRONG: &str = "wrong-password-1";

/// Every sample of a scrape, keyed by its series as written
/// (`name{label="value",...}`), and the raw text.
pub async fn scrape(app: &TestApp) -> (HashMap<String, f64>, String) {
    let addr = app.metrics_addr.expect("the metrics listener is on");
    let response = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect();
    (samples, text)
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    let value = |samples: &HashMap<String, f64>| samples.get(series).copied().unwrap_or(0.0);
    value(after) - value(before)
}

#[tokio::test]
async fn traffic_moves_the_counters_by_outcome_and_route_pattern() {
    let app = TestApp::spawn_with(|config| {
        config.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        config.throttle.user_limit = 2;
    })
    .await;
    let (before, _) = scrape(&app).await;

    let first = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let second = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let item = app.get_as("/items/123", &first.access).await;
    assert_eq!(item.status(), StatusCode::NOT_FOUND);
    let refreshed = app.refresh(&first.refresh, None).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let replayed = app.refresh(&first.refresh, None).await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    let revoked = app
        .post("/token/revoke")
        .form(&[("token", second.refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let attempt = || app.token_request(&[("username", ADMIN), ("password", WRONG)]);
    for _ in 0..2 {
        assert_eq!(attempt().await.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(attempt().await.status(), StatusCode::TOO_MANY_REQUESTS);

    let (after, text) = scrape(&app).await;
    let moved = |series: &str| delta(&before, &after, series);
    assert_eq!(moved(r#"tollgate_logins_total{outcome="success"}"#), 2.0);
    assert_eq!(
        moved(r#"tollgate_logins_total{outcome="invalid_grant"}"#),
        2.0
    );
    assert_eq!(moved(r#"tollgate_logins_total{outcome="throttled"}"#), 1.0);
    assert_eq!(
        moved(r#"tollgate_logins_total{outcome="invalid_scope"}"#),
        0.0
    );
    assert_eq!(moved(r#"tollgate_refreshes_total{outcome="success"}"#), 1.0);
    assert_eq!(
        moved(r#"tollgate_refreshes_total{outcome="reuse_detected"}"#),
        1.0
    );
    assert_eq!(moved("tollgate_revocations_total"), 1.0);
    assert_eq!(
        moved(r#"tollgate_http_requests_total{method="POST",operation="/token",status="200"}"#),
        3.0
    );
    assert_eq!(
        moved(r#"tollgate_http_requests_total{method="POST",operation="/token",status="400"}"#),
        3.0
    );
    assert_eq!(
        moved(r#"tollgate_http_requests_total{method="POST",operation="/token",status="429"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"tollgate_http_requests_total{method="GET",operation="/items/{id}",status="404"}"#),
        1.0
    );
    assert_eq!(
        moved(
            r#"tollgate_http_request_duration_seconds_count{method="GET",operation="/items/{id}"}"#
        ),
        1.0
    );
    assert_eq!(moved("tollgate_unavailable_responses_total"), 0.0);
    assert!(text.contains(r#"operation="/items/{id}""#), "{text}");
    assert!(!text.contains("/items/123"), "{text}");
    assert!(!text.contains(&first.refresh) && !text.contains(ADMIN_PASSWORD));
    let version = format!(
        r#"tollgate_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(after.get(&version), Some(&1.0), "{text}");
    assert_eq!(
        after.get("tollgate_hash_jobs_running"),
        Some(&0.0),
        "{text}"
    );
}

#[tokio::test]
async fn the_api_port_does_not_serve_metrics() {
    let app = TestApp::spawn_with(|config| {
        config.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    assert_ne!(app.metrics_addr, Some(app.addr));
    let response = app.get("/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (samples, _) = scrape(&app).await;
    let unmatched =
        r#"tollgate_http_requests_total{method="GET",operation="unmatched",status="404"}"#;
    assert_eq!(samples.get(unmatched), Some(&1.0));
}

#[tokio::test]
async fn without_the_setting_there_is_no_metrics_listener() {
    let app = TestApp::spawn().await;
    assert_eq!(app.metrics_addr, None);
}

#[tokio::test]
async fn database_errors_and_503_answers_are_counted() {
    let app = TestApp::spawn_with(|config| {
        config.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (before, _) = scrape(&app).await;
    sqlx::query("ALTER TABLE users RENAME TO users_away")
        .execute(&app.sql().await)
        .await
        .unwrap();
    let login = app
        .token_request(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(login.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let ready = app.get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (after, text) = scrape(&app).await;
    let moved = |series: &str| delta(&before, &after, series);
    assert_eq!(
        moved(r#"tollgate_database_errors_total{kind="other"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(moved("tollgate_unavailable_responses_total"), 1.0);
    assert_eq!(
        moved(r#"tollgate_http_requests_total{method="GET",operation="/readyz",status="503"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"tollgate_http_requests_total{method="POST",operation="/token",status="500"}"#),
        1.0
    );
}

/// The metrics listener has the API's connection limits: a client that
/// opens a connection and never finishes its header is cut off at the
/// header timeout, and no more connections than the bound are held open.
#[tokio::test]
async fn the_metrics_listener_cuts_off_slow_clients_like_the_api() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(|config| {
        config.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        config.server.header_timeout = std::time::Duration::from_millis(300);
        config.server.max_connections = 2;
    })
    .await;
    let addr = app.metrics_addr.unwrap();
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\n")
            .await
            .unwrap();
        slow.push(conn);
    }
    // Both are closed by the server, header unfinished.
    for conn in &mut slow {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("the server closed the slow connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    scrape(&app).await;
}
