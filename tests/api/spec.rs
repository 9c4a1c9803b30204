use crate::helpers::TestApp;

/// `openapi/openapi.json` is what client generators read: it must be exactly
/// what the code declares. Regenerate with `just openapi`.
#[test]
fn the_committed_spec_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json exists");
    let generated = format!("{}\n", tollgate::api::docs::spec());
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `just openapi` (or `cargo run -- openapi > openapi/openapi.json`)"
    );
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(served, committed);
    let yaml = app.get("/openapi.yaml").send().await.unwrap();
    assert!(yaml.status().is_success());
    assert!(yaml.text().await.unwrap().contains("openapi: 3.0.0"));
}

fn spec() -> serde_json::Value {
    serde_json::from_str(&tollgate::api::docs::spec()).unwrap()
}

/// The names of the schemas `schema` refers to, directly or through
/// properties and array items.
fn referenced(spec: &serde_json::Value, schema: &serde_json::Value, into: &mut Vec<String>) {
    if schema.is_null() {
        return;
    }
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/").to_owned();
        if !into.contains(&name) {
            into.push(name.clone());
            referenced(spec, &spec["components"]["schemas"][&name], into);
        }
    }
    for property in schema["properties"].as_object().into_iter().flatten() {
        referenced(spec, property.1, into);
    }
    referenced(spec, &schema["items"], into);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        referenced(spec, part, into);
    }
}

/// A response field the server always sends, `null` or not, is `required`:
/// generated clients then type it as present-but-maybe-null, not as optional.
#[test]
fn every_nullable_field_of_a_response_is_required() {
    let spec = spec();
    let mut schemas = Vec::new();
    for operations in spec["paths"].as_object().unwrap().values() {
        for op in operations.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for media in response["content"].as_object().into_iter().flatten() {
                    referenced(&spec, &media.1["schema"], &mut schemas);
                }
            }
        }
    }
    assert!(schemas.contains(&"User".to_owned()), "{schemas:?}");
    let mut checked = 0;
    for name in &schemas {
        let schema = &spec["components"]["schemas"][name];
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if property["nullable"] == true {
                assert!(
                    required.iter().any(|r| r == field),
                    "{name}.{field} is nullable but not required"
                );
                checked += 1;
            }
        }
    }
    // email, full_name, Item.description, and both pages' next_cursor.
    assert!(checked >= 5, "only {checked} nullable response fields");
}

/// Generators name their functions after `operationId`: each operation has
/// one, unique and in snake_case, so no generator has to invent a name from
/// the method and path (`get_users_id`).
#[test]
fn every_operation_has_a_unique_snake_case_operation_id() {
    let spec = spec();
    let mut seen = std::collections::BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{method} {path}: operationId {id:?}"
            );
            assert!(seen.insert(id.to_owned()), "operationId {id} is used twice");
        }
    }
}

fn schemas(spec: &serde_json::Value) -> &serde_json::Map<String, serde_json::Value> {
    spec["components"]["schemas"].as_object().unwrap()
}

fn each_operation(spec: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut all = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            all.push((method.clone(), path.clone(), op.clone()));
        }
    }
    all
}

/// Swagger UI prefills and shows the examples: every property has one, and
/// every object schema that is not a form has one as a whole.
#[test]
fn every_schema_property_has_an_example() {
    let spec = spec();
    let mut checked = 0;
    for (name, schema) in schemas(&spec) {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                property.get("example").is_some(),
                "{name}.{field} has no example (add it in src/api/examples.rs)"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} properties");
    for name in [
        "NewItem",
        "NewUser",
        "User",
        "Item",
        "ErrorBody",
        "TokenBody",
    ] {
        assert!(schemas(&spec)[name].get("example").is_some(), "{name}");
    }
    // A person's data, not the pattern's noise.
    let new_user = &schemas(&spec)["NewUser"]["example"];
    assert_eq!(new_user["email"], "alice@example.com");
    assert_eq!(schemas(&spec)["NewItem"]["example"]["name"], "Groceries");
}

/// The `/token` form as Swagger UI fills it: `grant_type` a choice with
/// `password` preselected, the optional fields empty.
#[test]
fn the_token_form_preselects_the_password_grant_and_starts_optional_fields_empty() {
    let spec = spec();
    let form = &schemas(&spec)["TokenRequest"]["properties"];
    assert_eq!(form["grant_type"]["default"], "password");
    let grants = form["grant_type"]["enum"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == "password") && grants.iter().any(|g| g == "refresh_token"));
    for field in [
        "password",
        "scope",
        "refresh_token",
        "client_id",
        "client_secret",
    ] {
        assert_eq!(form[field]["example"], "", "{field}");
    }
    // A form's fields are prefilled one by one, never from an object example.
    assert!(schemas(&spec)["TokenRequest"].get("example").is_none());
}

#[test]
fn every_response_has_a_description() {
    let spec = spec();
    for (method, path, op) in each_operation(&spec) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let description = response["description"].as_str().unwrap_or_default();
            assert!(!description.trim().is_empty(), "{method} {path} {status}");
        }
    }
}

/// Each operation lists the error statuses it can answer, no others.
#[test]
fn each_operation_documents_only_the_errors_it_can_return() {
    let spec = spec();
    for (_, path, op) in each_operation(&spec) {
        let statuses: Vec<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|s| s.parse().unwrap())
            .collect();
        let has = |status: u16| statuses.contains(&status);
        let secured = op.get("security").is_some();
        let scoped = op["security"][0]["OAuth2"]
            .as_array()
            .is_some_and(|scopes| !scopes.is_empty());
        let id = op["operationId"].as_str().unwrap();
        // Client authentication: 401 invalid_client at the token endpoints.
        let client_auth = matches!(id, "issue_token" | "revoke_token");
        assert_eq!(has(401), secured || client_auth, "{id}: 401");
        // The caller's own account refuses a client's own token.
        assert_eq!(
            has(403),
            scoped || path.starts_with("/users/me"),
            "{id}: 403"
        );
        assert_eq!(has(404), path.contains('{'), "{id}: 404");
        assert_eq!(
            has(413),
            op.get("requestBody").is_some(),
            "{id}: 413 where there is a body"
        );
        assert_eq!(
            has(429),
            // Failed logins and failed client authentications are throttled.
            matches!(
                id,
                "issue_token"
                    | "change_my_password"
                    | "revoke_token"
                    | "introspect_token"
                    | "poll_events"
            ),
            "{id}: 429"
        );
        assert_eq!(
            has(409),
            matches!(
                id,
                "create_user" | "update_user" | "delete_user" | "create_client"
            ),
            "{id}: 409"
        );
    }
}

#[test]
fn tags_come_in_the_order_a_user_meets_them() {
    let spec = spec();
    let tags: Vec<&str> = spec["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    // Tags of resources added by extending follow the built-in ones.
    assert_eq!(
        tags[..8],
        [
            "Token",
            "Me",
            "Items",
            "Users",
            "Clients",
            "Discovery",
            "Events",
            "System"
        ]
    );
}

#[test]
fn headers_are_lower_case_servers_are_set_and_error_codes_are_an_enum() {
    let spec = spec();
    let text = spec.to_string();
    for upper in [
        "WWW-AUTHENTICATE",
        "RETRY-AFTER",
        "CACHE-CONTROL",
        "LOCATION",
    ] {
        assert!(!text.contains(upper), "{upper} in the spec");
    }
    assert_eq!(spec["servers"][0]["url"], "/");
    // Nothing reshaping the spec left an empty slot behind.
    assert!(!text.contains(":null"), "a null in the spec");
    let error = &schemas(&spec)["ErrorBody"];
    let codes: Vec<&str> = error["properties"]["error"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes, tollgate::error::ERROR_CODES);
    // The list of invalid fields is documented, and optional.
    assert!(error["properties"]["invalid_fields"].is_object());
    let required = error["required"].as_array().unwrap();
    assert!(!required.iter().any(|r| r == "invalid_fields"));
}

#[tokio::test]
async fn the_docs_page_has_a_favicon_and_embeds_the_served_spec() {
    let app = TestApp::spawn().await;
    let icon = app.get("/favicon.ico").send().await.unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    assert!(!icon.bytes().await.unwrap().is_empty());
    let page = app.get("/docs").send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("\"Groceries\""),
        "the page's spec has no examples"
    );
    let receiver = app.get("/docs/oauth-receiver.html").send().await.unwrap();
    assert_eq!(receiver.status(), 200);
}

/// Each error response shows a body of its own status, not one for all.
#[test]
fn every_error_response_has_an_example_of_its_status() {
    let spec = spec();
    for (method, path, op) in each_operation(&spec) {
        for (status, response) in op["responses"].as_object().unwrap() {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            for (_, media) in response["content"].as_object().into_iter().flatten() {
                let code = media["example"]["error"].as_str().unwrap_or_default();
                assert!(
                    tollgate::error::ERROR_CODES.contains(&code),
                    "{method} {path} {status}: example {}",
                    media["example"]
                );
                let expected = match status.as_str() {
                    "401" => "unauthorized",
                    "403" => "insufficient_scope",
                    "404" => "not_found",
                    "409" => "conflict",
                    "413" => "payload_too_large",
                    "429" => "too_many_requests",
                    "500" => "internal_error",
                    "503" => "unavailable",
                    _ => code,
                };
                assert_eq!(code, expected, "{method} {path} {status}");
            }
        }
    }
}
