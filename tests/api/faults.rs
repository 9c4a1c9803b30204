//! The several-nodes promise (docs/decisions.md, "Several nodes"): once a
//! revocation is answered 2xx by any node, every request sent afterwards to
//! any node is refused with those tokens, also when the revocation is sent
//! twice or to two nodes at once, and through faults: a node's connections
//! paused, half-open or terminated, the server paused. A node may answer 503
//! during a fault, never 200. Every assertion here is on a request sent
//! after the revoking answer.
//!
//! The first two run on either engine (on SQLite the nodes share one file);
//! the fault tests need PostgreSQL and are ignored without it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::{
    helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, tollgate_command},
    pg::{Bouncer, Cluster, Relay, port_of, require_postgres},
};

/// What a node may answer, after the revocation, to a request with the
/// revoked token: refused, or unavailable during a fault. Never 200.
fn refused_or_unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
    )
}

/// The status of `GET /users/me` on `node`, failing the test if the node
/// takes longer than any of its deadlines allow (a hang).
async fn me(node: &TestApp, token: &str) -> StatusCode {
    tokio::time::timeout(Duration::from_secs(30), node.me_status(token))
        .await
        .expect("the node answered within 30 s")
}

/// Asks `node` until it refuses `token` with 401; every answer on the way
/// must be a refusal or a 503.
async fn until_refused(node: &TestApp, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = me(node, token).await;
        assert!(refused_or_unavailable(status), "stale answer: {status}");
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert!(Instant::now() < deadline, "still 503 after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn revoke(node: &TestApp, refresh: &str) -> StatusCode {
    node.post("/token/revoke")
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap()
        .status()
}

/// Three nodes that have each just served a token (and could keep what
/// they read) refuse it at once once any of them has answered its
/// revocation, including the second, duplicate answer and two revocations
/// of one session sent to two nodes at once.
#[tokio::test]
async fn duplicate_and_concurrent_revocations_are_refused_on_every_node() {
    let a = TestApp::spawn().await;
    let nodes = [a.sibling().await, a.sibling().await];
    let (b, c) = (&nodes[0], &nodes[1]);
    let all = [&a, b, c];

    for _ in 0..5 {
        // Sent twice, one after the other: each answer holds.
        let tokens = a.login(ADMIN, ADMIN_PASSWORD, None).await;
        for node in all {
            assert_eq!(me(node, &tokens.access).await, StatusCode::OK);
        }
        for (first, second) in [(&a, b), (b, c)] {
            assert_eq!(revoke(first, &tokens.refresh).await, StatusCode::OK);
            for node in all {
                assert_eq!(me(node, &tokens.access).await, StatusCode::UNAUTHORIZED);
            }
            assert_eq!(revoke(second, &tokens.refresh).await, StatusCode::OK);
            for node in all {
                assert_eq!(me(node, &tokens.access).await, StatusCode::UNAUTHORIZED);
            }
        }

        // Sent to two nodes at once: whichever answers first, every node
        // refuses from then on.
        let tokens = a.login(ADMIN, ADMIN_PASSWORD, None).await;
        for node in all {
            assert_eq!(me(node, &tokens.access).await, StatusCode::OK);
        }
        let check_after = |node: &'static str, status: StatusCode| {
            assert_eq!(status, StatusCode::OK, "revocation on {node}");
        };
        let on_b = async {
            check_after("b", revoke(b, &tokens.refresh).await);
            for node in all {
                assert_eq!(me(node, &tokens.access).await, StatusCode::UNAUTHORIZED);
            }
        };
        let on_c = async {
            check_after("c", revoke(c, &tokens.refresh).await);
            for node in all {
                assert_eq!(me(node, &tokens.access).await, StatusCode::UNAUTHORIZED);
            }
        };
        tokio::join!(on_b, on_c);
    }
}

/// Every way to end a session, made on one node or by the CLI, holds on the
/// others at their next request.
#[tokio::test]
async fn every_kind_of_revocation_holds_on_the_other_nodes() {
    let a = TestApp::spawn().await;
    let b = a.sibling().await;
    let admin = a.admin_token().await;
    let id = a.create_user("casey", PASSWORD, &["read:items"]).await;
    let (ra, rb) = (&a, &b);
    let token = move || async move { ra.login("casey", PASSWORD, None).await };
    let check = move |t: String| async move {
        assert_eq!(me(rb, &t).await, StatusCode::UNAUTHORIZED);
        assert_eq!(me(ra, &t).await, StatusCode::UNAUTHORIZED);
    };

    let t = token().await;
    assert_eq!(me(&b, &t.access).await, StatusCode::OK);
    let out = a
        .post("/users/me/logout-all")
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    check(t.access).await;

    let t = token().await;
    assert_eq!(me(&b, &t.access).await, StatusCode::OK);
    assert_eq!(a.refresh(&t.refresh, None).await.status(), StatusCode::OK);
    // The spent refresh token again: its whole family ends.
    assert_eq!(
        a.refresh(&t.refresh, None).await.status(),
        StatusCode::BAD_REQUEST
    );
    check(t.access).await;

    let t = token().await;
    assert_eq!(me(&b, &t.access).await, StatusCode::OK);
    let output = tollgate_command(a.database_url())
        .args(["sessions", "revoke", "--user", "casey"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    check(t.access).await;

    let t = token().await;
    assert_eq!(me(&b, &t.access).await, StatusCode::OK);
    let output = tollgate_command(a.database_url())
        .args(["user", "disable", "casey"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    check(t.access).await;
    let enabled = a
        .patch(&format!("/users/{id}"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);

    let t = token().await;
    assert_eq!(me(&b, &t.access).await, StatusCode::OK);
    let deleted = a
        .delete(&format!("/users/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    check(t.access).await;
}

/// Node `b` reaches the database through a relay; `fault` breaks its
/// connections; a revocation is answered on `a`; from then on `b` never
/// answers 200 with the token, and refuses it once it can reach the
/// database again (`heal`).
async fn revocation_holds_through(fault: impl Fn(&Relay), heal: impl Fn(&Relay)) {
    let url = require_postgres();
    let a = TestApp::spawn().await;
    let relay = Relay::start(port_of(&url)).await;
    let b = a.node_via(&relay.url(a.database_url())).await;
    let tokens = a.login(ADMIN, ADMIN_PASSWORD, None).await;
    let other = a.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(me(&b, &tokens.access).await, StatusCode::OK);
    assert_eq!(me(&b, &tokens.access).await, StatusCode::OK);

    fault(&relay);
    assert_eq!(revoke(&a, &tokens.refresh).await, StatusCode::OK);
    for _ in 0..3 {
        let status = me(&b, &tokens.access).await;
        assert!(refused_or_unavailable(status), "stale answer: {status}");
    }
    heal(&relay);
    until_refused(&b, &tokens.access).await;
    // And b serves again: the other session still works there.
    let deadline = Instant::now() + Duration::from_secs(30);
    while me(&b, &other.access).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "b did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_node_whose_connections_are_paused_never_answers_stale() {
    revocation_holds_through(|relay| relay.freeze(true), |relay| relay.freeze(false)).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_node_whose_connections_are_half_open_never_answers_stale() {
    revocation_holds_through(Relay::cut, |_| {}).await;
}

/// Every connection of both nodes is ended by the server
/// (`pg_terminate_backend`), as a restart or an administrator would.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn terminated_backends_cost_no_stale_answer() {
    require_postgres();
    let a = TestApp::spawn().await;
    let b = a.sibling().await;
    let sql = a.sql().await;
    for _ in 0..3 {
        let tokens = a.login(ADMIN, ADMIN_PASSWORD, None).await;
        assert_eq!(me(&b, &tokens.access).await, StatusCode::OK);
        let ended: i64 = sqlx::query_scalar(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'tollgate'
               AND pid <> pg_backend_pid()",
        )
        .fetch_one(&sql)
        .await
        .unwrap();
        assert!(ended > 0, "no backend to end");
        let status = revoke(&a, &tokens.refresh).await;
        assert!(
            matches!(status, StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE),
            "{status}"
        );
        if status == StatusCode::OK {
            assert!(refused_or_unavailable(me(&b, &tokens.access).await));
            until_refused(&b, &tokens.access).await;
            until_refused(&a, &tokens.access).await;
        }
    }
}

/// The whole server paused (SIGSTOP) and resumed: requests meanwhile answer
/// 503 within the deadlines, a revocation is never answered 200 unless it
/// holds, and once the server runs again the revoked token is refused.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_paused_server_costs_503s_never_a_stale_answer() {
    require_postgres();
    let cluster = Cluster::start();
    let a = TestApp::spawn_on(&cluster.url()).await;
    let b = a.sibling().await;
    let tokens = a.login(ADMIN, ADMIN_PASSWORD, None).await;
    let first = a.login(ADMIN, ADMIN_PASSWORD, None).await;
    assert_eq!(revoke(&a, &first.refresh).await, StatusCode::OK);
    assert_eq!(me(&b, &tokens.access).await, StatusCode::OK);

    cluster.signal("STOP");
    let status = me(&b, &first.access).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let status = me(&b, &tokens.access).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let revoking = tokio::time::timeout(Duration::from_secs(30), revoke(&a, &tokens.refresh))
        .await
        .expect("the revocation answered within 30 s");
    assert_eq!(revoking, StatusCode::SERVICE_UNAVAILABLE);
    cluster.signal("CONT");

    until_refused(&b, &first.access).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while revoke(&a, &tokens.refresh).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(me(&b, &tokens.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&a, &tokens.access).await, StatusCode::UNAUTHORIZED);
}

/// Two nodes behind PgBouncer in session pooling keep the promise, with
/// the lock timeout honoured (set after connecting, which PgBouncer passes
/// on, not as a startup parameter, which it refuses).
#[tokio::test]
#[ignore = "needs PostgreSQL and PgBouncer"]
async fn two_nodes_behind_pgbouncer_in_session_pooling_keep_the_promise() {
    let url = require_postgres();
    let bouncer = Bouncer::start(port_of(&url), "session");
    let direct = TestApp::spawn().await;
    let a = direct.node_via(&bouncer.url(direct.database_url())).await;
    let b = direct.node_via(&bouncer.url(direct.database_url())).await;
    for _ in 0..5 {
        let tokens = a.login(ADMIN, ADMIN_PASSWORD, None).await;
        assert_eq!(me(&b, &tokens.access).await, StatusCode::OK);
        assert_eq!(revoke(&b, &tokens.refresh).await, StatusCode::OK);
        assert_eq!(me(&a, &tokens.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(me(&b, &tokens.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(revoke(&a, &tokens.refresh).await, StatusCode::OK);
        assert_eq!(me(&b, &tokens.access).await, StatusCode::UNAUTHORIZED);
    }
    for (name, value) in [("lock_timeout", "5s"), ("statement_timeout", "10s")] {
        let set = a.store().setting(name).await.unwrap();
        assert_eq!(set.as_deref(), Some(value), "{name} through PgBouncer");
    }
}

/// In transaction pooling tollgate refuses to start, with one line that
/// names it and what to use instead.
#[tokio::test]
#[ignore = "needs PostgreSQL and PgBouncer"]
async fn transaction_pooling_is_refused_at_start_in_one_line() {
    let url = require_postgres();
    let bouncer = Bouncer::start(port_of(&url), "transaction");
    let output = tollgate_command(&bouncer.url(&url))
        .arg("migrate")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("transaction pooling"), "{stderr}");
    assert!(stderr.contains("pool_mode = session"), "{stderr}");
    assert!(!stderr.contains(":tollgate@"), "no password: {stderr}");
}
