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

/// Sends `target` as the request line's path, byte for byte, and returns the
/// answer's status line.
async fn raw_get(addr: std::net::SocketAddr, target: &[u8], id: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\n");
    request.extend_from_slice(format!("X-Request-Id: {id}\r\n\r\n").as_bytes());
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn control_and_bidi_characters_in_a_path_do_not_reach_the_log_raw() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(&dir);
    let addr = server.addr().await;
    // U+202E (right-to-left override) as raw UTF-8, which reaches the
    // routes and the access log; a raw escape character, which the HTTP
    // parser refuses; and both percent-encoded, which are logged as sent.
    let bidi = raw_get(addr, b"/bidi\xe2\x80\xae-tail", "bidi-raw").await;
    assert!(bidi.contains(" 404 "), "{bidi}");
    let esc = raw_get(addr, b"/esc\x1b[31m", "esc-raw").await;
    assert!(esc.contains(" 400 "), "{esc}");
    raw_get(addr, b"/both%E2%80%AE%1B[31m", "percent-encoded").await;

    server.terminate();
    assert!(server.exit_status().await.success());
    let log = &server.lines;
    for line in log {
        assert!(
            !line.contains('\u{202e}') && !line.contains('\u{1b}'),
            "a raw control or bidi character in the log: {line:?}"
        );
    }
    let bidi = log
        .iter()
        .find(|l| l.contains("request_id=bidi-raw"))
        .unwrap_or_else(|| panic!("the request is logged: {log:#?}"));
    assert!(bidi.contains("path=/bidi\\u{202e}-tail"), "{bidi}");
    let encoded = log
        .iter()
        .find(|l| l.contains("request_id=percent-encoded"))
        .unwrap_or_else(|| panic!("the request is logged: {log:#?}"));
    assert!(encoded.contains("path=/both%E2%80%AE%1B[31m"), "{encoded}");
}
