//! The caller's own account: `/users/me`.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use crate::{
    api::body::Body,
    api::{
        Tag,
        models::{NoContent, User, check, strict},
    },
    app::AppState,
    auth::{bearer::Auth, password},
    db::{self, users::UserPatch},
    error::{ApiError, ApiResult},
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

pub struct MeApi;

#[OpenApi(tag = "Tag::Me")]
impl MeApi {
    /// Read your account
    #[oai(path = "/users/me", method = "get")]
    async fn me(&self, auth: Auth) -> ApiResult<Json<User>> {
        // The bearer check has just read the row; reading it again would
        // double the database work of this request.
        Ok(Json(auth.0.user.into()))
    }

    /// Change your password
    ///
    /// Every token issued before, this one included, stops working.
    #[oai(path = "/users/me/password", method = "put")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<PasswordChange>,
    ) -> ApiResult<NoContent> {
        check(
            "new_password",
            password::validate(&body.new_password, Some(&auth.0.user.username)),
        )?;
        let current = db::users::password_hash(&state.pool, auth.0.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let matched = state
            .hasher
            .verify(&body.current_password, Some(&current))
            .await
            .map_err(ApiError::from)?;
        if !matched {
            return Err(ApiError::invalid_request(
                "current_password: that is not your current password",
            ));
        }
        let hash = state
            .hasher
            .hash(&body.new_password)
            .await
            .map_err(ApiError::from)?;
        let patch = UserPatch {
            password_hash: Some(hash),
            ..UserPatch::default()
        };
        match db::users::update(&state.pool, auth.0.user_id, &patch).await? {
            db::users::Change::Done(_) => Ok(NoContent::Done),
            db::users::Change::NotFound => Err(ApiError::not_found("user")),
            db::users::Change::LastAdmin => Err(ApiError::internal()),
        }
    }

    /// Log out everywhere
    ///
    /// Every access and refresh token of your account stops working.
    #[oai(path = "/users/me/logout-all", method = "post")]
    async fn logout_all(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<NoContent> {
        if !db::users::bump_version(&state.pool, auth.0.user_id).await? {
            return Err(ApiError::not_found("user"));
        }
        Ok(NoContent::Done)
    }
}
