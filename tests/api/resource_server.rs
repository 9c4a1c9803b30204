//! `resource/examples/resource_server.rs`, the example binary, next to a real
//! tollgate: it verifies tollgate's tokens from the JWKS alone and enforces
//! its declared scope, across a key rotation, and (as documented) does not
//! see a revocation.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use tollgate::auth::{keys::SigningAlg, keystore::Rotation};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, challenge};

/// The example as `cargo test` builds it, beside this test binary.
pub fn example_binary() -> Option<std::path::PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let path = deps.parent()?.join("examples").join("resource_server");
    path.is_file().then_some(path)
}

pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_example_resource_server_enforces_its_scope_with_tollgates_keys() {
    let binary = example_binary().expect("`cargo test` builds the resource_server example");
    let app = TestApp::spawn().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Its log goes to a file, as a service's would: no colour codes there.
    let log_path = std::env::temp_dir().join(format!("tollgate-resource-example-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let _server = Running(
        Command::new(binary)
            .env("TOLLGATE_URL", app.state.auth.keys.issuer())
            .env("RESOURCE_BIND", format!("127.0.0.1:{port}"))
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/reports/7");
    let client = reqwest::Client::new();
    let get = |token: String| {
        let request = client.get(&url).bearer_auth(token);
        async move { request.send().await }
    };
    let reader = app
        .login(ADMIN, ADMIN_PASSWORD, Some("read:items"))
        .await
        .access;
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(response) = get(reader.clone()).await {
            answered = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = answered.expect("the example serves");
    assert_eq!(response.status(), StatusCode::OK);
    // Its Swagger UI logs in at the configured tollgate, not a fixed address.
    let docs = client
        .get(format!("http://127.0.0.1:{port}/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token_url = format!("\"tokenUrl\":\"{}/token\"", app.state.auth.keys.issuer());
    assert!(docs.contains(&token_url), "no {token_url} in its /docs");
    let logged = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(logged.contains("serving reports"), "{logged}");
    assert!(
        !logged.contains('\x1b'),
        "colour codes in its log file: {logged:?}"
    );

    let other = app
        .login(ADMIN, ADMIN_PASSWORD, Some("write:items"))
        .await
        .access;
    let refused = get(other).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        challenge(&refused).contains("insufficient_scope"),
        "{}",
        challenge(&refused)
    );

    // A key rotated in at once (`keys rotate --now`): the example refetches
    // the JWKS for the new kid.
    tollgate::auth::keystore::rotate(app.store(), SigningAlg::RS256, None, Rotation::Now)
        .await
        .unwrap();
    app.state.auth.keys.reload(app.store()).await.unwrap();
    let rotated = app
        .login(ADMIN, ADMIN_PASSWORD, Some("read:items"))
        .await
        .access;
    assert_ne!(
        crate::helpers::jwt_parts(&rotated).0["kid"],
        crate::helpers::jwt_parts(&reader).0["kid"]
    );
    // It refetches on an unknown kid at most once per 10 s, and fetched the
    // keys for the first request just now.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!(get(rotated.clone()).await.unwrap().status(), StatusCode::OK);

    // Revoked at tollgate, still accepted there until it expires.
    app.post("/users/me/logout-all")
        .bearer_auth(&rotated)
        .send()
        .await
        .unwrap();
    assert_eq!(app.me_status(&rotated).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(rotated).await.unwrap().status(), StatusCode::OK);
}
