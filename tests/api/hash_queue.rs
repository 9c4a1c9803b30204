//! The hasher's queue is bounded: past `TOLLGATE_HASH_QUEUE` waiting jobs,
//! `POST /token` answers 503 at once instead of queueing without end.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, error_of, header};

#[tokio::test]
async fn logins_past_the_queue_bound_are_answered_503_with_retry_after_at_once() {
    // A cost where one verify takes tens of milliseconds, and no waiting place.
    let app = TestApp::spawn_with(|config| {
        config.bcrypt_cost = 10;
        config.hash_queue = 0;
    })
    .await;
    app.state.auth.hasher.warm_up().await.unwrap();
    // Far more attempts at once than there are cores to verify them.
    let attempts = tollgate::auth::password::Hasher::default_concurrency() * 4 + 8;
    let attempts = (0..attempts).map(|i| {
        let client = app.client.clone();
        let url = app.url("/token");
        async move {
            let name = format!("nobody-{i}");
            let form = [
                ("username", name.as_str()),
                ("password", "wrong-password-1"),
            ];
            let started = Instant::now();
            let response = client.post(url).form(&form).send().await.unwrap();
            let retry_after = header(&response, "retry-after");
            let (status, code, _) = error_of(response).await;
            (status, code, retry_after, started.elapsed())
        }
    });
    let outcomes = join_all(attempts).await;
    let mut refused = 0;
    for (status, code, retry_after, _) in &outcomes {
        match status.as_u16() {
            400 => assert_eq!(code, "invalid_grant"),
            503 => {
                assert_eq!(code, "unavailable");
                assert!(retry_after.parse::<u64>().unwrap() >= 1);
                refused += 1;
            }
            other => panic!("unexpected {other}: {code}"),
        }
    }
    assert!(refused > 0, "nothing was refused: {outcomes:?}");
    assert!(refused < outcomes.len(), "everything was refused");
    // A refusal does not wait for the queue: it is faster than the slowest answer.
    let slowest = outcomes.iter().map(|o| o.3).max().unwrap();
    let fastest_refusal = outcomes
        .iter()
        .filter(|o| o.0 == StatusCode::SERVICE_UNAVAILABLE)
        .map(|o| o.3)
        .min()
        .unwrap();
    assert!(fastest_refusal < slowest, "{outcomes:?}");

    // Once the storm is over, logins work again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.login(ADMIN, ADMIN_PASSWORD, None).await;
}

/// Runs the futures concurrently and collects their outputs in order.
async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}
