//! The messages function: send, show, edit and delete messages, react to
//! them, and page through a conversation by position, by change or along a
//! thread, and search them.

mod handlers;
mod reactions;
mod search;
mod uploads;

use lambda_http::http::Method;
use shared::{Router, authenticated};

pub fn router() -> Router {
    Router::new(&[
        (
            "/api/uploads",
            Method::POST,
            authenticated!(uploads::create),
        ),
        (
            "/api/messages/search",
            Method::GET,
            authenticated!(search::search),
        ),
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
        (
            "/api/conversations/{id}/messages/{message_id}",
            Method::GET,
            authenticated!(handlers::show),
        ),
        (
            "/api/conversations/{id}/messages/{message_id}",
            Method::PATCH,
            authenticated!(handlers::edit),
        ),
        (
            "/api/conversations/{id}/messages/{message_id}",
            Method::DELETE,
            authenticated!(handlers::delete),
        ),
        (
            "/api/conversations/{id}/messages/{message_id}/reactions/{emoji}",
            Method::GET,
            authenticated!(reactions::list),
        ),
        (
            "/api/conversations/{id}/messages/{message_id}/reactions/{emoji}",
            Method::PUT,
            authenticated!(reactions::add),
        ),
        (
            "/api/conversations/{id}/messages/{message_id}/reactions/{emoji}",
            Method::DELETE,
            authenticated!(reactions::take_back),
        ),
    ])
}
