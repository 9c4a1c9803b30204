//! The spec as served and committed, and the documents around it: Swagger
//! UI at `/docs`, `/openapi.json`, `/openapi.yaml` and `/favicon.ico`.
//!
//! poem-openapi writes the spec from the code; a few things it cannot be
//! told are set here, on its output: the examples (`api::examples`), the tags
//! in the order a user meets them, lower-case header names, the error codes
//! as an enum, and the `/token` form's `grant_type` as a choice with
//! `password` preselected.

use poem::{
    Endpoint, EndpointExt, Response, Route, endpoint::make_sync, http::StatusCode, web::Html,
};
use serde_json::{Map, Value, json};

use poem_openapi::{Tags, types::ToJSON};

use super::{Tag, examples::examples, service};
use crate::error::{ApiError, ERROR_CODES, ErrorBody, FieldLocation, InvalidField};

/// The grant types `/token` takes; the first is the one Swagger UI preselects.
pub const GRANT_TYPES: &[&str] = &["password", "refresh_token", "client_credentials"];

/// The spec as JSON: `openapi/openapi.json`, `/openapi.json`, Swagger UI's.
pub fn spec() -> String {
    serde_json::to_string_pretty(&document()).expect("a JSON value serializes")
}

/// The same spec as YAML (`/openapi.yaml`, `tollgate openapi --yaml`).
pub fn spec_yaml() -> String {
    serde_yaml::to_string(&document()).expect("a JSON value serializes as YAML")
}

fn document() -> Value {
    let mut doc: Value =
        serde_json::from_str(&service().spec()).expect("poem-openapi writes valid JSON");
    order_tags(&mut doc);
    let bad_requests = bad_request_examples(&doc);
    for (path, operation) in operations(&mut doc) {
        let bad_request = bad_requests.get(operation["operationId"].as_str().unwrap_or_default());
        for (status, response) in operation["responses"].as_object_mut().into_iter().flatten() {
            if let Some(headers) = response.get_mut("headers") {
                lower_case_keys(headers);
            }
            for media in response
                .get_mut("content")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flatten()
            {
                let schema = &media.1["schema"]["$ref"];
                if schema == "#/components/schemas/ErrorBody" {
                    media.1["example"] = match (status.as_str(), bad_request) {
                        ("400", Some(example)) => example.clone(),
                        _ => error_example(status, &path),
                    };
                }
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    schemas["ErrorBody"]["properties"]["error"]["enum"] = json!(ERROR_CODES);
    let locations: Vec<&str> = FieldLocation::ALL.iter().map(|l| l.as_str()).collect();
    schemas["InvalidField"]["properties"]["in"]["enum"] = json!(locations);
    let grant_type = &mut schemas["TokenRequest"]["properties"]["grant_type"];
    grant_type["enum"] = json!(GRANT_TYPES);
    grant_type["default"] = json!(GRANT_TYPES[0]);
    // Swagger UI types a `password` field as a password (dots, not text).
    for schema in schemas
        .as_object_mut()
        .into_iter()
        .flat_map(Map::values_mut)
    {
        for property in schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(Map::values_mut)
        {
            if property["writeOnly"] == true && property["type"] == "string" {
                property["format"] = json!("password");
            }
        }
    }
    let forms = form_schemas(&doc);
    let schemas = &mut doc["components"]["schemas"];
    for (name, example, more) in examples() {
        let schema = &mut schemas[name];
        for (field, property) in schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flatten()
        {
            if let Some(value) = example.get(field).or_else(|| more.get(field)) {
                property["example"] = value.clone();
            }
        }
        // A form's fields are prefilled one by one, from their own examples.
        if !forms.contains(&name.to_owned()) {
            schema["example"] = example;
        }
    }
    doc
}

/// A typical 400 of each operation, by `operationId`: a missing field of
/// its body, else its `limit`, else a token sent in the query string.
fn bad_request_examples(doc: &Value) -> std::collections::HashMap<String, Value> {
    let mut examples = std::collections::HashMap::new();
    for path in doc["paths"].as_object().into_iter().flat_map(Map::values) {
        for operation in path.as_object().into_iter().flat_map(Map::values) {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            let content = &operation["requestBody"]["content"];
            let (media, form) = match content.get("application/x-www-form-urlencoded") {
                Some(media) => (media, true),
                None => (&content["application/json; charset=utf-8"], false),
            };
            let schema = media["schema"]["$ref"].as_str().map(|name| {
                &doc["components"]["schemas"][name.trim_start_matches("#/components/schemas/")]
            });
            let required = schema.and_then(|s| s["required"][0].as_str());
            let params = operation["parameters"].as_array();
            let has_limit =
                params.is_some_and(|params| params.iter().any(|p| p["name"] == "limit"));
            let path_param = params
                .and_then(|params| params.iter().find(|p| p["in"] == "path"))
                .and_then(|p| p["name"].as_str());
            let error = if id == "issue_token" {
                let body = ErrorBody::new(
                    "invalid_grant",
                    "the username, password or refresh token is not valid",
                );
                ApiError::BadRequest(body)
            } else if form {
                ApiError::invalid_body_field("token", "is required")
            } else if let Some(field) = required {
                ApiError::invalid_body_field(field, "is required")
            } else if let Some(name) = path_param {
                ApiError::invalid_fields(vec![InvalidField::new(
                    FieldLocation::Path,
                    Some(name),
                    "must be an integer",
                )])
            } else if has_limit {
                ApiError::invalid_fields(vec![InvalidField::new(
                    FieldLocation::Query,
                    Some("limit"),
                    "must be an integer from 1 to 200",
                )])
            } else {
                crate::api::bearer::query_token_refused()
            };
            examples.insert(id.to_owned(), body_of(error));
        }
    }
    examples
}

/// A typical body of an error status, from the code's own constructors.
fn error_example(status: &str, path: &str) -> Value {
    let error = match status {
        "401" => ApiError::unauthorized(),
        "403" => ApiError::insufficient_scope("read:items"),
        "404" if path.starts_with("/users") => ApiError::not_found("user"),
        "404" => ApiError::not_found("item"),
        "409" => ApiError::conflict("that username is taken"),
        "413" => ApiError::payload_too_large(),
        "429" => ApiError::too_many_requests(1),
        "503" => ApiError::unavailable(),
        _ => ApiError::internal(),
    };
    body_of(error)
}

fn body_of(error: ApiError) -> Value {
    let body = match error {
        ApiError::BadRequest(body)
        | ApiError::NotFound(body)
        | ApiError::Conflict(body)
        | ApiError::PayloadTooLarge(body)
        | ApiError::Internal(body)
        | ApiError::Unauthorized(body, _)
        | ApiError::Forbidden(body, _)
        | ApiError::TooManyRequests(body, _)
        | ApiError::Unavailable(body, _) => body,
    };
    body.0.to_json().unwrap_or_default()
}

/// Every operation, with its path.
fn operations(doc: &mut Value) -> impl Iterator<Item = (String, &mut Value)> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .flat_map(|(path, operations)| {
            let path = path.clone();
            operations
                .as_object_mut()
                .into_iter()
                .flat_map(Map::values_mut)
                .map(move |operation| (path.clone(), operation))
        })
}

/// The schemas of `application/x-www-form-urlencoded` request bodies.
fn form_schemas(doc: &Value) -> Vec<String> {
    let mut forms = Vec::new();
    for path in doc["paths"].as_object().into_iter().flat_map(Map::values) {
        for operation in path.as_object().into_iter().flat_map(Map::values) {
            let schema = &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
                ["schema"]["$ref"];
            if let Some(name) = schema.as_str() {
                forms.push(name.trim_start_matches("#/components/schemas/").to_owned());
            }
        }
    }
    forms
}

/// HTTP header names are case-insensitive; HTTP/2 and most documentation
/// write them in lower case (poem-openapi upper-cases them).
fn lower_case_keys(headers: &mut Value) {
    if let Some(map) = headers.as_object_mut() {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
    }
}

/// Swagger UI shows the tags in the order of the spec's `tags` list, which
/// poem-openapi sorts by name.
fn order_tags(doc: &mut Value) {
    if let Some(tags) = doc["tags"].as_array_mut() {
        tags.sort_by_key(|tag| {
            Tag::ORDER
                .iter()
                .position(|known| tag["name"] == known.name())
                .unwrap_or(usize::MAX)
        });
    }
}

/// Swagger UI's Authorize dialog keeps the scope boxes of a login ticked
/// after Logout (in the dialog's own state); this gives the dialog a new
/// identity when its login ends, so that it starts over with none ticked.
const SCOPES_RESET_PLUGIN: &str = r#"const ResetScopesOnLogout = () => ({
        wrapComponents: {
            oauth2: (Original, system) => (props) => {
                const signedIn = Boolean(props.authorized && props.authorized.get(props.name));
                return system.React.createElement(
                    Original,
                    Object.assign({}, props, { key: signedIn ? "signed-in" : "signed-out" }),
                );
            },
        },
    });

    SwaggerUIBundle({"#;

/// A 16x16 icon: a gate in tollgate's blue, as an ICO holding a PNG.
const FAVICON: &[u8] = include_bytes!("favicon.ico");

/// Swagger UI, the spec in both forms and the favicon.
pub fn documents() -> impl Endpoint<Output = Response> {
    let json = spec();
    let yaml = spec_yaml();
    // poem-openapi's page embeds its own spec verbatim: put this one in its
    // place, and add the plugin below to its configuration.
    let html = service()
        .swagger_ui_html()
        .replacen(&service().spec(), &json, 1)
        .replacen("SwaggerUIBundle({", SCOPES_RESET_PLUGIN, 1)
        .replacen(
            "deepLinking: true,",
            "deepLinking: true, plugins: [ResetScopesOnLogout],",
            1,
        );
    let ui = Route::new()
        .at("/", make_sync(move |_| Html(html.clone())))
        .nest_no_strip("/oauth-receiver.html", service().swagger_ui());
    Route::new()
        .nest("/docs", ui)
        .at(
            "/openapi.json",
            make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(json.clone())
            }),
        )
        .at(
            "/openapi.yaml",
            make_sync(move |_| {
                Response::builder()
                    .content_type("application/x-yaml")
                    .header("Content-Disposition", "inline; filename=\"spec.yaml\"")
                    .body(yaml.clone())
            }),
        )
        .at(
            "/favicon.ico",
            make_sync(|_| {
                Response::builder()
                    .status(StatusCode::OK)
                    .content_type("image/x-icon")
                    .header("Cache-Control", "public, max-age=86400")
                    .body(FAVICON)
            }),
        )
        .map_to_response()
}
