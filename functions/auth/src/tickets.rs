use anyhow::anyhow;
use lambda_http::{Body, Response};
use serde_json::json;
use shared::realtime::{self, TICKET_TTL_SECONDS};
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, time};

/// `POST /api/realtime/tickets`: a single-use URL that opens the caller's
/// WebSocket, so the bearer token itself never goes into a URL.
pub async fn issue(user: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let base = ctx
        .state
        .config
        .websocket_url
        .as_deref()
        .ok_or_else(|| ApiError::Unavailable(anyhow!("WEBSOCKET_URL is not configured")))?;
    let ticket =
        realtime::issue_ticket(ctx.db.conn().await?, user.id, user.session, time::now()).await?;
    Ok(respond::created(&json!({
        "url": format!("{base}?ticket={ticket}"),
        "expires_in": TICKET_TTL_SECONDS,
    })))
}
