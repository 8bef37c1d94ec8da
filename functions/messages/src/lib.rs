//! The messages function: send to a conversation, and page through it.

mod handlers;

use lambda_http::http::Method;
use shared::{Router, authenticated};

pub fn router() -> Router {
    Router::new(&[
        (
            "/api/conversations/{id}/messages",
            Method::POST,
            authenticated!(handlers::send),
        ),
        (
            "/api/conversations/{id}/messages",
            Method::GET,
            authenticated!(handlers::list),
        ),
    ])
}
