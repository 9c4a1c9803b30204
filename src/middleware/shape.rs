//! Every error that poem, poem-openapi or a handler raised, answered in the
//! contract's JSON shape (`crate::error`), with the details a request's
//! headers decide: a bearer token that did not parse, a token in the query
//! string, the `Allow` header of a 405.

use poem::{
    IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError, SizedLimitError},
    http::StatusCode,
    http::{Method, Uri},
};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};

use crate::{
    api::{
        bearer::{has_query_token, query_token_refused},
        fields,
    },
    error::{ApiError, ErrorBody, FieldLocation, InvalidField},
};

/// What the error shaping needs to know of a request before it is handled.
#[derive(Debug, Clone)]
pub struct ErrorShape {
    has_bearer: bool,
    query_token: bool,
    /// To find the operation whose parameter did not parse (both are
    /// reference-counted, not copied).
    method: Method,
    uri: Uri,
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
            query_token: has_query_token(req),
            method: req.method().clone(),
            uri: req.uri().clone(),
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
                query_token_refused().into_response()
            }
            Err(err) if err.is::<MethodNotAllowedError>() => method_not_allowed(&err),
            Err(err) => self.classify(err).into_response(),
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

impl ErrorShape {
    fn classify(&self, err: poem::Error) -> ApiError {
        classify(err, self.has_bearer, |location, name| {
            fields::parameter::<crate::api::Api>(&self.method, self.uri.path(), location, name)
        })
    }
}

fn classify(
    err: poem::Error,
    has_bearer: bool,
    parameter: impl Fn(FieldLocation, &str) -> InvalidField,
) -> ApiError {
    if err.is::<AuthorizationError>() {
        return if has_bearer {
            ApiError::invalid_token("the Authorization header is not a well-formed bearer token")
        } else {
            ApiError::unauthorized()
        };
    }
    if let Some(path) = err.downcast_ref::<ParsePathError>() {
        return ApiError::invalid_fields(vec![parameter(FieldLocation::Path, path.name)]);
    }
    if let Some(query) = err.downcast_ref::<ParseParamError>() {
        return ApiError::invalid_fields(vec![parameter(FieldLocation::Query, query.name)]);
    }
    if let Some(content_type) = err.downcast_ref::<ContentTypeError>() {
        return ApiError::invalid_request(match content_type {
            ContentTypeError::NotSupported { .. } => {
                "this operation does not take a body of that Content-Type"
            }
            ContentTypeError::ExpectContentType => "the request body needs a Content-Type header",
        });
    }
    if err.is::<ParseRequestPayloadError>() || err.is::<ParseMultipartError>() {
        return ApiError::invalid_fields(vec![InvalidField::new(
            FieldLocation::Body,
            None,
            "could not be read as this operation's body",
        )]);
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
