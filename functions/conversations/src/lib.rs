//! The conversations function: create, list, show, and manage participants.

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
            "/api/conversations/{id}",
            Method::GET,
            authenticated!(handlers::show),
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
    ])
}
