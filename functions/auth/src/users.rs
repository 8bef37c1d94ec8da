use lambda_http::{Body, Response};
use serde_json::json;
use shared::store::users::{self, User};
use shared::{ApiError, RequestCtx, respond};

/// `GET /api/auth/me`
pub async fn me(user: User, _ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    Ok(respond::ok(&user))
}

/// `GET /api/users?email=` or `?username=`: exact match, never a listing.
pub async fn find(_caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let query = ctx.query(&["email", "username"])?;
    let conn = ctx.db.conn().await?;
    let results = match (query.get("email"), query.get("username")) {
        (Some(email), None) => users::public_by_email(conn, &email.trim().to_lowercase()).await?,
        (None, Some(username)) => users::public_by_username(conn, username).await?,
        _ => {
            return Err(ApiError::bad_request(
                "Give exactly one of the query parameters email and username.",
            ));
        }
    };
    Ok(respond::ok(&json!({ "results": results })))
}
