//! Operating the revocation event stream: its metrics, and `tollgate events
//! list`, which shows no token and no SET.

use serde_json::json;

use crate::{
    event_poll::{poll, revoke, sid, sids},
    helpers::{ADMIN, ADMIN_PASSWORD, TestApp, tollgate_command},
    metrics::scrape,
};

#[tokio::test]
async fn produced_delivered_and_oldest_unacknowledged_are_measured() {
    let app = TestApp::spawn_with(|config| {
        config.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let receiver = app.user_token("receiver", &["events"]).await;
    let (before, _) = scrape(&app).await;
    for _ in 0..2 {
        let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
        revoke(&app, &login.access).await;
    }
    let answer = poll(&app, &receiver, json!({"returnImmediately": true})).await;
    assert_eq!(sids(&answer).len(), 2);
    let (after, text) = scrape(&app).await;
    let delta =
        |series: &str| after.get(series).unwrap_or(&0.0) - before.get(series).unwrap_or(&0.0);
    assert_eq!(delta("tollgate_events_produced_total"), 2.0, "{text}");
    assert_eq!(delta("tollgate_events_delivered_total"), 2.0, "{text}");
    let oldest = r#"tollgate_events_oldest_unacknowledged_seconds{receiver="user:2"}"#;
    assert!(after.contains_key(oldest), "{text}");

    let acks: Vec<_> = sids(&answer).into_iter().map(|(jti, _)| jti).collect();
    poll(
        &app,
        &receiver,
        json!({"ack": acks, "returnImmediately": true}),
    )
    .await;
    let (acked, text) = scrape(&app).await;
    assert_eq!(acked[oldest], 0.0, "{text}");
}

#[tokio::test]
async fn events_list_shows_the_recent_events_and_no_secret() {
    let app = TestApp::spawn().await;
    let receiver = app.user_token("receiver", &["events"]).await;
    let login = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    revoke(&app, &login.refresh).await;
    let set = poll(&app, &receiver, json!({"returnImmediately": true})).await;
    let (jti, _) = sids(&set).remove(0);

    let output = tollgate_command(app.database_url())
        .args(["events", "list", "--limit", "5"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text
        .lines()
        .find(|line| line.contains(&sid(&login.access)))
        .unwrap_or_else(|| panic!("the event is listed: {text}"));
    assert!(line.contains("revoked") && line.contains(&jti), "{line}");
    for secret in [&login.access, &login.refresh, &receiver] {
        assert!(!text.contains(secret.as_str()), "{text}");
    }
    let signed = set["sets"][&jti].as_str().unwrap();
    assert!(!text.contains(signed), "{text}");

    let refused = tollgate_command(app.database_url())
        .args(["events", "list", "--limit", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
}
