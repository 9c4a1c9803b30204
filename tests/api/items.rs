//! `/items`: the caller's own items, and nobody else's.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of, expect_error, header};

const BOTH: [&str; 2] = ["read:items", "write:items"];

async fn create_item(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.send_json(Method::POST, "/items", token, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(&response, "location");
    let item: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/items/{}", item["id"]));
    item
}

async fn names(app: &TestApp, path: &str, token: &str) -> (Vec<String>, Value) {
    let page = app.get_json(path, token).await;
    let names = page["data"].as_array().unwrap().iter();
    let names = names
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    (names, page["next_cursor"].clone())
}

#[tokio::test]
async fn an_item_is_created_read_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let token = app.user_token("maker", &BOTH).await;
    let item = create_item(
        &app,
        &token,
        json!({"name": "lamp", "description": "brass"}),
    )
    .await;
    assert_eq!(
        (&item["name"], &item["description"]),
        (&json!("lamp"), &json!("brass"))
    );
    assert!(
        item["created_at"].is_string() && item["updated_at"].is_string(),
        "{item}"
    );
    let path = format!("/items/{}", item["id"]);

    let read = app.get_json(&path, &token).await;
    assert_eq!(read, item);

    let renamed = app
        .patch(&path)
        .bearer_auth(&token)
        .json(&json!({"name": "lantern"}));
    let renamed: Value = renamed.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (&renamed["name"], &renamed["description"]),
        (&json!("lantern"), &json!("brass"))
    );

    let cleared = app
        .patch(&path)
        .bearer_auth(&token)
        .json(&json!({"description": null}));
    let cleared: Value = cleared.send().await.unwrap().json().await.unwrap();
    assert!(cleared["description"].is_null(), "{cleared}");
    assert_eq!(cleared["name"], "lantern");

    let deleted = app.delete(&path).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get(&path).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_of(gone).await.1, "not_found");
    let twice = app.delete(&path).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_of(twice).await.1, "not_found");
}

#[tokio::test]
async fn another_users_item_is_not_found_and_untouched() {
    let app = TestApp::spawn().await;
    let owner = app.user_token("owner", &BOTH).await;
    let other = app.user_token("other", &BOTH).await;
    let item = create_item(&app, &owner, json!({"name": "private"})).await;
    let path = format!("/items/{}", item["id"]);

    let attempts = [
        app.get(&path),
        app.patch(&path).json(&json!({"name": "mine now"})),
        app.delete(&path),
    ];
    for request in attempts {
        expect_error(
            request.bearer_auth(&other).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
            "",
        )
        .await;
    }
    assert_eq!(names(&app, "/items", &other).await.0, Vec::<String>::new());
    let read = app.get_json(&path, &owner).await;
    assert_eq!(read, item);
}

#[tokio::test]
async fn the_item_list_shows_only_the_callers_items_in_pages() {
    let app = TestApp::spawn().await;
    let mine = app.user_token("lister", &BOTH).await;
    let theirs = app.user_token("bystander", &BOTH).await;
    for name in ["i1", "i2", "i3"] {
        create_item(&app, &mine, json!({"name": name})).await;
        create_item(&app, &theirs, json!({"name": format!("x-{name}")})).await;
    }
    let (first, cursor) = names(&app, "/items?limit=2", &mine).await;
    assert_eq!(first, ["i1", "i2"]);
    let cursor = cursor
        .as_str()
        .expect("a full page has a next cursor")
        .to_owned();
    let (rest, end) = names(&app, &format!("/items?limit=2&cursor={cursor}"), &mine).await;
    assert_eq!(rest, ["i3"]);
    assert!(end.is_null());
    assert_eq!(names(&app, "/items", &mine).await.0, ["i1", "i2", "i3"]);

    let bad = app.get_as("/items?cursor=%21%21", &mine).await;
    assert_eq!(error_of(bad).await.1, "invalid_request");
}

#[tokio::test]
async fn invalid_item_fields_are_invalid_request_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.user_token("validator", &BOTH).await;
    let item = create_item(&app, &token, json!({"name": "ok"})).await;
    let path = format!("/items/{}", item["id"]);
    let named = [
        ("name", app.post("/items").json(&json!({"name": ""}))),
        ("name", app.patch(&path).json(&json!({"name": ""}))),
    ];
    for (field, request) in named {
        let response = request.bearer_auth(&token).send().await.unwrap();
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
        assert!(
            body["error_description"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    let malformed = [
        app.post("/items").json(&json!({"description": "no name"})),
        app.post("/items").json(&json!({"name": 42})),
        app.post("/items")
            .json(&json!({"name": "n", "description": ["x"]})),
        app.patch(&path).json(&json!({"name": null})),
    ];
    for request in malformed {
        let response = request.bearer_auth(&token).send().await.unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
    }
}

#[tokio::test]
async fn a_path_id_that_is_not_an_integer_is_invalid_request() {
    let app = TestApp::spawn().await;
    let token = app.user_token("pathy", &BOTH).await;
    for path in ["/items/abc", "/items/99999999999999999999999"] {
        let response = app.get(path).bearer_auth(&token).send().await.unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", &path).await;
    }
}

#[tokio::test]
async fn text_with_a_nul_character_is_refused_on_every_engine() {
    let app = TestApp::spawn().await;
    let token = app.user_token("nul", &["read:items", "write:items"]).await;
    let body = serde_json::json!({"name": "a\u{0}b"});
    let response = app
        .send_json(reqwest::Method::POST, "/items", &token, &body)
        .await;
    let body = crate::helpers::expect_error(
        response,
        reqwest::StatusCode::BAD_REQUEST,
        "invalid_request",
        "NUL in a name",
    )
    .await;
    assert!(body.to_string().contains("name"), "{body}");
    let form = [
        ("username", crate::helpers::ADMIN),
        ("password", crate::helpers::ADMIN_PASSWORD),
        ("client_id", "a\u{0}b"),
    ];
    crate::helpers::expect_error(
        app.token_request(&form).await,
        reqwest::StatusCode::BAD_REQUEST,
        "invalid_request",
        "NUL in client_id",
    )
    .await;
}

/// Many item lists at once (which on PostgreSQL share queries): each caller
/// gets their own items, from their own cursor and with their own limit,
/// and a caller with no items an empty page.
#[tokio::test]
async fn concurrent_lists_each_get_their_own_page() {
    let app = TestApp::spawn().await;
    let mut callers = Vec::new();
    for (name, count) in [("ann", 3), ("bob", 5), ("cyd", 0)] {
        let token = app.user_token(name, &BOTH).await;
        for i in 1..=count {
            create_item(&app, &token, json!({"name": format!("{name}-{i}")})).await;
        }
        callers.push((name, token));
    }
    let (_, cursor) = names(&app, "/items?limit=2", &callers[1].1).await;
    let after_two = format!("/items?limit=2&cursor={}", cursor.as_str().unwrap());
    // (caller, path, the names expected)
    let asks: Vec<(usize, String, Vec<String>)> = vec![
        (
            0,
            "/items".into(),
            vec!["ann-1".into(), "ann-2".into(), "ann-3".into()],
        ),
        (0, "/items?limit=1".into(), vec!["ann-1".into()]),
        (
            1,
            "/items?limit=2".into(),
            vec!["bob-1".into(), "bob-2".into()],
        ),
        (1, after_two, vec!["bob-3".into(), "bob-4".into()]),
        (
            1,
            "/items".into(),
            (1..=5).map(|i| format!("bob-{i}")).collect(),
        ),
        (2, "/items".into(), vec![]),
    ];

    let client = reqwest::Client::new();
    let mut lists = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (caller, path, expected) = asks[i % asks.len()].clone();
        let request = client
            .get(app.url(&path))
            .bearer_auth(&callers[caller].1)
            .send();
        lists.spawn(async move { (path, expected, request.await.unwrap()) });
    }
    while let Some(done) = lists.join_next().await {
        let (path, expected, response) = done.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page: Value = response.json().await.unwrap();
        let got: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{path}");
    }
}
