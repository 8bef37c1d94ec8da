use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;
use shared::error::is_unavailable;
use shared::{ApiError, RequestCtx, respond};

/// `GET /api/health`: up when the database answers a trivial query.
pub async fn health(mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let answered = match ctx.db.conn().await {
        Ok(conn) => sqlx::query("SELECT 1").execute(conn).await.map(|_| ()),
        Err(err) => Err(err),
    };
    match answered {
        Ok(_) => Ok(respond::ok(&json!({"status": "ok", "database": "ok"}))),
        Err(err) if is_unavailable(&err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            let mut response = respond::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "The database is unavailable.", "status": "unavailable", "database": "unavailable"}),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(response)
        }
        Err(err) => Err(err.into()),
    }
}
