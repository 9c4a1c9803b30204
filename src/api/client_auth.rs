//! Reading client credentials from a request to `/token`, `/token/revoke`
//! or `/token/introspect` (RFC 6749 §2.3.1, RFC 7521 §4.2), and the
//! answers to failed client authentication (RFC 6749 §5.2).

use base64::{Engine, engine::general_purpose::STANDARD};
use poem::Request;

use crate::{
    api::bearer,
    auth::{
        ClientCaller, Principal,
        clients::{self, AuthMethod, ClientAuthError, Presented},
        scopes::Scope,
    },
    error::{ApiError, ErrorBody, REALM},
    state::AppState,
};

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client fields of a form, empty values already read as absent.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientFields<'a> {
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub assertion_type: Option<&'a str>,
    pub assertion: Option<&'a str>,
}

/// The credentials found in a request: HTTP Basic's decoded values are
/// owned, the form's borrowed.
pub enum Found<'a> {
    Basic { client_id: String, secret: String },
    Form(Presented<'a>),
}

impl Found<'_> {
    pub fn presented(&self) -> Presented<'_> {
        match self {
            Found::Basic { client_id, secret } => Presented::Secret {
                client_id,
                secret,
                basic: true,
            },
            Found::Form(presented) => *presented,
        }
    }
}

/// Reads the request's client credentials. Using two methods at once, or
/// half of one, is `Err` with the `invalid_request` description.
pub fn read<'a>(req: &Request, form: ClientFields<'a>) -> Result<Found<'a>, String> {
    let basic = basic_credentials(req)?;
    let assertion = match (form.assertion_type, form.assertion) {
        (None, None) => None,
        (Some(JWT_BEARER), Some(assertion)) => Some(assertion),
        (Some(JWT_BEARER), None) => {
            return Err("client_assertion_type needs a client_assertion".into());
        }
        (None, Some(_)) => {
            return Err(format!(
                "client_assertion needs client_assertion_type={JWT_BEARER}"
            ));
        }
        (Some(_), _) => {
            return Err(format!("client_assertion_type must be {JWT_BEARER}"));
        }
    };
    let methods = [
        basic.is_some(),
        form.client_secret.is_some(),
        assertion.is_some(),
    ];
    if methods.iter().filter(|used| **used).count() > 1 {
        return Err("the request uses more than one client authentication method; use one".into());
    }
    if let Some((client_id, secret)) = basic {
        if form.client_id.is_some_and(|named| named != client_id) {
            return Err("client_id in the form differs from the one in HTTP Basic".into());
        }
        return Ok(Found::Basic { client_id, secret });
    }
    Ok(Found::Form(match (form.client_secret, assertion) {
        (Some(secret), _) => Presented::Secret {
            client_id: form
                .client_id
                .ok_or("client_secret needs client_id in the form")?,
            secret,
            basic: false,
        },
        (None, Some(assertion)) => Presented::Assertion {
            client_id: form.client_id,
            assertion,
        },
        (None, None) => Presented::Nothing {
            client_id: form.client_id,
        },
    }))
}

/// The client fields of a form (RFC 6749 §2.3.1, RFC 7523 §2.2), each
/// checked as `token::field` checks it. Written out in each form rather than
/// flattened: serde's flatten would stop refusing a repeated field.
#[macro_export]
macro_rules! client_fields {
    ($form:ty) => {
        impl $form {
            pub fn client_fields(
                &self,
            ) -> Result<$crate::api::client_auth::ClientFields<'_>, String> {
                $crate::api::client_auth::form_fields(
                    &self.client_id,
                    &self.client_secret,
                    &self.client_assertion_type,
                    &self.client_assertion,
                )
            }
        }
    };
}

pub fn form_fields<'a>(
    client_id: &'a Option<String>,
    client_secret: &'a Option<String>,
    assertion_type: &'a Option<String>,
    assertion: &'a Option<String>,
) -> Result<ClientFields<'a>, String> {
    let client_id = crate::api::token::field(client_id, "client_id")?;
    // Stored with the session and printed by `tollgate sessions list`: no
    // control or format character (a terminal escape, a bidi override, NUL).
    if client_id.is_some_and(|id| id.chars().any(crate::validate::is_unprintable)) {
        return Err(
            "the parameter `client_id` may not contain control or format characters".into(),
        );
    }
    Ok(ClientFields {
        client_id,
        client_secret: crate::api::token::field(client_secret, "client_secret")?,
        assertion_type: crate::api::token::field(assertion_type, "client_assertion_type")?,
        assertion: crate::api::token::field(assertion, "client_assertion")?,
    })
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1: id and secret each
/// form-urlencoded, then joined by `:` and base64-encoded). Empty id and
/// secret (Swagger UI's `Basic Og==` beside a password login) count as
/// none, as does any other scheme. Basic credentials that do not decode are
/// credentials that failed: the id [`MALFORMED`] is no client's, so they
/// answer 401 `invalid_client` with the Basic challenge (RFC 6749 §5.2).
fn basic_credentials(req: &Request) -> Result<Option<(String, String)>, String> {
    let Some(value) = req.headers().get(poem::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let parts = decoded.as_deref().and_then(|text| {
        let (id, secret) = text.split_once(':')?;
        Some((form_urldecode(id)?, form_urldecode(secret)?))
    });
    Ok(match parts {
        Some((id, secret)) if id.is_empty() && secret.is_empty() => None,
        Some(credentials) => Some(credentials),
        None => Some((MALFORMED.to_owned(), String::new())),
    })
}

/// The client id of Basic credentials that did not decode: not a valid id.
const MALFORMED: &str = "(malformed)";

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a
/// space, `%XX` a byte; the result must be UTF-8.
fn form_urldecode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(at + 1..at + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                at += 2;
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8(out).ok()
}

/// The body of a failed client authentication.
pub fn invalid_client_body() -> poem_openapi::payload::Json<ErrorBody> {
    ErrorBody::new(
        "invalid_client",
        "client authentication failed (unknown client, wrong or missing credentials, or disabled)",
    )
}

/// The challenge of a 401 `invalid_client`: Basic when Basic was tried
/// (RFC 6749 §5.2).
pub fn basic_challenge() -> String {
    format!("Basic realm=\"{REALM}\"")
}

/// A failed client authentication as a resource endpoint's error: 401
/// `invalid_client` (challenging with Basic when Basic was tried, else
/// with Bearer, which the endpoint takes too), 429, or the store's error.
pub fn api_error(err: ClientAuthError, basic: bool) -> ApiError {
    match err {
        ClientAuthError::Invalid => ApiError::Unauthorized(
            invalid_client_body(),
            if basic {
                basic_challenge()
            } else {
                format!("Bearer realm=\"{REALM}\"")
            },
        ),
        ClientAuthError::TooManyAttempts { retry_after } => {
            ApiError::too_many_requests(retry_after)
        }
        ClientAuthError::Db(err) => err.into(),
    }
}

/// The caller of an endpoint that takes a bearer token or else client
/// credentials (introspection, the event poll), once the bearer check did
/// not admit the request: a bearer token that failed its check answers as it
/// would anywhere else, no credentials at all is the bare 401, and a client
/// must be confidential with `scope` among its scopes.
pub async fn bearer_or_client(
    state: &AppState,
    req: &Request,
    addr: Option<std::net::IpAddr>,
    fields: ClientFields<'_>,
    scope: Scope,
) -> Result<Principal, ApiError> {
    if let Some(token) = bearer_token(req) {
        return bearer::principal(req, token).await;
    }
    let found = read(req, fields).map_err(ApiError::invalid_request)?;
    let presented = found.presented();
    if let Presented::Nothing { .. } = presented {
        return Err(ApiError::unauthorized());
    }
    let client = clients::authenticate(&state.auth, presented, addr)
        .await
        .map_err(|err| api_error(err, presented.basic()))?;
    if client.method == AuthMethod::None || !client.scopes.has(scope) {
        return Err(ApiError::insufficient_scope(scope.as_str()));
    }
    Ok(Principal::Client(ClientCaller {
        client_id: client.client_id,
        scopes: client.scopes,
    }))
}

/// The value of an `Authorization: Bearer` header, if that is what it is.
fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.headers().get(poem::http::header::AUTHORIZATION)?;
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::form_urldecode;

    #[test]
    fn form_urldecoding_reads_plus_and_percent_escapes() {
        assert_eq!(form_urldecode("a+b%3A%25c").as_deref(), Some("a b:%c"));
        assert_eq!(form_urldecode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(form_urldecode("bad%2"), None);
        assert_eq!(form_urldecode("bad%zz"), None);
        assert_eq!(form_urldecode("%FF"), None);
        assert_eq!(form_urldecode("%+1"), None);
    }
}
