//! Cursor pagination of `GET /users` and `GET /items`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN, PASSWORD, TestApp, expect_error};

/// Follows `next_cursor` from `first` to the end; returns each page's `field`s.
async fn walk(app: &TestApp, first: &str, token: &str, field: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..10 {
        let page = app.get_json(&path, token).await;
        let data = page["data"].as_array().unwrap().iter();
        pages.push(
            data.map(|v| v[field].as_str().unwrap().to_owned())
                .collect(),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => return pages,
        }
    }
    panic!("the cursor never ran out: {pages:?}");
}

#[tokio::test]
async fn the_user_list_pages_with_a_cursor_until_the_last_page() {
    let app = TestApp::spawn().await;
    for name in ["user-a", "user-b", "user-c", "user-d"] {
        app.create_user(name, PASSWORD, &[]).await;
    }
    let admin = app.admin_token().await;
    let pages = walk(&app, "/users?limit=2", &admin, "username").await;
    assert_eq!(
        pages,
        [
            vec![ADMIN, "user-a"],
            vec!["user-b", "user-c"],
            vec!["user-d"]
        ]
    );
    assert_eq!(
        walk(&app, "/users?limit=200", &admin, "username")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_full_last_page_has_no_next_cursor() {
    let app = TestApp::spawn().await;
    let token = app
        .user_token("pager", &["read:items", "write:items"])
        .await;
    for name in ["i1", "i2", "i3", "i4"] {
        let created = app
            .post("/items")
            .bearer_auth(&token)
            .json(&json!({"name": name}));
        assert_eq!(created.send().await.unwrap().status(), StatusCode::CREATED);
    }
    let pages = walk(&app, "/items?limit=2", &token, "name").await;
    assert_eq!(pages, [["i1", "i2"], ["i3", "i4"]]);
    let pages = walk(&app, "/items?limit=4", &token, "name").await;
    assert_eq!(pages, [["i1", "i2", "i3", "i4"]]);
}

#[tokio::test]
async fn an_empty_list_is_one_empty_page() {
    let app = TestApp::spawn().await;
    let token = app.user_token("empty-handed", &["read:items"]).await;
    let page = app.get_json("/items", &token).await;
    assert_eq!(page, json!({"data": [], "next_cursor": null}));
}

#[tokio::test]
async fn a_cursor_not_issued_by_the_api_is_invalid_request() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for list in ["/users", "/items"] {
        for cursor in ["not-a-cursor", "%21%21", "YWZ0ZXI6LTE"] {
            let response = app.get_as(&format!("{list}?cursor={cursor}"), &admin).await;
            let body = expect_error(
                response,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &cursor,
            )
            .await;
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("cursor"),
                "{body}"
            );
        }
    }
}
