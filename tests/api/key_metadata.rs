//! The RFC 8414 metadata agrees with the tokens and the spec, and lists only
//! what really works.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, jwt_parts};

#[tokio::test]
async fn the_metadata_names_the_issuer_of_every_token_and_the_declared_scopes() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let meta: Value = response.json().await.unwrap();
    let token = app.admin_token().await;
    let issuer = meta["issuer"].as_str().unwrap();
    assert_eq!(jwt_parts(&token).1["iss"], issuer);
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    assert_eq!(meta["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(meta["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(
        meta["introspection_endpoint"],
        format!("{issuer}/token/introspect")
    );
    assert_eq!(
        meta["grant_types_supported"],
        json!(["password", "refresh_token", "client_credentials"])
    );
    assert_eq!(meta["response_types_supported"], json!([]));
    let methods = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none"
    ]);
    assert_eq!(meta["token_endpoint_auth_methods_supported"], methods);
    assert_eq!(meta["revocation_endpoint_auth_methods_supported"], methods);
    // A public client proves nothing, so it cannot introspect.
    assert_eq!(
        meta["introspection_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert!(
        meta["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .all(|alg| alg != "none" && !alg.as_str().unwrap().starts_with("HS"))
    );
    let spec: Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let declared = spec["components"]["securitySchemes"]["OAuth2"]["flows"]["password"]["scopes"]
        .as_object()
        .unwrap();
    let mut scopes: Vec<&str> = meta["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    scopes.sort();
    let mut expected: Vec<&str> = declared.keys().map(String::as_str).collect();
    expected.sort();
    assert_eq!(scopes, expected);
    assert!(scopes.contains(&"introspect"));
}
