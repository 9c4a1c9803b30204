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
