//! What is wrong with a request field, said from the spec's schema of it:
//! "must be an integer from 1 to 200", never the framework's own words
//! (`minimum(1, exclusive: false)`) and never the value that was sent.

use poem::http::Method;
use poem_openapi::{
    OpenApi,
    registry::{MetaParamIn, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use serde_json::Value;

use crate::error::{FieldLocation, InvalidField};

/// Every field of a JSON body `value` that does not fit `T`'s schema.
pub fn body_misfits<T: Type>(value: &Value) -> Vec<InvalidField> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let root = T::schema_ref();
    let Some(schema) = resolve(&registry, &root) else {
        return Vec::new();
    };
    let Value::Object(fields) = value else {
        return vec![InvalidField::new(
            FieldLocation::Body,
            None,
            "must be a JSON object",
        )];
    };
    let mut misfits = Vec::new();
    for (name, property) in &schema.properties {
        let Some(property) = resolve(&registry, property) else {
            continue;
        };
        let problem = match fields.get(*name) {
            None if schema.required.contains(name) => Some("is required".to_owned()),
            None => None,
            Some(Value::Null) if property.nullable => None,
            Some(Value::Null) => Some("may not be null; leave the field out".to_owned()),
            Some(found) => problem(&registry, property, found),
        };
        if let Some(message) = problem {
            misfits.push(InvalidField::new(FieldLocation::Body, Some(name), message));
        }
    }
    misfits
}

/// What is wrong with `value` against `schema`, if anything.
pub fn problem(registry: &Registry, schema: &MetaSchema, value: &Value) -> Option<String> {
    let wrong = || Some(format!("must be {}", describe(registry, schema)));
    match (schema.ty, value) {
        ("string", Value::String(text)) => {
            if text.contains('\0') {
                return Some("may not contain the NUL character".into());
            }
            if !schema.enum_items.is_empty() && !schema.enum_items.iter().any(|e| e == value) {
                return wrong();
            }
            let chars = text.chars().count();
            if schema.min_length.is_some_and(|min| chars < min)
                || schema.max_length.is_some_and(|max| chars > max)
            {
                return wrong();
            }
            let pattern = schema.pattern.as_deref().map(regex::Regex::new);
            if let Some(Ok(pattern)) = pattern
                && !pattern.is_match(text)
            {
                return Some(match schema.description {
                    Some(rule) => format!("is not in the expected form: {}", first_sentence(rule)),
                    None => "is not in the expected form".into(),
                });
            }
            None
        }
        ("integer", Value::Number(n)) => match n.as_f64() {
            Some(v) if n.is_i64() || n.is_u64() => {
                let low = schema.minimum.is_some_and(|min| v < min);
                let high = schema.maximum.is_some_and(|max| v > max);
                if low || high { wrong() } else { None }
            }
            _ => wrong(),
        },
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => None,
        ("object", Value::Object(_)) => None,
        ("array", Value::Array(values)) => {
            let items = schema.items.as_deref().and_then(|i| resolve(registry, i))?;
            values
                .iter()
                .any(|v| problem(registry, items, v).is_some())
                .then(|| format!("must be {}", describe(registry, schema)))
        }
        ("string" | "integer" | "number" | "boolean" | "object" | "array", _) => wrong(),
        _ => None,
    }
}

fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let end = text.find("; ").unwrap_or(text.len());
    text[..end].trim_end_matches('.')
}

/// The schema in words: "a string of 1 to 200 characters".
pub fn describe(registry: &Registry, schema: &MetaSchema) -> String {
    if !schema.enum_items.is_empty() {
        let names: Vec<String> = schema
            .enum_items
            .iter()
            .map(|e| {
                e.as_str()
                    .map_or_else(|| e.to_string(), |s| format!("`{s}`"))
            })
            .collect();
        return format!("one of {}", names.join(", "));
    }
    match schema.ty {
        "array" => match schema.items.as_deref().and_then(|i| resolve(registry, i)) {
            Some(items) => format!(
                "an array whose items are each {}",
                describe(registry, items)
            ),
            None => "an array".into(),
        },
        "integer" => match (schema.minimum, schema.maximum) {
            (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
            (Some(min), None) => format!("an integer of at least {min}"),
            (None, Some(max)) => format!("an integer of at most {max}"),
            (None, None) => "an integer".into(),
        },
        "string" => match (schema.min_length, schema.max_length) {
            (Some(min), Some(max)) => format!("a string of {min} to {max} characters"),
            (Some(1), None) => "a non-empty string".into(),
            (Some(min), None) => format!("a string of at least {min} characters"),
            (None, Some(max)) => format!("a string of at most {max} characters"),
            (None, None) => "a string".into(),
        },
        "object" => "an object".into(),
        "boolean" => "true or false".into(),
        ty => format!("a {ty}"),
    }
}

fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

/// A path or query parameter that did not parse, as the spec names it: the
/// operation is found by `method` and the request's `path`, the parameter by
/// its name (query) or its place in the path (poem-openapi calls path
/// parameters `param0`, `param1`, ... in that order).
pub fn parameter<A: OpenApi>(
    method: &Method,
    path: &str,
    location: FieldLocation,
    raw_name: &str,
) -> InvalidField {
    let mut registry = Registry::new();
    A::register(&mut registry);
    let segments: Vec<&str> = path.split('/').collect();
    let operation = A::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .filter(|candidate| {
            let pattern: Vec<&str> = candidate.path.split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p.starts_with('{') || p == s)
        })
        .flat_map(|path| path.operations)
        .find(|op| op.method == method);
    let wanted = match location {
        FieldLocation::Path => MetaParamIn::Path,
        _ => MetaParamIn::Query,
    };
    let index = raw_name
        .strip_prefix("param")
        .and_then(|n| n.parse::<usize>().ok());
    let param = operation.and_then(|op| {
        let mut params = op.params.into_iter().filter(|p| p.in_type == wanted);
        match (location, index) {
            (FieldLocation::Path, Some(index)) => params.nth(index),
            _ => params.find(|p| p.name == raw_name),
        }
    });
    match param {
        Some(param) => {
            let message = match resolve(&registry, &param.schema) {
                Some(schema) => format!("must be {}", describe(&registry, schema)),
                None => "is not valid".into(),
            };
            InvalidField::new(location, Some(&param.name), message)
        }
        None => InvalidField::new(location, Some(raw_name), "is not valid"),
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;

    use super::body_misfits;

    #[derive(Object)]
    struct Sample {
        #[oai(validator(min_length = 1, max_length = 20))]
        name: String,
        #[oai(validator(minimum(value = "1")))]
        count: Option<i64>,
        tags: Option<Vec<String>>,
    }

    fn messages(value: serde_json::Value) -> Vec<(String, String)> {
        body_misfits::<Sample>(&value)
            .into_iter()
            .map(|f| (f.name.unwrap_or_default(), f.message))
            .collect()
    }

    #[test]
    fn names_each_field_and_never_the_value() {
        assert_eq!(messages(json!({})), [("name".into(), "is required".into())]);
        let both = messages(json!({"name": 42, "count": 0}));
        assert_eq!(both.len(), 2, "{both:?}");
        assert_eq!(both[0].1, "must be a string of 1 to 20 characters");
        assert_eq!(both[1].1, "must be an integer of at least 1");
        let items = messages(json!({"name": "x", "tags": ["a", 7]}));
        assert!(items[0].1.starts_with("must be an array"), "{items:?}");
        let secret = messages(json!({"name": "x", "count": "hunter2"}));
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(messages(json!({"name": "x", "count": 3})), []);
        assert_eq!(body_misfits::<Sample>(&json!([1])).len(), 1);
    }
}
