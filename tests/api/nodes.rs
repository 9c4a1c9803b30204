//! Several tollgate processes on one database behave as one server: what
//! one node does holds on every other at its next request. On SQLite the
//! nodes share a file on one machine; with `TOLLGATE_TEST_DATABASE_URL` they
//! share a PostgreSQL database, as nodes behind a load balancer would.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, TestDb},
    served::Served,
};

#[tokio::test]
async fn two_server_processes_on_one_database_serve_as_one() {
    let db = TestDb::new().await;
    // Nodes behind one load balancer share one issuer: the balancer's URL.
    let env = [
        ("TOLLGATE_LOG", "info"),
        ("TOLLGATE_ISSUER", "http://tollgate.example.test"),
    ];
    let mut first = Served::start_on(&db.url, &env, &[]);
    let password = first.admin_password().await;
    let a = first.addr().await;
    let mut second = Served::start_on(&db.url, &env, &[]);
    let b = second.addr().await;
    let client = Client::new();

    let login: Value = client
        .post(format!("http://{a}/token"))
        .form(&[("username", ADMIN), ("password", password.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let me = |addr| {
        client
            .get(format!("http://{addr}/users/me"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        me(b).await.unwrap().status(),
        StatusCode::OK,
        "a token from one node works on the other"
    );
    // Both nodes have now checked the token (and may keep what they read).
    assert_eq!(me(a).await.unwrap().status(), StatusCode::OK);
    assert_eq!(me(a).await.unwrap().status(), StatusCode::OK);

    let profile: Value = me(a).await.unwrap().json().await.unwrap();
    let id = profile["id"].as_i64().unwrap();
    let changed = client
        .patch(format!("http://{b}/users/{id}"))
        .bearer_auth(token)
        .json(&json!({"email": "moved@example.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let profile: Value = me(a).await.unwrap().json().await.unwrap();
    assert_eq!(
        profile["email"], "moved@example.test",
        "a change on one node shows on the other at its next request"
    );

    // Item pages likewise: node a lists twice (and may keep the page), node
    // b adds an item, and node a's next list has it.
    let client = &client;
    let items = |addr| async move {
        let page: Value = client
            .get(format!("http://{addr}/items"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["data"].as_array().unwrap().len()
    };
    assert_eq!(items(a).await, 0);
    assert_eq!(items(a).await, 0);
    let created = client
        .post(format!("http://{b}/items"))
        .bearer_auth(token)
        .json(&json!({"name": "made on b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        items(a).await,
        1,
        "an item made on one node lists on the other"
    );

    let logout = client
        .post(format!("http://{b}/users/me/logout-all"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(a).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "logged out on the other node"
    );
}

async fn two_nodes() -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(|config| config.throttle.user_limit = 3).await;
    let b = a.sibling().await;
    (a, b)
}

#[tokio::test]
async fn a_revocation_on_one_node_is_refused_on_the_other_at_the_next_request() {
    let (a, b) = two_nodes().await;
    let login = a.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(b.me_status(&login.access).await, StatusCode::OK);
    // The node that must refuse has the session's row in its cache.
    assert_eq!(a.me_status(&login.access).await, StatusCode::OK);
    assert_eq!(a.me_status(&login.access).await, StatusCode::OK);
    b.post("/token/revoke")
        .form(&[("token", &login.refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(a.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_or_scope_change_on_one_node_ends_tokens_on_the_other() {
    let (a, b) = two_nodes().await;
    let id = a.create_user("moved", PASSWORD, &["read:items"]).await;
    let before = a.login("moved", PASSWORD, None).await;
    assert_eq!(a.me_status(&before.access).await, StatusCode::OK);
    let admin = b.admin_token().await;
    let changed = b
        .send_json(
            reqwest::Method::PATCH,
            &format!("/users/{id}"),
            &admin,
            &json!({"scopes": []}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(a.me_status(&before.access).await, StatusCode::UNAUTHORIZED);

    let token = a.login("moved", PASSWORD, None).await.access;
    let body = json!({"current_password": PASSWORD, "new_password": "moved-on-password-2"});
    let response = b
        .send_json(reqwest::Method::PUT, "/users/me/password", &token, &body)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(a.me_status(&token).await, StatusCode::UNAUTHORIZED);
    a.login("moved", "moved-on-password-2", None).await;
}

#[tokio::test]
async fn a_refresh_rotated_on_one_node_is_spent_on_the_other_and_a_replay_ends_the_session() {
    let (a, b) = two_nodes().await;
    let login = a.login(ADMIN, ADMIN_PASSWORD, None).await;
    let rotated = a.refresh(&login.refresh, None).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let replay = b.refresh(&login.refresh, None).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    // The replay revoked the session everywhere: the newest tokens too.
    let newest = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(
        a.refresh(newest, None).await.status(),
        StatusCode::BAD_REQUEST
    );
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(a.me_status(access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn throttle_counts_add_up_across_nodes() {
    let (a, b) = two_nodes().await;
    for node in [&a, &b, &a] {
        let form = [("username", ADMIN), ("password", "wrong-password-1")];
        assert_eq!(
            node.token_request(&form).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    let form = [("username", ADMIN), ("password", ADMIN_PASSWORD)];
    assert_eq!(
        b.token_request(&form).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn disable(node: &TestApp, token: &str, id: i64) -> StatusCode {
    let body = json!({"disabled": true});
    let path = format!("/users/{id}");
    node.send_json(reqwest::Method::PATCH, &path, token, &body)
        .await
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_to_remove_the_last_admin_leave_one() {
    let (a, b) = two_nodes().await;
    let deputy = a.create_user("deputy", PASSWORD, &["admin"]).await;
    let token_a = a.admin_token().await;
    let token_b = b.login("deputy", PASSWORD, None).await.access;
    let admin = a.get_json("/users/me", &token_a).await["id"]
        .as_i64()
        .unwrap();
    // Each node disables the other admin at the same moment: one must win
    // and the other be refused, whatever the interleaving.
    let (x, y) = tokio::join!(disable(&a, &token_a, deputy), disable(&b, &token_b, admin));
    // The loser is refused by the last-admin rule (409) or, if the winner
    // committed before its bearer check, as a disabled admin (401).
    let mut statuses = [x, y];
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
    assert!(
        [StatusCode::CONFLICT, StatusCode::UNAUTHORIZED].contains(&statuses[1]),
        "{statuses:?}"
    );
    let mut enabled = 0;
    for id in [admin, deputy] {
        enabled += usize::from(!a.store().users().get(id).await.unwrap().unwrap().disabled);
    }
    assert_eq!(enabled, 1);
}
