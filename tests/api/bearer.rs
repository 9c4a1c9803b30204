//! Access tokens: their format, forged and broken ones, the RFC 6750
//! challenges, and where a token may be sent.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{
    ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, challenge, error_of, expect_error, jwt_parts,
};

const SECRET: &str = "a-test-signing-secret-of-more-than-32-bytes";

async fn app_with_known_secret() -> TestApp {
    TestApp::spawn_with(|config| {
        config.jwt_secret = Some(SecretString::from(SECRET));
        config.jwt_alg = tollgate::auth::keys::SigningAlg::HS256;
    })
    .await
}

/// Signs `claims` as tollgate would, with `alg`, `typ` and `key` changed at will.
fn sign(alg: Algorithm, typ: &str, kid: &Value, key: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.typ = Some(typ.to_owned());
    header.kid = kid.as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

/// `GET /users/me` with this bearer token.
async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.get_as("/users/me", token).await
}

#[tokio::test]
async fn forged_and_broken_tokens_are_invalid_token() {
    let app = app_with_known_secret().await;
    let real = app.admin_token().await;
    let (head, claims) = jwt_parts(&real);
    let kid = &head["kid"];
    let now = claims["iat"].as_i64().unwrap();

    // The control: re-signed exactly as issued, the forgery machinery yields a working token.
    let control = sign(Algorithm::HS256, "at+jwt", kid, SECRET, &claims);
    assert_eq!(me(&app, &control).await.status(), StatusCode::OK);

    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered_payload = URL_SAFE_NO_PAD.encode(with(&claims, "sub", json!("999")).to_string());
    let mut parts = real.split('.');
    let (real_head, _, real_sig) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());

    let forgeries = [
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "wrong key",
            sign(
                Algorithm::HS256,
                "at+jwt",
                kid,
                "another-secret-of-more-than-32-bytes!!",
                &claims,
            ),
        ),
        (
            "other algorithm",
            sign(Algorithm::HS512, "at+jwt", kid, SECRET, &claims),
        ),
        (
            "typ JWT",
            sign(Algorithm::HS256, "JWT", kid, SECRET, &claims),
        ),
        (
            "expired",
            sign(
                Algorithm::HS256,
                "at+jwt",
                kid,
                SECRET,
                &with(&claims, "exp", json!(now - 3600)),
            ),
        ),
        (
            "wrong iss",
            sign(
                Algorithm::HS256,
                "at+jwt",
                kid,
                SECRET,
                &with(&claims, "iss", json!("evil")),
            ),
        ),
        (
            "wrong aud",
            sign(
                Algorithm::HS256,
                "at+jwt",
                kid,
                SECRET,
                &with(&claims, "aud", json!("evil")),
            ),
        ),
        (
            "tampered payload",
            format!("{real_head}.{tampered_payload}.{real_sig}"),
        ),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (case, token) in forgeries {
        let response = me(&app, &token).await;
        let header = challenge(&response);
        let body = expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token", &case).await;
        let description = body["error_description"].as_str().unwrap();
        assert_eq!(
            header,
            format!(
                r#"Bearer realm="tollgate", error="invalid_token", error_description="{description}""#
            ),
            "{case}"
        );
    }
}

#[tokio::test]
async fn an_expired_token_is_told_apart_from_a_bad_one() {
    let app = app_with_known_secret().await;
    let (head, claims) = jwt_parts(&app.admin_token().await);
    let old = claims["iat"].as_i64().unwrap() - 3600;
    let expired = sign(
        Algorithm::HS256,
        "at+jwt",
        &head["kid"],
        SECRET,
        &with(&claims, "exp", json!(old)),
    );
    let (_, _, body) = error_of(me(&app, &expired).await).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn no_authorization_header_is_unauthorized_with_a_bare_challenge() {
    let app = TestApp::spawn().await;
    for request in [
        app.get("/users/me"),
        app.get("/items"),
        app.get("/users/me").basic_auth("admin", Some("x")),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(challenge(&response), r#"Bearer realm="tollgate""#);
        expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized", "").await;
    }
}

#[tokio::test]
async fn a_bearer_header_without_a_token_is_invalid_token() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/users/me")
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert!(challenge(&response).contains(r#"error="invalid_token""#));
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token", "").await;
}

#[tokio::test]
async fn the_scheme_name_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = app
            .get("/users/me")
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_as_well_is_invalid_request() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let both = app
        .get(&format!("/users/me?access_token={token}"))
        .bearer_auth(&token);
    let body = expect_error(
        both.send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "",
    )
    .await;
    assert!(!body.to_string().contains(&token));
}

#[tokio::test]
async fn a_token_only_in_the_query_string_is_refused_not_read() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let response = app
        .get(&format!("/users/me?access_token={token}"))
        .send()
        .await
        .unwrap();
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request", "").await;
    assert!(!body.to_string().contains(&token));
    // Where the query is not about a token, a missing header is just that.
    let response = app.get("/users/me?other=1").send().await.unwrap();
    assert_eq!(error_of(response).await.1, "unauthorized");
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_invalid_token() {
    let app = TestApp::spawn().await;
    let token = app.user_token("gone", &["read:items"]).await;
    let id = jwt_parts(&token).1["sub"].as_str().unwrap().to_owned();
    let admin = app.admin_token().await;
    let deleted = app
        .delete(&format!("/users/{id}"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    expect_error(
        me(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "",
    )
    .await;
}

#[tokio::test]
async fn an_access_token_is_an_rfc_9068_jwt() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let (head, claims) = jwt_parts(&first.access);
    assert_eq!(head["typ"], "at+jwt");
    assert_eq!(head["alg"], "RS256", "the default algorithm");
    assert!(
        head["kid"].as_str().is_some_and(|kid| !kid.is_empty()),
        "{head}"
    );

    let me = app.get_json("/users/me", &first.access).await;
    assert_eq!(claims["iss"], format!("http://{}", app.addr));
    assert_eq!(claims["aud"], "tollgate");
    assert_eq!(claims["sub"], me["id"].as_i64().unwrap().to_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["scope"], ScopeSet::all().to_string());
    assert_eq!(claims["client_id"], "tollgate");
    assert!(claims["ver"].is_i64() && claims["fam"].is_i64(), "{claims}");

    let second = jwt_parts(&app.login(ADMIN, ADMIN_PASSWORD, None).await.access).1;
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    assert_ne!(claims["jti"], second["jti"]);
}

/// Many bearer checks at once (which on PostgreSQL share queries): each
/// gets its own user's answer, and a revoked session among them is refused.
#[tokio::test]
async fn concurrent_checks_each_get_their_own_answer() {
    let app = TestApp::spawn().await;
    let mut sessions = Vec::new();
    for name in ["ann", "bob", "cyd"] {
        app.create_user(name, PASSWORD, &["read:items"]).await;
        for _ in 0..2 {
            let login = app.login(name, PASSWORD, None).await;
            sessions.push((name, login));
        }
    }
    let (_, revoked) = &sessions[3];
    let response = app
        .post("/token/revoke")
        .form(&[("token", revoked.refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let url = app.url("/users/me");
    let client = reqwest::Client::new();
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let session = i % sessions.len();
        let (name, login) = &sessions[session];
        let request = client.get(&url).bearer_auth(&login.access).send();
        let name = *name;
        checks.spawn(async move { (session, name, request.await.unwrap()) });
    }
    while let Some(done) = checks.join_next().await {
        let (session, name, response) = done.unwrap();
        if session == 3 {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let me: Value = response.json().await.unwrap();
            assert_eq!(me["username"], name);
        }
    }
}
