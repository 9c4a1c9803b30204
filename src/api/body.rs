//! `Body<T>`: a JSON request body like poem-openapi's `Json<T>`, whose parse
//! errors name each offending field.
//!
//! poem-openapi names a field only when one of its validators fails, and then
//! in its own terms; a wrong type or a missing field comes back as `Expected
//! input type "string"`. On any failure this reads `T`'s schema and reports
//! every field that does not fit it (`api::fields`), without echoing a value.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaRequest, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

use crate::{
    api::fields::body_misfits,
    error::{ApiError, FieldLocation, InvalidField},
};

/// A JSON request body of type `T`.
pub struct Body<T>(pub T);

impl<T> std::ops::Deref for Body<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'a, T: Type + ParseFromJSON> ApiExtractor<'a> for Body<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Json<T> as Payload>::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let content_type = request
            .content_type()
            .ok_or(ContentTypeError::ExpectContentType)?;
        if !<Json<T> as Payload>::check_content_type(content_type) {
            return Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into());
        }
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value: Value = serde_json::from_slice(&data).map_err(|err| {
            // serde_json's syntax errors give a place, never the text.
            invalid(vec![InvalidField::new(
                FieldLocation::Body,
                None,
                format!("is not valid JSON: {err}"),
            )])
        })?;
        match T::parse_from_json(Some(value.clone())) {
            Ok(parsed) => Ok(Body(parsed)),
            Err(_) => {
                let mut misfits = body_misfits::<T>(&value);
                if misfits.is_empty() {
                    misfits.push(InvalidField::new(
                        FieldLocation::Body,
                        None,
                        "does not match the schema of this operation's body",
                    ));
                }
                Err(invalid(misfits))
            }
        }
    }
}

fn invalid(fields: Vec<InvalidField>) -> poem::Error {
    ApiError::invalid_fields(fields).into()
}
