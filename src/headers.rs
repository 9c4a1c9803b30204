//! Security headers on every response: `X-Content-Type-Options: nosniff`
//! everywhere; `Cache-Control: no-store` on everything but the public
//! documents (Swagger UI and the spec), so that no cache keeps an answer
//! meant for one caller; and on `/docs`, a policy that forbids framing.

use poem::{
    Response,
    http::{HeaderValue, header},
};

/// Swagger UI as poem-openapi embeds it: one page with its script and style
/// inline (hence `'unsafe-inline'`: there is no external file to allow
/// instead), images from `data:` and `blob:` URLs, and calls to this origin
/// only ("Authorize" posts to `/token`, "Execute" calls the API).
pub const DOCS_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     font-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What a path serves, as far as its headers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Swagger UI: the same for everyone, and never to be framed.
    Docs,
    /// The spec and the favicon: the same for everyone.
    Spec,
    /// Everything else: the API, whose answers may depend on the caller.
    Api,
}

impl Kind {
    pub fn of(path: &str) -> Self {
        match path {
            "/docs" => Self::Docs,
            path if path.starts_with("/docs/") => Self::Docs,
            "/openapi.json" | "/openapi.yaml" | "/favicon.ico" => Self::Spec,
            _ => Self::Api,
        }
    }
}

/// Adds the headers above to an answer from a path of this kind. An
/// endpoint that set its own `Cache-Control` (the token endpoint's
/// `no-store`, a public document's `max-age`) keeps it.
pub fn apply(kind: Kind, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    match kind {
        Kind::Api => {
            headers
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
        Kind::Docs => {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_POLICY),
            );
        }
        Kind::Spec => {}
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn paths_are_sorted_by_what_they_serve() {
        assert_eq!(Kind::of("/docs"), Kind::Docs);
        assert_eq!(Kind::of("/docs/oauth-receiver.html"), Kind::Docs);
        assert_eq!(Kind::of("/docsx"), Kind::Api);
        assert_eq!(Kind::of("/openapi.json"), Kind::Spec);
        assert_eq!(Kind::of("/users/me"), Kind::Api);
        assert_eq!(Kind::of("/healthz"), Kind::Api);
    }
}
