//! The verifier when the issuer is slow, down or out of reach: held keys
//! keep verifying, no keys is 503 (never a refused token), and keys come
//! only over HTTPS or loopback, without redirects.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use poem::{EndpointExt, Route, get, handler, http::StatusCode, web::Redirect};
use poem_openapi::OpenApiService;

use tollgate::{auth::keys::SigningAlg, resource::*};

use crate::{
    resource_verifier::{
        AUDIENCE, NotesApi, Published, issuer, jwks, metadata, public_keys, record, serve, token,
    },
    served::PATIENCE,
};

/// Fails a hang, not a slow machine: a verify with held keys takes
/// microseconds, a fetch from the silent issuer 5 s (the fetch timeout).
const NO_FETCH_WAIT: Duration = Duration::from_secs(3);

fn short_policy(interval: Duration) -> CachePolicy {
    CachePolicy {
        min_refetch: interval,
        default_max_age: interval,
        max_max_age: interval,
        ..CachePolicy::default()
    }
}

async fn until(what: &str, done: impl Fn() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"));
}

#[tokio::test]
async fn held_keys_keep_verifying_while_a_silent_issuer_is_asked_for_new_ones() {
    let key = record(SigningAlg::ES256);
    let (iss, published) = issuer(std::slice::from_ref(&key)).await;
    let interval = Duration::from_millis(200);
    let verifier = JwksVerifier::with_policy(&iss, AUDIENCE, short_policy(interval));
    let token = token(&key, &iss, "", |_| {});
    assert!(verifier.verify(&token).await.is_ok());

    // The issuer now accepts connections and never answers; the keys expire.
    published.silent.store(true, Ordering::SeqCst);
    tokio::time::sleep(interval * 2).await;
    let verified = tokio::time::timeout(NO_FETCH_WAIT, async {
        let started = Instant::now();
        while started.elapsed() < interval * 2 {
            verifier.verify(&token).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<_, VerifyError>(())
    })
    .await;
    assert_eq!(
        verified,
        Ok(Ok(())),
        "requests waited on the refresh, or failed"
    );
    until("the expired keys are asked for again", || {
        published.unanswered.load(Ordering::SeqCst) > 0
    })
    .await;
    assert_eq!(
        published.unanswered.load(Ordering::SeqCst),
        1,
        "one refresh at a time"
    );
}

#[tokio::test]
async fn a_fetch_for_an_unknown_kid_holds_up_no_token_whose_key_is_held() {
    let held = record(SigningAlg::EdDSA);
    let (iss, published) = issuer(std::slice::from_ref(&held)).await;
    let policy = CachePolicy {
        min_refetch: Duration::from_millis(100),
        ..CachePolicy::default()
    };
    let verifier = JwksVerifier::with_policy(&iss, AUDIENCE, policy);
    let known = token(&held, &iss, "", |_| {});
    assert!(verifier.verify(&known).await.is_ok());
    published.silent.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;

    let unknown = token(&record(SigningAlg::EdDSA), &iss, "", |_| {});
    let waiting = tokio::spawn({
        let verifier = verifier.clone();
        async move { verifier.verify(&unknown).await }
    });
    until("the unknown kid makes it fetch", || {
        published.unanswered.load(Ordering::SeqCst) == 1
    })
    .await;
    let verified = tokio::time::timeout(NO_FETCH_WAIT, verifier.verify(&known)).await;
    assert!(matches!(verified, Ok(Ok(_))), "{verified:?}");
    assert!(!waiting.is_finished(), "the unknown kid waits on its fetch");
    waiting.abort();
}

#[tokio::test]
async fn without_keys_and_with_the_issuer_down_every_request_is_503_never_401() {
    // An address nothing listens on: every fetch is refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let iss = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let key = record(SigningAlg::ES256);
    let interval = Duration::from_millis(200);
    let verifier = JwksVerifier::with_policy(&iss, AUDIENCE, short_policy(interval));
    let guard = ResourceGuard::new::<NotesApi>(verifier, "notes");
    let service = OpenApiService::new(NotesApi, "notes", "1");
    let base = serve(Route::new().nest("/", service).with(guard)).await;
    let client = reqwest::Client::new();
    let good = token(&key, &iss, "read:notes", |_| {});

    // Within the interval and past it, first request and later ones alike.
    for attempt in 0..8 {
        let response = client
            .get(format!("{base}/notes/1"))
            .bearer_auth(&good)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let retry_after = response.headers().get("retry-after").cloned();
        let body = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}: {body}"
        );
        assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
        assert!(
            body.contains(r#""error":"temporarily_unavailable""#),
            "{body}"
        );
        tokio::time::sleep(interval / 3).await;
    }
}

#[tokio::test]
async fn plain_http_to_a_host_other_than_loopback_is_refused_unless_allowed() {
    let key = record(SigningAlg::ES256);
    let (loopback, published) = issuer(std::slice::from_ref(&key)).await;
    // 0.0.0.0 reaches this host, but it is not a loopback address.
    let iss = loopback.replace("127.0.0.1", "0.0.0.0");
    *published.issuer.lock().unwrap() = iss.clone();
    let token = token(&key, &iss, "", |_| {});

    let refused = JwksVerifier::new(&iss, AUDIENCE).verify(&token).await;
    assert_eq!(refused.err(), Some(VerifyError::KeysUnavailable));
    assert_eq!(published.fetches.load(Ordering::SeqCst), 0);

    let policy = CachePolicy::default().allow_plain_http(true);
    let allowed = JwksVerifier::with_policy(&iss, AUDIENCE, policy);
    assert!(allowed.verify(&token).await.is_ok());
    assert_eq!(published.fetches.load(Ordering::SeqCst), 1);
}

#[handler]
fn moved() -> Redirect {
    Redirect::temporary("/elsewhere/metadata")
}

#[tokio::test]
async fn a_redirect_from_the_issuer_is_not_followed() {
    let key = record(SigningAlg::ES256);
    let published = Published::default();
    *published.keys.lock().unwrap() = public_keys(std::slice::from_ref(&key));
    let app = Route::new()
        .at("/.well-known/oauth-authorization-server", get(moved))
        .at("/elsewhere/metadata", get(metadata))
        .at("/.well-known/jwks.json", get(jwks))
        .data(published.clone());
    let iss = serve(app).await;
    *published.issuer.lock().unwrap() = iss.clone();

    let verifier = JwksVerifier::new(&iss, AUDIENCE);
    let refused = verifier.verify(&token(&key, &iss, "", |_| {})).await;
    assert_eq!(refused.err(), Some(VerifyError::KeysUnavailable));
    assert_eq!(published.fetches.load(Ordering::SeqCst), 0);
}
