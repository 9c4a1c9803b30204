//! User management for holders of the `admin` scope: `/users`.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    types::MaybeUndefined,
};

use crate::{
    api::bearer::Auth,
    api::body::Body,
    api::errors::{CONFLICT, Errors, NOT_FOUND, SCOPED, WITH_BODY},
    api::reply::Reply,
    api::{
        Tag,
        models::{NoContent, PageRequest, User, UserPage, patch_field, scope_set, strict},
    },
    auth::{
        scopes::Scope,
        users::{self, NewAccount, UserChange},
    },
    error::ApiError,
    state::AppState,
};

/// A new account.
#[derive(Debug, Object)]
#[oai(rename = "NewUser")]
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
            pattern = r"^[^@\x00\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^@\x00\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
        )
    )]
    pub email: Option<String>,
    /// `null` or absent: none.
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(max_length = 128, pattern = r"^[^\x00]*$")
    )]
    pub full_name: Option<String>,
    /// Scopes the user may be granted; none when `null` or absent.
    // No `max_items`: a repeat is harmless (the list becomes a set), and a
    // count written here would go stale with each new scope.
    #[oai(nullable)]
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
            pattern = r"^[^@\x00\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+@[^@\x00\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
        )
    )]
    pub email: MaybeUndefined<String>,
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(max_length = 128, pattern = r"^[^\x00]*$")
    )]
    pub full_name: MaybeUndefined<String>,
    #[oai(deserialize_with = "strict::not_null")]
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
    Created(Reply<User>, #[oai(header = "Location")] String),
}

#[derive(Default)]
pub struct UsersApi;

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// List users
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
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
    ) -> Result<Reply<UserPage>, Errors<SCOPED>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let rows = state
            .store()
            .users()
            .list(page.after_id, page.fetch())
            .await?;
        let (rows, next_cursor) = page.finish(rows, |row| row.id);
        Ok(Reply(UserPage {
            data: rows.into_iter().map(User::from).collect(),
            next_cursor,
        }))
    }

    /// Create a user
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        body: Body<NewUserBody>,
    ) -> Result<UserCreated, Errors<{ SCOPED | WITH_BODY | CONFLICT }>> {
        let body = body.0;
        let new = NewAccount {
            username: &body.username,
            password: &body.password,
            email: body.email.as_deref(),
            full_name: body.full_name.as_deref(),
            scopes: scope_set(body.scopes.as_deref().unwrap_or_default()),
        };
        let user = users::create(state.store(), &state.auth.hasher, &new).await?;
        tracing::info!(
            event = "user_created",
            by = %admin.0.actor(),
            user_id = user.id,
            username = ?user.username,
            scopes = %user.scopes,
            "user created"
        );
        let location = format!("/users/{}", user.id);
        Ok(UserCreated::Created(Reply(user.into()), location))
    }

    /// Read a user
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        id: Path<i64>,
    ) -> Result<Reply<User>, Errors<{ SCOPED | NOT_FOUND }>> {
        let user = state
            .store()
            .users()
            .get(id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        Ok(Reply(user.into()))
    }

    /// Change a user
    ///
    /// A change of scopes, `disabled` or password ends that user's tokens.
    /// The last enabled admin cannot lose `admin` or be disabled (409).
    #[oai(path = "/users/:id", method = "patch", operation_id = "update_user")]
    async fn update(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        id: Path<i64>,
        body: Body<UserUpdate>,
    ) -> Result<Reply<User>, Errors<{ SCOPED | WITH_BODY | NOT_FOUND | CONFLICT }>> {
        let body = body.0;
        let change = UserChange {
            email: patch_field(body.email),
            full_name: patch_field(body.full_name),
            scopes: body.scopes.as_deref().map(scope_set),
            disabled: body.disabled,
            password: body.password,
        };
        let fields = change.fields();
        let user = users::change(state.store(), &state.auth.hasher, id.0, change).await?;
        tracing::info!(
            event = "user_changed",
            by = %admin.0.actor(),
            user_id = user.id,
            fields = ?fields,
            "user changed"
        );
        Ok(Reply(user.into()))
    }

    /// Delete a user
    ///
    /// Their items and sessions go with them. The last enabled admin cannot
    /// be deleted (409).
    #[oai(path = "/users/:id", method = "delete", operation_id = "delete_user")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        id: Path<i64>,
    ) -> Result<NoContent, Errors<{ SCOPED | NOT_FOUND | CONFLICT }>> {
        let user = users::delete(state.store(), id.0).await?;
        tracing::info!(
            event = "user_deleted",
            by = %admin.0.actor(),
            user_id = user.id,
            username = ?user.username,
            "user deleted"
        );
        Ok(NoContent::Done)
    }
}
