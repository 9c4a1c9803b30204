//! `Errors<S>`: an operation's failures, documented as only the statuses in
//! `S` rather than all of [`ApiError`]'s.
//!
//! An operation names what it can answer in its signature, e.g.
//! `Result<Reply<Item>, Errors<{ SCOPED | NOT_FOUND }>>`, and that one
//! declaration is what the spec lists. The statuses raised before the
//! handler runs count too: a bad parameter or body (400), the bearer check
//! (401, 403, 503), a body over the limit (413).

use poem_openapi::{
    ApiResponse,
    registry::{MetaResponses, Registry},
};

use crate::{
    auth::{password::HashError, users::UserError},
    db::DbError,
    error::ApiError,
};

/// Bits of `S`, one per status of [`ApiError`].
pub const BAD_REQUEST: u16 = 1 << 0;
pub const UNAUTHORIZED: u16 = 1 << 1;
pub const FORBIDDEN: u16 = 1 << 2;
pub const NOT_FOUND: u16 = 1 << 3;
pub const CONFLICT: u16 = 1 << 4;
pub const PAYLOAD_TOO_LARGE: u16 = 1 << 5;
pub const TOO_MANY_REQUESTS: u16 = 1 << 6;
pub const INTERNAL: u16 = 1 << 7;
pub const UNAVAILABLE: u16 = 1 << 8;

/// Any operation that reads the database: a fault (500) or an outage (503).
pub const SERVER: u16 = INTERNAL | UNAVAILABLE;
/// An operation that takes `Auth` without a scope: a token in the query
/// string (400), no token or an invalid one (401), and the bearer check's
/// database read.
pub const BEARER: u16 = BAD_REQUEST | UNAUTHORIZED | SERVER;
/// An operation that takes `Auth` with a scope: [`BEARER`] and 403.
pub const SCOPED: u16 = BEARER | FORBIDDEN;
/// An operation with a request body: invalid (400) or too large (413).
pub const WITH_BODY: u16 = BAD_REQUEST | PAYLOAD_TOO_LARGE;

/// The bit of an HTTP status, 0 for one [`ApiError`] does not have.
const fn bit(status: u16) -> u16 {
    match status {
        400 => BAD_REQUEST,
        401 => UNAUTHORIZED,
        403 => FORBIDDEN,
        404 => NOT_FOUND,
        409 => CONFLICT,
        413 => PAYLOAD_TOO_LARGE,
        429 => TOO_MANY_REQUESTS,
        500 => INTERNAL,
        503 => UNAVAILABLE,
        _ => 0,
    }
}

/// An [`ApiError`] from an operation that documents the statuses in `S`.
#[derive(Debug)]
pub struct Errors<const S: u16>(pub ApiError);

impl<const S: u16> ApiResponse for Errors<S> {
    fn meta() -> MetaResponses {
        let mut meta = ApiError::meta();
        meta.responses
            .retain(|response| response.status.is_some_and(|status| bit(status) & S != 0));
        meta
    }

    fn register(registry: &mut Registry) {
        ApiError::register(registry);
    }
}

impl<const S: u16> From<Errors<S>> for poem::Error {
    fn from(err: Errors<S>) -> Self {
        let status = err.0.status();
        if bit(status) & S == 0 {
            // The spec does not list this answer: the operation's `S` is wrong.
            tracing::error!(
                status,
                "an operation answered a status its spec does not list"
            );
        }
        err.0.into()
    }
}

impl<const S: u16> From<ApiError> for Errors<S> {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl<const S: u16> From<DbError> for Errors<S> {
    fn from(err: DbError) -> Self {
        Self(err.into())
    }
}

impl<const S: u16> From<UserError> for Errors<S> {
    fn from(err: UserError) -> Self {
        Self(err.into())
    }
}

impl<const S: u16> From<crate::auth::clients::ClientError> for Errors<S> {
    fn from(err: crate::auth::clients::ClientError) -> Self {
        Self(err.into())
    }
}

impl<const S: u16> From<HashError> for Errors<S> {
    fn from(err: HashError) -> Self {
        Self(err.into())
    }
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(..) => 401,
            Self::Forbidden(..) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge(_) => 413,
            Self::TooManyRequests(..) => 429,
            Self::Internal(_) => 500,
            Self::Unavailable(..) => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_statuses_are_documented() {
        let statuses: Vec<u16> = Errors::<{ BEARER | NOT_FOUND }>::meta()
            .responses
            .iter()
            .filter_map(|r| r.status)
            .collect();
        assert_eq!(statuses, [400, 401, 404, 500, 503]);
        // Every status of `ApiError` has a bit.
        for response in ApiError::meta().responses {
            assert_ne!(bit(response.status.unwrap()), 0);
        }
    }
}
