//! poem-openapi parses JSON more loosely than the spec it writes: a `string`
//! field takes a number or a boolean (as its text), and an `Option` field
//! takes `null` as if the field were absent. Request fields name one of these
//! as `deserialize_with` so that the body is held to exactly what the spec
//! says (a `nullable` field accepts `null`, nothing else does).

use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult};
use serde_json::Value;

/// A string, an optional string or a list of strings: never `null`,
/// and no number or boolean turned into text.
pub fn text<T: ParseFromJSON>(value: Option<Value>) -> ParseResult<T> {
    if matches!(value, Some(Value::Null)) {
        return Err(ParseError::custom(
            "null is not allowed here; leave the field out",
        ));
    }
    nullable_text(value)
}

/// As [`text`], for a field the spec marks `nullable`.
pub fn nullable_text<T: ParseFromJSON>(value: Option<Value>) -> ParseResult<T> {
    fn coerced(value: &Value) -> bool {
        match value {
            Value::Number(_) | Value::Bool(_) => true,
            Value::Array(items) => items.iter().any(coerced),
            _ => false,
        }
    }
    match value {
        Some(value) if coerced(&value) => Err(ParseError::expected_type(value)),
        value => T::parse_from_json(value),
    }
}

/// Any optional, non-nullable field: `null` is refused rather than read as
/// absent.
pub fn not_null<T: ParseFromJSON>(value: Option<Value>) -> ParseResult<T> {
    if matches!(value, Some(Value::Null)) {
        return Err(ParseError::custom(
            "null is not allowed here; leave the field out",
        ));
    }
    T::parse_from_json(value)
}
