//! The library every messaging function is built on: configuration, MySQL
//! access, tokens, routing, errors and the request log.

pub mod access_token;
pub mod app;
pub mod aws_http;
pub mod cloud_secrets;
pub mod config;
pub mod cors;
pub mod db;
pub mod domain;
pub mod erasure;
pub mod error;
pub mod memory;
pub mod pagination;
pub mod password;
pub mod rate_limit;
pub mod realtime;
pub mod request;
pub mod request_log;
pub mod respond;
pub mod router;
pub mod secret;
pub mod storage;
pub mod store;
pub mod time;
pub mod token_crypto;

pub use app::{AppState, Caller, RequestCtx};
pub use error::ApiError;
pub use router::{Endpoint, Router};
