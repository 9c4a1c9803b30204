//! The admin commands beyond `user add`: show, enable, delete, set-password,
//! list --json, sessions, config, and what each `--help` lists.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    cli::tollgate,
    helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, tollgate_command},
};

/// A secret as `openssl rand -base64 48` prints one.
const STRONG_SECRET: &str = "q4Vt8Zk1bN2xJr6LwP0sYe3HdGmA7uCfT9iKoQ5nXlRzE4jWvB8yMp1cS6aDgFh2";

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[tokio::test]
async fn user_show_and_list_json_print_the_api_shape() {
    let app = TestApp::spawn().await;
    app.create_user("shown", PASSWORD, &["read:items"]).await;
    let printed = stdout(&tollgate(&app, &["user", "show", "Shown"], ""));
    let shown: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(shown["username"], "shown");
    assert_eq!(shown["scopes"], serde_json::json!(["read:items"]));
    assert_eq!(shown["disabled"], false);
    assert!(shown["created_at"].as_str().unwrap().ends_with('Z'));
    // The algorithm of the hash, never the hash.
    assert!(shown.get("password_hash").is_none());
    assert_eq!(shown["password_hash_algorithm"], "bcrypt");
    assert!(!printed.contains("$2b$"), "{printed}");

    let listed: Value =
        serde_json::from_str(&stdout(&tollgate(&app, &["user", "list", "--json"], ""))).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "shown"]);
}

#[tokio::test]
async fn disable_then_enable_lets_the_user_log_in_again() {
    let app = TestApp::spawn().await;
    app.create_user("paused", PASSWORD, &[]).await;
    stdout(&tollgate(&app, &["user", "disable", "paused"], ""));
    let refused = app
        .token_request(&[("username", "paused"), ("password", PASSWORD)])
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    stdout(&tollgate(&app, &["user", "enable", "paused"], ""));
    app.login("paused", PASSWORD, None).await;
}

#[tokio::test]
async fn set_password_ends_the_users_sessions() {
    let app = TestApp::spawn().await;
    let token = app.user_token("forgetful", &[]).await;
    stdout(&tollgate(
        &app,
        &["user", "set-password", "forgetful", "--password-stdin"],
        "a-fresh-password-9\n",
    ));
    assert_eq!(app.me_status(&token).await, StatusCode::UNAUTHORIZED);
    app.login("forgetful", "a-fresh-password-9", None).await;
}

#[tokio::test]
async fn delete_removes_the_user_and_keeps_the_last_admin_with_the_apis_message() {
    let app = TestApp::spawn().await;
    let token = app.user_token("leaving", &[]).await;
    stdout(&tollgate(&app, &["user", "delete", "leaving"], ""));
    assert_eq!(app.me_status(&token).await, StatusCode::UNAUTHORIZED);
    assert!(
        app.store()
            .users()
            .get_by_username("leaving")
            .await
            .unwrap()
            .is_none()
    );

    let refused = stderr(&tollgate(&app, &["user", "delete", ADMIN], ""));
    assert!(
        refused.contains("that would leave no enabled user holding `admin`"),
        "{refused}"
    );
    assert_eq!(refused.lines().count(), 1, "one line, once: {refused}");
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

#[tokio::test]
async fn sessions_list_shows_logins_without_tokens_and_revoke_ends_them() {
    let app = TestApp::spawn().await;
    app.create_user("traveller", PASSWORD, &[]).await;
    let laptop = app.login("traveller", PASSWORD, None).await;
    let phone = app.login("traveller", PASSWORD, None).await;
    let listed = stdout(&tollgate(
        &app,
        &["sessions", "list", "--user", "traveller"],
        "",
    ));
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows.iter()
            .all(|row| row.contains("traveller") && row.contains("tollgate"))
    );
    for secret in [&laptop.access, &laptop.refresh, &phone.refresh] {
        assert!(!listed.contains(secret.as_str()));
    }
    let newest: String = rows[0].split_whitespace().next().unwrap().to_owned();
    stdout(&tollgate(&app, &["sessions", "revoke", &newest], ""));
    assert_eq!(app.me_status(&phone.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me_status(&laptop.access).await, StatusCode::OK);

    stdout(&tollgate(
        &app,
        &["sessions", "revoke", "--user", "traveller"],
        "",
    ));
    assert_eq!(
        app.me_status(&laptop.access).await,
        StatusCode::UNAUTHORIZED
    );
    let none = stderr(&tollgate(&app, &["sessions", "revoke", "999999"], ""));
    assert!(none.contains("no live session"), "{none}");
}

#[tokio::test]
async fn an_error_is_printed_once_on_one_line() {
    let app = TestApp::spawn().await;
    let output = tollgate(
        &app,
        &["user", "add", "x", "--scopes", "me", "--password-stdin"],
        "p\n",
    );
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.starts_with("tollgate: "), "{message}");
}

#[test]
fn each_commands_help_lists_only_the_options_it_uses() {
    let help = |args: &[&str]| {
        let output = tollgate_command("sqlite://unused.db")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    for args in [
        &["user", "add", "--help"][..],
        &["user", "list", "--help"],
        &["user", "--help"],
        &["sessions", "list", "--help"],
    ] {
        let text = help(args);
        assert!(text.contains("Usage"), "{args:?}: {text}");
        for server_only in ["--bind", "--throttle", "--access-ttl", "--jwt-secret"] {
            assert!(
                !text.contains(server_only),
                "{args:?} lists {server_only}: {text}"
            );
        }
    }
    let user = help(&["user", "--help"]);
    assert!(user.contains("--database-url"), "{user}");
    let serve = help(&["serve", "--help"]);
    assert!(
        serve.contains("--bind") && serve.contains("--database-url"),
        "{serve}"
    );
}

#[test]
fn config_prints_the_effective_settings_with_secrets_masked() {
    let output = tollgate_command("postgres://app:hunter22@db.example:5432/tollgate")
        .env("TOLLGATE_JWT_SECRET", STRONG_SECRET)
        .arg("config")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{text}");
    assert!(text.contains("TOLLGATE_BIND=127.0.0.1:8000"), "{text}");
    assert!(
        text.contains("TOLLGATE_DATABASE_URL=postgres://app:***@db.example:5432/tollgate"),
        "{text}"
    );
    assert!(
        !text.contains("hunter22") && !text.contains(STRONG_SECRET),
        "{text}"
    );
}

#[test]
fn config_refuses_an_invalid_setting_with_a_message_and_a_failure_code() {
    let output = tollgate_command("sqlite://unused.db")
        .env("TOLLGATE_JWT_SECRET", "short")
        .arg("config")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(message.contains("TOLLGATE_JWT_SECRET"), "{message}");
    assert!(
        !message.contains("short"),
        "the value is not echoed: {message}"
    );
    let output = tollgate_command("sqlite://unused.db")
        .env("TOLLGATE_ACCESS_TTL", "soon")
        .arg("config")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8(output.stderr).unwrap();
    // One line, naming the variable that was set (not the flag), once.
    assert!(
        message.starts_with("tollgate: TOLLGATE_ACCESS_TTL is `soon`: ")
            && message.lines().count() == 1,
        "{message}"
    );
}
