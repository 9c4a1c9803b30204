//! The client credentials grant (RFC 6749 §4.4): a token for an
//! authenticated confidential client itself.

use super::{GrantError, Issued, Subject, sign};
use crate::{
    auth::{
        AuthContext,
        clients::{Client, ClientType, GrantType},
        scopes::ScopeSet,
    },
    db,
};

/// A token whose `sub` is the client's id (never all digits, so never a
/// user's), with the requested scopes (all of the client's when none is
/// requested), no refresh token and no session.
pub async fn client_credentials(
    ctx: &AuthContext,
    client: &Client,
    scope: Option<&str>,
) -> Result<Issued, GrantError> {
    if client.client_type != ClientType::Confidential
        || !client.allows(GrantType::ClientCredentials)
    {
        return Err(GrantError::UnauthorizedClient);
    }
    let granted = match scope.map(ScopeSet::parse).transpose()? {
        Some(requested) if !client.scopes.contains(requested) => {
            return Err(GrantError::InvalidScope(
                "the requested scope is beyond this client's scopes".into(),
            ));
        }
        Some(requested) => requested,
        None => client.scopes,
    };
    let subject = Subject {
        sub: client.client_id.clone(),
        version: client.token_version,
        family_id: None,
        sid: None,
    };
    let access_token = sign(ctx, &subject, granted, &client.client_id, db::now())?;
    tracing::info!(client_id = %client.client_id, scope = %granted, "client credentials grant issued");
    Ok(Issued {
        access_token,
        expires_in: ctx.policy.access_ttl.as_secs(),
        refresh_token: None,
        scope: granted,
    })
}
