//! `POST /api/auth/password`: a new password, proven by the current one. The
//! caller gets a fresh session; every other session of the account ends.

use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::domain::Password;
use shared::error::FieldErrors;
use shared::store::refresh_tokens;
use shared::store::users::User;
use shared::{ApiError, RequestCtx, password, realtime, respond, time};

use crate::{login, session};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct PasswordBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

const REQUIRED: &str = "This field is required.";

/// `POST /api/auth/password`
pub async fn change(user: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let body = ctx.json::<PasswordBody>()?;
    let mut errors = FieldErrors::new();
    if body.current_password.is_none() {
        errors.insert("current_password", REQUIRED.into());
    }
    let new_password = match body.new_password.map(Password::parse) {
        Some(Ok(password)) => Some(password),
        Some(Err(problem)) => {
            errors.insert("new_password", problem);
            None
        }
        None => {
            errors.insert("new_password", REQUIRED.into());
            None
        }
    };
    let (Some(current), Some(new_password)) = (body.current_password, new_password) else {
        return Err(ApiError::invalid_fields(errors));
    };

    let state = ctx.state.clone();
    let conn = ctx.db.conn().await?;
    login::confirm_password(&state, conn, &user, current, "current_password").await?;
    let new_hash = password::hash(new_password.into_inner())
        .await
        .map_err(ApiError::internal)?;
    let ended = refresh_tokens::replace_password(conn, user.id, &new_hash, time::now()).await?;
    realtime::end_sessions(state.management.as_deref(), conn, &ended).await?;
    Ok(respond::ok(&session::start(&state, conn, user).await?))
}
