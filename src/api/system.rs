//! `/healthz` and `/readyz`.

use std::time::Duration;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{
    api::Tag,
    error::{ErrorBody, RETRY_AFTER_UNAVAILABLE},
    state::AppState,
};

/// How long `/readyz` waits for its query.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Object)]
pub struct Health {
    /// `ok`
    pub status: String,
}

#[derive(Debug, ApiResponse)]
pub enum Liveness {
    /// The process serves requests.
    #[oai(status = 200)]
    Alive(Json<Health>),
}

#[derive(Debug, ApiResponse)]
pub enum Readiness {
    /// The database answers.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// The database did not answer within 1 s (`unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

#[derive(Default)]
pub struct SystemApi;

#[OpenApi(tag = "Tag::System")]
impl SystemApi {
    /// Liveness
    ///
    /// 200 while the process serves requests; it does not touch the database.
    #[oai(path = "/healthz", method = "get", operation_id = "health")]
    async fn healthz(&self) -> Liveness {
        Liveness::Alive(Json(Health {
            status: "ok".into(),
        }))
    }

    /// Readiness
    ///
    /// 200 when a query on the users table succeeds within 1 s, else 503.
    #[oai(path = "/readyz", method = "get", operation_id = "ready")]
    async fn readyz(&self, state: Data<&AppState>) -> Readiness {
        match tokio::time::timeout(READY_TIMEOUT, state.store().users().ping()).await {
            Ok(Ok(_)) => Readiness::Ready(Json(Health {
                status: "ok".into(),
            })),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "readiness check failed");
                unavailable()
            }
            Err(_) => {
                tracing::warn!("readiness check timed out");
                unavailable()
            }
        }
    }
}

fn unavailable() -> Readiness {
    Readiness::Unavailable(
        ErrorBody::new("unavailable", "the database did not answer in time"),
        RETRY_AFTER_UNAVAILABLE,
    )
}
