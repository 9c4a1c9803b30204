//! Security events: one structured log line each, naming the user and the
//! client address, never a secret, and never forgeable through a username.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::{helpers::database_url, served::Served};

async fn started(json: bool) -> (Served, String, String) {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let format = if json { "json" } else { "text" };
    let env = [
        ("TOLLGATE_LOG_FORMAT", format),
        ("TOLLGATE_THROTTLE_USER_LIMIT", "2"),
    ];
    let mut server = Served::start_on(&database_url(&dir.path().join("t.db")), &env, &[]);
    let password = server.admin_password().await;
    let listening = server.log_until("listening").await;
    let addr = match json {
        true => {
            let line: Value = serde_json::from_str(&listening).unwrap();
            line["fields"]["addr"].as_str().unwrap().to_owned()
        }
        false => server_addr(&listening),
    };
    (server, format!("http://{addr}"), password)
}

fn server_addr(line: &str) -> String {
    let rest = line
        .split("addr=")
        .nth(1)
        .expect("the line names the address");
    rest.split_whitespace().next().unwrap().to_owned()
}

async fn login(client: &Client, base: &str, username: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/token"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_and_refused_logins_reuse_and_account_changes_are_logged() {
    let (mut server, base, password) = started(false).await;
    let client = Client::new();
    for _ in 0..2 {
        login(&client, &base, "admin", "wrong-password-1").await;
    }
    let refused = login(&client, &base, "admin", &password).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Warnings are written at once and the rest in batches: read up to the
    // 429's request line, then look at every line so far, in any order.
    server.log_until("status=429").await;
    for event in ["login_failed", "login_refused"] {
        let needle = format!("event=\"{event}\"");
        let found = server.lines.iter().find(|l| l.contains(&needle));
        let found = found.unwrap_or_else(|| panic!("no {event}: {:#?}", server.lines));
        assert!(
            found.contains("username=\"admin\"") && found.contains("addr=127.0.0.1"),
            "{found}"
        );
    }
    for line in server
        .lines
        .iter()
        .filter(|l| !l.contains("initial admin password"))
    {
        assert!(
            !line.contains("wrong-password-1") && !line.contains(&password),
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_username_with_control_characters_cannot_forge_a_log_line() {
    let (mut server, base, _) = started(false).await;
    let client = Client::new();
    let forged = "evil\nINFO tollgate: forged line";
    login(&client, &base, forged, "wrong-password-1").await;
    login(&client, &base, "marker-user", "wrong-password-1").await;
    server.log_until("marker-user").await;
    assert!(
        !server
            .lines
            .iter()
            .any(|l| l.starts_with("INFO tollgate: forged")),
        "{:#?}",
        server.lines
    );
}

#[tokio::test]
async fn under_json_logs_events_are_json_fields() {
    let (mut server, base, password) = started(true).await;
    let client = Client::new();
    let tokens: Value = login(&client, &base, "admin", &password)
        .await
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let created = client
        .post(format!("{base}/users"))
        .bearer_auth(token)
        .json(&json!({"username": "newcomer", "password": "newcomer-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let line = server.log_until("user_created").await;
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["fields"]["event"], "user_created", "{line}");
    assert!(
        event["fields"]["username"]
            .as_str()
            .unwrap()
            .contains("newcomer"),
        "{line}"
    );
    assert!(!line.contains("newcomer-password-1"));
}
