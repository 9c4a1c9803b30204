//! The command line, run as the real binary against a live server's database
//! (several processes on one SQLite file is a supported setup).

use std::{
    io::Write,
    process::{Output, Stdio},
};

use reqwest::StatusCode;
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{TestApp, database_url, error_of, tollgate_command};

/// Runs `tollgate ARGS` on the app's database, with `stdin` as input.
pub fn tollgate(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let mut child = tollgate_command(app.database_url())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_without_its_line_ending() {
    let app = TestApp::spawn().await;
    let added = tollgate(
        &app,
        &[
            "user",
            "add",
            "dave",
            "--scopes",
            "write:items read:items",
            "--password-stdin",
        ],
        "dave-password-1\r\n",
    );
    assert!(added.status.success(), "{}", text(&added));
    let tokens = app.login("dave", "dave-password-1", None).await;
    assert_eq!(tokens.scope, "read:items write:items");
}

#[tokio::test]
async fn user_add_without_scopes_gives_none() {
    let app = TestApp::spawn().await;
    let added = tollgate(
        &app,
        &["user", "add", "erin", "--password-stdin"],
        "erin-password-1\n",
    );
    assert!(added.status.success(), "{}", text(&added));
    assert_eq!(app.login("erin", "erin-password-1", None).await.scope, "");
}

#[tokio::test]
async fn user_add_refuses_bad_input_with_a_message_and_a_failure_code() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            vec!["user", "add", "long", "--password-stdin"],
            format!("{}\n", "a".repeat(73)),
            "72",
        ),
        (
            vec!["user", "add", "ADMIN", "--password-stdin"],
            "password-ok-1\n".to_owned(),
            "taken",
        ),
        (
            vec!["user", "add", "x y", "--password-stdin"],
            "password-ok-1\n".to_owned(),
            "username",
        ),
        (
            vec![
                "user",
                "add",
                "fred",
                "--scopes",
                "root",
                "--password-stdin",
            ],
            "password-ok-1\n".to_owned(),
            "root",
        ),
        (
            vec!["user", "add", "ivan", "--password-stdin"],
            "Password1\n".to_owned(),
            "common",
        ),
        (
            vec!["user", "add", "ivan-ivanov", "--password-stdin"],
            "IVAN-IVANOV\n".to_owned(),
            "username",
        ),
    ];
    for (args, stdin, expected) in cases {
        let output = tollgate(&app, &args, &stdin);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            text(&output).contains(expected),
            "{args:?}: {}",
            text(&output)
        );
    }
}

#[tokio::test]
async fn user_list_shows_every_user_with_status_and_scopes() {
    let app = TestApp::spawn().await;
    app.create_user("listed", "listed-password", &["read:items"])
        .await;
    let output = tollgate(&app, &["user", "list"], "");
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("admin").contains(&ScopeSet::all().to_string()),
        "{stdout}"
    );
    assert!(
        line("listed").contains("enabled") && line("listed").contains("read:items"),
        "{stdout}"
    );
}

#[tokio::test]
async fn set_scopes_and_disable_take_effect_on_the_running_server() {
    let app = TestApp::spawn().await;
    let token = app.user_token("gwen", &["read:items", "write:items"]).await;
    let output = tollgate(&app, &["user", "set-scopes", "gwen", "read:items"], "");
    assert!(output.status.success(), "{}", text(&output));
    let old = app.get("/items").bearer_auth(&token).send().await.unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let tokens = app.login("gwen", crate::helpers::PASSWORD, None).await;
    assert_eq!(tokens.scope, "read:items");

    let output = tollgate(&app, &["user", "disable", "GWEN"], "");
    assert!(output.status.success(), "{}", text(&output));
    let refused = app
        .token_request(&[("username", "gwen"), ("password", crate::helpers::PASSWORD)])
        .await;
    assert_eq!(error_of(refused).await.1, "invalid_grant");
    let me = app.get_as("/users/me", &tokens.access).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let list = tollgate(&app, &["user", "list"], "");
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.contains("gwen") && l.contains("disabled"))
    );
}

#[tokio::test]
async fn add_scopes_grants_more_and_keeps_what_the_user_held() {
    let app = TestApp::spawn().await;
    app.user_token("hana", &["read:items"]).await;
    let output = tollgate(
        &app,
        &["user", "add-scopes", "hana", "write:items introspect"],
        "",
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("hana now holds [read:items write:items introspect]"),
        "{}",
        text(&output)
    );
    let tokens = app.login("hana", crate::helpers::PASSWORD, None).await;
    assert_eq!(tokens.scope, "read:items write:items introspect");

    // Scopes already held change nothing, and so end no session.
    let output = tollgate(&app, &["user", "add-scopes", "hana", "read:items"], "");
    assert!(text(&output).contains("already holds"), "{}", text(&output));
    let me = app.get_as("/users/me", &tokens.access).await;
    assert_eq!(me.status(), StatusCode::OK);

    let output = tollgate(&app, &["user", "add-scopes", "hana", "read:nothing"], "");
    assert!(!output.status.success());
    assert!(text(&output).contains("read:nothing"), "{}", text(&output));
    let output = tollgate(&app, &["user", "add-scopes", "nobody", "read:items"], "");
    assert!(!output.status.success());
    assert!(text(&output).contains("nobody"), "{}", text(&output));
}

#[tokio::test]
async fn the_command_line_will_not_demote_or_disable_the_last_admin() {
    let app = TestApp::spawn().await;
    for args in [
        &["user", "set-scopes", "admin", "read:items"][..],
        &["user", "disable", "admin"],
    ] {
        let output = tollgate(&app, args, "");
        assert!(!output.status.success(), "{args:?}");
        assert!(text(&output).contains("admin"), "{}", text(&output));
    }
    app.login("admin", crate::helpers::ADMIN_PASSWORD, Some("admin"))
        .await;
}

#[tokio::test]
async fn a_change_to_an_unknown_user_is_refused() {
    let app = TestApp::spawn().await;
    let output = tollgate(&app, &["user", "disable", "nobody"], "");
    assert!(!output.status.success());
    assert!(text(&output).contains("nobody"), "{}", text(&output));
}

#[test]
fn openapi_prints_the_committed_spec_as_json_or_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&dir.path().join("unused.db"));
    let json = tollgate_command(&url).arg("openapi").output().unwrap();
    assert!(json.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    assert_eq!(String::from_utf8(json.stdout).unwrap(), committed);

    let yaml = tollgate_command(&url)
        .args(["openapi", "--yaml"])
        .output()
        .unwrap();
    assert!(yaml.status.success());
    let yaml = String::from_utf8(yaml.stdout).unwrap();
    assert!(
        yaml.starts_with("openapi: 3.0.0"),
        "{}",
        &yaml[..yaml.len().min(200)]
    );
    assert!(yaml.contains("/users/{id}:"));
    assert!(
        !dir.path().join("unused.db").exists(),
        "openapi needs no database"
    );
}

#[test]
fn migrate_creates_the_database_without_a_first_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let output = tollgate_command(&database_url(&path))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(path.exists());
    let again = tollgate_command(&database_url(&path))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "migrating twice is harmless: {}",
        text(&again)
    );
    let list = tollgate_command(&database_url(&path))
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(list.stdout).unwrap().lines().count(),
        1,
        "only the header line"
    );
}
