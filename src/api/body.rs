//! `Body<T>`: a JSON request body like poem-openapi's `Json<T>`, whose parse
//! errors name the offending field.
//!
//! poem-openapi names a field only when one of its validators fails; a wrong
//! type or a missing field comes back as `Expected input type "string"`. On
//! such a failure this reads `T`'s schema from the registry and reports the
//! first field that does not fit it, without echoing the value sent.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::{ContentTypeError, ParseRequestPayloadError},
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

/// A JSON request body of type `T`.
pub struct Body<T>(pub T);

impl<T> std::ops::Deref for Body<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'a, T: Type + ParseFromJSON> ApiExtractor<'a> for Body<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Json<T> as Payload>::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let content_type = request
            .content_type()
            .ok_or(ContentTypeError::ExpectContentType)?;
        if !<Json<T> as Payload>::check_content_type(content_type) {
            return Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into());
        }
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value: Value = serde_json::from_slice(&data).map_err(|_| ParseRequestPayloadError {
            reason: "the body is not valid JSON".into(),
        })?;
        match T::parse_from_json(Some(value)) {
            Ok(parsed) => Ok(Body(parsed)),
            Err(err) => {
                let value: Value = serde_json::from_slice(&data).unwrap_or_default();
                let reason = misfit::<T>(&value).unwrap_or_else(|| err.into_message());
                Err(ParseRequestPayloadError { reason }.into())
            }
        }
    }
}

/// The first field of `value` that does not fit `T`'s schema, described.
fn misfit<T: Type>(value: &Value) -> Option<String> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let root = T::schema_ref();
    let schema = resolve(&registry, &root)?;
    let Value::Object(fields) = value else {
        return Some("the body must be a JSON object".into());
    };
    for (name, property) in &schema.properties {
        let property = resolve(&registry, property)?;
        match fields.get(*name) {
            None if schema.required.contains(name) => {
                return Some(format!("field `{name}` is required"));
            }
            None => {}
            Some(Value::Null) if !schema.required.contains(name) || property.nullable => {}
            Some(Value::String(text)) if text.contains('\0') => {
                return Some(format!("field `{name}` may not contain the NUL character"));
            }
            Some(found) if !fits(&registry, property, found) => {
                return Some(format!(
                    "field `{name}` must be {}",
                    describe(&registry, property)
                ));
            }
            Some(_) => {}
        }
    }
    None
}

fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn fits(registry: &Registry, schema: &MetaSchema, value: &Value) -> bool {
    match (schema.ty, value) {
        ("string", Value::String(s)) => {
            schema.enum_items.is_empty() || schema.enum_items.iter().any(|e| e == s)
        }
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => true,
        ("object", Value::Object(_)) => true,
        ("array", Value::Array(values)) => match schema.items.as_deref() {
            Some(items) => resolve(registry, items)
                .is_none_or(|items| values.iter().all(|v| fits(registry, items, v))),
            None => true,
        },
        ("string" | "integer" | "number" | "boolean" | "object" | "array", _) => false,
        _ => true,
    }
}

fn describe(registry: &Registry, schema: &MetaSchema) -> String {
    if !schema.enum_items.is_empty() {
        let names: Vec<String> = schema.enum_items.iter().map(|e| e.to_string()).collect();
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
        "integer" => "an integer".into(),
        "object" => "an object".into(),
        ty => format!("a {ty}"),
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;
    use serde_json::json;

    use super::misfit;

    #[derive(Object)]
    struct Sample {
        name: String,
        count: Option<i64>,
        tags: Option<Vec<String>>,
    }

    #[test]
    fn names_the_field_and_never_the_value() {
        let missing = misfit::<Sample>(&json!({})).unwrap();
        assert_eq!(missing, "field `name` is required");
        let wrong = misfit::<Sample>(&json!({"name": 42})).unwrap();
        assert_eq!(wrong, "field `name` must be a string");
        let items = misfit::<Sample>(&json!({"name": "x", "tags": ["a", 7]})).unwrap();
        assert!(
            items.starts_with("field `tags` must be an array"),
            "{items}"
        );
        let secret = misfit::<Sample>(&json!({"name": "x", "count": "hunter2"})).unwrap();
        assert!(!secret.contains("hunter2"));
        assert_eq!(misfit::<Sample>(&json!({"name": "x", "count": null})), None);
        assert!(misfit::<Sample>(&json!([1])).is_some());
    }
}
