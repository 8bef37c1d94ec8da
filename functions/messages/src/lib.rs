//! The messages function: send to a conversation, and page through it.

mod handlers;

use lambda_http::http::Method;
use lambda_http::{Body, Response};
use shared::{ApiError, RequestCtx, Router};

#[derive(Clone, Copy, Debug)]
pub enum Route {
    Send,
    List,
}

pub fn router() -> Router<Route> {
    Router::new(&[
        (
            "/api/conversations/{id}/messages",
            Method::POST,
            Route::Send,
        ),
        ("/api/conversations/{id}/messages", Method::GET, Route::List),
    ])
}

pub async fn dispatch(route: Route, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Send => handlers::send(ctx).await,
        Route::List => handlers::list(ctx).await,
    }
}
