//! tollgate: an OAuth2 password-flow token server and scoped API on poem,
//! poem-openapi and SQLite.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod headers;
mod log_writer;
pub mod metrics;
pub mod middleware;
pub mod request_id;
pub mod request_log;
pub mod server;
pub mod state;
pub mod validate;

pub use tollgate_resource as resource;
