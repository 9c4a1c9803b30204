//! Registered clients, for holders of the `admin` scope: `/clients`.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    api::{
        Tag,
        bearer::Auth,
        body::Body,
        errors::{CONFLICT, Errors, NOT_FOUND, SCOPED, WITH_BODY},
        models::{
            NoContent, PageRequest,
            clients::{
                ClientModel, ClientPage, ClientSecret, ClientUpdate, NewClientBody,
                RegisteredClient, scopes,
            },
        },
    },
    auth::{
        clients::{self, ClientChange, ClientError, ClientSpec},
        scopes::Scope,
    },
    error::ApiError,
    state::AppState,
};

#[derive(Debug, ApiResponse)]
pub enum ClientCreated {
    /// Registered; `Location` names the new client. `client_secret`, for the
    /// secret methods, is shown this once.
    #[oai(status = 201)]
    Created(Json<RegisteredClient>, #[oai(header = "Location")] String),
}

#[derive(Debug, ApiResponse)]
pub enum ClientListed {
    /// A page of clients, without their secrets.
    #[oai(status = 200)]
    Ok(Json<ClientPage>),
}

#[derive(Debug, ApiResponse)]
pub enum ClientFound {
    /// The client, without its secret.
    #[oai(status = 200)]
    Ok(Json<ClientModel>),
}

#[derive(Debug, ApiResponse)]
pub enum SecretRotated {
    /// The new secret, shown this once; the old one no longer works.
    #[oai(status = 200)]
    Ok(Json<ClientSecret>),
}

impl From<ClientError> for ApiError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Invalid(description) => ApiError::invalid_request(description),
            ClientError::Taken => ApiError::conflict(err.to_string()),
            ClientError::NotFound => ApiError::not_found("client"),
            ClientError::Db(err) => err.into(),
        }
    }
}

fn jwks_text(jwks: Option<serde_json::Value>) -> Option<String> {
    jwks.map(|jwks| jwks.to_string())
}

#[derive(Default)]
pub struct ClientsApi;

#[OpenApi(tag = "Tag::Clients")]
impl ClientsApi {
    /// List clients
    #[oai(path = "/clients", method = "get", operation_id = "list_clients")]
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
    ) -> Result<ClientListed, Errors<SCOPED>> {
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let rows = state
            .store()
            .clients()
            .list(page.after_id, page.fetch())
            .await?;
        let (rows, next_cursor) = page.finish(rows, |row| row.id);
        Ok(ClientListed::Ok(Json(ClientPage {
            data: rows.into_iter().map(ClientModel::from).collect(),
            next_cursor,
        })))
    }

    /// Register a client
    ///
    /// A confidential client using `client_secret_basic` or
    /// `client_secret_post` gets a generated secret, shown in this answer
    /// only; `private_key_jwt` needs `jwks`; a public client uses `none`.
    #[oai(path = "/clients", method = "post", operation_id = "create_client")]
    async fn create(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        body: Body<NewClientBody>,
    ) -> Result<ClientCreated, Errors<{ SCOPED | WITH_BODY | CONFLICT }>> {
        let body = body.0;
        let spec = ClientSpec {
            client_id: &body.client_id,
            name: body.name.as_deref(),
            client_type: body.client_type.map(Into::into),
            method: body.token_endpoint_auth_method.map(Into::into),
            grants: body.grant_types.iter().copied().map(Into::into).collect(),
            scopes: scopes(body.scopes.as_deref().unwrap_or_default()),
            jwks: jwks_text(body.jwks),
        };
        let (row, secret) = clients::register(state.store(), spec).await?;
        tracing::info!(event = "client_created", by = %admin.0.actor(), client_id = %row.client_id, "client created");
        let location = format!("/clients/{}", row.client_id);
        Ok(ClientCreated::Created(
            Json(RegisteredClient {
                client: row.into(),
                client_secret: secret.map(|secret| {
                    use secrecy::ExposeSecret;
                    secret.expose_secret().to_owned()
                }),
            }),
            location,
        ))
    }

    /// Read a client
    #[oai(
        path = "/clients/:client_id",
        method = "get",
        operation_id = "get_client"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] _auth: Auth,
        client_id: Path<String>,
    ) -> Result<ClientFound, Errors<{ SCOPED | NOT_FOUND }>> {
        let row = state
            .store()
            .clients()
            .get(&client_id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("client"))?;
        Ok(ClientFound::Ok(Json(row.into())))
    }

    /// Change a client
    ///
    /// Disabling a client ends every session obtained through it; disabling
    /// it or changing its scopes ends its own (`client_credentials`) tokens.
    #[oai(
        path = "/clients/:client_id",
        method = "patch",
        operation_id = "update_client"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        client_id: Path<String>,
        body: Body<ClientUpdate>,
    ) -> Result<ClientFound, Errors<{ SCOPED | NOT_FOUND | WITH_BODY }>> {
        let body = body.0;
        let change = ClientChange {
            name: body.name,
            grants: body
                .grant_types
                .map(|grants| grants.into_iter().map(Into::into).collect()),
            scopes: body.scopes.as_deref().map(scopes),
            disabled: body.disabled,
            jwks: jwks_text(body.jwks),
        };
        let row = clients::change(state.store(), &client_id.0, change).await?;
        tracing::info!(event = "client_changed", by = %admin.0.actor(), client_id = %row.client_id, "client changed");
        Ok(ClientFound::Ok(Json(row.into())))
    }

    /// Give a client a new secret
    ///
    /// The old secret stops working at once, and so do the client's own
    /// tokens. The new one is shown in this answer only.
    #[oai(
        path = "/clients/:client_id/secret",
        method = "post",
        operation_id = "rotate_client_secret"
    )]
    async fn rotate_secret(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        client_id: Path<String>,
    ) -> Result<SecretRotated, Errors<{ SCOPED | NOT_FOUND }>> {
        use secrecy::ExposeSecret;
        let secret = clients::rotate_secret(state.store(), &client_id.0).await?;
        tracing::info!(event = "client_secret_rotated", by = %admin.0.actor(), client_id = %client_id.0, "client secret rotated");
        Ok(SecretRotated::Ok(Json(ClientSecret {
            client_id: client_id.0,
            client_secret: secret.expose_secret().to_owned(),
        })))
    }

    /// Delete a client
    ///
    /// Every session obtained through it ends: its refresh tokens, and the
    /// access tokens of those sessions, stop working.
    #[oai(
        path = "/clients/:client_id",
        method = "delete",
        operation_id = "delete_client"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        #[oai(scope = "Scope::Admin")] admin: Auth,
        client_id: Path<String>,
    ) -> Result<NoContent, Errors<{ SCOPED | NOT_FOUND }>> {
        clients::delete(state.store(), &client_id.0).await?;
        tracing::info!(event = "client_deleted", by = %admin.0.actor(), client_id = %client_id.0, "client deleted");
        Ok(NoContent::Done)
    }
}
