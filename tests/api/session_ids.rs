//! `sid`: one value for every access token of a login, refreshes included,
//! another for each login, and nothing that counts logins.

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, jwt_parts};

fn sid(access_token: &str) -> String {
    let (_, claims) = jwt_parts(access_token);
    claims["sid"]
        .as_str()
        .expect("an access token carries `sid` as a string")
        .to_owned()
}

#[tokio::test]
async fn sid_stays_the_same_across_refreshes_and_differs_between_logins() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let second = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_ne!(sid(&first.access), sid(&second.access));

    let mut refresh = first.refresh.clone();
    for _ in 0..2 {
        let response = app.refresh(&refresh, Some("read:items")).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(
            sid(access),
            sid(&first.access),
            "a refresh keeps the session"
        );
        refresh = body["refresh_token"].as_str().unwrap().to_owned();
    }
}

#[tokio::test]
async fn sid_is_opaque_and_not_the_family_number() {
    let app = TestApp::spawn().await;
    let tokens = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let (_, claims) = jwt_parts(&tokens.access);
    let sid = sid(&tokens.access);
    assert!(sid.len() >= 20, "{sid}");
    assert_ne!(sid, claims["fam"].to_string());
}
