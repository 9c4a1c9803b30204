//! The public documents other services read: the JWKS (RFC 7517) of
//! `GET /.well-known/jwks.json` and the RFC 8414 authorization server
//! metadata of `GET /.well-known/oauth-authorization-server`.

use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, OctetKeyPairParameters, OctetKeyPairType, RSAKeyParameters,
    RSAKeyType, ThumbprintHash,
};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::SigningAlg;

/// A JWK Set: the public keys access tokens are verified with. Empty under
/// HS256, whose key is a shared secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Object, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// One public signing key. RSA keys carry `n` and `e`; EC keys `crv`, `x`
/// and `y`; Ed25519 (OKP) keys `crv` and `x`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct PublicJwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// The key id tokens name in their header: the RFC 7638 thumbprint.
    #[serde(default)]
    pub kid: String,
    /// The one algorithm this key verifies: `RS256`, `ES256` or `EdDSA`.
    #[serde(default)]
    pub alg: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    #[serde(rename = "use", default)]
    pub use_: String,
    /// RSA modulus, base64url.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// `P-256` or `Ed25519`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// EC x coordinate, or the Ed25519 public key, base64url.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
}

impl PublicJwk {
    fn bare(kty: &str) -> Self {
        Self {
            kty: kty.to_owned(),
            kid: String::new(),
            alg: String::new(),
            use_: "sig".to_owned(),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        }
    }

    pub fn rsa(n: String, e: String) -> Self {
        Self {
            n: Some(n),
            e: Some(e),
            ..Self::bare("RSA")
        }
    }

    pub fn ec(x: String, y: String) -> Self {
        Self {
            crv: Some("P-256".into()),
            x: Some(x),
            y: Some(y),
            ..Self::bare("EC")
        }
    }

    pub fn okp(x: String) -> Self {
        Self {
            crv: Some("Ed25519".into()),
            x: Some(x),
            ..Self::bare("OKP")
        }
    }

    /// Sets `alg` and the `kid`, the RFC 7638 SHA-256 thumbprint.
    pub fn with_kid_and_alg(mut self, alg: SigningAlg) -> Self {
        self.alg = alg.as_str().to_owned();
        self.kid = self.thumbprint().unwrap_or_default();
        self
    }

    /// RFC 7638 thumbprint (SHA-256, base64url), as jsonwebtoken computes it.
    pub fn thumbprint(&self) -> Option<String> {
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        let algorithm = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: field(&self.n),
                e: field(&self.e),
            }),
            ("EC", Some("P-256")) => {
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: field(&self.x),
                    y: field(&self.y),
                })
            }
            ("OKP", Some("Ed25519")) => AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: field(&self.x),
            }),
            _ => return None,
        };
        let jwk = Jwk {
            common: CommonParameters::default(),
            algorithm,
        };
        jwk.thumbprint(ThumbprintHash::SHA256).ok()
    }
}

/// RFC 8414 authorization server metadata.
// Read leniently: a field an issuer of another version leaves out reads as
// empty, so a verifier needs only `issuer` and `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Object, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthorizationServerMetadata {
    /// Equal to the `iss` of every token.
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub jwks_uri: String,
    /// `password`, `refresh_token` and `client_credentials`.
    pub grant_types_supported: Vec<String>,
    /// Empty: there is no authorization endpoint.
    pub response_types_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt`, and
    /// `none` for public clients.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// What `private_key_jwt` assertions may be signed with.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// As at the token endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// The confidential clients' methods (a bearer token with the
    /// `introspect` scope is accepted too, RFC 7662 §2.1).
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// The algorithm access tokens are signed with (not an RFC 8414 field).
    pub access_token_signing_alg_values_supported: Vec<String>,
}

impl AuthorizationServerMetadata {
    /// The document for `issuer` (used exactly as configured; endpoints are
    /// joined to it without a doubled slash).
    pub fn new(issuer: &str, alg: SigningAlg, scopes: &[&str]) -> Self {
        let base = issuer.trim_end_matches('/');
        let at = |path: &str| format!("{base}{path}");
        let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
        Self {
            issuer: issuer.to_owned(),
            token_endpoint: at("/token"),
            revocation_endpoint: at("/token/revoke"),
            introspection_endpoint: at("/token/introspect"),
            jwks_uri: at(JWKS_PATH),
            grant_types_supported: strings(&["password", "refresh_token", "client_credentials"]),
            response_types_supported: Vec::new(),
            scopes_supported: strings(scopes),
            token_endpoint_auth_methods_supported: strings(&CLIENT_AUTH_METHODS),
            token_endpoint_auth_signing_alg_values_supported: strings(CLIENT_ASSERTION_ALGS),
            revocation_endpoint_auth_methods_supported: strings(&CLIENT_AUTH_METHODS),
            revocation_endpoint_auth_signing_alg_values_supported: strings(CLIENT_ASSERTION_ALGS),
            introspection_endpoint_auth_methods_supported: strings(&CLIENT_AUTH_METHODS[..3]),
            introspection_endpoint_auth_signing_alg_values_supported: strings(
                CLIENT_ASSERTION_ALGS,
            ),
            access_token_signing_alg_values_supported: strings(&[alg.as_str()]),
        }
    }
}

/// The client authentication methods tollgate takes (RFC 7591 names); the
/// last, `none`, is for public clients, which cannot introspect.
pub const CLIENT_AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The algorithms a `private_key_jwt` assertion may be signed with:
/// asymmetric ones only.
pub const CLIENT_ASSERTION_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The `Cache-Control` of the JWKS: caches may keep it for `max_age`, which
/// is also how long a new key waits before it signs.
pub fn jwks_cache_control(max_age: std::time::Duration) -> String {
    format!("public, max-age={}", max_age.as_secs())
}

/// Where the JWKS is served.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Where the RFC 8414 metadata is served.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
