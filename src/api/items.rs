//! The caller's items: `/items`. Another user's item is simply not found.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    types::MaybeUndefined,
};

use crate::{
    api::bearer::Auth,
    api::body::Body,
    api::errors::{Errors, NOT_FOUND, SCOPED, WITH_BODY},
    api::reply::Reply,
    api::{
        Tag,
        models::{Item, ItemPage, NoContent, PageRequest, patch_field, strict},
    },
    auth::scopes::Scope,
    db::items::ItemPatch,
    error::ApiError,
    state::AppState,
};

#[derive(Debug, Object)]
pub struct NewItem {
    #[oai(
        deserialize_with = "strict::text",
        validator(min_length = 1, max_length = 200, pattern = r"^[^\x00]*$")
    )]
    pub name: String,
    /// `null` or absent: no description.
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(max_length = 4000, pattern = r"^[^\x00]*$")
    )]
    pub description: Option<String>,
}

/// Absent fields are left as they are; `null` clears `description`.
#[derive(Debug, Object)]
pub struct ItemUpdate {
    #[oai(
        deserialize_with = "strict::text",
        validator(min_length = 1, max_length = 200, pattern = r"^[^\x00]*$")
    )]
    pub name: Option<String>,
    #[oai(
        nullable,
        deserialize_with = "strict::nullable_text",
        validator(max_length = 4000, pattern = r"^[^\x00]*$")
    )]
    pub description: MaybeUndefined<String>,
}

#[derive(Debug, ApiResponse)]
pub enum ItemCreated {
    /// Created; `Location` names the new item.
    #[oai(status = 201)]
    Created(Reply<Item>, #[oai(header = "Location")] String),
}

#[derive(Default)]
pub struct ItemsApi;

#[OpenApi(tag = "Tag::Items")]
impl ItemsApi {
    /// List your items
    #[oai(path = "/items", method = "get", operation_id = "list_items")]
    async fn list(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::ReadItems")] auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
    ) -> Result<Reply<ItemPage>, Errors<SCOPED>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let rows = state
            .store()
            .items()
            .list(auth.user()?.user_id, page.after_id, page.fetch())
            .await?;
        let (rows, next_cursor) = page.finish(rows, |row| row.id);
        Ok(Reply(ItemPage {
            data: rows.into_iter().map(Item::from).collect(),
            next_cursor,
        }))
    }

    /// Create an item
    #[oai(path = "/items", method = "post", operation_id = "create_item")]
    async fn create(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::WriteItems")] auth: Auth,
        body: Body<NewItem>,
    ) -> Result<ItemCreated, Errors<{ SCOPED | WITH_BODY }>> {
        let item = state
            .store()
            .items()
            .create(
                auth.user()?.user_id,
                &body.name,
                body.description.as_deref(),
            )
            .await?;
        let location = format!("/items/{}", item.id);
        Ok(ItemCreated::Created(Reply(item.into()), location))
    }

    /// Read an item
    #[oai(path = "/items/:id", method = "get", operation_id = "get_item")]
    async fn get(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::ReadItems")] auth: Auth,
        id: Path<i64>,
    ) -> Result<Reply<Item>, Errors<{ SCOPED | NOT_FOUND }>> {
        let item = state
            .store()
            .items()
            .get(auth.user()?.user_id, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("item"))?;
        Ok(Reply(item.into()))
    }

    /// Change an item
    #[oai(path = "/items/:id", method = "patch", operation_id = "update_item")]
    async fn update(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::WriteItems")] auth: Auth,
        id: Path<i64>,
        body: Body<ItemUpdate>,
    ) -> Result<Reply<Item>, Errors<{ SCOPED | WITH_BODY | NOT_FOUND }>> {
        let body = body.0;
        let patch = ItemPatch {
            name: body.name,
            description: patch_field(body.description),
        };
        let item = state
            .store()
            .items()
            .update(auth.user()?.user_id, id.0, &patch)
            .await?
            .ok_or_else(|| ApiError::not_found("item"))?;
        Ok(Reply(item.into()))
    }

    /// Delete an item
    #[oai(path = "/items/:id", method = "delete", operation_id = "delete_item")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::WriteItems")] auth: Auth,
        id: Path<i64>,
    ) -> Result<NoContent, Errors<{ SCOPED | NOT_FOUND }>> {
        if !state
            .store()
            .items()
            .delete(auth.user()?.user_id, id.0)
            .await?
        {
            return Err(ApiError::not_found("item").into());
        }
        Ok(NoContent::Done)
    }
}
