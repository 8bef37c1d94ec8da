//! The conversations function: create (or open a direct one), list, show,
//! rename, participants, read markers and unread counts.

mod handlers;

use lambda_http::http::Method;
use shared::{Router, authenticated};

pub fn router() -> Router {
    Router::new(&[
        (
            "/api/conversations",
            Method::POST,
            authenticated!(handlers::create),
        ),
        (
            "/api/conversations",
            Method::GET,
            authenticated!(handlers::list),
        ),
        (
            "/api/conversations/unread",
            Method::GET,
            authenticated!(handlers::unread),
        ),
        (
            "/api/conversations/{id}",
            Method::GET,
            authenticated!(handlers::show),
        ),
        (
            "/api/conversations/{id}",
            Method::PATCH,
            authenticated!(handlers::rename),
        ),
        (
            "/api/conversations/{id}/participants",
            Method::GET,
            authenticated!(handlers::participants),
        ),
        (
            "/api/conversations/{id}/participants",
            Method::POST,
            authenticated!(handlers::add_participants),
        ),
        (
            "/api/conversations/{id}/participants/{user_id}",
            Method::DELETE,
            authenticated!(handlers::remove_participant),
        ),
        (
            "/api/conversations/{id}/read",
            Method::POST,
            authenticated!(handlers::mark_read),
        ),
    ])
}
