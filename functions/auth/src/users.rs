use lambda_http::{Body, Response};
use serde_json::json;
use shared::store::users;
use shared::{ApiError, RequestCtx, respond};

/// `GET /api/auth/me`
pub async fn me(ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    Ok(respond::ok(ctx.user()?))
}

/// `GET /api/users?email=` or `?username=`: exact match, never a listing.
pub async fn find(ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    ctx.user()?;
    let pairs = ctx.query_pairs();
    if let Some((unknown, _)) = pairs.iter().find(|(k, _)| k != "email" && k != "username") {
        return Err(ApiError::bad_request(format!(
            "Unknown query parameter: {unknown}."
        )));
    }
    let pool = &ctx.state.pool;
    let results = match pairs.as_slice() {
        [(key, value)] if key == "email" => {
            users::public_by_email(pool, &value.trim().to_lowercase()).await?
        }
        [(key, value)] if key == "username" => users::public_by_username(pool, value).await?,
        _ => {
            return Err(ApiError::bad_request(
                "Give exactly one of the query parameters email and username.",
            ));
        }
    };
    Ok(respond::ok(&json!({ "results": results })))
}
