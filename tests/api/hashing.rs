//! Argon2id as served: logins and the CLI with it, unknown names costing
//! what stored hashes cost under each algorithm and after a change of
//! settings, stored hashes with hostile parameters refused without being
//! computed, and memory bounded under a burst of logins.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tollgate::{
    auth::hashes::{Argon2Params, Profile},
    config::{Config, PasswordAlgorithm},
};

use crate::{
    cli::tollgate,
    helpers::{ADMIN, TestApp, database_url, error_of},
    served::{PATIENCE, Served},
};

const USER: &str = "dora";
const PASSWORD: &str = "dora-password-1";

fn argon2(memory_kib: u32, iterations: u32) -> impl FnOnce(&mut Config) {
    move |config| {
        config.password_hash = PasswordAlgorithm::Argon2id;
        config.argon2 = Argon2Params::new(memory_kib, iterations, 1);
    }
}

async fn stored_hash(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE username = $1")
        .bind(USER)
        .fetch_one(&app.sql().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn under_argon2id_the_api_and_the_cli_hash_with_it_and_logins_work() {
    let app = TestApp::spawn_with(argon2(1024, 1)).await;
    app.create_user(USER, PASSWORD, &["read:items"]).await;
    assert!(
        stored_hash(&app)
            .await
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$")
    );
    let tokens = app.login(USER, PASSWORD, None).await;
    let wrong = app
        .token_request(&[("username", USER), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(wrong).await.1, "invalid_grant");

    // A password change hashes with Argon2id too, and the new one works.
    let changed = app
        .put("/users/me/password")
        .bearer_auth(&tokens.access)
        .json(&serde_json::json!({
            "current_password": PASSWORD,
            "new_password": "dora-password-2",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert!(stored_hash(&app).await.starts_with("$argon2id$"));
    app.login(USER, "dora-password-2", None).await;

    // The CLI, told the same settings, hashes with them; `user show` names
    // the algorithm of each user's hash and never the hash.
    let settings = [
        ("TOLLGATE_PASSWORD_HASH", "argon2id"),
        ("TOLLGATE_ARGON2_MEMORY", "1024"),
        ("TOLLGATE_ARGON2_ITERATIONS", "1"),
    ];
    let added = crate::helpers::tollgate_command(app.database_url())
        .envs(settings)
        .args(["user", "add", "eve", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"eve-password-1\n")?;
            child.wait()
        })
        .unwrap();
    assert!(added.success());
    app.login("eve", "eve-password-1", None).await;
    for name in ["eve", USER] {
        let output = tollgate(&app, &["user", "show", name], "");
        let printed = String::from_utf8(output.stdout).unwrap();
        let shown: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(shown["password_hash_algorithm"], "argon2id", "{printed}");
        assert!(!printed.contains("$argon2id$"), "{printed}");
    }
}

/// The wall time of one failed login attempt.
async fn timed(app: &TestApp, username: &str) -> Duration {
    let started = Instant::now();
    let response = app
        .token_request(&[("username", username), ("password", "not-the-password")])
        .await;
    assert_eq!(error_of(response).await.1, "invalid_grant");
    started.elapsed()
}

/// The median of three unknown-name attempts is not a quarter or less of a
/// wrong password for `USER` (as in rehash.rs: relative costs only).
async fn unknown_costs_what_the_user_costs(app: &TestApp) {
    let known = timed(app, USER).await;
    let mut unknown = Vec::new();
    for _ in 0..3 {
        unknown.push(timed(app, "no-such-user").await);
    }
    unknown.sort();
    assert!(
        unknown[1] * 4 > known,
        "an unknown name ({:?}) is told apart from {USER} ({known:?})",
        unknown[1]
    );
}

/// Waits until the hasher's dummy follows `profile` (it is raised in the
/// background once a login shows it a heavier stored hash).
async fn dummy_follows(app: &TestApp, profile: Profile) {
    let hasher = &app.state.auth.hasher;
    let deadline = Instant::now() + PATIENCE;
    while hasher.dummy_profile() != profile {
        assert!(
            Instant::now() < deadline,
            "the dummy stays {}",
            hasher.dummy_profile()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hasher.warm_up().await.unwrap();
}

#[tokio::test]
async fn under_argon2id_an_unknown_name_costs_what_a_wrong_password_costs() {
    // 32 MiB, two passes: tens of milliseconds, well above a request's own cost.
    let app = TestApp::spawn_with(argon2(32 * 1024, 2)).await;
    app.create_user(USER, PASSWORD, &[]).await;
    app.state.auth.hasher.warm_up().await.unwrap();
    unknown_costs_what_the_user_costs(&app).await;
}

#[tokio::test]
async fn after_the_argon2id_memory_is_lowered_an_unknown_name_costs_what_an_older_hash_costs() {
    let app = TestApp::spawn_with(argon2(32 * 1024, 2)).await;
    app.create_user(USER, PASSWORD, &[]).await;
    let app = app.restart_with(argon2(256, 1)).await;
    timed(&app, USER).await;
    dummy_follows(&app, Profile::Argon2id(Argon2Params::new(32 * 1024, 2, 1))).await;
    unknown_costs_what_the_user_costs(&app).await;
}

#[tokio::test]
async fn after_a_switch_from_bcrypt_an_unknown_name_costs_what_a_bcrypt_hash_costs() {
    // dora's hash is bcrypt at cost 10, then the service runs a cheap Argon2id.
    let app = TestApp::spawn_with(|config| config.bcrypt_cost = 10).await;
    app.create_user(USER, PASSWORD, &[]).await;
    let app = app.restart_with(argon2(256, 1)).await;
    timed(&app, USER).await;
    dummy_follows(&app, Profile::Bcrypt { cost: 10 }).await;
    unknown_costs_what_the_user_costs(&app).await;
}

#[tokio::test]
async fn after_a_switch_to_bcrypt_an_unknown_name_costs_what_an_argon2id_hash_costs() {
    let app = TestApp::spawn_with(argon2(32 * 1024, 2)).await;
    app.create_user(USER, PASSWORD, &[]).await;
    let app = app
        .restart_with(|config| config.password_hash = PasswordAlgorithm::Bcrypt)
        .await;
    timed(&app, USER).await;
    dummy_follows(&app, Profile::Argon2id(Argon2Params::new(32 * 1024, 2, 1))).await;
    unknown_costs_what_the_user_costs(&app).await;
}

/// A process's peak resident memory (VmHWM), or its current (VmRSS), in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The served binary with `env`, its base URL, and an admin token.
async fn served(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> (Served, String, String) {
    let mut server = Served::start_with(dir, env, &[]);
    let password = server.admin_password().await;
    let base = format!("http://{}", server.addr().await);
    let form = [("username", ADMIN), ("password", password.as_str())];
    let response = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    (server, base, token)
}

async fn create(base: &str, admin: &str, username: &str, password: &str) {
    let body = serde_json::json!({"username": username, "password": password});
    let response = reqwest::Client::new()
        .post(format!("{base}/users"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn login_status(base: &str, username: &str, password: &str) -> (StatusCode, Value) {
    let form = [("username", username), ("password", password)];
    let response = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_stored_hash_with_hostile_parameters_is_refused_without_computing_it() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TOLLGATE_PASSWORD_HASH", "argon2id"),
        ("TOLLGATE_ARGON2_MEMORY", "1024"),
        ("TOLLGATE_ARGON2_ITERATIONS", "1"),
    ];
    let (mut server, base, admin) = served(&dir, &env).await;
    create(&base, &admin, USER, PASSWORD).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&database_url(&dir.path().join("tollgate.db")))
        .await
        .unwrap();
    let salt_and_hash = "c29tZXNhbHRzb21lc2FsdA$ZHVtbXloYXNoZHVtbXloYXNoZHVtbXloYXNoMTI";
    let pid = server.child.id();
    let before = status_kib(pid, "VmHWM:");
    for (hostile, reason) in [
        // 4 GiB: computing it would take the process's memory past any bound.
        (
            "$argon2id$v=19$m=4194304,t=1,p=1",
            "4194304 KiB is above the limit",
        ),
        ("$argon2id$v=19$m=65536,t=0,p=1", "iterations 0"),
        (
            "$argon2id$v=19$m=65536,t=4294967295,p=1",
            "iterations 4294967295",
        ),
        ("$argon2d$v=19$m=65536,t=1,p=1", "unknown algorithm"),
    ] {
        let stored = format!("{hostile}${salt_and_hash}");
        sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
            .bind(&stored)
            .bind(USER)
            .execute(&pool)
            .await
            .unwrap();
        let (status, body) = login_status(&base, USER, PASSWORD).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        let line = server.log_until("password_hash_unusable").await;
        assert!(line.contains(reason), "{line}");
        assert!(!line.contains("c29tZ") && !line.contains("ZHVtb"), "{line}");
    }
    let grown = status_kib(pid, "VmHWM:").saturating_sub(before);
    assert!(grown < 64 * 1024, "the peak grew by {grown} KiB");
    // The server goes on serving.
    assert_eq!(
        login_status(&base, ADMIN, "wrong-password-1").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_burst_of_200_logins_under_argon2id_holds_at_most_one_hash_per_core() {
    if !cfg!(target_os = "linux") {
        return;
    }
    // 16 MiB a hash: 200 at once would take 3.2 GiB; the bound is one per
    // core. Below glibc's largest mmap threshold (32 MiB), where buffers freed
    // after each hash would stay resident in the blocking threads' arenas.
    const MEMORY_KIB: u64 = 16 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TOLLGATE_PASSWORD_HASH", "argon2id"),
        ("TOLLGATE_ARGON2_MEMORY", "16384"),
        ("TOLLGATE_ARGON2_ITERATIONS", "1"),
        // Every login of the burst waits for a core rather than being refused.
        ("TOLLGATE_HASH_QUEUE", "256"),
    ];
    let (server, base, admin) = served(&dir, &env).await;
    create(&base, &admin, USER, PASSWORD).await;
    let pid = server.child.id();
    // After start-up (its hashes done and their memory returned).
    let baseline = status_kib(pid, "VmRSS:");
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    let bound = baseline + cores * MEMORY_KIB + 32 * 1024;

    let client = reqwest::Client::new();
    let logins: Vec<_> = (0..200)
        .map(|_| {
            let request = client
                .post(format!("{base}/token"))
                .form(&[("username", USER), ("password", PASSWORD)]);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), StatusCode::OK);
    }
    let peak = status_kib(pid, "VmHWM:");
    assert!(
        peak < bound,
        "peak RSS {peak} KiB over the bound {bound} KiB \
         ({baseline} KiB at rest + {cores} x {MEMORY_KIB} KiB + 32 MiB)"
    );
    // The hashes' memory is in the figure read.
    assert!(peak > baseline + MEMORY_KIB / 2, "no hash seen: {peak} KiB");
}
