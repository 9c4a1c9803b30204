//! Scope enforcement, walked from the generated spec: every operation that
//! declares a scope refuses a token without it and serves one with it. An
//! operation or a scope added later is walked too, with no list here to update.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate::auth::scopes::ScopeSet;

use crate::helpers::{PASSWORD, TestApp, challenge, expect_error};

/// The scopes of the spec's OAuth2 password flow, in the order it lists them.
fn declared_scopes(spec: &Value) -> Vec<String> {
    let flow = &spec["components"]["securitySchemes"]["OAuth2"]["flows"]["password"];
    let scopes = flow["scopes"]
        .as_object()
        .expect("the password flow lists scopes");
    scopes.keys().cloned().collect()
}

struct Operation {
    method: Method,
    path: String,
    scopes: Vec<String>,
    body: Option<Body>,
}

enum Body {
    Json(Value),
    /// The fields of an `application/x-www-form-urlencoded` body.
    Form(Value),
}

/// Every operation of the spec whose security requirement names scopes.
fn scoped_operations(spec: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            let scopes: Vec<String> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|req| req.as_object().unwrap().values())
                .flat_map(|names| names.as_array().unwrap())
                .map(|name| name.as_str().unwrap().to_owned())
                .collect();
            if scopes.is_empty() {
                continue;
            }
            let content = &op["requestBody"]["content"];
            let json_schema = &content["application/json; charset=utf-8"]["schema"];
            let form_schema = &content["application/x-www-form-urlencoded"]["schema"];
            let body = (!op["requestBody"].is_null()).then(|| match (json_schema, form_schema) {
                (Value::Null, Value::Null) => {
                    panic!("{method} {path}: only JSON and form bodies are walked")
                }
                (Value::Null, form) => Body::Form(sample(spec, form)),
                (json, _) => Body::Json(sample(spec, json)),
            });
            found.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                scopes,
                body,
            });
        }
    }
    found
}

/// A valid value for `schema`: its required properties, each with the
/// smallest value its constraints allow.
fn sample(spec: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return sample(spec, &spec["components"]["schemas"][name]);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let required = schema["required"].as_array().cloned().unwrap_or_default();
            let fields = required.iter().map(|name| {
                let name = name.as_str().unwrap();
                (name.to_owned(), sample(spec, &schema["properties"][name]))
            });
            Value::Object(fields.collect())
        }
        // Fits the username pattern, a password's length and an item name.
        Some("string") => json!(format!("sample-{}", rand_suffix())),
        Some("integer") => json!(1),
        Some("boolean") => json!(false),
        Some("array") => {
            let count = schema["minItems"].as_u64().unwrap_or(0) as usize;
            Value::Array(vec![sample(spec, &schema["items"]); count])
        }
        other => panic!("no sample for schema type {other:?}: {schema}"),
    }
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The operation's path with `{id}` filled by a fresh resource of `owner`'s:
/// the resource is made anew per call, since the call may delete it.
async fn concrete_path(app: &TestApp, path: &str, owner_token: &str) -> String {
    if path.contains("{client_id}") {
        let client_id = format!("fixture-{}", rand_suffix());
        let created = app
            .post("/clients")
            .bearer_auth(owner_token)
            .json(&json!({"client_id": client_id, "grant_types": ["client_credentials"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        return path.replace("{client_id}", &client_id);
    }
    let Some((prefix, _)) = path.split_once("/{id}") else {
        assert!(
            !path.contains('{'),
            "no fixture for the parameters of {path}"
        );
        return path.to_owned();
    };
    let id = match prefix {
        "/items" => {
            let item = app
                .post("/items")
                .bearer_auth(owner_token)
                .json(&json!({"name": "fixture"}));
            item.send().await.unwrap().json::<Value>().await.unwrap()["id"].clone()
        }
        "/users" => json!(
            app.create_user(&format!("fixture-{}", rand_suffix()), PASSWORD, &[])
                .await
        ),
        other => panic!("no fixture for the parameters of {other}/{{id}}"),
    };
    path.replace("{id}", &id.to_string())
}

async fn call(app: &TestApp, op: &Operation, path: &str, token: &str) -> reqwest::Response {
    let mut request = app
        .client
        .request(op.method.clone(), app.url(path))
        .bearer_auth(token);
    match &op.body {
        Some(Body::Json(body)) => request = request.json(body),
        Some(Body::Form(fields)) => request = request.form(fields),
        None => {}
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_scoped_operation_refuses_a_token_without_its_scope_and_serves_one_with_it() {
    let app = TestApp::spawn().await;
    let spec: Value = serde_json::from_str(&tollgate::api::docs::spec()).unwrap();
    let operations = scoped_operations(&spec);
    assert!(
        operations.len() >= 10,
        "the walk found only {} operations",
        operations.len()
    );

    let all = declared_scopes(&spec);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    app.create_user("walker", PASSWORD, &all).await;
    let everything = app.login("walker", PASSWORD, None).await.access;
    for op in &operations {
        let needed = op.scopes.join(" ");
        let others: Vec<&str> = all
            .iter()
            .copied()
            .filter(|s| !op.scopes.iter().any(|n| n == s))
            .collect();
        let without = app
            .login("walker", PASSWORD, Some(&others.join(" ")))
            .await
            .access;
        let holding = app.login("walker", PASSWORD, Some(&needed)).await.access;
        let path = concrete_path(&app, &op.path, &everything).await;

        let refused = call(&app, op, &path, &without).await;
        let header = challenge(&refused);
        expect_error(
            refused,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("{} {}", op.method, op.path),
        )
        .await;
        assert_eq!(
            header,
            format!(r#"Bearer realm="tollgate", error="insufficient_scope", scope="{needed}""#)
        );

        let served = call(&app, op, &path, &holding).await;
        assert!(
            served.status().is_success(),
            "{} {} with {needed}: {}",
            op.method,
            op.path,
            served.status()
        );
    }
}

#[tokio::test]
async fn an_account_without_scopes_reads_itself_and_nothing_more() {
    let app = TestApp::spawn().await;
    app.create_user("nobody-special", PASSWORD, &[]).await;
    let tokens = app.login("nobody-special", PASSWORD, None).await;
    assert_eq!(tokens.scope, "");
    let me = app.get_as("/users/me", &tokens.access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let items = app.get_as("/items", &tokens.access).await;
    assert_eq!(items.status(), StatusCode::FORBIDDEN);
}

#[test]
fn the_security_scheme_the_scope_schema_and_every_scope_are_one_list() {
    let spec: Value = serde_json::from_str(&tollgate::api::docs::spec()).unwrap();
    let schema: Vec<String> = spec["components"]["schemas"]["Scope"]["enum"]
        .as_array()
        .expect("a Scope schema with an enum")
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect();
    let mut scheme = declared_scopes(&spec);
    let mut every = ScopeSet::all().names();
    // The scheme's scopes are a JSON object: compare them as sets.
    scheme.sort();
    every.sort();
    assert_eq!(scheme, every);
    let mut schema_sorted = schema.clone();
    schema_sorted.sort();
    assert_eq!(schema_sorted, every);
    assert_eq!(schema, ScopeSet::all().names(), "declaration order");
    assert!(every.iter().any(|s| s == "introspect"), "{every:?}");
}
