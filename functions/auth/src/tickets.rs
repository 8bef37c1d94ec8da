use anyhow::anyhow;
use lambda_http::{Body, Response};
use serde_json::json;
use shared::rate_limit::{self, Limit};
use shared::realtime::{self, TICKET_TTL_SECONDS};
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, time};

/// `POST /api/realtime/tickets`: a single-use URL that opens the caller's
/// WebSocket, so the bearer token itself never goes into a URL.
pub async fn issue(user: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let config = ctx.state.config.clone();
    let base = config
        .websocket_url
        .as_deref()
        .ok_or_else(|| ApiError::Unavailable(anyhow!("WEBSOCKET_URL is not configured")))?;
    let now = time::now();
    let conn = ctx.db.conn().await?;
    rate_limit::take(conn, &config, user.id, Limit::Tickets, now).await?;
    let ticket = realtime::issue_ticket(conn, user.id, user.session, now).await?;
    Ok(respond::created(&json!({
        "url": format!("{base}?ticket={ticket}"),
        "expires_in": TICKET_TTL_SECONDS,
    })))
}
