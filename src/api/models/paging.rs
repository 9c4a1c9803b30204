//! Pages of a list: `?limit=`, the opaque `?cursor=`, and the next cursor.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Nullable};
use crate::error::ApiError;

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

pub(super) fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("after:{id}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    text.strip_prefix("after:")?
        .parse()
        .ok()
        .filter(|id| *id >= 0)
}
