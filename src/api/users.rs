//! User management for holders of the `admin` scope: `/users`.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use crate::{
    api::body::Body,
    api::{
        Tag,
        models::{NoContent, PageRequest, User, UserPage, check, scope_set, strict},
    },
    app::AppState,
    auth::{bearer::Auth, password, scopes::Scope},
    db::{
        self,
        users::{Change, NewUser, UserPatch},
    },
    error::{ApiError, ApiResult},
    validate,
};

#[derive(Debug, Object)]
pub struct NewUserBody {
    /// 3 to 64 of `A-Z a-z 0-9 . _ -`, unique without regard to case.
    #[oai(
        deserialize_with = "strict::text",
        validator(pattern = r"^[A-Za-z0-9._-]{3,64}$")
    )]
    pub username: String,
    /// 8 to 72 bytes in UTF-8.
    // No length validator: poem-openapi's count characters; the handler counts bytes.
    #[oai(write_only, deserialize_with = "strict::text")]
    pub password: String,
    /// One `@` with something on both sides, no whitespace; `null` or absent: none.
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(
            max_length = 254,
            pattern = r"^[^@\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^@\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
        )
    )]
    pub email: Option<String>,
    /// `null` or absent: none.
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(max_length = 128)
    )]
    pub full_name: Option<String>,
    /// Scopes the user may be granted; none when `null` or absent.
    #[oai(nullable, validator(max_items = 3))]
    pub scopes: Option<Vec<Scope>>,
}

/// Absent fields are left as they are; `null` clears `email` or `full_name`.
#[derive(Debug, Object)]
pub struct UserUpdate {
    /// One `@` with something on both sides, no whitespace.
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(
            max_length = 254,
            pattern = r"^[^@\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^@\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
        )
    )]
    pub email: MaybeUndefined<String>,
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(max_length = 128)
    )]
    pub full_name: MaybeUndefined<String>,
    #[oai(deserialize_with = "strict::not_null", validator(max_items = 3))]
    pub scopes: Option<Vec<Scope>>,
    #[oai(deserialize_with = "strict::not_null")]
    pub disabled: Option<bool>,
    /// 8 to 72 bytes in UTF-8.
    // No length validator: poem-openapi's count characters; the handler counts bytes.
    #[oai(write_only, deserialize_with = "strict::text")]
    pub password: Option<String>,
}

#[derive(Debug, ApiResponse)]
pub enum UserCreated {
    /// Created; `Location` names the new user.
    #[oai(status = 201)]
    Created(Json<User>, #[oai(header = "Location")] String),
}

pub struct UsersApi;

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List users
    #[oai(path = "/users", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<UserPage>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let rows = db::users::list(&state.pool, page.after_id, page.fetch()).await?;
        let (rows, next_cursor) = page.finish(rows, |row| row.id);
        Ok(Json(UserPage {
            data: rows.into_iter().map(User::from).collect(),
            next_cursor,
        }))
    }

    /// Create a user
    #[oai(path = "/users", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        body: Body<NewUserBody>,
    ) -> ApiResult<UserCreated> {
        let body = body.0;
        check("username", validate::username(&body.username))?;
        check(
            "password",
            password::validate(&body.password, Some(&body.username)),
        )?;
        if let Some(email) = &body.email {
            check("email", validate::email(email))?;
        }
        let scopes = scope_set(body.scopes.as_deref().unwrap_or_default());
        let hash = state
            .hasher
            .hash(&body.password)
            .await
            .map_err(ApiError::from)?;
        let new = NewUser {
            username: &body.username,
            password_hash: &hash,
            email: body.email.as_deref(),
            full_name: body.full_name.as_deref(),
            scopes: &scopes.to_string(),
        };
        let user = db::users::create(&state.pool, &new)
            .await
            .map_err(|err| match err {
                db::DbError::Conflict => ApiError::conflict("that username is taken"),
                other => other.into(),
            })?;
        tracing::info!(user_id = user.id, "user created");
        let location = format!("/users/{}", user.id);
        Ok(UserCreated::Created(Json(user.into()), location))
    }

    /// Read a user
    #[oai(path = "/users/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        id: Path<i64>,
    ) -> ApiResult<Json<User>> {
        let user = db::users::get(&state.pool, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok(Json(user.into()))
    }

    /// Change a user
    ///
    /// A change of scopes, `disabled` or password ends that user's tokens.
    /// The last enabled admin cannot lose `admin` or be disabled (409).
    #[oai(path = "/users/:id", method = "patch")]
    async fn update(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        id: Path<i64>,
        body: Body<UserUpdate>,
    ) -> ApiResult<Json<User>> {
        let body = body.0;
        if let MaybeUndefined::Value(email) = &body.email {
            check("email", validate::email(email))?;
        }
        let scopes = body.scopes.as_deref().map(scope_set);
        let password_hash = match &body.password {
            Some(new) => {
                let user = db::users::get(&state.pool, id.0)
                    .await?
                    .ok_or_else(|| ApiError::not_found("user"))?;
                check("password", password::validate(new, Some(&user.username)))?;
                let hash = state.hasher.hash(new).await.map_err(ApiError::from)?;
                Some(hash)
            }
            None => None,
        };
        let patch = UserPatch {
            email: patch_field(body.email),
            full_name: patch_field(body.full_name),
            scopes: scopes.map(|s| s.to_string()),
            disabled: body.disabled,
            password_hash,
        };
        match db::users::update(&state.pool, id.0, &patch).await? {
            Change::Done(user) => {
                tracing::info!(user_id = user.id, "user changed");
                Ok(Json(user.into()))
            }
            Change::NotFound => Err(ApiError::not_found("user")),
            Change::LastAdmin => Err(last_admin()),
        }
    }

    /// Delete a user
    ///
    /// Their items and sessions go with them. The last enabled admin cannot
    /// be deleted (409).
    #[oai(path = "/users/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        id: Path<i64>,
    ) -> ApiResult<NoContent> {
        match db::users::delete(&state.pool, id.0).await? {
            Change::Done(()) => {
                tracing::info!(user_id = id.0, "user deleted");
                Ok(NoContent::Done)
            }
            Change::NotFound => Err(ApiError::not_found("user")),
            Change::LastAdmin => Err(last_admin()),
        }
    }
}

fn last_admin() -> ApiError {
    ApiError::conflict("that would leave no enabled user holding `admin`")
}

fn patch_field(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
