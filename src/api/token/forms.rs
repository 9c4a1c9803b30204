//! The forms of `POST /token` and `POST /token/revoke`, and how their
//! values are read.

use poem_openapi::Object;
use serde::Deserialize;

use crate::validate::MAX_FORM_FIELD_BYTES;

/// The form of `POST /token`. A field sent empty counts as omitted; unknown
/// fields are ignored; a repeated field is refused.
#[derive(Debug, Default, Object, Deserialize)]
pub struct TokenRequest {
    /// `password` (the default when omitted), `refresh_token` or
    /// `client_credentials`.
    pub grant_type: Option<String>,
    /// For the password grant.
    pub username: Option<String>,
    /// For the password grant.
    #[oai(write_only)]
    pub password: Option<String>,
    /// Space-delimited scopes; omitted means all the user holds within the
    /// client's scopes (password grant), all of the original grant (refresh
    /// grant), or all of the client's (client credentials grant).
    pub scope: Option<String>,
    /// For the refresh grant: the `refresh_token` of an earlier response. This
    /// request spends it; presenting it again revokes its whole login.
    #[oai(write_only)]
    pub refresh_token: Option<String>,
    /// The client; omitted (with no HTTP Basic): the built-in public client
    /// `tollgate`.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    #[oai(write_only)]
    pub client_secret: Option<String>,
    /// For `private_key_jwt`:
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`: the signed assertion.
    #[oai(write_only)]
    pub client_assertion: Option<String>,
}

crate::client_fields!(TokenRequest);
crate::client_fields!(RevokeRequest);

/// The form of `POST /token/revoke` (RFC 7009 §2.1).
#[derive(Debug, Default, Object, Deserialize)]
pub struct RevokeRequest {
    /// An access or refresh token (required, RFC 7009 §2.1).
    #[oai(write_only, validator(min_length = 1))]
    #[serde(default)]
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only.
    pub token_type_hint: Option<String>,
    /// The client; omitted (with no HTTP Basic): the built-in public client
    /// `tollgate`.
    pub client_id: Option<String>,
    /// For `client_secret_post`.
    #[oai(write_only)]
    pub client_secret: Option<String>,
    /// For `private_key_jwt`:
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    pub client_assertion_type: Option<String>,
    /// For `private_key_jwt`: the signed assertion.
    #[oai(write_only)]
    pub client_assertion: Option<String>,
}

/// A form value, with empty counting as omitted (RFC 6749 §3.2).
pub fn field<'a>(value: &'a Option<String>, name: &str) -> Result<Option<&'a str>, String> {
    match value.as_deref() {
        Some(v) if v.len() > MAX_FORM_FIELD_BYTES => Err(format!(
            "the parameter `{name}` is longer than {MAX_FORM_FIELD_BYTES} bytes"
        )),
        Some("") | None => Ok(None),
        Some(v) => Ok(Some(v)),
    }
}

pub fn describe_form_error(err: &poem::Error) -> String {
    let message = err.to_string();
    if let Some(start) = message.find("duplicate field `") {
        let name = message[start + 17..].split('`').next().unwrap_or("");
        return format!("the parameter `{name}` was sent more than once");
    }
    if err.is::<poem_openapi::error::ContentTypeError>() {
        return "the body must be application/x-www-form-urlencoded".into();
    }
    "the body is not a valid application/x-www-form-urlencoded form".into()
}
