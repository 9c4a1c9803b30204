//! `Reply<T>`: a JSON response body like poem-openapi's `Json<T>`, written
//! straight from `T`'s `serde::Serialize`.
//!
//! poem-openapi's `Json<T>` turns `T` into a `serde_json::Value` tree (a map
//! with an owned key per field) and then serializes and drops that tree. For
//! a page of items that was most of the response's cost (bench/README.md).
//! `Reply<T>` declares the same schema and content type in the spec; a type
//! used with it derives `Serialize` to the same JSON as its `ToJSON`, which
//! the tests of `api::models` check field by field.

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

use crate::error::ApiError;

/// What poem-openapi's `Json` answers with.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A JSON body of type `T` (`200 OK` unless an `ApiResponse` variant says otherwise).
#[derive(Debug)]
pub struct Reply<T>(pub T);

impl<T: Type> Payload for Reply<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Send> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        // Room for a user or a short page, so that the body is not regrown.
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0).map(|()| body) {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            Err(err) => {
                // Only a map with non-string keys or a failing `Serialize`
                // impl gets here; neither is in the models.
                tracing::error!(error = %err, "a response body could not be serialized");
                ApiError::internal().into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for Reply<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The request succeeded; the body is below.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
