//! The one error shape of the API: `{"error", "error_description"}`.
//!
//! The rule: a client gets a fixed, safe message and a code from the contract;
//! the detail (driver text, the failing statement) goes to the log. Nothing
//! here ever formats a password, hash, token or key.

use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::{
    auth::{password::HashError, users::UserError},
    db::DbError,
};

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// Every value of `ErrorBody.error`: the spec lists them as its enum
/// (`api::docs`), and a body with another code is a bug caught in debug builds.
pub const ERROR_CODES: &[&str] = &[
    "invalid_request",
    "invalid_grant",
    "unsupported_grant_type",
    "unauthorized_client",
    "invalid_client",
    "invalid_scope",
    "invalid_token",
    "insufficient_scope",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "payload_too_large",
    "too_many_requests",
    "internal_error",
    "unavailable",
];

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// A code from RFC 6749 §5.2, RFC 6750 §3.1, or `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `too_many_requests`, `internal_error`,
    /// `unavailable`.
    pub error: String,
    /// A sentence for the person reading it.
    pub error_description: String,
    /// With `invalid_request`: each parameter or body field that was
    /// missing or invalid, as the spec names it. Absent otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub invalid_fields: Option<Vec<InvalidField>>,
}

/// Where a request field is: what the spec's `in` says, or the JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldLocation {
    Path,
    Query,
    Header,
    Body,
}

impl FieldLocation {
    /// Every value of `InvalidField.in`, listed as its enum in the spec.
    pub const ALL: [Self; 4] = [Self::Path, Self::Query, Self::Header, Self::Body];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Body => "body",
        }
    }
}

/// One invalid request field.
#[derive(Debug, Clone, Object)]
pub struct InvalidField {
    /// `path`, `query` or `header` for a parameter, `body` for a field of
    /// the request body.
    // A string rather than `FieldLocation`: an enum type would be a `$ref`,
    // which can carry no example; the spec lists its values (`api::docs`).
    #[oai(rename = "in")]
    pub location: String,
    /// The parameter's or field's name in the spec; absent when the body as
    /// a whole is at fault (not JSON, not an object).
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// What is wrong, without repeating the value sent.
    pub message: String,
}

impl InvalidField {
    pub fn new(location: FieldLocation, name: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            location: location.as_str().to_owned(),
            name: name.map(str::to_owned),
            message: message.into(),
        }
    }

    /// `body field `name`: must be ...`, for the one-line description.
    fn describe(&self) -> String {
        let place = match self.location.as_str() {
            "path" => "path parameter",
            "query" => "query parameter",
            "body" => "body field",
            _ => "header",
        };
        match &self.name {
            Some(name) => format!("{place} `{name}`: {}", self.message),
            None => format!("the body {}", self.message),
        }
    }
}

impl ErrorBody {
    pub fn new(error: &str, description: impl Into<String>) -> Json<Self> {
        debug_assert!(
            ERROR_CODES.contains(&error),
            "`{error}` is not in error::ERROR_CODES"
        );
        Json(Self {
            error: error.to_owned(),
            error_description: description.into(),
            invalid_fields: None,
        })
    }

    /// `invalid_request` naming each invalid field; the description joins
    /// them into one sentence.
    pub fn invalid_fields(fields: Vec<InvalidField>) -> Json<Self> {
        let described: Vec<String> = fields.iter().map(InvalidField::describe).collect();
        let mut body = Self::new("invalid_request", described.join("; "));
        body.0.invalid_fields = Some(fields);
        body
    }
}

/// Every failure a resource endpoint can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// A parameter or body field is missing or invalid (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No access token (`unauthorized`), or one that is not valid (`invalid_token`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The token lacks the scope this operation needs (`insufficient_scope`),
    /// or is a client's own token at an operation on the caller's own
    /// account or items (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// No such resource for this caller (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The change clashes with the current state (`conflict`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The request body is over 64 KiB (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Too many failed attempts (`too_many_requests`); retry after
    /// `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A fault on the server's side (`internal_error`); the detail is in its log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is locked or unreachable (`unavailable`); retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The `realm` every challenge names.
pub const REALM: &str = "tollgate";

impl ApiError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::BadRequest(ErrorBody::new("invalid_request", description))
    }

    /// `invalid_request` naming the fields at fault.
    pub fn invalid_fields(fields: Vec<InvalidField>) -> Self {
        Self::BadRequest(ErrorBody::invalid_fields(fields))
    }

    /// `invalid_request` naming one body field.
    pub fn invalid_body_field(name: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![InvalidField::new(
            FieldLocation::Body,
            Some(name),
            message,
        )])
    }

    /// No credentials at all: the bare challenge of RFC 6750 §3.
    pub fn unauthorized() -> Self {
        Self::Unauthorized(
            ErrorBody::new("unauthorized", "this operation needs a bearer access token"),
            format!("Bearer realm=\"{REALM}\""),
        )
    }

    /// `description` is a fixed sentence: it goes into a quoted header value.
    pub fn invalid_token(description: &'static str) -> Self {
        Self::Unauthorized(
            ErrorBody::new("invalid_token", description),
            format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
            ),
        )
    }

    pub fn insufficient_scope(needed: &str) -> Self {
        Self::Forbidden(
            ErrorBody::new(
                "insufficient_scope",
                format!("this operation needs the scope(s): {needed}"),
            ),
            format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{needed}\""),
        )
    }

    /// A client's own token at an operation on "the caller's own" account
    /// or items: no scope would help, so the challenge names none.
    pub fn not_a_user() -> Self {
        Self::Forbidden(
            ErrorBody::new(
                "forbidden",
                "this operation acts on the caller's own account or items; \
                 a client's own token has neither: use a user's token",
            ),
            format!("Bearer realm=\"{REALM}\""),
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(ErrorBody::new("not_found", format!("no such {what}")))
    }

    pub fn conflict(description: impl Into<String>) -> Self {
        Self::Conflict(ErrorBody::new("conflict", description))
    }

    pub fn payload_too_large() -> Self {
        Self::PayloadTooLarge(ErrorBody::new(
            "payload_too_large",
            format!(
                "the request body is over {} bytes",
                crate::state::MAX_BODY_BYTES
            ),
        ))
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::TooManyRequests(
            ErrorBody::new(
                "too_many_requests",
                "too many failed attempts; wait before trying again",
            ),
            retry_after.max(1),
        )
    }

    pub fn internal() -> Self {
        Self::Internal(Self::internal_body())
    }

    pub fn internal_body() -> Json<ErrorBody> {
        ErrorBody::new(
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn unavailable() -> Self {
        Self::Unavailable(
            ErrorBody::new(
                "unavailable",
                "the database is busy or unreachable; try again shortly",
            ),
            RETRY_AFTER_UNAVAILABLE,
        )
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::Unavailable(
                ErrorBody::new(
                    "unavailable",
                    "too many password checks are waiting; try again shortly",
                ),
                RETRY_AFTER_UNAVAILABLE,
            ),
            other => {
                tracing::error!(error = %other, "password hashing failed");
                Self::internal()
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Conflict => Self::conflict("that conflicts with an existing record"),
            DbError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                crate::metrics::database_error(true);
                Self::unavailable()
            }
            DbError::Other(source) => {
                tracing::error!(error = %source, "database error");
                crate::metrics::database_error(false);
                Self::internal()
            }
        }
    }
}

impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::Invalid { field, reason } => Self::invalid_body_field(field, reason),
            UserError::UsernameTaken | UserError::LastAdmin => Self::conflict(err.to_string()),
            UserError::NotFound => Self::not_found("user"),
            UserError::Db(err) => err.into(),
            UserError::Hash(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{HashLoad, Metrics};

    struct NoApi;

    #[poem_openapi::OpenApi]
    impl NoApi {}

    /// A storage error is counted by the request that answers it, once.
    #[tokio::test]
    async fn database_errors_count_inside_a_request_only() {
        let metrics = Metrics::new::<NoApi>(
            || HashLoad {
                free: 2,
                waiting: 0,
            },
            2,
        );
        let unavailable = || DbError::Unavailable(sqlx::Error::PoolTimedOut);
        let other = || DbError::Other(sqlx::Error::RowNotFound);
        let _ = ApiError::from(unavailable());
        metrics
            .scope(async {
                let _ = ApiError::from(unavailable());
                let _ = ApiError::from(other());
            })
            .await;
        let text = metrics.render();
        assert!(
            text.contains("tollgate_database_errors_total{kind=\"unavailable\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tollgate_database_errors_total{kind=\"other\"} 1"),
            "{text}"
        );
        assert!(text.contains("tollgate_build_info{version=\""), "{text}");
        assert!(text.contains("tollgate_hash_slots 2"), "{text}");
    }
}
