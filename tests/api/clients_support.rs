//! What the client tests share: registering clients through the API, and
//! a client key pair that signs `private_key_jwt` assertions.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl TestApp {
    /// Registers a client through the API (as admin) with `body`'s fields;
    /// returns the answer's body (with `client_secret` when there is one).
    pub async fn register_client(&self, body: Value) -> Value {
        let admin = self.admin_token().await;
        let response = self
            .post("/clients")
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        response.json().await.unwrap()
    }

    /// A confidential `client_secret_basic` client with these grants and
    /// scopes; returns its secret.
    pub async fn secret_client(&self, client_id: &str, grants: &[&str], scopes: &[&str]) -> String {
        let body = self
            .register_client(json!({
                "client_id": client_id,
                "grant_types": grants,
                "scopes": scopes,
            }))
            .await;
        body["client_secret"].as_str().unwrap().to_owned()
    }

    /// `POST /token` with `form`, authenticated by HTTP Basic as
    /// `client_id`:`secret` (each form-urlencoded first, RFC 6749 §2.3.1).
    pub async fn token_with_basic(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let encode = |value: &str| {
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
        };
        let credentials = format!("{}:{}", encode(client_id), encode(secret));
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        self.post("/token")
            .header("authorization", format!("Basic {basic}"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A `client_credentials` token for a Basic client; panics on failure.
    pub async fn client_token(&self, client_id: &str, secret: &str, scope: Option<&str>) -> Value {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.token_with_basic(client_id, secret, &form).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "client token for {client_id}"
        );
        response.json().await.unwrap()
    }
}

/// An Ed25519 key pair of a client, with its public JWK Set.
pub struct ClientKey {
    pkcs8: Vec<u8>,
    pub kid: String,
    pub jwks: Value,
}

impl ClientKey {
    pub fn generate(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().unwrap();
        let pkcs8 = pair.to_pkcs8().unwrap().as_ref().to_vec();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"
        }]});
        Self {
            pkcs8,
            kid: kid.to_owned(),
            jwks,
        }
    }

    /// An assertion with `claims` (the caller fills every claim).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let key = EncodingKey::from_ed_der(&self.pkcs8);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    /// A valid assertion of `client_id` for `app`'s token endpoint, with a
    /// fresh `jti`.
    pub fn assertion(&self, app: &TestApp, client_id: &str) -> String {
        let now = tollgate::db::now();
        self.sign(&json!({
            "iss": client_id,
            "sub": client_id,
            "aud": format!("{}/token", app.state.auth.keys.issuer()),
            "exp": now + 60,
            "iat": now,
            "jti": format!("jti-{}", rand::random::<u64>()),
        }))
    }
}

/// The `private_key_jwt` fields of a form.
pub fn assertion_form(assertion: &str) -> Vec<(&str, &str)> {
    vec![
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]
}
