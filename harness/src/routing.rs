//! API Gateway's routing of the HTTP API: which of the three functions owns
//! a path, and each function's route table, so that a request goes through
//! the very handler service that `lambda_http::run` runs in that function.

use lambda_http::http::Request;
use lambda_http::{Body, Response};
use shared::{AppState, app};

/// The functions that API Gateway forwards path prefixes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Auth,
    Conversations,
    Messages,
}

/// The gateway's routing: message paths and the search to the messages function, other
/// conversation paths to the conversations function, the rest (auth, users,
/// health and the catch-all) to the auth function.
pub fn function_for(path: &str) -> Function {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "conversations", _, "messages", ..] => Function::Messages,
        ["api", "messages", _, ..] | ["api", "uploads", ..] => Function::Messages,
        ["api", "conversations", ..] => Function::Conversations,
        _ => Function::Auth,
    }
}

/// The three functions' route tables, built once, and the gateway's split of
/// paths between them: every request goes through the very handler service
/// that `lambda_http::run` runs in each function.
pub struct Gateway {
    auth: shared::Router,
    conversations: shared::Router,
    messages: shared::Router,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    pub fn new() -> Self {
        Gateway {
            auth: auth::router(),
            conversations: conversations::router(),
            messages: messages::router(),
        }
    }

    /// The route table of the function that owns `path`.
    pub fn router_for(&self, path: &str) -> &shared::Router {
        match function_for(path) {
            Function::Auth => &self.auth,
            Function::Conversations => &self.conversations,
            Function::Messages => &self.messages,
        }
    }

    pub async fn handle(&self, state: &AppState, request: Request<Body>) -> Response<Body> {
        let router = self.router_for(request.uri().path());
        app::handle(state, router, request).await
    }
}
