//! Tokens other services can verify: each algorithm's tokens verify through
//! the published JWKS with an independent verifier, forgeries are refused,
//! keys rotate and are shared through the database, and private keys are
//! sealed at rest.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tollgate::{auth::keys::SigningAlg, auth::keystore::Rotation, config::Config};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, header, jwt_parts};

fn with_alg(alg: SigningAlg) -> impl FnOnce(&mut Config) {
    move |config| {
        config.jwt_alg = alg;
        config.jwt_secret = (alg == SigningAlg::HS256).then(|| SecretString::from("h".repeat(40)));
    }
}

async fn jwks(app: &TestApp) -> (JwkSet, String) {
    let response = app.get("/.well-known/jwks.json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cache = header(&response, "cache-control");
    (response.json().await.unwrap(), cache)
}

/// Verifies `token` with jsonwebtoken alone, fed the published JWK.
fn verify_independently(app: &TestApp, set: &JwkSet, token: &str) -> Value {
    let head = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set
        .find(head.kid.as_deref().unwrap())
        .expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(head.alg);
    validation.set_issuer(&[app.state.auth.keys.issuer()]);
    validation.set_audience(&["tollgate"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("verifies with the published key")
        .claims
}

#[tokio::test]
async fn each_algorithms_tokens_verify_through_the_published_jwks() {
    for (alg, expected) in [
        (SigningAlg::RS256, Algorithm::RS256),
        (SigningAlg::ES256, Algorithm::ES256),
        (SigningAlg::EdDSA, Algorithm::EdDSA),
    ] {
        let app = TestApp::spawn_with(with_alg(alg)).await;
        let token = app.admin_token().await;
        let (head, _) = jwt_parts(&token);
        assert_eq!(head["alg"], alg.as_str());
        let (set, cache) = jwks(&app).await;
        assert_eq!(cache, "public, max-age=300");
        assert_eq!(set.keys.len(), 1, "{alg}");
        let published = serde_json::to_value(&set.keys[0]).unwrap();
        assert_eq!(published["use"], "sig");
        assert_eq!(published["alg"], alg.as_str());
        assert!(published.get("d").is_none(), "no private part is published");
        let claims = verify_independently(&app, &set, &token);
        assert_eq!(claims["iss"], app.state.auth.keys.issuer());
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, expected);
    }
}

#[tokio::test]
async fn under_hs256_the_jwks_is_empty() {
    let app = TestApp::spawn_with(with_alg(SigningAlg::HS256)).await;
    let (set, _) = jwks(&app).await;
    assert!(set.keys.is_empty());
    let (head, _) = jwt_parts(&app.admin_token().await);
    assert_eq!(head["alg"], "HS256");
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let real = app.admin_token().await;
    let (head, claims) = jwt_parts(&real);
    let (set, _) = jwks(&app).await;
    let public = serde_json::to_value(&set.keys[0]).unwrap();
    // HS256 signed with the public key's bytes, under the real kid.
    let mut forged = Header::new(Algorithm::HS256);
    forged.typ = Some("at+jwt".into());
    forged.kid = head["kid"].as_str().map(str::to_owned);
    for secret in [
        public.to_string().into_bytes(),
        URL_SAFE_NO_PAD
            .decode(public["n"].as_str().unwrap())
            .unwrap(),
    ] {
        let token =
            jsonwebtoken::encode(&forged, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(app.me_status(&token).await, StatusCode::UNAUTHORIZED);
    }
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"alg": "none", "typ": "at+jwt", "kid": head["kid"]}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(app.me_status(&none).await, StatusCode::UNAUTHORIZED);
    // A token of another install: same claims, another key.
    let other = TestApp::spawn_with(|config| config.issuer = app.config.issuer.clone()).await;
    let foreign = other.admin_token().await;
    assert_eq!(app.me_status(&foreign).await, StatusCode::UNAUTHORIZED);
    // Unknown kid.
    let (_, payload) = real.split_once('.').unwrap();
    let unknown = format!(
        "{}.{payload}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "at+jwt", "kid": "nope"}).to_string())
    );
    assert_eq!(app.me_status(&unknown).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me_status(&real).await, StatusCode::OK);
}

fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_rotation_publishes_at_once_signs_after_the_wait_and_prunes_after_the_ttl() {
    let app = TestApp::spawn().await;
    let before = app.admin_token().await;
    let old_kid = kid_of(&before);
    let store = app.store();
    let keys = &app.state.auth.keys;

    let planned = Rotation::Planned {
        max_age: app.config.jwks_max_age,
    };
    tollgate::auth::keystore::rotate(store, SigningAlg::RS256, None, planned)
        .await
        .unwrap();
    keys.reload(store).await.unwrap();
    assert_eq!(
        jwks(&app).await.0.keys.len(),
        2,
        "the next key is published at once"
    );
    assert_eq!(
        kid_of(&app.admin_token().await),
        old_kid,
        "but does not sign yet"
    );

    let urgent = tollgate::auth::keystore::rotate(store, SigningAlg::RS256, None, Rotation::Now)
        .await
        .unwrap();
    keys.reload(store).await.unwrap();
    let after = app.admin_token().await;
    assert_eq!(kid_of(&after), urgent.kid, "--now signs at once");
    assert_eq!(
        app.me_status(&before).await,
        StatusCode::UNAUTHORIZED,
        "the compromised key's tokens are refused"
    );
    assert_eq!(app.me_status(&after).await, StatusCode::OK);

    // Once every token of the retired keys has expired, housekeeping removes them.
    let pool = app.sql().await;
    sqlx::query("UPDATE signing_keys SET retires_at = retires_at - 86400 WHERE kid <> $1")
        .bind(&urgent.kid)
        .execute(&pool)
        .await
        .unwrap();
    tollgate::app::purge(&app.state).await.unwrap();
    keys.reload(store).await.unwrap();
    let (set, _) = jwks(&app).await;
    let kids: Vec<&str> = set
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .collect();
    assert_eq!(kids, [urgent.kid.as_str()]);
}

#[tokio::test]
async fn two_processes_on_one_database_share_the_keys() {
    let app = TestApp::spawn().await;
    let sibling = app.sibling().await;
    let token = app.admin_token().await;
    assert_eq!(sibling.me_status(&token).await, StatusCode::OK);
    assert_eq!(jwks(&app).await.0.keys.len(), 1);
    assert_eq!(kid_of(&sibling.admin_token().await), kid_of(&token));
}

#[tokio::test]
async fn with_a_key_encryption_key_no_private_key_is_stored_in_the_clear() {
    let kek = "a key-encryption key of 32 bytes or more";
    let mut app =
        TestApp::spawn_with(|config| config.key_encryption_key = Some(SecretString::from(kek)))
            .await;
    // The sealed key signs, and its tokens verify.
    let token = app.admin_token().await;
    assert_eq!(app.me_status(&token).await, StatusCode::OK);
    let pool = app.sql().await;
    let rows: Vec<(Vec<u8>, Option<String>)> =
        sqlx::query_as("SELECT private_key, encryption_key_id FROM signing_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    let (sealed, key_id) = &rows[0];
    assert!(key_id.is_some(), "the sealing key is named");
    assert!(
        aws_lc_rs::signature::RsaKeyPair::from_pkcs8(sealed).is_err(),
        "the stored bytes are not a usable private key"
    );

    // Restarting with the wrong key, or none, fails with one clear error.
    let config = app.config.clone();
    app.stop().await;
    for wrong in [
        Some(SecretString::from("another key-encryption key, also long")),
        None,
    ] {
        let mut config = config.clone();
        config.key_encryption_key = wrong;
        config.bind = "127.0.0.1:0".parse().unwrap();
        let err = match tollgate::app::App::build(config).await {
            Ok(_) => panic!("started with a wrong key-encryption key"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains("TOLLGATE_KEY_ENCRYPTION_KEY"), "{err}");
        assert!(!err.contains(kek), "{err}");
    }
}

async fn introspect(app: &TestApp, caller: &str, token: &str) -> Value {
    let response = app
        .post("/token/introspect")
        .bearer_auth(caller)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn introspection_tells_live_tokens_from_everything_else() {
    let app = TestApp::spawn().await;
    let caller = app
        .login(ADMIN, ADMIN_PASSWORD, Some("introspect"))
        .await
        .access;
    let user = app
        .create_user("inspected", crate::helpers::PASSWORD, &["read:items"])
        .await;
    let login = app.login("inspected", crate::helpers::PASSWORD, None).await;

    let live = introspect(&app, &caller, &login.access).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["scope"], "read:items");
    assert_eq!(live["username"], "inspected");
    assert_eq!(live["sub"], user.to_string());
    assert_eq!(live["token_type"], "Bearer");
    assert_eq!(live["iss"], app.state.auth.keys.issuer());
    assert_eq!(live["aud"], "tollgate");
    for field in ["exp", "iat", "jti", "client_id"] {
        assert!(!live[field].is_null(), "{field}: {live}");
    }
    let refresh = introspect(&app, &caller, &login.refresh).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["username"], "inspected");

    // Expired: the same claims, signed by the server's own key, in the past.
    let (_, claims) = jwt_parts(&login.access);
    let mut claims: tollgate::auth::jwt::AccessClaims = serde_json::from_value(claims).unwrap();
    claims.exp -= 3600;
    let expired = app.state.auth.keys.sign(&claims).unwrap();
    for dead in [expired.as_str(), "garbage", "a.b.c", ""] {
        if dead.is_empty() {
            continue;
        }
        assert_eq!(
            introspect(&app, &caller, dead).await,
            json!({"active": false}),
            "{dead}"
        );
    }
    // A rotated refresh token is spent; after logout-all nothing is live.
    let rotated = app.refresh(&login.refresh, None).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, &caller, &login.refresh).await,
        json!({"active": false})
    );
    let fresh = app.login("inspected", crate::helpers::PASSWORD, None).await;
    app.post("/users/me/logout-all")
        .bearer_auth(&fresh.access)
        .send()
        .await
        .unwrap();
    for token in [&fresh.access, &fresh.refresh] {
        assert_eq!(
            introspect(&app, &caller, token).await,
            json!({"active": false})
        );
    }
}

#[tokio::test]
async fn introspection_needs_the_introspect_scope() {
    let app = TestApp::spawn().await;
    let token = app.user_token("plain", &["read:items"]).await;
    let response = app
        .post("/token/introspect")
        .bearer_auth(&token)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(crate::helpers::challenge(&response).contains("scope=\"introspect\""));
    let anonymous = app
        .post("/token/introspect")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_service_verifies_tollgate_tokens_and_scopes_from_its_jwks() {
    let app = TestApp::spawn().await;
    let verifier = tollgate::resource::JwksVerifier::new(app.state.auth.keys.issuer(), "tollgate");
    let token = app.admin_token().await;
    let claims = verifier
        .verify(&token)
        .await
        .expect("verifies from the JWKS");
    assert_eq!(claims.sub, jwt_parts(&token).1["sub"].as_str().unwrap());
    // A tollgate-revoked token still verifies there until it expires: that
    // is what introspection is for.
    app.post("/users/me/logout-all")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(verifier.verify(&token).await.is_ok());
    let foreign = TestApp::spawn().await.admin_token().await;
    assert!(verifier.verify(&foreign).await.is_err());
}
