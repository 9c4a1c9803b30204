//! The examples of the spec: what Swagger UI prefills and shows, so they
//! read like what a person would type. Every property of every schema has
//! one (tests/api/spec.rs checks it): a new schema adds its entry here.
//!
//! Each entry is the schema's example as a whole, then examples for the
//! properties that example leaves out (an update that changes one field, an
//! RSA key without the EC fields). A form's optional fields take `""`, so
//! Swagger UI's form starts them empty and leaves them out of the request.

use serde_json::{Value, json};

const ISSUER: &str = "http://127.0.0.1:8000";
const CREATED: &str = "2026-01-05T09:30:00Z";
const UPDATED: &str = "2026-01-06T18:12:45Z";
/// `after:42`, as the API writes a cursor.
const CURSOR: &str = "YWZ0ZXI6NDI";

fn user() -> Value {
    json!({
        "id": 42,
        "username": "alice",
        "email": "alice@example.com",
        "full_name": "Alice Martin",
        "scopes": ["read:items", "write:items"],
        "disabled": false,
        "created_at": CREATED,
    })
}

fn item() -> Value {
    json!({
        "id": 7,
        "name": "Groceries",
        "description": "Milk, eggs and bread for the weekend",
        "created_at": CREATED,
        "updated_at": UPDATED,
    })
}

/// The client authentication methods, as the metadata lists them.
const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
/// A generated client secret (shown once).
const SECRET: &str = "q8Vn3xT0bJ5mZk2LwR7aYc9sHd1uFp4eGi6oNtBv0Ws";

fn client() -> Value {
    json!({
        "client_id": "user-sync",
        "name": "Nightly user sync",
        "type": "confidential",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "scopes": ["admin"],
        "disabled": false,
        "created_at": CREATED,
    })
}

/// A registered public key of a `private_key_jwt` client.
fn rsa_public_key() -> Value {
    let mut key = rsa_key();
    key["kid"] = json!("user-sync-2026");
    key
}

fn invalid_field() -> Value {
    json!({"in": "body", "name": "name", "message": "must be a string of 1 to 200 characters"})
}

/// `(schema, its example, examples of the properties it leaves out)`.
pub fn examples() -> Vec<(&'static str, Value, Value)> {
    let mut registered = client();
    registered["client_secret"] = json!(SECRET);
    vec![
        (
            "TokenRequest",
            json!({}),
            json!({
                "grant_type": "password",
                "username": "admin",
                "password": "",
                "scope": "",
                "refresh_token": "",
                "client_id": "",
                "client_secret": "",
                "client_assertion_type": "",
                "client_assertion": "",
            }),
        ),
        (
            "TokenBody",
            json!({
                "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRfN3hQcVpRIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl",
                "token_type": "bearer",
                "expires_in": 900,
                "refresh_token": "Zk3xq1n0YF7Wm2aLrT8vQ5eH9sJ4uB6c",
                "scope": "read:items write:items",
            }),
            json!({}),
        ),
        (
            "RevokeRequest",
            json!({}),
            json!({
                "token": "",
                "token_type_hint": "",
                "client_id": "",
                "client_secret": "",
                "client_assertion_type": "",
                "client_assertion": "",
            }),
        ),
        (
            "IntrospectionRequest",
            json!({}),
            json!({
                "token": "",
                "token_type_hint": "",
                "client_id": "",
                "client_secret": "",
                "client_assertion_type": "",
                "client_assertion": "",
            }),
        ),
        (
            "Introspection",
            json!({
                "active": true,
                "scope": "read:items write:items",
                "client_id": "tollgate",
                "username": "alice",
                "token_type": "Bearer",
                "exp": 1_767_606_300,
                "iat": 1_767_605_400,
                "sub": "42",
                "aud": "tollgate",
                "iss": ISSUER,
                "jti": "b1f0c9e2-3d4a-4c8e-9f71-5a2d6e8c0b13",
            }),
            json!({}),
        ),
        ("User", user(), json!({})),
        (
            "UserPage",
            json!({"data": [user()], "next_cursor": CURSOR}),
            json!({}),
        ),
        (
            "NewUser",
            json!({
                "username": "alice",
                "password": "violet-harbor-47-lantern",
                "email": "alice@example.com",
                "full_name": "Alice Martin",
                "scopes": ["read:items", "write:items"],
            }),
            json!({}),
        ),
        (
            "UserUpdate",
            json!({"full_name": "Alice Martin-Lee"}),
            json!({
                "email": "alice.martin@example.com",
                "scopes": ["read:items"],
                "disabled": true,
                "password": "quiet-meadow-93-compass",
            }),
        ),
        (
            "PasswordChange",
            json!({
                "current_password": "violet-harbor-47-lantern",
                "new_password": "quiet-meadow-93-compass",
            }),
            json!({}),
        ),
        ("Item", item(), json!({})),
        (
            "ItemPage",
            json!({"data": [item()], "next_cursor": CURSOR}),
            json!({}),
        ),
        (
            "NewItem",
            json!({"name": "Groceries", "description": "Milk, eggs and bread for the weekend"}),
            json!({}),
        ),
        (
            "ItemUpdate",
            json!({"name": "Groceries for Sunday"}),
            json!({"description": "Milk, eggs, bread and coffee"}),
        ),
        (
            "ErrorBody",
            json!({
                "error": "invalid_request",
                "error_description": "body field `name`: must be a string of 1 to 200 characters",
                "invalid_fields": [invalid_field()],
            }),
            json!({}),
        ),
        ("InvalidField", invalid_field(), json!({})),
        (
            "Client",
            client(),
            json!({"jwks": {"keys": [rsa_public_key()]}}),
        ),
        (
            "ClientPage",
            json!({"data": [client()], "next_cursor": CURSOR}),
            json!({}),
        ),
        (
            "RegisteredClient",
            registered,
            json!({"jwks": {"keys": [rsa_public_key()]}}),
        ),
        (
            "ClientSecret",
            json!({"client_id": "user-sync", "client_secret": SECRET}),
            json!({}),
        ),
        (
            "NewClientBody",
            json!({
                "client_id": "user-sync",
                "name": "Nightly user sync",
                "type": "confidential",
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["client_credentials"],
                "scopes": ["admin"],
            }),
            json!({"jwks": {"keys": [rsa_public_key()]}}),
        ),
        (
            "ClientUpdate",
            json!({"name": "Nightly user sync (v2)"}),
            json!({
                "grant_types": ["client_credentials"],
                "scopes": ["admin", "introspect"],
                "disabled": true,
                "jwks": {"keys": [rsa_public_key()]},
            }),
        ),
        (
            "EventPoll",
            json!({"ack": ["3q2-7wAAAAAAAQ"], "maxEvents": 100, "returnImmediately": false}),
            json!({}),
        ),
        (
            "EventBatch",
            json!({
                "sets": {"4Hk2cVYp9ZqTn3aL": "eyJhbGciOiJSUzI1NiIsImtpZCI6IkRfN3hQcVpRIiwidHlwIjoic2VjZXZlbnQrand0In0.eyJzdWJfaWQiOnt9fQ.c2lnbmF0dXJl"},
                "moreAvailable": false,
            }),
            json!({}),
        ),
        ("Health", json!({"status": "ok"}), json!({})),
        ("Jwks", json!({"keys": [rsa_key()]}), json!({})),
        (
            "PublicJwk",
            rsa_key(),
            json!({
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }),
        ),
        (
            "AuthorizationServerMetadata",
            json!({
                "issuer": ISSUER,
                "token_endpoint": format!("{ISSUER}/token"),
                "revocation_endpoint": format!("{ISSUER}/token/revoke"),
                "introspection_endpoint": format!("{ISSUER}/token/introspect"),
                "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
                "grant_types_supported": ["password", "refresh_token", "client_credentials"],
                "response_types_supported": [],
                "scopes_supported": ["read:items", "write:items", "admin", "introspect", "events"],
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
                "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
                "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                "access_token_signing_alg_values_supported": ["RS256"],
            }),
            json!({}),
        ),
    ]
}

fn rsa_key() -> Value {
    json!({
        "kty": "RSA",
        "kid": "D_7xPqZQm4VjW2c9sLr1tYb8nHk3fGe5aUo6iJd0wXs",
        "alg": "RS256",
        "use": "sig",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
    })
}
