//! The binary's log: one line per request, and never a secret.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{helpers::database_url, served::Served};

#[tokio::test]
async fn each_request_logs_one_line_and_no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(&dir);
    let admin_password = server.admin_password().await;
    let base = format!("http://{}", server.addr().await);
    let client = reqwest::Client::new();
    let login = |username: &str, password: &str| {
        let form = [("username", username), ("password", password)];
        client.post(format!("{base}/token")).form(&form).send()
    };

    let admin: Value = login("admin", &admin_password)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_token = admin["access_token"].as_str().unwrap();
    let body = json!({"username": "logged", "password": "logged-password-1"});
    let created = client
        .post(format!("{base}/users"))
        .bearer_auth(admin_token)
        .json(&body);
    assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
    let user: Value = login("logged", "logged-password-1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = user["access_token"].as_str().unwrap();
    let wrong = login("logged", "wrong-secret-xyz").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let in_query = client
        .get(format!("{base}/users/me?access_token={token}"))
        .bearer_auth(token);
    assert_eq!(
        in_query.send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let traced = client
        .get(format!("{base}/healthz"))
        .header("x-request-id", "trace-me-1");
    let traced = traced.send().await.unwrap();
    assert_eq!(traced.headers()["x-request-id"], "trace-me-1");

    server.terminate();
    assert!(server.exit_status().await.success());
    let log = &server.lines;

    let request_lines: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("path=") && l.contains("status="))
        .collect();
    assert_eq!(request_lines.len(), 6, "one line per request: {log:#?}");
    let line = log
        .iter()
        .find(|l| l.contains("trace-me-1"))
        .expect("the request id is logged");
    for part in ["GET", "/healthz", "status=200", "latency"] {
        assert!(line.contains(part), "{part} missing from {line}");
    }

    let pool = sqlx::SqlitePool::connect(&database_url(&dir.path().join("tollgate.db")))
        .await
        .unwrap();
    // RS256 by default: no HS256 secret, but the signing key's bytes.
    let key: Vec<u8> = sqlx::query_scalar("SELECT private_key FROM signing_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    use base64::Engine;
    let jwt_secret = base64::engine::general_purpose::STANDARD.encode(&key[..48]);
    let secrets = [
        admin_token,
        admin["refresh_token"].as_str().unwrap(),
        token,
        user["refresh_token"].as_str().unwrap(),
        "logged-password-1",
        "wrong-secret-xyz",
        &jwt_secret,
        "$2b$",
    ];
    for line in log {
        for secret in secrets {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
    }
    let admin_lines = log.iter().filter(|l| l.contains(&admin_password)).count();
    assert_eq!(
        admin_lines, 1,
        "the first password is printed once, on its own line"
    );
}

#[tokio::test]
async fn a_request_id_that_could_forge_a_log_line_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(&dir);
    let admin_password = server.admin_password().await;
    let base = format!("http://{}", server.addr().await);
    let client = reqwest::Client::new();
    let send = |id: &str| {
        client
            .get(format!("{base}/healthz"))
            .header("x-request-id", id)
            .send()
    };

    let long = "x".repeat(65);
    for forged in ["1}:forged{status=500", "a=b", "quote\"d", long.as_str()] {
        let answer = send(forged).await.unwrap();
        let echoed = answer.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, forged);
        assert!(
            echoed.len() == 16 && echoed.bytes().all(|b| b.is_ascii_hexdigit()),
            "a generated id instead of {forged:?}: {echoed}"
        );
    }
    let plain = "Trace_1.2-x";
    assert_eq!(send(plain).await.unwrap().headers()["x-request-id"], plain);
    let form = [("username", "admin"), ("password", admin_password.as_str())];
    let login = client
        .post(format!("{base}/token"))
        .header("x-request-id", "login-trace-7")
        .form(&form);
    assert_eq!(login.send().await.unwrap().status(), StatusCode::OK);

    server.terminate();
    assert!(server.exit_status().await.success());
    let log = &server.lines;
    for line in log {
        assert!(
            !line.contains("forged") && !line.contains("a=b") && !line.contains("quote"),
            "a client id reached the log: {line}"
        );
    }
    assert!(log.iter().any(|l| l.contains("request_id=Trace_1.2-x")));
    let grant = log
        .iter()
        .find(|l| l.contains("password grant issued"))
        .expect("the login is logged");
    assert!(
        grant.contains("request_id=login-trace-7"),
        "events during a request carry its id: {grant}"
    );
}

#[tokio::test]
async fn the_filter_can_turn_the_request_lines_off() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = [("TOLLGATE_LOG", "info,tollgate::request_log=off")];
    let mut server = Served::start_with(&dir, &quiet, &[]);
    let base = format!("http://{}", server.addr().await);
    let answer = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);

    server.terminate();
    assert!(server.exit_status().await.success());
    let log = &server.lines;
    assert!(log.iter().any(|l| l.contains("listening")), "{log:#?}");
    assert!(
        !log.iter().any(|l| l.contains("path=")),
        "no request line: {log:#?}"
    );
}
