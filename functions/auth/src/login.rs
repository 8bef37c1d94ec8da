use chrono::TimeDelta;
use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::domain::Email;
use shared::error::FieldErrors;
use shared::store::users::User;
use shared::store::{login_failures, users};
use shared::{ApiError, AppState, RequestCtx, password, respond, time};
use sqlx::MySqlConnection;

use crate::session;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct LoginBody {
    email: Option<String>,
    password: Option<String>,
}

const BAD_CREDENTIALS: &str = "Invalid email or password.";

/// `POST /api/auth/login`
pub async fn login(mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let body = ctx.json::<LoginBody>()?;
    let mut fields = FieldErrors::new();
    if body.email.is_none() {
        fields.insert("email", "This field is required.".into());
    }
    if body.password.is_none() {
        fields.insert("password", "This field is required.".into());
    }
    let (Some(raw_email), Some(password)) = (body.email, body.password) else {
        return Err(ApiError::invalid_fields(fields));
    };
    // An address that cannot be valid cannot have an account; refusing it here
    // also keeps unbounded strings out of the throttling table.
    let email = Email::parse(&raw_email)
        .map_err(|problem| ApiError::invalid_fields([("email", problem)].into()))?;

    let state = &ctx.state;
    let conn = ctx.db.conn().await?;
    count_attempt(state, conn, email.as_str()).await?;

    let account = users::credentials(&mut *conn, email.as_str()).await?;
    let (user, stored_hash) = match account {
        Some(c) => (Some(c.user), Some(c.password_hash)),
        None => (None, None),
    };
    let verified = password::verify(password, stored_hash)
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS));
    };
    login_failures::clear(&mut *conn, email.as_str()).await?;
    Ok(respond::ok(&session::start(state, conn, user).await?))
}

/// Counts an attempt to prove the password of the account at `email` (a
/// login, or a change that needs the current password), before the password
/// is checked, so parallel guesses cannot all pass a count read before any
/// of them was recorded; 429 once the window holds too many.
pub(crate) async fn count_attempt(
    state: &AppState,
    conn: &mut MySqlConnection,
    email: &str,
) -> Result<(), ApiError> {
    let throttle = state.config.login_throttle;
    let window = TimeDelta::from_std(throttle.window).map_err(ApiError::internal)?;
    let now = time::now();
    let attempts = login_failures::reserve(&mut *conn, email, now, window).await?;
    if attempts <= u64::from(throttle.max_failures) {
        return Ok(());
    }
    let started = login_failures::window_start(&mut *conn, email)
        .await?
        .unwrap_or(now);
    Err(ApiError::TooManyRequests {
        message: "Too many failed login attempts. Try again later.",
        retry_after_secs: time::seconds_until(started + window, now),
    })
}

/// Checks that `presented` is the signed-in user's password, counted as a
/// login attempt (a stolen access token cannot guess the password here
/// faster than at login); a wrong one is a 400 naming `field`.
pub(crate) async fn confirm_password(
    state: &AppState,
    conn: &mut MySqlConnection,
    user: &User,
    presented: String,
    field: &'static str,
) -> Result<(), ApiError> {
    count_attempt(state, conn, &user.email).await?;
    let stored_hash = users::credentials(&mut *conn, &user.email)
        .await?
        .filter(|account| account.user.id == user.id)
        .map(|account| account.password_hash);
    let verified = password::verify(presented, stored_hash)
        .await
        .map_err(ApiError::internal)?;
    if !verified {
        return Err(ApiError::invalid_field(field, "Wrong password."));
    }
    login_failures::clear(&mut *conn, &user.email).await?;
    Ok(())
}
