//! CORS for the origins in `TOLLGATE_CORS_ORIGINS`, on the endpoints another
//! service's browser page needs to log in and verify tokens: `/token`,
//! `/token/revoke`, `/token/introspect`, the metadata and the JWKS. Nothing
//! else ever carries a CORS header, and neither does an answer to an origin
//! not listed. No `Access-Control-Allow-Credentials`: these endpoints take
//! their credentials in the form or the `Authorization` header, never from
//! cookies.

use poem::{
    Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
};

use crate::config::CorsOrigins;

/// The endpoints CORS applies to, with the method each takes.
const ENDPOINTS: &[(&str, &str)] = &[
    ("/token", "POST"),
    ("/token/revoke", "POST"),
    ("/token/introspect", "POST"),
    ("/.well-known/oauth-authorization-server", "GET"),
    ("/.well-known/jwks.json", "GET"),
];

/// How long a browser may keep a preflight's answer.
const MAX_AGE: &str = "600";

/// What CORS does for one request.
#[derive(Debug)]
pub enum Cors {
    /// Not an endpoint of CORS, or no origins configured: nothing.
    Off,
    /// An endpoint of CORS, but no listed `Origin`: only `Vary: Origin`, so
    /// a cache never hands this answer to a listed origin.
    Unlisted,
    /// A listed origin on an endpoint of CORS.
    Allowed {
        origin: HeaderValue,
        methods: &'static str,
    },
}

impl Cors {
    pub fn of(req: &Request, origins: &CorsOrigins) -> Self {
        if origins.0.is_empty() {
            return Self::Off;
        }
        let Some((_, methods)) = ENDPOINTS.iter().find(|(path, _)| *path == req.uri().path())
        else {
            return Self::Off;
        };
        match req.headers().get(header::ORIGIN) {
            Some(origin) if origins.0.iter().any(|o| o.as_bytes() == origin.as_bytes()) => {
                Self::Allowed {
                    origin: origin.clone(),
                    methods,
                }
            }
            _ => Self::Unlisted,
        }
    }

    /// The answer to a preflight request from a listed origin.
    pub fn preflight(&self, req: &Request) -> Option<Response> {
        let Self::Allowed { origin, methods } = self else {
            return None;
        };
        if req.method() != Method::OPTIONS
            || !req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        Some(
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())
                .header(header::ACCESS_CONTROL_ALLOW_METHODS, *methods)
                .header(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "authorization, content-type",
                )
                .header(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE)
                .header(
                    header::VARY,
                    "origin, access-control-request-method, access-control-request-headers",
                )
                .finish(),
        )
    }

    /// Adds the headers of an actual (not preflight) answer.
    pub fn apply(self, response: &mut Response) {
        let headers = response.headers_mut();
        match self {
            Self::Off => return,
            Self::Unlisted => {}
            Self::Allowed { origin, .. } => {
                if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
                    return;
                }
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static("www-authenticate, retry-after"),
                );
            }
        }
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}
