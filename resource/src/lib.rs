//! Scope enforcement for other poem-openapi services that accept tollgate's
//! access tokens: no database, no shared secret. This crate is all a service
//! that verifies tollgate's tokens builds; tollgate itself verifies its own
//! tokens with the same code (`token`, `key`, `jwks`).
//!
//! A resource server declares its operations' scopes exactly as tollgate
//! does, with `#[oai(scope = "...")]` on the security parameter, and gets:
//!
//! - bearer verification with the keys tollgate publishes ([`JwksVerifier`]):
//!   the issuer's RFC 8414 metadata names the `jwks_uri`; the JWKS is cached
//!   for its `Cache-Control: max-age` and refetched, at most once per
//!   [`CachePolicy::min_refetch`], when a token names an unknown `kid`;
//!   expired keys keep verifying while a spawned task refreshes them, and
//!   holding no keys is 503 (never 401);
//! - keys only over HTTPS or from a loopback issuer, unless
//!   [`CachePolicy::allow_plain_http`]; no redirects followed;
//! - the checks tollgate makes itself: the key's algorithm pinned, `typ`
//!   `at+jwt`, `iss`, `aud`, `sub`, `exp` (with a few seconds' leeway);
//! - the scope check from the same declaration ([`DeclaredScopes`]);
//! - RFC 6750 answers: `WWW-Authenticate` challenges and JSON
//!   `{"error", "error_description"}` bodies.
//!
//! ```ignore
//! let verifier = JwksVerifier::new("https://auth.example.com", "tollgate");
//! let guard = ResourceGuard::new::<MyApi>(verifier, "my-service");
//! let app = Route::new().nest("/", OpenApiService::new(MyApi, "my", "1")).with(guard);
//! ```
//!
//! and a checker that calls [`check`]; `examples/resource_server.rs` is a
//! complete service. Tokens are verified without asking tollgate. Alone,
//! that leaves a revoked token valid here until it expires (15 minutes by
//! default); with [`JwksVerifier::subscribe`] a background task long-polls
//! tollgate's revocation events (RFC 8936 SETs) and the tokens of an ended
//! session are refused within about a second of the revocation. A service
//! that must ask at every request calls tollgate's introspection endpoint.
//!
//! The service must be nested at `/`: the scope table is keyed by the route
//! patterns poem-openapi registers. HTTPS fetches need the `tls` feature.

mod alg;
pub mod events;
mod fetch;
mod guard;
pub mod jwks;
pub mod key;
mod revoked;
pub mod scopes;
pub mod token;
mod verifier;

pub use alg::SigningAlg;
pub use events::{EventsAuth, EventsConfig, EventsStatus};
pub use guard::{GuardEndpoint, Principal, ResourceGuard, check};
pub use revoked::WhenStale;
pub use scopes::DeclaredScopes;
pub use token::TokenError;
pub use verifier::{CachePolicy, Claims, JwksVerifier, VerifyError};
