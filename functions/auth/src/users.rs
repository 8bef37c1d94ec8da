use lambda_http::{Body, Response};
use serde_json::json;
use shared::store::users::{self, User};
use shared::{ApiError, RequestCtx, respond};

/// `GET /api/auth/me`
pub async fn me(user: User, _ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    Ok(respond::ok(&user))
}

/// `GET /api/users?email=` or `?username=`: exact match, never a listing.
pub async fn find(_caller: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let query = ctx.query(&["email", "username"])?;
    let pool = &ctx.state.pool;
    let results = match (query.get("email"), query.get("username")) {
        (Some(email), None) => users::public_by_email(pool, &email.trim().to_lowercase()).await?,
        (None, Some(username)) => users::public_by_username(pool, username).await?,
        _ => {
            return Err(ApiError::bad_request(
                "Give exactly one of the query parameters email and username.",
            ));
        }
    };
    Ok(respond::ok(&json!({ "results": results })))
}
