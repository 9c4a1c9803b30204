//! The spec as documentation: every operation summarised, tagged, and with
//! every status it can answer, each with its body schema.

use serde_json::Value;

fn spec() -> Value {
    serde_json::from_str(&tollgate::api::docs::spec()).unwrap()
}

/// Every operation as (method, path, operation).
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let paths = spec["paths"].as_object().unwrap();
    let all = paths.iter().flat_map(|(path, ops)| {
        let ops = ops.as_object().unwrap();
        ops.iter()
            .map(|(method, op)| (method.to_uppercase(), path.clone(), op.clone()))
    });
    all.collect()
}

#[test]
fn every_operation_has_a_summary_and_a_tag() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let summary = op["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{method} {path} has no summary");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
    }
}

#[test]
fn secured_operations_document_their_auth_and_lookup_failures() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let responses = op["responses"].as_object().unwrap();
        let has = |status: &str| responses.contains_key(status);
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            for status in ["400", "401", "500", "503"] {
                assert!(has(status), "{method} {path} does not document {status}");
            }
            // 403 only where a scope is needed, or on the caller's own
            // account, which a client's own token may not use (`spec.rs`
            // checks the converse).
            let scoped = op["security"][0]["OAuth2"]
                .as_array()
                .is_some_and(|scopes| !scopes.is_empty());
            assert_eq!(
                has("403"),
                scoped || path.starts_with("/users/me"),
                "{method} {path}: 403"
            );
            let challenge = &responses["401"]["headers"];
            assert!(
                challenge
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case("www-authenticate"))
            );
        }
        if path.contains('{') {
            assert!(has("404"), "{method} {path} does not document 404");
        }
        if op["requestBody"].is_object() {
            assert!(
                has("400") && has("413"),
                "{method} {path} does not document 400 and 413"
            );
        }
    }
}

#[test]
fn every_error_status_carries_the_error_body_and_created_carries_location() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let schema = &response["content"]["application/json; charset=utf-8"]["schema"]["$ref"];
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            } else if status != "204" && !(path == "/token/revoke" && status == "200") {
                assert!(
                    schema.is_string(),
                    "{method} {path} {status} has no body schema"
                );
            }
            if status == "201" {
                let headers = response["headers"].as_object().unwrap();
                assert!(
                    headers.keys().any(|h| h.eq_ignore_ascii_case("location")),
                    "{method} {path}"
                );
            }
        }
    }
}
