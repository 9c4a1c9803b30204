//! The one layer every request passes through, around the routes: metrics,
//! the access log and its request id, CORS, the body limit, the error shape
//! and the security headers, in that order from the outside in.
//!
//! It is one `Endpoint` rather than a stack of poem's `around` closures on
//! purpose. Each closure layer keeps its own copy of the request (poem's
//! `Request` is large) beside the future of the layer inside it, so five of
//! them made every request's future 27 KB, built and moved on each request
//! (bench/README.md). Here the request is held once, and each concern is a
//! plain step before or after the call.

use std::time::Instant;

use poem::{
    Endpoint, Request, Response,
    web::headers::{ContentLength, HeaderMapExt},
};

mod cors;
mod shape;

use cors::Cors;
use shape::ErrorShape;

use crate::{
    error::ApiError,
    headers,
    metrics::Metrics,
    request_log::AccessLog,
    state::{AppState, MAX_BODY_BYTES},
};

/// The API and the documents (Swagger UI and the spec), with the
/// application state attached to every request.
///
/// It sends a request to one or the other by path itself, as
/// [`headers::Kind`] sorts paths, rather than through a poem `Route` with the
/// API nested at `/`: that costs a second router and a rebuilt URI on every
/// API request.
pub struct Middleware<A, D> {
    api: A,
    documents: D,
    state: AppState,
    metrics: Metrics,
}

impl<A, D> Middleware<A, D> {
    pub fn new(api: A, documents: D, state: AppState) -> Self {
        let metrics = state.metrics.clone();
        Self {
            api,
            documents,
            state,
            metrics,
        }
    }
}

impl<A, D> Endpoint for Middleware<A, D>
where
    A: Endpoint<Output = Response>,
    D: Endpoint<Output = Response>,
{
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // One clock for the metrics and the access log.
        let started = Instant::now();
        let timing = self.metrics.start(&req);
        let log = AccessLog::start(&req);
        let kind = headers::Kind::of(req.uri().path());
        let shape = ErrorShape::of(&req);
        let cors = Cors::of(&req, &self.state.config.cors_origins);
        req.extensions_mut().insert(self.state.clone());
        let handled = async {
            if let Some(preflight) = cors.preflight(&req) {
                return Ok(preflight);
            }
            limit_body(&mut req).await?;
            match kind {
                headers::Kind::Api => self.api.call(req).await,
                headers::Kind::Docs | headers::Kind::Spec => self.documents.call(req).await,
            }
        };
        let result = self.metrics.scope(log.scope(handled)).await;
        let mut response = shape.response(result);
        cors.apply(&mut response);
        headers::apply(kind, &mut response);
        let elapsed = started.elapsed();
        log.finish(&mut response, elapsed);
        self.metrics.finish(timing, &response, elapsed);
        Ok(response)
    }
}

/// Refuses bodies over [`MAX_BODY_BYTES`]: by `Content-Length` before reading
/// anything, or while reading a body sent without one. A request that has
/// no body at all (most of them: every GET) is not touched.
async fn limit_body(req: &mut Request) -> Result<(), ApiError> {
    match req.headers().typed_get::<ContentLength>() {
        Some(ContentLength(len)) if len > MAX_BODY_BYTES as u64 => {
            Err(ApiError::payload_too_large())
        }
        Some(_) => Ok(()),
        None => {
            let body = req.take_body();
            if body.is_empty() {
                req.set_body(body);
                return Ok(());
            }
            // Boxed: the read's 4 KB buffer would otherwise be part of, and
            // be moved with, every request's future.
            let body = Box::pin(body.into_bytes_limit(MAX_BODY_BYTES))
                .await
                .map_err(|err| match err {
                    poem::error::ReadBodyError::PayloadTooLarge => ApiError::payload_too_large(),
                    _ => ApiError::invalid_request("the request body could not be read"),
                })?;
            req.set_body(body);
            Ok(())
        }
    }
}
