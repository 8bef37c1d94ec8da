//! The auth function: accounts, tokens, user look-up and the health check.
//! It also owns the gateway's catch-all route, so unknown paths get the
//! contract's 404 from here.

mod erasure;
mod health;
mod login;
mod password_change;
mod register;
mod session;
mod tickets;
mod users;

use lambda_http::http::Method;
use shared::{Router, authenticated, public};

pub fn router() -> Router {
    Router::new(&[
        (
            "/api/auth/register",
            Method::POST,
            public!(register::register),
        ),
        ("/api/auth/login", Method::POST, public!(login::login)),
        ("/api/auth/refresh", Method::POST, public!(session::refresh)),
        ("/api/auth/logout", Method::POST, public!(session::logout)),
        (
            "/api/auth/password",
            Method::POST,
            authenticated!(password_change::change),
        ),
        ("/api/auth/me", Method::GET, authenticated!(users::me)),
        (
            "/api/auth/me",
            Method::DELETE,
            authenticated!(erasure::erase),
        ),
        ("/api/users", Method::GET, authenticated!(users::find)),
        ("/api/health", Method::GET, public!(health::health)),
        (
            "/api/realtime/tickets",
            Method::POST,
            authenticated!(tickets::issue),
        ),
    ])
}
