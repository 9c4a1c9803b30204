//! The one error shape of the API: `{"error", "error_description"}`.
//!
//! The rule: a client gets a fixed, safe message and a code from the contract;
//! the detail (driver text, the failing statement) goes to the log. Nothing
//! here ever formats a password, hash, token or key.

use poem::{
    IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError, SizedLimitError},
    http::StatusCode,
};
use poem_openapi::{
    ApiResponse, Object,
    error::{
        AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    },
    payload::Json,
};

use crate::{
    auth::{password::HashError, users::UserError},
    db::DbError,
};

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// A code from RFC 6749 §5.2, RFC 6750 §3.1, or `unauthorized`, `not_found`,
    /// `conflict`, `payload_too_large`, `too_many_requests`, `internal_error`,
    /// `unavailable`.
    pub error: String,
    /// A sentence for the person reading it.
    pub error_description: String,
}

impl ErrorBody {
    pub fn new(error: &str, description: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.to_owned(),
            error_description: description.into(),
        })
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
    /// The token lacks the scope this operation needs (`insufficient_scope`).
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
                crate::app::MAX_BODY_BYTES
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
            UserError::Invalid { .. } => Self::invalid_request(err.to_string()),
            UserError::UsernameTaken | UserError::LastAdmin => Self::conflict(err.to_string()),
            UserError::NotFound => Self::not_found("user"),
            UserError::Db(err) => err.into(),
            UserError::Hash(err) => err.into(),
        }
    }
}

/// What the error shaping needs to know of a request before it is handled.
#[derive(Debug, Clone, Copy)]
pub struct ErrorShape {
    has_bearer: bool,
    query_token: bool,
}

impl ErrorShape {
    pub fn of(req: &Request) -> Self {
        let has_bearer = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().get(..6))
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"));
        Self {
            has_bearer,
            query_token: crate::auth::bearer::has_query_token(req),
        }
    }

    /// The answer to the request: every error that poem, poem-openapi or a
    /// handler raised, in the contract's JSON shape.
    pub fn response(self, result: poem::Result<Response>) -> Response {
        match result {
            Ok(response) => response,
            Err(err) if err.is_from_response() => err.into_response(),
            // A token only in the query string: refused as such, not taken for no token.
            Err(err) if err.is::<AuthorizationError>() && self.query_token => {
                crate::auth::bearer::query_token_refused().into_response()
            }
            Err(err) if err.is::<MethodNotAllowedError>() => method_not_allowed(&err),
            Err(err) => classify(err, self.has_bearer).into_response(),
        }
    }
}

/// 405 with the `Allow` header RFC 9110 §15.5.6 requires, listing the methods
/// the spec declares for the matched path (and `HEAD` where there is `GET`).
fn method_not_allowed(err: &poem::Error) -> Response {
    let body = ErrorBody::new("invalid_request", "this path does not answer that method");
    let mut response = body.into_response();
    response.set_status(StatusCode::METHOD_NOT_ALLOWED);
    let allow = err
        .data::<poem::PathPattern>()
        .and_then(|pattern| allowed_methods().get(pattern.0.as_ref()));
    if let Some(value) = allow.and_then(|methods| methods.parse().ok()) {
        response
            .headers_mut()
            .insert(poem::http::header::ALLOW, value);
    }
    response
}

/// The `Allow` value of every route pattern, read from the same API metadata
/// as the spec.
fn allowed_methods() -> &'static std::collections::HashMap<String, String> {
    static ALLOW: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    ALLOW.get_or_init(|| {
        let mut methods = std::collections::HashMap::<String, Vec<String>>::new();
        let apis = <crate::api::Api as poem_openapi::OpenApi>::meta();
        for path in apis.into_iter().flat_map(|api| api.paths) {
            let entry = methods
                .entry(crate::resource::scopes::route_pattern(&path.path))
                .or_default();
            for op in path.operations {
                if op.method == poem::http::Method::GET {
                    entry.push("HEAD".into());
                }
                entry.push(op.method.to_string());
            }
        }
        methods
            .into_iter()
            .map(|(pattern, mut list)| {
                list.sort();
                list.dedup();
                (pattern, list.join(", "))
            })
            .collect()
    })
}

fn classify(err: poem::Error, has_bearer: bool) -> ApiError {
    if err.is::<AuthorizationError>() {
        return if has_bearer {
            ApiError::invalid_token("the Authorization header is not a well-formed bearer token")
        } else {
            ApiError::unauthorized()
        };
    }
    if err.is::<ParseRequestPayloadError>()
        || err.is::<ParseParamError>()
        || err.is::<ParsePathError>()
        || err.is::<ParseMultipartError>()
        || err.is::<ContentTypeError>()
    {
        return ApiError::invalid_request(without_values(&err.to_string()));
    }
    if err.is::<NotFoundError>() {
        return ApiError::not_found("path");
    }
    if err.is::<MethodNotAllowedError>() {
        return ApiError::BadRequest(ErrorBody::new(
            "invalid_request",
            "this path does not answer that method",
        ));
    }
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE
        || matches!(
            err.downcast_ref::<ReadBodyError>(),
            Some(ReadBodyError::PayloadTooLarge)
        )
        || err.is::<SizedLimitError>()
    {
        return ApiError::payload_too_large();
    }
    if err.status().is_client_error() {
        return ApiError::invalid_request(without_values(&err.to_string()));
    }
    tracing::error!(error = %err, "unhandled error");
    ApiError::internal()
}

/// poem-openapi's type errors quote the value received (`found "…"`): cut it,
/// since that value may be a password sent in the wrong shape.
fn without_values(message: &str) -> String {
    match message.find(", found ") {
        Some(at) => {
            let context = message
                .rfind(" (occurred while parsing")
                .map_or("", |i| &message[i..]);
            format!("{}.{}", &message[..at], context)
        }
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn values_are_cut_from_type_errors() {
        let message = r#"failed to parse "string": Expected input type "string", found "hunter2". (occurred while parsing "Body")"#;
        let safe = without_values(message);
        assert!(!safe.contains("hunter2"), "{safe}");
        assert!(safe.contains("(occurred while parsing \"Body\")"), "{safe}");
    }
}
