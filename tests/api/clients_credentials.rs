//! The client credentials grant (RFC 6749 §4.4) and what a client's own
//! token may do.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, error_of, jwt_parts};

#[tokio::test]
async fn a_client_token_names_the_client_and_carries_no_refresh_token_or_session() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client(
            "user-sync",
            &["client_credentials"],
            &["admin", "read:items"],
        )
        .await;
    let body = app.client_token("user-sync", &secret, None).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "read:items admin");
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], "user-sync");
    assert_eq!(claims["client_id"], "user-sync");
    assert!(
        claims.get("sid").is_none() && claims.get("fam").is_none(),
        "{claims}"
    );

    let narrowed = app.client_token("user-sync", &secret, Some("admin")).await;
    assert_eq!(narrowed["scope"], "admin");
}

#[tokio::test]
async fn a_scope_beyond_the_clients_is_invalid_scope() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("reader", &["client_credentials"], &["read:items"])
        .await;
    let response = app
        .token_with_basic(
            "reader",
            &secret,
            &[("grant_type", "client_credentials"), ("scope", "admin")],
        )
        .await;
    let (status, code, _) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
}

#[tokio::test]
async fn a_grant_the_client_may_not_use_is_unauthorized_client() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client("first-party", &["password"], &["read:items"])
        .await;
    let response = app
        .token_with_basic(
            "first-party",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (status, code, _) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
    // The built-in public client has no credentials to grant on.
    let builtin = app
        .token_request(&[("grant_type", "client_credentials")])
        .await;
    let (status, code, _) = error_of(builtin).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn a_client_token_lists_users_with_admin_and_is_refused_on_the_callers_own_things() {
    let app = TestApp::spawn().await;
    let secret = app
        .secret_client(
            "user-sync",
            &["client_credentials"],
            &["admin", "read:items", "write:items"],
        )
        .await;
    let token = app.client_token("user-sync", &secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let users = app.get_as("/users", &token).await;
    assert_eq!(users.status(), StatusCode::OK);
    let page: serde_json::Value = users.json().await.unwrap();
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "admin")
    );

    for path in ["/users/me", "/items", "/items/1"] {
        let response = app.get_as(path, &token).await;
        let (status, code, _) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    let create = app
        .post("/items")
        .bearer_auth(&token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    let logout = app
        .post("/users/me/logout-all")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    // Scope enforcement is unchanged: a token without `admin` is refused.
    let reader = app
        .client_token("user-sync", &secret, Some("read:items"))
        .await;
    let users = app
        .get_as("/users", reader["access_token"].as_str().unwrap())
        .await;
    let (status, code, _) = error_of(users).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
}

#[tokio::test]
async fn a_new_secret_disabling_or_deleting_the_client_ends_its_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let secret = app
        .secret_client("user-sync", &["client_credentials"], &["admin"])
        .await;
    let token = |body: serde_json::Value| body["access_token"].as_str().unwrap().to_owned();
    let first = token(app.client_token("user-sync", &secret, None).await);
    assert_eq!(app.get_as("/users", &first).await.status(), StatusCode::OK);

    let rotated = app
        .post("/clients/user-sync/secret")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let new_secret = rotated.json::<serde_json::Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(
        app.get_as("/users", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let old = app
        .token_with_basic(
            "user-sync",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);

    let second = token(app.client_token("user-sync", &new_secret, None).await);
    assert_eq!(app.get_as("/users", &second).await.status(), StatusCode::OK);
    let disable = app
        .patch("/clients/user-sync")
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), StatusCode::OK);
    assert_eq!(
        app.get_as("/users", &second).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.patch("/clients/user-sync")
        .bearer_auth(&admin)
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();

    let third = token(app.client_token("user-sync", &new_secret, None).await);
    let deleted = app
        .delete("/clients/user-sync")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as("/users", &third).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
