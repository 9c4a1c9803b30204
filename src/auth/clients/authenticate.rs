//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3, RFC 7523 §2.2): which client a request is
//! from, and whether it proved it.

use std::net::IpAddr;

use super::{AuthMethod, BUILTIN_CLIENT_ID, Client, assertion};
use crate::{
    auth::{
        AuthContext, sha256_hex,
        throttle::{self, Counters, Verdict},
    },
    db::DbError,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// The client credentials of one request, as the HTTP layer found them
/// (it has already refused a request that uses two methods).
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// No credentials: a public client naming itself, or no client at all.
    Nothing { client_id: Option<&'a str> },
    /// A secret, by HTTP Basic (`basic`) or in the form.
    Secret {
        client_id: &'a str,
        secret: &'a str,
        basic: bool,
    },
    /// A `private_key_jwt` assertion; `client_id` when the form named one.
    Assertion {
        client_id: Option<&'a str>,
        assertion: &'a str,
    },
}

impl Presented<'_> {
    /// Whether HTTP Basic was tried (the 401 then carries a Basic challenge).
    pub fn basic(&self) -> bool {
        matches!(self, Presented::Secret { basic: true, .. })
    }
}

#[derive(Debug)]
pub enum ClientAuthError {
    /// Unknown client, wrong or missing credentials, disabled client: one
    /// answer for all (`invalid_client`).
    Invalid,
    /// Too many failed authentications for this client from this address,
    /// or from this address.
    TooManyAttempts {
        retry_after: u64,
    },
    Db(DbError),
}

impl From<DbError> for ClientAuthError {
    fn from(err: DbError) -> Self {
        ClientAuthError::Db(err)
    }
}

/// Which client `presented` proves the request is from. With no client
/// named, the built-in public client (when `TOLLGATE_PUBLIC_CLIENT` is on).
/// Failed secrets and assertions count in the throttle per (client,
/// address) and per address.
pub async fn authenticate(
    ctx: &AuthContext,
    presented: Presented<'_>,
    addr: Option<IpAddr>,
) -> Result<Client, ClientAuthError> {
    let builtin = ctx.policy.public_client;
    match presented {
        Presented::Nothing { client_id: None } if builtin => Ok(Client::builtin()),
        Presented::Nothing { client_id: None } => Err(fail(None, "no client named")),
        Presented::Nothing {
            client_id: Some(BUILTIN_CLIENT_ID),
        } if builtin => Ok(Client::builtin()),
        Presented::Nothing {
            client_id: Some(id),
        } => {
            // Nothing to guess here, so nothing to count: a public client
            // proves nothing, and a confidential one must send credentials.
            let client = lookup(ctx, id).await?;
            match client {
                Some(client) if client.method == AuthMethod::None && !client.disabled => Ok(client),
                _ => Err(fail(Some(id), "no credentials, or not a public client")),
            }
        }
        Presented::Secret {
            client_id,
            secret,
            basic,
        } => {
            let client = lookup(ctx, client_id).await?;
            let expected = client
                .as_ref()
                .and_then(|client| client.secret_hash.clone());
            let method = if basic {
                AuthMethod::ClientSecretBasic
            } else {
                AuthMethod::ClientSecretPost
            };
            // Compared in constant time, against a dummy when there is no
            // stored hash, so timing tells no case apart.
            let presented_hash = sha256_hex(secret);
            let equal = aws_lc_rs::constant_time::verify_slices_are_equal(
                presented_hash.as_bytes(),
                expected.as_deref().unwrap_or(DUMMY_HASH).as_bytes(),
            )
            .is_ok();
            let client =
                client.filter(|client| equal && expected.is_some() && client.method == method);
            settle(ctx, client_id, addr, client).await
        }
        Presented::Assertion {
            client_id,
            assertion,
        } => {
            let Some(named) = client_id
                .map(str::to_owned)
                .or_else(|| subject_of(assertion))
            else {
                return Err(fail(None, "assertion names no client"));
            };
            let client_id = named.as_str();
            let Some(client) = lookup(ctx, client_id).await? else {
                return settle(ctx, client_id, addr, None).await;
            };
            let issuer = ctx.keys.issuer().trim_end_matches('/').to_owned();
            let audiences = [format!("{issuer}/token"), ctx.keys.issuer().to_owned()];
            let verified = match client.method {
                AuthMethod::PrivateKeyJwt => {
                    let jwks = client.jwks.as_deref();
                    match assertion::verify(&ctx.store, client_id, jwks, assertion, &audiences)
                        .await
                    {
                        Ok(()) => true,
                        Err(assertion::AssertionError::Db(err)) => return Err(err.into()),
                        Err(assertion::AssertionError::Refused(reason)) => {
                            tracing::info!(client_id, reason, "client assertion refused");
                            false
                        }
                    }
                }
                _ => false,
            };
            settle(ctx, client_id, addr, Some(client).filter(|_| verified)).await
        }
    }
}

/// Records the outcome in the throttle and answers it. `client` is the
/// client when its credentials matched.
async fn settle(
    ctx: &AuthContext,
    client_id: &str,
    addr: Option<IpAddr>,
    client: Option<Client>,
) -> Result<Client, ClientAuthError> {
    let client = client.filter(|client| !client.disabled);
    // A name no client can have is counted under one placeholder, so the
    // counters' keys stay short and printable whatever was sent.
    let counted = match crate::validate::client_id(client_id) {
        Ok(()) => client_id,
        Err(_) => "-",
    };
    let keys = Counters::client(counted, addr);
    let verdict =
        throttle::settle_cheap(&ctx.store, &ctx.policy.throttle, &keys, client.is_some()).await?;
    match (verdict, client) {
        (Verdict::Refused { retry_after }, _) => {
            tracing::warn!(
                event = "client_auth_refused",
                client_id = counted,
                retry_after,
                "client authentication refused by the throttle"
            );
            Err(ClientAuthError::TooManyAttempts { retry_after })
        }
        (Verdict::Passed, Some(client)) => Ok(client),
        _ => Err(fail(Some(counted), "wrong credentials, or disabled")),
    }
}

fn fail(client_id: Option<&str>, reason: &'static str) -> ClientAuthError {
    tracing::info!(
        event = "client_auth_failed",
        client_id = ?client_id.unwrap_or("-"),
        reason,
        "client authentication failed"
    );
    ClientAuthError::Invalid
}

async fn lookup(ctx: &AuthContext, client_id: &str) -> Result<Option<Client>, DbError> {
    if crate::validate::client_id(client_id).is_err() {
        return Ok(None);
    }
    Ok(ctx
        .store
        .clients()
        .get(client_id)
        .await?
        .map(Client::from_row))
}

/// A hash no secret has (no SHA-256 output is known to be all zeros),
/// compared against when the client has none.
const DUMMY_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `sub` of an assertion, unverified: only to find the client whose
/// keys then verify it.
fn subject_of(assertion: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: String,
    }
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    Some(serde_json::from_slice::<Subject>(&bytes).ok()?.sub)
}
