//! A PostgreSQL server that goes away and comes back under a running
//! tollgate, and databases that cannot be opened at start.
//!
//! These start a PostgreSQL cluster of their own with `scripts/pg.sh` (so
//! stopping it disturbs no other test), and run only where the suite runs on
//! PostgreSQL (`TOLLGATE_TEST_DATABASE_URL`), since that is where its
//! binaries are known to be.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::{
    helpers::{ADMIN, ADMIN_PASSWORD, TestApp, header, tollgate_command},
    pg::{Cluster, Relay, require_postgres},
};

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn requests_answer_503_while_postgres_is_down_and_work_again_when_it_is_back() {
    require_postgres();
    let cluster = Cluster::start();
    let app = TestApp::spawn_on(&cluster.url()).await;
    let token = app.login(ADMIN, ADMIN_PASSWORD, None).await.access;
    assert_eq!(app.me_status(&token).await, StatusCode::OK);

    cluster.run("stop");
    for path in ["/users/me", "/items"] {
        let started = Instant::now();
        let response = app.get(path).bearer_auth(&token).send().await.unwrap();
        let waited = started.elapsed();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(!header(&response, "retry-after").is_empty());
        assert!(waited < Duration::from_secs(8), "{path} took {waited:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unavailable");
        let text = body.to_string();
        assert!(
            !text.contains("postgres") && !text.contains("tollgate@"),
            "{text}"
        );
    }
    let login = app
        .token_request(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.get("/healthz").send().await.unwrap().status(),
        StatusCode::OK
    );
    let started = Instant::now();
    let ready = app.get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(3));

    cluster.run("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if app.me_status(&token).await == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the server came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let items = app.get("/items").bearer_auth(&token).send().await.unwrap();
    assert_eq!(items.status(), StatusCode::OK);
    assert_eq!(
        app.get("/readyz").send().await.unwrap().status(),
        StatusCode::OK
    );
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

/// A restart of PostgreSQL between two requests costs no request: the
/// pool's connections are tested before use, and dead ones replaced.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_postgres_restart_between_requests_fails_no_request() {
    require_postgres();
    let cluster = Cluster::start();
    let app = TestApp::spawn_on(&cluster.url()).await;
    let token = app.login(ADMIN, ADMIN_PASSWORD, None).await.access;
    let items = |app: &TestApp| app.get("/items").bearer_auth(&token).send();
    assert_eq!(app.me_status(&token).await, StatusCode::OK);
    assert_eq!(items(&app).await.unwrap().status(), StatusCode::OK);

    cluster.run("stop");
    cluster.run("start");
    assert_eq!(app.me_status(&token).await, StatusCode::OK);
    assert_eq!(items(&app).await.unwrap().status(), StatusCode::OK);
    // Nor anything on the pool: its connections are tested before use.
    assert_eq!(
        app.get("/readyz").send().await.unwrap().status(),
        StatusCode::OK
    );
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

/// A PostgreSQL that stops answering without closing its connections costs
/// a 503 within bounds, not a request that hangs, and is used again once it
/// answers.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_postgres_that_stops_answering_is_503_within_bounds_not_a_hang() {
    require_postgres();
    let cluster = Cluster::start();
    let relay = Relay::start(cluster.port).await;
    let app = TestApp::spawn_on(&relay.url(&cluster.url())).await;
    let token = app.login(ADMIN, ADMIN_PASSWORD, None).await.access;
    assert_eq!(app.me_status(&token).await, StatusCode::OK);
    let items = app.get("/items").bearer_auth(&token).send().await.unwrap();
    assert_eq!(items.status(), StatusCode::OK);

    relay.freeze(true);
    for path in ["/users/me", "/items"] {
        let started = Instant::now();
        let request = app.get(path).bearer_auth(&token).send();
        let response = tokio::time::timeout(Duration::from_secs(20), request)
            .await
            .unwrap_or_else(|_| panic!("{path} still waiting after 20 s"))
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(12), "{path} took {waited:?}");
    }

    relay.freeze(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.me_status(&token).await != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "no recovery once it answered again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let items = app.get("/items").bearer_auth(&token).send().await.unwrap();
    assert_eq!(items.status(), StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_database_that_cannot_be_opened_is_one_clear_line_and_a_failure_code() {
    require_postgres();
    let cluster = Cluster::start();
    let port = cluster.port;
    let cases = [
        (
            format!("postgres://tollgate:not-the-password@127.0.0.1:{port}/tollgate"),
            "password authentication failed",
        ),
        (
            format!("postgres://tollgate:tollgate@127.0.0.1:{port}/no_such_database"),
            "no_such_database",
        ),
        (
            "postgres://tollgate:tollgate@127.0.0.1:1/tollgate".to_owned(),
            "could not open the database",
        ),
        (
            "mysql://root@localhost/x".to_owned(),
            "sqlite:// or postgres://",
        ),
    ];
    for (url, expected) in cases {
        let output = tollgate_command(&url).arg("migrate").output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{url}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
        assert!(!stderr.contains("not-the-password"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
