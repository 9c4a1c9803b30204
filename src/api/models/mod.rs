//! Bodies shared by several resources, and their mapping from rows.

pub mod clients;
mod nullable;
mod paging;
pub mod strict;
#[cfg(test)]
mod tests;

pub use nullable::Nullable;
pub use paging::PageRequest;
use poem_openapi::Object;
use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    auth::scopes::{Scope, ScopeSet},
    db::{items::ItemRow, users::UserRow},
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

pub(crate) fn timestamp(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
