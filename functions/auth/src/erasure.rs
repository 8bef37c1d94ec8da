//! `DELETE /api/auth/me`: erases the caller's account, proven by its
//! password. The answer comes once nothing identifying the person is left
//! and every session has ended; the conversations are worked through within
//! a share of the request's deadline, and the maintenance run finishes what
//! is left.

use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::erasure::{self, Announcer};
use shared::store::erasure as store;
use shared::store::users::User;
use shared::{ApiError, RequestCtx, realtime, respond, time};

use crate::login;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct EraseBody {
    password: Option<String>,
}

/// `DELETE /api/auth/me`
pub async fn erase(user: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let presented = ctx
        .json::<EraseBody>()?
        .password
        .ok_or_else(|| ApiError::invalid_field("password", "This field is required."))?;
    let state = ctx.state.clone();
    let conn = ctx.db.conn().await?;
    login::confirm_password(&state, conn, &user, presented, "password").await?;
    let Some(begun) = store::begin(conn, user.id, time::now()).await? else {
        return Ok(respond::no_content());
    };
    realtime::close(state.management.as_deref(), conn, &begun.connections).await;
    // The erasure has committed: whatever happens from here, the answer is
    // 204 and the maintenance run finishes what this request does not.
    let announcer = state.delivery.as_deref().map(|queue| Announcer {
        queue,
        users_per_shard: state.config.delivery_users_per_shard,
    });
    let budget = state.config.request_deadline / 3;
    match erasure::work_through(conn, announcer, user.id, budget).await {
        Ok(true) => {}
        Ok(false) => tracing::info!(user_id = user.id, "erasure left to the maintenance run"),
        Err(err) => tracing::warn!(
            user_id = user.id,
            error = %err,
            "erasure left to the maintenance run"
        ),
    }
    Ok(respond::no_content())
}
