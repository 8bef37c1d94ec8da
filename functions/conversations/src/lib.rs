//! The conversations function: create, list, show, and manage participants.

mod handlers;

use lambda_http::http::Method;
use lambda_http::{Body, Response};
use shared::{ApiError, RequestCtx, Router};

#[derive(Clone, Copy, Debug)]
pub enum Route {
    Create,
    List,
    Show,
    AddParticipants,
    RemoveParticipant,
}

pub fn router() -> Router<Route> {
    Router::new(&[
        ("/api/conversations", Method::POST, Route::Create),
        ("/api/conversations", Method::GET, Route::List),
        ("/api/conversations/{id}", Method::GET, Route::Show),
        (
            "/api/conversations/{id}/participants",
            Method::POST,
            Route::AddParticipants,
        ),
        (
            "/api/conversations/{id}/participants/{user_id}",
            Method::DELETE,
            Route::RemoveParticipant,
        ),
    ])
}

pub async fn dispatch(route: Route, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Create => handlers::create(ctx).await,
        Route::List => handlers::list(ctx).await,
        Route::Show => handlers::show(ctx).await,
        Route::AddParticipants => handlers::add_participants(ctx).await,
        Route::RemoveParticipant => handlers::remove_participant(ctx).await,
    }
}
