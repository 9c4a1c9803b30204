//! Bodies shared by several resources, and their mapping from rows.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use std::borrow::Cow;

use poem_openapi::{
    Object,
    registry::{MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    auth::scopes::{Scope, ScopeSet},
    db::{items::ItemRow, users::UserRow},
    error::ApiError,
};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// A user account. Never carries the password or its hash.
// `Serialize` for `Reply`: the same JSON as `ToJSON` (see the tests).
#[derive(Debug, Object, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[oai(nullable)]
    pub email: Nullable<String>,
    #[oai(nullable)]
    pub full_name: Nullable<String>,
    /// The scopes this user may be granted.
    pub scopes: Vec<Scope>,
    /// A disabled user cannot log in, and their tokens stop working.
    pub disabled: bool,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: Nullable(row.email),
            full_name: Nullable(row.full_name),
            scopes: ScopeSet::parse_lenient(&row.scopes).iter().collect(),
            disabled: row.disabled,
            created_at: timestamp(row.created_at),
        }
    }
}

/// One of the caller's items.
// `Serialize` for `Reply`: the same JSON as `ToJSON` (see the tests).
#[derive(Debug, Object, Serialize)]
pub struct Item {
    pub id: i64,
    pub name: String,
    #[oai(nullable)]
    pub description: Nullable<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<ItemRow> for Item {
    fn from(row: ItemRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: Nullable(row.description),
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
        }
    }
}

/// A page of users.
// `Serialize` for `Reply`: the same JSON as `ToJSON` (see the tests).
#[derive(Debug, Object, Serialize)]
pub struct UserPage {
    pub data: Vec<User>,
    /// Pass as `?cursor=` for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Nullable<String>,
}

/// A page of items.
// `Serialize` for `Reply`: the same JSON as `ToJSON` (see the tests).
#[derive(Debug, Object, Serialize)]
pub struct ItemPage {
    pub data: Vec<Item>,
    /// Pass as `?cursor=` for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Nullable<String>,
}

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

/// A timestamp as poem-openapi's `ToJSON` writes it: RFC 3339. The stored
/// timestamps are whole seconds in UTC, which humantime writes straight into
/// the body (the `time` formatter returns a `String` and costs more than the
/// rest of a user's JSON); anything else goes through the `time` formatter.
fn rfc3339<S: serde::Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    // humantime writes years 1970 to 9999.
    let secs = at.unix_timestamp();
    if at.offset().is_utc() && at.nanosecond() == 0 && (0..=253_402_300_799).contains(&secs) {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        return serializer.collect_str(&humantime::format_rfc3339_seconds(at));
    }
    let text = at
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

fn timestamp(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Where a page starts, and how long it is, from `?cursor=` and `?limit=`.
pub struct PageRequest {
    pub after_id: i64,
    pub limit: i64,
}

impl PageRequest {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::invalid_request(format!(
                "limit must be from 1 to {MAX_PAGE_SIZE}"
            )));
        }
        let after_id = match cursor.filter(|c| !c.is_empty()) {
            None => 0,
            Some(cursor) => decode_cursor(cursor)
                .ok_or_else(|| ApiError::invalid_request("cursor is not one this API issued"))?,
        };
        Ok(Self {
            after_id,
            limit: i64::from(limit),
        })
    }

    /// Rows to fetch: one more than the page holds, to learn whether another
    /// page follows (so the last page, full or not, has no cursor).
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts `rows`, fetched with [`fetch`](Self::fetch), to the page, and
    /// gives the cursor of the next page if there is one.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        id: impl Fn(&T) -> i64,
    ) -> (Vec<T>, Nullable<String>) {
        if rows.len() as i64 <= self.limit {
            return (rows, Nullable(None));
        }
        rows.truncate(self.limit as usize);
        let next = rows.last().map(|row| encode_cursor(id(row)));
        (rows, Nullable(next))
    }
}

fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("after:{id}"))
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix("after:")?
        .parse()
        .ok()
        .filter(|id| *id >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Reply` writes these with `Serialize`, the spec describes their
    /// `ToJSON`: the two must give the same JSON, nulls and all.
    #[test]
    fn serialize_writes_what_to_json_writes() {
        fn same<T: ToJSON + Serialize>(value: &T) {
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                value.to_json().unwrap()
            );
        }
        for secs in [
            0,
            951_782_400,
            1_764_633_599,
            253_402_300_799,
            -1,
            -62_135_596_800,
        ] {
            let at = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let item = Item {
                id: 1,
                name: "t".into(),
                description: Nullable(None),
                created_at: at,
                updated_at: at + time::Duration::nanoseconds(1_500),
            };
            same(&item);
        }
        let at = OffsetDateTime::from_unix_timestamp(1_764_633_600).unwrap();
        let later = OffsetDateTime::from_unix_timestamp(1_764_633_601).unwrap();
        let user = |email: Option<&str>, full_name: Option<&str>| User {
            id: 7,
            username: "ada \"quoted\" \u{e9}".into(),
            email: Nullable(email.map(Into::into)),
            full_name: Nullable(full_name.map(Into::into)),
            scopes: vec![Scope::ReadItems, Scope::WriteItems],
            disabled: true,
            created_at: at,
        };
        same(&user(Some("ada@example.test"), None));
        let written = serde_json::to_value(user(None, None)).unwrap();
        assert_eq!(written["created_at"], "2025-12-02T00:00:00Z");
        same(&user(None, Some("Ada")));
        let item = |description: Option<&str>| Item {
            id: 3,
            name: "line\nbreak".into(),
            description: Nullable(description.map(Into::into)),
            created_at: at,
            updated_at: later,
        };
        same(&item(None));
        same(&item(Some("d")));
        same(&ItemPage {
            data: vec![item(None), item(Some("x"))],
            next_cursor: Nullable(Some(encode_cursor(3))),
        });
        same(&ItemPage {
            data: vec![],
            next_cursor: Nullable(None),
        });
        same(&UserPage {
            data: vec![user(None, None)],
            next_cursor: Nullable(None),
        });
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(201), None).is_err());
        assert!(PageRequest::parse(None, Some("!!")).is_err());
        let page = PageRequest::parse(Some(2), None).unwrap();
        assert_eq!(
            page.finish(vec![1, 2], |id| *id),
            (vec![1, 2], Nullable(None))
        );
        let (rows, next) = page.finish(vec![1, 2, 3], |id| *id);
        assert_eq!(
            (rows, next.0.as_deref().and_then(decode_cursor)),
            (vec![1, 2], Some(2))
        );
    }
}

/// An empty success.
#[derive(Debug, poem_openapi::ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// Turns a list of scopes from a request body into a set (the body parser
/// has already refused names outside the `Scope` enum).
pub fn scope_set(scopes: &[Scope]) -> ScopeSet {
    scopes.iter().copied().collect()
}

/// A PATCH field: absent leaves the value, `null` clears it.
pub fn patch_field<T>(value: poem_openapi::types::MaybeUndefined<T>) -> Option<Option<T>> {
    use poem_openapi::types::MaybeUndefined;
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// poem-openapi parses JSON more loosely than the spec it writes: a `string`
/// field takes a number or a boolean (as its text), and an `Option` field
/// takes `null` as if the field were absent. Request fields name one of these
/// as `deserialize_with` so that the body is held to exactly what the spec
/// says (a `nullable` field accepts `null`, nothing else does).
pub mod strict {
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
}
