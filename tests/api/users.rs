//! `/users/me` and the admin endpoints under `/users`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{ADMIN, PASSWORD, TestApp, expect_error, header};

fn is_rfc3339_utc(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .is_ok_and(|t| t.offset().is_utc())
}

#[tokio::test]
async fn users_me_shows_the_caller_without_secrets() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let me = app.get_json("/users/me", &token).await;
    assert_eq!(me["username"], ADMIN);
    // The first admin holds every scope the enum declares.
    assert_eq!(me["scopes"], json!(ScopeSet::all().names()));
    assert_eq!(me["disabled"], false);
    assert!(me["email"].is_null() && me["full_name"].is_null(), "{me}");
    assert!(
        me["id"].is_i64() && is_rfc3339_utc(&me["created_at"]),
        "{me}"
    );
    assert!(
        me.get("password_hash").is_none() && !me.to_string().contains("$2"),
        "{me}"
    );
}

#[tokio::test]
async fn an_admin_creates_a_user_and_reads_it_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({
        "username": "alice",
        "password": PASSWORD,
        "email": "alice@example.org",
        "full_name": "Alice Liddell",
        "scopes": ["write:items", "read:items"],
    });
    let response = app.send_json(Method::POST, "/users", &admin, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(&response, "location");
    let created: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/users/{}", created["id"]));
    assert_eq!(created["scopes"], json!(["read:items", "write:items"]));
    assert_eq!(created["email"], "alice@example.org");
    assert_eq!(created["full_name"], "Alice Liddell");
    assert!(created.get("password").is_none(), "{created}");
    assert_eq!(app.get_json(&location, &admin).await, created);
    let tokens = app.login("alice", PASSWORD, None).await;
    assert_eq!(tokens.scope, "read:items write:items");
}

#[tokio::test]
async fn a_user_created_without_scopes_holds_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({"username": "plain", "password": PASSWORD});
    let created: Value = app
        .send_json(Method::POST, "/users", &admin, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["scopes"], json!([]));
}

#[tokio::test]
async fn an_unknown_user_id_is_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let requests = [
        app.get("/users/9999"),
        app.patch("/users/9999").json(&json!({"full_name": "x"})),
        app.delete("/users/9999"),
    ];
    for request in requests {
        expect_error(
            request.bearer_auth(&admin).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
            "",
        )
        .await;
    }
}

#[tokio::test]
async fn a_username_taken_in_any_case_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.create_user("Carol", PASSWORD, &[]).await;
    let admin = app.admin_token().await;
    for name in ["Carol", "carol", "CAROL", "Admin"] {
        let body = json!({"username": name, "password": PASSWORD});
        let response = app.send_json(Method::POST, "/users", &admin, &body).await;
        expect_error(response, StatusCode::CONFLICT, "conflict", &name).await;
    }
}

#[tokio::test]
async fn login_matches_the_username_without_regard_to_case() {
    let app = TestApp::spawn().await;
    app.create_user("Carol", PASSWORD, &["read:items"]).await;
    let tokens = app.login("cAROL", PASSWORD, None).await;
    let me = app.get_json("/users/me", &tokens.access).await;
    assert_eq!(me["username"], "Carol");
}

#[tokio::test]
async fn invalid_user_fields_are_invalid_request_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let cases = [
        ("username", json!({"username": "a b", "password": PASSWORD})),
        ("username", json!({"username": "ab", "password": PASSWORD})),
        (
            "email",
            json!({"username": "erin", "password": PASSWORD, "email": "not-an-email"}),
        ),
    ];
    for (field, body) in cases {
        let response = app.send_json(Method::POST, "/users", &admin, &body).await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", &body).await;
        assert!(
            error["error_description"].as_str().unwrap().contains(field),
            "{field}: {error}"
        );
    }
}

#[tokio::test]
async fn a_missing_field_or_an_unknown_scope_is_invalid_request() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let cases = [
        json!({"username": "erin"}),
        json!({"password": PASSWORD}),
        json!({"username": "erin", "password": PASSWORD, "scopes": ["root"]}),
        json!({"username": "erin", "password": PASSWORD, "scopes": ["read:items admin"]}),
    ];
    for body in cases {
        let response = app.send_json(Method::POST, "/users", &admin, &body).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", &body).await;
    }
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_null_clears() {
    let app = TestApp::spawn().await;
    let id = app.create_user("frank", PASSWORD, &["read:items"]).await;
    let admin = app.admin_token().await;
    let path = format!("/users/{id}");
    let patch = |body: Value| app.patch(&path).bearer_auth(&admin).json(&body).send();

    let set: Value = patch(json!({"email": "f@example.org", "full_name": "Frank"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&set["email"], &set["full_name"]),
        (&json!("f@example.org"), &json!("Frank"))
    );
    assert_eq!(set["scopes"], json!(["read:items"]));
    let cleared: Value = patch(json!({"email": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(cleared["email"].is_null());
    assert_eq!(cleared["full_name"], "Frank");

    expect_error(
        patch(json!({"scopes": ["root"]})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_user_deletes_their_items() {
    let app = TestApp::spawn().await;
    let token = app
        .user_token("owner", &["read:items", "write:items"])
        .await;
    for name in ["one", "two"] {
        let created = app
            .send_json(Method::POST, "/items", &token, &json!({"name": name}))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let me = app.get_json("/users/me", &token).await;
    let id = me["id"].as_i64().unwrap();
    let pool = app.sql().await;
    let count = || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM items WHERE owner_id = $1")
            .bind(id)
            .fetch_one(&pool)
    };
    assert_eq!(count().await.unwrap(), 2);
    let admin = app.admin_token().await;
    let deleted = app
        .delete(&format!("/users/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(count().await.unwrap(), 0);
    let again = app.get_as(&format!("/users/{id}"), &admin).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}
