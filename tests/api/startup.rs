//! The binary starting and stopping like a product: the secret rule, the first
//! admin, and a graceful stop on SIGTERM.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tollgate::auth::scopes::ScopeSet;

use crate::{
    helpers::{database_url, jwt_parts, tollgate_command},
    served::{PATIENCE, Served},
};

#[test]
fn a_jwt_secret_under_32_bytes_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("tollgate.db"));
    let refused = tollgate_command(&url)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("TOLLGATE_JWT_SECRET", "x".repeat(31))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("TOLLGATE_JWT_SECRET") && stderr.contains("32 bytes"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&"x".repeat(31)),
        "the secret itself is not printed"
    );

    let accepted = tollgate_command(&url)
        .arg("migrate")
        .env("TOLLGATE_JWT_SECRET", "x".repeat(32))
        .output()
        .unwrap();
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}

#[tokio::test]
async fn a_first_start_prints_a_working_admin_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(&dir);
    let password = server.admin_password().await;
    assert!(password.len() >= 16, "a weak first password: {password}");
    let addr = server.addr().await;

    let client = reqwest::Client::new();
    let login = client
        .post(format!("http://{addr}/token"))
        .form(&[("username", "admin"), ("password", &password)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["scope"], ScopeSet::all().to_string());
    drop(server);

    let mut again = Served::start(&dir);
    again.log_until("listening").await;
    let printed = again
        .lines
        .iter()
        .any(|l| l.contains("initial admin password"));
    assert!(!printed, "{:#?}", again.lines);
}

#[tokio::test]
async fn settings_come_from_the_environment_and_serve_flags() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TOLLGATE_ACCESS_TTL", "90s"),
        ("TOLLGATE_ISSUER", "https://issuer-x.example"),
    ];
    let mut server = Served::start_with(&dir, &env, &["--audience", "audience-x"]);
    let password = server.admin_password().await;
    let addr = server.addr().await;
    let login = reqwest::Client::new()
        .post(format!("http://{addr}/token"))
        .form(&[("username", "admin"), ("password", &password)])
        .send()
        .await
        .unwrap();
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["expires_in"], 90);
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(
        (&claims["iss"], &claims["aud"]),
        (
            &Value::from("https://issuer-x.example"),
            &Value::from("audience-x")
        )
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        90
    );
}

/// Reads from `stream` until `needle` has arrived; returns everything read.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains(needle) {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "closed before `{needle}`: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Served::start(&dir);
    let password = server.admin_password().await;
    let addr = server.addr().await;

    // `Expect: 100-continue`: the interim answer proves the handler is reading the body.
    let body = format!("username=admin&password={password}");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    read_until(&mut stream, "100 Continue").await;

    server.terminate();
    // Once new connections are refused, the shutdown is under way.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    stream.write_all(body.as_bytes()).await.unwrap();
    let response = read_until(&mut stream, "refresh_token").await;
    assert!(response.contains("HTTP/1.1 200"), "{response}");
    assert!(server.exit_status().await.success());
}

#[tokio::test]
async fn serve_logs_its_configuration_once_with_no_secret_in_it() {
    let secret = "signing-key-that-must-stay-out-of-logs-0123";
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TOLLGATE_JWT_SECRET", secret),
        ("TOLLGATE_METRICS_BIND", "127.0.0.1:0"),
    ];
    let mut server = Served::start_with(&dir, &env, &[]);
    let line = server.log_until("configuration").await;
    server.log_until("listening").await;
    assert!(line.contains("INFO"), "{line}");
    for setting in [
        "TOLLGATE_BIND=127.0.0.1:0",
        "TOLLGATE_DATABASE_URL=sqlite://",
        "TOLLGATE_JWT_SECRET=\"set (hidden)\"",
        "TOLLGATE_METRICS_BIND=127.0.0.1:0",
        "TOLLGATE_BCRYPT_COST=4",
    ] {
        assert!(line.contains(setting), "{setting} missing: {line}");
    }
    assert!(!line.contains(secret), "{line}");
    let logged = server.lines.iter().filter(|l| l.contains("configuration"));
    assert_eq!(logged.count(), 1, "{:#?}", server.lines);
    assert!(!server.lines.iter().any(|l| l.contains(secret)));

    // A database password is masked too, and the line comes before the
    // database is opened (nothing listens on port 1: the start fails).
    let url = "postgres://tollgate:db-password-xyz@127.0.0.1:1/tollgate";
    let failed = tollgate_command(url)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let line = stderr.lines().find(|l| l.contains("configuration"));
    let line = line.unwrap_or_else(|| panic!("no configuration line: {stderr}"));
    assert!(
        line.contains("TOLLGATE_DATABASE_URL=postgres://tollgate:***@127.0.0.1:1/tollgate"),
        "{line}"
    );
    assert!(!stderr.contains("db-password-xyz"), "{stderr}");
}

#[test]
fn the_metrics_listener_is_refused_on_the_api_address() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("tollgate.db"));
    for (bind, metrics) in [
        ("127.0.0.1:8123", "127.0.0.1:8123"),
        ("0.0.0.0:8123", "127.0.0.1:8123"),
    ] {
        for command in ["config", "serve"] {
            let refused = tollgate_command(&url)
                .arg(command)
                .env("TOLLGATE_BIND", bind)
                .env("TOLLGATE_METRICS_BIND", metrics)
                .output()
                .unwrap();
            assert!(!refused.status.success(), "{command} {bind} {metrics}");
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(
                stderr.contains("TOLLGATE_METRICS_BIND") && stderr.contains("API's address"),
                "{stderr}"
            );
        }
    }
    let accepted = tollgate_command(&url)
        .arg("config")
        .env("TOLLGATE_METRICS_BIND", "127.0.0.1:9100")
        .output()
        .unwrap();
    assert!(accepted.status.success());
    let stdout = String::from_utf8_lossy(&accepted.stdout);
    assert!(
        stdout.contains("TOLLGATE_METRICS_BIND=127.0.0.1:9100"),
        "{stdout}"
    );
}

#[test]
fn a_secret_given_as_a_flag_is_warned_about_and_one_in_a_file_is_read() {
    let secret = "q4Vt8Zk1bN2xJr6LwP0sYe3HdGmA7uCfT9iKoQ5nXlRzE4jWvB8yMp1cS6aDgFh2";
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("tollgate.db"));
    let flagged = tollgate_command(&url)
        .args(["config", "--jwt-secret", secret])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&flagged.stderr);
    assert!(flagged.status.success(), "{stderr}");
    let warnings: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("TOLLGATE_JWT_SECRET was given as a flag"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");

    let file = dir.path().join("jwt-secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let filed = tollgate_command(&url)
        .arg("config")
        .env("TOLLGATE_JWT_SECRET_FILE", &file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&filed.stderr);
    let stdout = String::from_utf8_lossy(&filed.stdout);
    assert!(filed.status.success(), "{stderr}");
    assert!(!stderr.contains("as a flag"), "{stderr}");
    assert!(stdout.contains("TOLLGATE_JWT_ALG=HS256"), "{stdout}");

    let both = tollgate_command(&url)
        .arg("config")
        .env("TOLLGATE_JWT_SECRET_FILE", &file)
        .env("TOLLGATE_JWT_SECRET", secret)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(!both.status.success());
    assert!(
        stderr.contains("TOLLGATE_JWT_SECRET and TOLLGATE_JWT_SECRET_FILE are both set"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_refused_naming_the_address_and_the_listener() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("tollgate.db"));
    for (env, listener) in [
        ("TOLLGATE_BIND", "for the API (--bind, TOLLGATE_BIND)"),
        (
            "TOLLGATE_METRICS_BIND",
            "for the metrics listener (--metrics-bind, TOLLGATE_METRICS_BIND)",
        ),
    ] {
        let output = tollgate_command(&url)
            .arg("serve")
            .env("TOLLGATE_BIND", "127.0.0.1:0")
            .env(env, &addr)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{env}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected =
            format!("tollgate: cannot listen on {addr} {listener}: the address is already in use");
        assert!(stderr.lines().any(|line| line == expected), "{stderr}");
    }
}

#[test]
fn an_unreachable_postgresql_is_named_by_its_host() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://tollgate:pw-xyz@127.0.0.1:{port}/tollgate");
    let output = tollgate_command(&url).arg("migrate").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("pool timed out") && !stderr.contains("pw-xyz"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs PostgreSQL"]
fn a_refused_postgresql_login_is_its_message_without_the_servers_source_line() {
    let Some(url) = std::env::var("TOLLGATE_TEST_DATABASE_URL").ok() else {
        return;
    };
    let mut wrong = url::Url::parse(&url).unwrap();
    wrong.set_password(Some("not-the-password")).unwrap();
    wrong.set_path("/tollgate_no_such_database");
    let output = tollgate_command(wrong.as_str())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let host = format!(
        "{}:{}",
        wrong.host_str().unwrap(),
        wrong.port().unwrap_or(5432)
    );
    assert!(
        stderr.contains(&format!("PostgreSQL at {host} refused the connection: ")),
        "{stderr}"
    );
    assert!(!stderr.contains(" at line "), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}
