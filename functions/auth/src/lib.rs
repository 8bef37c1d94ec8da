//! The auth function: accounts, tokens, user look-up and the health check.
//! It also owns the gateway's catch-all route, so unknown paths get the
//! contract's 404 from here.

mod health;
mod login;
mod register;
mod session;
mod users;

use lambda_http::http::Method;
use lambda_http::{Body, Response};
use shared::{ApiError, RequestCtx, Router};

#[derive(Clone, Copy, Debug)]
pub enum Route {
    Register,
    Login,
    Refresh,
    Logout,
    Me,
    FindUsers,
    Health,
}

pub fn router() -> Router<Route> {
    Router::new(&[
        ("/api/auth/register", Method::POST, Route::Register),
        ("/api/auth/login", Method::POST, Route::Login),
        ("/api/auth/refresh", Method::POST, Route::Refresh),
        ("/api/auth/logout", Method::POST, Route::Logout),
        ("/api/auth/me", Method::GET, Route::Me),
        ("/api/users", Method::GET, Route::FindUsers),
        ("/api/health", Method::GET, Route::Health),
    ])
}

pub async fn dispatch(route: Route, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Register => register::register(ctx).await,
        Route::Login => login::login(ctx).await,
        Route::Refresh => session::refresh(ctx).await,
        Route::Logout => session::logout(ctx).await,
        Route::Me => users::me(ctx).await,
        Route::FindUsers => users::find(ctx).await,
        Route::Health => health::health(ctx).await,
    }
}
