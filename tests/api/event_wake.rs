//! The long poll of `POST /events/poll` answers when an event arrives: one
//! written by the same process, by another process on the same SQLite file
//! (another server, the command line), or by another node on PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    event_poll::{poll, revoke, sid, sids},
    helpers::{ADMIN, ADMIN_PASSWORD, TestApp, tollgate_command},
    pg::require_postgres,
};

/// Starts a long poll of `receiver` on `app` (with nothing pending) and
/// returns its answer's task.
async fn waiting_poll(app: &TestApp, receiver: &str) -> tokio::task::JoinHandle<Value> {
    let client = app.client.clone();
    let url = app.url("/events/poll");
    let receiver = receiver.to_owned();
    let task = tokio::spawn(async move {
        let response = client
            .post(url)
            .bearer_auth(receiver)
            .json(&json!({}))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.json::<Value>().await.unwrap()
    });
    // Long enough for the poll to be waiting (if it is not yet, it finds the
    // event at its first read: the test passes either way).
    tokio::time::sleep(Duration::from_millis(300)).await;
    task
}

/// A receiver on `app` whose queue is empty.
async fn receiver(app: &TestApp) -> String {
    let token = app.user_token("receiver", &["events"]).await;
    let pending = poll(app, &token, json!({"returnImmediately": true})).await;
    let acks: Vec<_> = sids(&pending).into_iter().map(|(jti, _)| jti).collect();
    poll(app, &token, json!({"ack": acks, "maxEvents": 0})).await;
    token
}

/// The answer holds exactly the session of `access` (the poll was woken by
/// it: a timed-out poll answers `{"sets": {}}`).
fn woken_by(answer: &Value, access: &str) {
    let got: Vec<_> = sids(answer).into_iter().map(|(_, sid)| sid).collect();
    assert_eq!(got, [sid(access)], "{answer}");
}

#[tokio::test]
async fn a_waiting_poll_answers_when_a_session_ends_on_the_same_server() {
    let app = TestApp::spawn().await;
    let receiver = receiver(&app).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let task = waiting_poll(&app, &receiver).await;
    revoke(&app, &login.access).await;
    woken_by(&task.await.unwrap(), &login.access);
}

#[tokio::test]
async fn a_waiting_poll_answers_when_another_server_on_the_same_database_ends_a_session() {
    let a = TestApp::spawn().await;
    let b = a.sibling().await;
    let receiver = receiver(&a).await;
    let login = b.login(ADMIN, ADMIN_PASSWORD, None).await;
    let task = waiting_poll(&a, &receiver).await;
    let response = b
        .post("/users/me/logout-all")
        .bearer_auth(&login.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    let answer = task.await.unwrap();
    // The admin's other sessions (the receiver set-up's logins) end too.
    let got: Vec<_> = sids(&answer).into_iter().map(|(_, sid)| sid).collect();
    assert!(got.contains(&sid(&login.access)), "{answer}");
}

#[tokio::test]
async fn a_waiting_poll_answers_when_the_command_line_ends_a_session() {
    let app = TestApp::spawn().await;
    let receiver = receiver(&app).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let task = waiting_poll(&app, &receiver).await;
    let output = tollgate_command(app.database_url())
        .args(["sessions", "revoke", "--user", ADMIN])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let answer = task.await.unwrap();
    // The admin's other sessions (the receiver set-up's logins) end too.
    let got: Vec<_> = sids(&answer).into_iter().map(|(_, sid)| sid).collect();
    assert!(got.contains(&sid(&login.access)), "{answer}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn on_postgres_a_waiting_poll_answers_when_another_node_ends_a_session() {
    require_postgres();
    let a = TestApp::spawn().await;
    let b = a.sibling().await;
    let receiver = receiver(&a).await;
    for _ in 0..2 {
        let login = b.login(ADMIN, ADMIN_PASSWORD, None).await;
        let task = waiting_poll(&a, &receiver).await;
        revoke(&b, &login.refresh).await;
        let answer = task.await.unwrap();
        woken_by(&answer, &login.access);
        let acks: Vec<_> = sids(&answer).into_iter().map(|(jti, _)| jti).collect();
        poll(&a, &receiver, json!({"ack": acks, "maxEvents": 0})).await;
    }
}

#[tokio::test]
async fn a_waiting_poll_answers_empty_when_the_server_stops() {
    let mut app = TestApp::spawn().await;
    let receiver = receiver(&app).await;
    let task = waiting_poll(&app, &receiver).await;
    app.stop().await;
    assert_eq!(
        task.await.unwrap(),
        json!({"sets": {}, "moreAvailable": false})
    );
}
