//! `resource/examples/resource_server.rs` with revocation events on, next to
//! a real tollgate: a session ended at tollgate is refused there soon after
//! (the target is 2 s; the test waits longer only to fail clearly), and
//! with the stream out of reach the configured policy applies.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;

use crate::{
    helpers::{ADMIN, ADMIN_PASSWORD, TestApp, challenge},
    resource_server::{Running, example_binary},
};

/// Only a broken stream takes this long; the target is 2 s.
const PATIENCE: Duration = Duration::from_secs(20);

struct Example {
    _process: Running,
    url: String,
    client: reqwest::Client,
}

impl Example {
    /// The example polling `app`'s events with a token of a new user named
    /// `service` holding `events`, with these extra settings.
    async fn start(app: &TestApp, service: &str, env: &[(&str, &str)]) -> Self {
        let events = app.user_token(service, &["events"]).await;
        Self::start_with(app, &[("RESOURCE_EVENTS_TOKEN", &events)], env)
    }

    /// The example polling as the registered client `service` (HTTP Basic),
    /// a confidential client holding `events`.
    async fn start_as_client(app: &TestApp, service: &str) -> Self {
        let secret = app
            .secret_client(service, &["client_credentials"], &["events"])
            .await;
        let auth = [
            ("RESOURCE_EVENTS_CLIENT_ID", service),
            ("RESOURCE_EVENTS_CLIENT_SECRET", secret.as_str()),
        ];
        Self::start_with(app, &auth, &[])
    }

    fn start_with(app: &TestApp, auth: &[(&str, &str)], env: &[(&str, &str)]) -> Self {
        let binary = example_binary().expect("the resource_server example is built");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Running(
            Command::new(binary)
                .env("TOLLGATE_URL", app.state.auth.keys.issuer())
                .env("RESOURCE_BIND", format!("127.0.0.1:{port}"))
                .envs(auth.iter().copied())
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        Self {
            _process: process,
            url: format!("http://127.0.0.1:{port}/reports/7"),
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, token: &str) -> Option<reqwest::Response> {
        self.client
            .get(&self.url)
            .bearer_auth(token)
            .send()
            .await
            .ok()
    }

    /// Polls until `token` is answered `status` (panics after [`PATIENCE`]).
    async fn until(&self, token: &str, status: StatusCode) -> reqwest::Response {
        let start = Instant::now();
        loop {
            if let Some(response) = self.get(token).await
                && response.status() == status
            {
                return response;
            }
            assert!(start.elapsed() < PATIENCE, "never answered {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_session_ended_at_tollgate_is_refused_by_the_resource_server() {
    let app = TestApp::spawn().await;
    let example = Example::start(&app, "reports", &[]).await;
    let reader = app.login(ADMIN, ADMIN_PASSWORD, Some("read:items")).await;
    let other = app.login(ADMIN, ADMIN_PASSWORD, Some("read:items")).await;
    example.until(&reader.access, StatusCode::OK).await;

    let revoked = app
        .post("/token/revoke")
        .form(&[("token", reader.refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let answered = Instant::now();
    let refused = example
        .until(&reader.access, StatusCode::UNAUTHORIZED)
        .await;
    eprintln!(
        "refused {:?} after the revocation's answer",
        answered.elapsed()
    );
    assert!(
        challenge(&refused).contains("invalid_token"),
        "{}",
        challenge(&refused)
    );
    // Another session of the same user is not touched.
    assert_eq!(
        example.get(&other.access).await.unwrap().status(),
        StatusCode::OK
    );
    // Logout-all: every remaining session.
    let response = app
        .post("/users/me/logout-all")
        .bearer_auth(&other.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    example.until(&other.access, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_resource_server_polling_as_a_registered_client_refuses_an_ended_session() {
    let app = TestApp::spawn().await;
    let example = Example::start_as_client(&app, "reports-api").await;
    let reader = app.login(ADMIN, ADMIN_PASSWORD, Some("read:items")).await;
    example.until(&reader.access, StatusCode::OK).await;
    let response = app
        .post("/users/me/logout-all")
        .bearer_auth(&reader.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let refused = example
        .until(&reader.access, StatusCode::UNAUTHORIZED)
        .await;
    assert!(challenge(&refused).contains("invalid_token"));
}

#[tokio::test]
async fn with_the_stream_out_of_reach_it_refuses_by_default_and_accepts_when_told() {
    let mut app = TestApp::spawn().await;
    let refusing = Example::start(&app, "refusing", &[("RESOURCE_EVENTS_STALE_AFTER", "1")]).await;
    let accepting = Example::start(
        &app,
        "accepting",
        &[
            ("RESOURCE_EVENTS_STALE_AFTER", "1"),
            ("RESOURCE_EVENTS_WHEN_STALE", "accept"),
        ],
    )
    .await;
    let reader = app.login(ADMIN, ADMIN_PASSWORD, Some("read:items")).await;
    refusing.until(&reader.access, StatusCode::OK).await;
    accepting.until(&reader.access, StatusCode::OK).await;

    app.stop().await;
    let refused = refusing
        .until(&reader.access, StatusCode::SERVICE_UNAVAILABLE)
        .await;
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Past the same bound, the other still accepts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        accepting.get(&reader.access).await.unwrap().status(),
        StatusCode::OK
    );
}
