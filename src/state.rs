//! What every request reads: the auth rules' context, the settings and the
//! metrics, attached to each request by the middleware.

use std::{ops::Deref, sync::Arc};

use crate::{auth::Authority, config::Config, db::Store, metrics::Metrics};

/// Request bodies over this many bytes are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<State>);

pub struct State {
    /// The store, keys, hasher and rules.
    pub auth: Authority,
    pub config: Config,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(state: State) -> Self {
        Self(Arc::new(state))
    }

    pub fn store(&self) -> &Store {
        &self.auth.store
    }
}

impl Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}
