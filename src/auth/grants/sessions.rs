//! Ending a session (RFC 7009) and telling whether a token is live (RFC
//! 7662), by the same rules its use faces.

use crate::{
    auth::{AuthContext, sha256_hex},
    db::{
        self, DbError,
        events::{Ending, Reason},
    },
};

/// RFC 7009: revokes the family of an access or refresh token. Unknown and
/// malformed tokens are not an error; `true` when a live session ended.
pub async fn revoke(ctx: &AuthContext, token: &str, client_id: &str) -> Result<bool, DbError> {
    // RFC 7009 §2.1: only the client the token was issued to may revoke it;
    // for any other, as for an unknown token, nothing happens and the answer
    // is the same 200.
    let tokens = ctx.store.tokens();
    let hash;
    let (which, owner) = match ctx.keys.family_of(token) {
        Some(family_id) => (
            Ending::Family(family_id),
            tokens.grant(family_id).await?.map(|g| g.client_id),
        ),
        None => {
            hash = sha256_hex(token);
            let owner = tokens
                .refresh_state(&hash)
                .await?
                .map(|s| s.grant.client_id);
            (Ending::RefreshToken(&hash), owner)
        }
    };
    if owner.as_deref() != Some(client_id) {
        if owner.is_some() {
            tracing::warn!(
                event = "revocation_refused",
                client_id,
                "a client tried to revoke a token issued to another client"
            );
        }
        return Ok(false);
    }
    let revoked = ctx
        .store
        .end_sessions(which, Reason::Revoked, db::now())
        .await?
        > 0;
    if revoked {
        tracing::info!(
            event = "session_revoked",
            "a session was revoked (RFC 7009)"
        );
    }
    Ok(revoked)
}

/// What RFC 7662 introspection tells of a live token; `None` for anything
/// else (revoked, expired, spent, malformed, foreign, unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub scope: String,
    pub client_id: String,
    /// `None` for a client's own token.
    pub username: Option<String>,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Option<String>,
    /// `Bearer` for an access token, `refresh_token` for a refresh token.
    pub token_type: &'static str,
}

/// RFC 7662 §2.2: whether `token` is live now, by the same checks its use
/// would face (for an access token: signature, claims, user and session;
/// for a refresh token: not spent, session live, user unchanged), so a
/// revocation is reflected at the next call.
pub async fn introspect(ctx: &AuthContext, token: &str) -> Result<Option<Introspection>, DbError> {
    if let Ok(claims) = ctx.keys.verify(token) {
        let username = match claims.fam {
            Some(family_id) => {
                let Ok(user_id) = claims.sub.parse::<i64>() else {
                    return Ok(None);
                };
                let live = ctx
                    .store
                    .auth_row(user_id, family_id)
                    .await?
                    .filter(|row| row.admits(claims.ver));
                match live {
                    Some(row) => Some(row.user.username),
                    None => return Ok(None),
                }
            }
            None => {
                if !client_token_is_live(ctx, &claims).await? {
                    return Ok(None);
                }
                None
            }
        };
        return Ok(Some(Introspection {
            scope: claims.scope,
            client_id: claims.client_id,
            username,
            sub: claims.sub,
            exp: claims.exp,
            iat: claims.iat,
            jti: Some(claims.jti),
            token_type: "Bearer",
        }));
    }
    let now = db::now();
    let state = ctx.store.tokens().refresh_state(&sha256_hex(token)).await?;
    Ok(state
        .filter(|state| !state.spent && state.grant.is_live(now))
        .map(|state| Introspection {
            scope: state.grant.scope,
            client_id: state.grant.client_id,
            username: Some(state.username),
            sub: state.grant.user_id.to_string(),
            exp: state.grant.expires_at,
            iat: state.issued_at,
            jti: None,
            token_type: "refresh_token",
        }))
}

/// Whether a client's own token (one without a family) may still be used:
/// its `sub` is its `client_id`, and the client exists, is enabled and has
/// the version the token was minted at (a new secret, a change of scopes or
/// disabling moves it). The one rule for client tokens.
pub async fn client_token_is_live(
    ctx: &AuthContext,
    claims: &crate::auth::jwt::AccessClaims,
) -> Result<bool, DbError> {
    if claims.sub != claims.client_id || crate::validate::client_id(&claims.sub).is_err() {
        return Ok(false);
    }
    let state = ctx.store.clients().token_state(&claims.client_id).await?;
    Ok(state.is_some_and(|(disabled, version)| !disabled && version == claims.ver))
}
