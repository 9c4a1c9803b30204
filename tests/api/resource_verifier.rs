//! The verifier and the guard against an in-process issuer serving RFC 8414
//! metadata and a JWKS of generated keys.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use poem::{
    EndpointExt, Request, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json},
};
use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, SecurityScheme, auth::Bearer};

use tollgate::{
    auth::{
        jwks::{AuthorizationServerMetadata, Jwks, PublicJwk},
        jwt::{AccessClaims, AccessTokens, now},
        keys::{KeyRecord, KeyRing, SigningAlg, generate},
    },
    resource::*,
};

pub const AUDIENCE: &str = "tollgate";

/// What the issuer publishes, and how often its JWKS was fetched.
#[derive(Clone, Default)]
pub struct Published {
    pub issuer: Arc<Mutex<String>>,
    pub keys: Arc<Mutex<Vec<PublicJwk>>>,
    pub fetches: Arc<AtomicUsize>,
    /// When set, the JWKS answers 500.
    pub broken: Arc<std::sync::atomic::AtomicBool>,
    /// When set, the metadata is never answered (the connection stays open).
    pub silent: Arc<std::sync::atomic::AtomicBool>,
    /// Metadata requests left unanswered.
    pub unanswered: Arc<AtomicUsize>,
}

#[handler]
pub async fn metadata(Data(published): Data<&Published>) -> Json<AuthorizationServerMetadata> {
    if published.silent.load(Ordering::SeqCst) {
        published.unanswered.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    let issuer = published.issuer.lock().unwrap().clone();
    Json(AuthorizationServerMetadata::new(
        &issuer,
        SigningAlg::ES256,
        &["read:notes"],
    ))
}

#[handler]
pub fn jwks(Data(published): Data<&Published>) -> poem::Response {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    if published.broken.load(Ordering::SeqCst) {
        return poem::Response::builder()
            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
            .finish();
    }
    let body = Jwks {
        keys: published.keys.lock().unwrap().clone(),
    };
    poem::Response::builder()
        .header("cache-control", "public, max-age=300")
        .content_type("application/json")
        .body(serde_json::to_string(&body).unwrap())
}

/// Serves `endpoint` on 127.0.0.1 at a free port; returns `http://addr`.
pub async fn serve(endpoint: impl poem::Endpoint + 'static) -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
    format!("http://{addr}")
}

/// An issuer publishing `records`' keys; its URL is the tokens' `iss`.
pub async fn issuer(records: &[KeyRecord]) -> (String, Published) {
    let published = Published::default();
    *published.keys.lock().unwrap() = public_keys(records);
    let app = Route::new()
        .at("/.well-known/oauth-authorization-server", get(metadata))
        .at("/.well-known/jwks.json", get(jwks))
        .data(published.clone());
    let url = serve(app).await;
    *published.issuer.lock().unwrap() = url.clone();
    (url, published)
}

pub fn public_keys(records: &[KeyRecord]) -> Vec<PublicJwk> {
    KeyRing::from_records(records, 0, None)
        .unwrap()
        .public_keys()
        .to_vec()
}

pub fn token(
    record: &KeyRecord,
    iss: &str,
    scope: &str,
    change: impl FnOnce(&mut AccessClaims),
) -> String {
    let ring =
        KeyRing::from_records(std::slice::from_ref(record), record.activates_at, None).unwrap();
    let now = now();
    let mut claims = AccessClaims {
        iss: iss.into(),
        aud: AUDIENCE.into(),
        sub: "7".into(),
        exp: now + 60,
        iat: now,
        jti: "j".into(),
        scope: scope.into(),
        client_id: "tollgate".into(),
        ver: 1,
        fam: Some(1),
        sid: Some("s1".into()),
    };
    change(&mut claims);
    AccessTokens::from_ring(ring, iss, AUDIENCE)
        .sign(&claims)
        .unwrap()
}

pub fn record(alg: SigningAlg) -> KeyRecord {
    generate(alg, 0, 0, None).unwrap()
}

#[tokio::test]
async fn verifies_tokens_of_each_algorithm_with_one_fetch_of_the_keys() {
    let records = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA].map(record);
    let (iss, published) = issuer(&records).await;
    let verifier = JwksVerifier::new(&iss, AUDIENCE);
    for record in &records {
        let claims = verifier
            .verify(&token(record, &iss, "read:notes", |_| {}))
            .await
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.scope.as_str()),
            ("7", "read:notes")
        );
    }
    assert_eq!(
        published.fetches.load(Ordering::SeqCst),
        1,
        "max-age=300 is honoured"
    );
}

#[tokio::test]
async fn refuses_other_issuers_audiences_expired_and_unsigned_tokens() {
    let key = record(SigningAlg::ES256);
    let (iss, _) = issuer(std::slice::from_ref(&key)).await;
    let verifier = JwksVerifier::new(&iss, AUDIENCE);
    let verify = |token: String| {
        let verifier = verifier.clone();
        async move { verifier.verify(&token).await.err() }
    };
    let invalid = Some(VerifyError::Token(TokenError::Invalid));
    assert_eq!(
        verify(token(&key, "http://elsewhere", "", |_| {})).await,
        invalid
    );
    assert_eq!(
        verify(token(&key, &iss, "", |c| c.aud = "other".into())).await,
        invalid
    );
    let expired = token(&key, &iss, "", |c| c.exp = now() - 60);
    assert_eq!(
        verify(expired).await,
        Some(VerifyError::Token(TokenError::Expired))
    );
    let good = token(&key, &iss, "", |_| {});
    let unsigned = format!("{}.", good.rsplit_once('.').unwrap().0);
    assert_eq!(verify(unsigned).await, invalid);
    assert_eq!(verify("garbage".into()).await, invalid);
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_at_most_once_per_interval() {
    let old = record(SigningAlg::EdDSA);
    let (iss, published) = issuer(std::slice::from_ref(&old)).await;
    let policy = CachePolicy {
        min_refetch: std::time::Duration::from_millis(300),
        ..CachePolicy::default()
    };
    let verifier = JwksVerifier::with_policy(&iss, AUDIENCE, policy);
    let verify = |key: &KeyRecord| {
        let (verifier, token) = (verifier.clone(), token(key, &iss, "", |_| {}));
        async move { verifier.verify(&token).await.err() }
    };
    let fetches = || published.fetches.load(Ordering::SeqCst);
    assert_eq!(verify(&old).await, None);

    // A rotation: the issuer publishes a new key, a token names it. Right
    // after a fetch it is not fetched again; past the interval it is.
    let new = record(SigningAlg::EdDSA);
    *published.keys.lock().unwrap() = public_keys(&[old.clone(), new.clone()]);
    let invalid = Some(VerifyError::Token(TokenError::Invalid));
    assert_eq!((verify(&new).await, fetches()), (invalid, 1));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!((verify(&new).await, fetches()), (None, 2));

    // Tokens naming keys nobody publishes do not make it fetch again.
    for _ in 0..5 {
        assert_eq!(verify(&record(SigningAlg::EdDSA)).await, invalid);
    }
    assert_eq!(fetches(), 2);
    assert_eq!(verify(&old).await, None, "the old key still verifies");
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_keys_already_held() {
    let key = record(SigningAlg::ES256);
    let (iss, published) = issuer(std::slice::from_ref(&key)).await;
    let short = std::time::Duration::from_millis(200);
    let policy = CachePolicy {
        min_refetch: short,
        default_max_age: short,
        max_max_age: short,
        plain_http: false,
    };
    let verifier = JwksVerifier::with_policy(&iss, AUDIENCE, policy);
    let token = token(&key, &iss, "", |_| {});
    assert!(verifier.verify(&token).await.is_ok());
    published.broken.store(true, Ordering::SeqCst);
    tokio::time::sleep(short * 2).await;
    assert!(
        verifier.verify(&token).await.is_ok(),
        "stale keys still verify"
    );
    assert!(verifier.verify(&token).await.is_ok());
    // The retry runs in the background; once it has failed, the held keys
    // still verify and no further fetch is made within the interval.
    let fetches = || published.fetches.load(Ordering::SeqCst);
    tokio::time::timeout(crate::served::PATIENCE, async {
        while fetches() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the expired keys are refetched");
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(fetches(), 2, "one retry per interval");
}

#[tokio::test]
async fn metadata_for_another_issuer_is_not_trusted() {
    let key = record(SigningAlg::ES256);
    let (iss, published) = issuer(std::slice::from_ref(&key)).await;
    *published.issuer.lock().unwrap() = "https://impostor.example".into();
    let verifier = JwksVerifier::new(&iss, AUDIENCE);
    let refused = verifier.verify(&token(&key, &iss, "", |_| {})).await;
    assert_eq!(refused.err(), Some(VerifyError::KeysUnavailable));
    assert_eq!(published.fetches.load(Ordering::SeqCst), 0);
}

#[derive(Debug, Clone, Copy, OAuthScopes)]
pub enum NoteScope {
    /// Read notes.
    #[oai(rename = "read:notes")]
    Read,
}

#[derive(SecurityScheme)]
#[oai(
    ty = "oauth2",
    flows(password(token_url = "http://127.0.0.1:8000/token", scopes = "NoteScope")),
    checker = "checker"
)]
pub struct NoteAuth(pub Principal);

async fn checker(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    check(req, bearer).await
}

pub struct NotesApi;

#[OpenApi]
impl NotesApi {
    #[oai(path = "/notes/:id", method = "get")]
    async fn note(
        &self,
        id: poem_openapi::param::Path<i64>,
        #[oai(scope = "NoteScope::Read")] auth: NoteAuth,
    ) -> poem_openapi::payload::PlainText<String> {
        poem_openapi::payload::PlainText(format!("note {} for {}", id.0, auth.0.subject))
    }
}

#[tokio::test]
async fn the_guard_enforces_the_declared_scope_with_rfc_6750_answers() {
    let key = record(SigningAlg::ES256);
    let (iss, _) = issuer(std::slice::from_ref(&key)).await;
    let guard = ResourceGuard::new::<NotesApi>(JwksVerifier::new(&iss, AUDIENCE), "notes");
    assert_eq!(
        guard
            .scopes()
            .needed(&poem::http::Method::GET, "/notes/:param0"),
        Some(&["read:notes".to_owned()][..])
    );
    let service = OpenApiService::new(NotesApi, "notes", "1");
    let base = serve(Route::new().nest("/", service).with(guard)).await;
    let client = reqwest::Client::new();
    let get = |token: Option<String>, query: &'static str| {
        let mut request = client.get(format!("{base}/notes/3{query}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            (status, challenge, response.text().await.unwrap())
        }
    };

    let (status, challenge, body) = get(None, "").await;
    assert_eq!(
        (status, challenge.as_deref()),
        (401, Some(r#"Bearer realm="notes""#))
    );
    assert!(body.contains(r#""error":"unauthorized""#), "{body}");

    let (status, challenge, body) = get(Some("not.a.token".into()), "").await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="notes", error="invalid_token", error_description="the access token is not valid""#
        )
    );
    assert!(body.contains(r#""error":"invalid_token""#), "{body}");

    let (status, challenge, body) = get(Some(token(&key, &iss, "read:items", |_| {})), "").await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="notes", error="insufficient_scope", scope="read:notes""#)
    );
    assert!(body.contains(r#""error":"insufficient_scope""#), "{body}");

    let good = token(&key, &iss, "read:items read:notes", |_| {});
    let (status, _, body) = get(Some(good.clone()), "").await;
    assert_eq!((status, body.as_str()), (200, "note 3 for 7"));

    let (status, _, body) = get(Some(good), "?access_token=x").await;
    assert_eq!(status, 400);
    assert!(body.contains(r#""error":"invalid_request""#), "{body}");
}
