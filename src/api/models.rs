//! Bodies shared by several resources, and their mapping from rows.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem_openapi::Object;
use time::OffsetDateTime;

use crate::{
    auth::scopes::ScopeSet,
    db::{items::ItemRow, users::UserRow},
    error::ApiError,
};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// A user account. Never carries the password or its hash.
#[derive(Debug, Object)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub full_name: Option<String>,
    /// The scopes this user may be granted.
    pub scopes: Vec<String>,
    /// A disabled user cannot log in, and their tokens stop working.
    pub disabled: bool,
    pub created_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            full_name: row.full_name,
            scopes: ScopeSet::parse_lenient(&row.scopes).names(),
            disabled: row.disabled,
            created_at: timestamp(row.created_at),
        }
    }
}

/// One of the caller's items.
#[derive(Debug, Object)]
pub struct Item {
    pub id: i64,
    pub name: String,
    #[oai(nullable)]
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl From<ItemRow> for Item {
    fn from(row: ItemRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
        }
    }
}

/// A page of users.
#[derive(Debug, Object)]
pub struct UserPage {
    pub data: Vec<User>,
    /// Pass as `?cursor=` for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A page of items.
#[derive(Debug, Object)]
pub struct ItemPage {
    pub data: Vec<Item>,
    /// Pass as `?cursor=` for the next page; `null` on the last one.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
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

    /// The cursor of the page after `rows`, if the page was full.
    pub fn next_cursor(&self, last_id: Option<i64>, rows: usize) -> Option<String> {
        (rows as i64 == self.limit)
            .then_some(last_id)
            .flatten()
            .map(encode_cursor)
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

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(201), None).is_err());
        assert!(PageRequest::parse(None, Some("!!")).is_err());
    }
}

/// An empty success.
#[derive(Debug, poem_openapi::ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// Turns a list of scope names from a request body into a set, naming the
/// field on failure.
pub fn scope_set(names: &[String], field: &str) -> Result<ScopeSet, ApiError> {
    names.iter().try_fold(ScopeSet::EMPTY, |set, name| {
        ScopeSet::parse(name)
            .ok()
            .filter(|parsed| !parsed.is_empty() && !name.contains(' '))
            .map(|parsed| set.union(parsed))
            .ok_or_else(|| ApiError::invalid_request(format!("{field}: unknown scope `{name}`")))
    })
}

/// Applies a validation rule to a body field, naming the field on failure.
pub fn check(field: &str, rule: Result<(), String>) -> Result<(), ApiError> {
    rule.map_err(|reason| ApiError::invalid_request(format!("{field}: {reason}")))
}
