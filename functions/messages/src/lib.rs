//! The messages function.

use lambda_http::http::Method;
use lambda_http::{Body, Response};
use shared::{ApiError, RequestCtx, Router};

#[derive(Clone, Copy, Debug)]
pub enum Route {}

pub fn router() -> Router<Route> {
    Router::new(&[] as &[(&str, Method, Route)])
}

pub async fn dispatch(route: Route, _ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    match route {}
}
