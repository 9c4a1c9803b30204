//! The caller's own account: `/users/me`.

use poem::web::{Data, RemoteAddr};
use poem_openapi::{Object, OpenApi};

use crate::{
    api::bearer::Auth,
    api::body::Body,
    api::errors::{BEARER, Errors, FORBIDDEN, TOO_MANY_REQUESTS, WITH_BODY},
    api::reply::Reply,
    api::{
        Tag,
        models::{NoContent, User, strict},
    },
    auth::grants::{self, PasswordChangeError},
    error::ApiError,
    state::AppState,
};

#[derive(Debug, Object)]
pub struct PasswordChange {
    #[oai(write_only, deserialize_with = "strict::text")]
    pub current_password: String,
    /// 8 to 72 bytes in UTF-8.
    // No length validator: poem-openapi's count characters; the handler counts bytes.
    #[oai(write_only, deserialize_with = "strict::text")]
    pub new_password: String,
}

#[derive(Default)]
pub struct MeApi;

#[OpenApi(tag = "Tag::Me")]
impl MeApi {
    /// Read your account
    #[oai(path = "/users/me", method = "get", operation_id = "get_me")]
    async fn me(&self, auth: Auth) -> Result<Reply<User>, Errors<{ BEARER | FORBIDDEN }>> {
        // The bearer check has just read the row; reading it again would
        // double the database work of this request.
        Ok(Reply(auth.user()?.user.clone().into()))
    }

    /// Change your password
    ///
    /// Every token issued before, this one included, stops working. Wrong
    /// `current_password` answers count in the login throttle (429 past its
    /// limit), and after five of them the session that sent them is ended.
    #[oai(
        path = "/users/me/password",
        method = "put",
        operation_id = "change_my_password"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        remote: &RemoteAddr,
        auth: Auth,
        body: Body<PasswordChange>,
    ) -> Result<NoContent, Errors<{ BEARER | FORBIDDEN | WITH_BODY | TOO_MANY_REQUESTS }>> {
        let addr = remote.as_socket_addr().map(|addr| addr.ip());
        let changed = grants::change_own_password(
            &state.auth,
            auth.user()?,
            addr,
            &body.current_password,
            &body.new_password,
        )
        .await;
        match changed {
            Ok(()) => Ok(NoContent::Done),
            Err(PasswordChangeError::WrongPassword { .. }) => Err(ApiError::invalid_body_field(
                "current_password",
                "is not your current password",
            )
            .into()),
            Err(PasswordChangeError::TooManyAttempts { retry_after }) => {
                Err(ApiError::too_many_requests(retry_after).into())
            }
            Err(PasswordChangeError::User(err)) => Err(err.into()),
        }
    }

    /// Log out everywhere
    ///
    /// Every access and refresh token of your account stops working.
    #[oai(
        path = "/users/me/logout-all",
        method = "post",
        operation_id = "logout_all"
    )]
    async fn logout_all(
        &self,
        state: Data<&AppState>,
        auth: Auth,
    ) -> Result<NoContent, Errors<{ BEARER | FORBIDDEN }>> {
        if !crate::auth::users::logout_all(state.store(), auth.user()?.user_id).await? {
            // Deleted since the bearer check read it: its tokens are gone too.
            return Err(ApiError::invalid_token("the access token has been revoked").into());
        }
        tracing::info!(
            event = "logout_all",
            user_id = auth.user()?.user_id,
            "every session of the user ended"
        );
        Ok(NoContent::Done)
    }
}
