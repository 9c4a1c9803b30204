//! A response field that is always present, `null` or a value.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde::Serialize;
use serde_json::Value;

/// A response field that is always sent, as `null` when there is no value:
/// `required` and `nullable` in the spec, so generated clients type it as
/// "present, maybe null" rather than "maybe absent". (poem-openapi marks every
/// `Option` field optional and has no attribute to require one.) Pair it
/// with `#[oai(nullable)]` on the field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Nullable<T>(pub Option<T>);

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.as_ref().and_then(T::to_json).unwrap_or(Value::Null))
    }
}

/// Present and `null`, or present with a value; absent is an error.
impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Err(ParseError::expected_input()),
            Some(Value::Null) => Ok(Self(None)),
            value => T::parse_from_json(value)
                .map(|v| Self(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}
