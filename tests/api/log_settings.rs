//! The log settings at start: an invalid filter or format stops the binary
//! with one line, and no filter hides the first admin's password.

use reqwest::StatusCode;

use crate::{
    helpers::{database_url, tollgate_command},
    served::{PATIENCE, Served},
};

#[tokio::test]
async fn the_first_admins_password_reaches_standard_error_whatever_the_log_filter() {
    for (filter, format) in [("error", "text"), ("off", "json")] {
        let dir = tempfile::tempdir().unwrap();
        // At these filters no line names the address: choose it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let env = [
            ("TOLLGATE_LOG", filter),
            ("TOLLGATE_LOG_FORMAT", format),
            ("TOLLGATE_BIND", &bind),
        ];
        let mut server = Served::start_with(&dir, &env, &[]);
        let password = server.admin_password().await;
        let line = server.lines.last().unwrap().clone();
        assert!(
            line.contains("tollgate user set-password admin"),
            "says how to replace it: {line}"
        );

        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let status = loop {
            let login = client
                .post(format!("http://{bind}/token"))
                .form(&[("username", "admin"), ("password", &password)])
                .send()
                .await;
            match login {
                Ok(answer) => break answer.status(),
                Err(err) => assert!(tokio::time::Instant::now() < deadline, "{err}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(status, StatusCode::OK, "TOLLGATE_LOG={filter}");
    }
}

#[test]
fn an_invalid_log_filter_or_format_is_one_error_line_and_a_failed_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("tollgate.db"));
    let cases = [
        ("TOLLGATE_LOG", "verbose"),
        ("TOLLGATE_LOG", "info,tollgate=loud"),
        ("TOLLGATE_LOG", "info,[{"),
        ("RUST_LOG", "verbose"),
        ("TOLLGATE_LOG_FORMAT", "yaml"),
    ];
    for (name, value) in cases {
        let output = tollgate_command(&url)
            .arg("config")
            .env(name, value)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value} was accepted");
        assert_eq!(stderr.lines().count(), 1, "{name}={value}: {stderr}");
        assert!(
            stderr.starts_with("tollgate: ") && stderr.contains(name),
            "{name}={value}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{name}={value}");
    }
    for (name, value) in [
        ("TOLLGATE_LOG", "warn,tollgate::app=debug"),
        ("TOLLGATE_LOG", "tollgate=trace"),
        ("TOLLGATE_LOG_FORMAT", "text"),
        ("TOLLGATE_LOG_FORMAT", "json"),
    ] {
        let output = tollgate_command(&url)
            .arg("config")
            .env(name, value)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}={value}: {stderr}");
    }
}
