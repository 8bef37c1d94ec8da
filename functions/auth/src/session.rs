//! Token pairs: minting them at login, rotating them on refresh, ending them
//! at logout.

use chrono::{DateTime, TimeDelta, Utc};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use shared::access_token::hex;
use shared::store::refresh_tokens::{self, FamilyId, Rotation};
use shared::store::users::User;
use shared::{ApiError, AppState, RequestCtx, realtime, respond, secret, time};
use sqlx::MySqlConnection;

/// The body of a successful login or refresh.
#[derive(Serialize)]
pub struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    user: User,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct RefreshBody {
    refresh_token: Option<String>,
}

impl RefreshBody {
    fn token(self) -> Result<String, ApiError> {
        self.refresh_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::invalid_fields(
                [("refresh_token", "This field is required.".to_string())].into(),
            )
        })
    }
}

const INVALID_REFRESH: &str = "Invalid or expired refresh token.";

fn refresh_expiry(state: &AppState, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    TimeDelta::from_std(state.config.tokens.refresh_ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("REFRESH_TOKEN_TTL_SECONDS is out of range"))
        })
}

fn token_pair(
    state: &AppState,
    user: User,
    session: FamilyId,
    refresh_token: String,
    now: DateTime<Utc>,
) -> Result<TokenPair, ApiError> {
    Ok(TokenPair {
        access_token: state
            .tokens
            .issue(user.id, Some(session), now)
            .map_err(ApiError::internal)?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl().as_secs(),
        user,
    })
}

/// Starts a new refresh-token family for a successful login.
pub async fn start(
    state: &AppState,
    conn: &mut MySqlConnection,
    user: User,
) -> Result<TokenPair, ApiError> {
    let now = time::now();
    let refresh_token = secret::random_token();
    let session: FamilyId = secret::random_bytes::<16>();
    refresh_tokens::start_family(
        conn,
        user.id,
        session,
        secret::digest_token(&refresh_token),
        now,
        refresh_expiry(state, now)?,
    )
    .await?;
    token_pair(state, user, session, refresh_token, now)
}

/// `POST /api/auth/refresh`
pub async fn refresh(mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let presented = ctx.json::<RefreshBody>()?.token()?;
    let state = &ctx.state;
    let now = time::now();
    let next = secret::random_token();
    let lifetime = |duration| {
        TimeDelta::from_std(duration)
            .map_err(|_| ApiError::internal(anyhow::anyhow!("a token lifetime is out of range")))
    };
    let rotation = refresh_tokens::rotate(
        ctx.db.conn().await?,
        &secret::digest_token(&presented),
        &secret::digest_token(&next),
        now,
        lifetime(state.config.tokens.refresh_ttl)?,
        lifetime(state.config.tokens.session_max_age)?,
        lifetime(state.config.tokens.refresh_reuse_grace)?,
    )
    .await?;
    match rotation {
        Rotation::Rotated { user, family } => {
            Ok(respond::ok(&token_pair(state, user, family, next, now)?))
        }
        Rotation::Reused { user_id, family } => {
            tracing::warn!(
                user_id,
                family = %hex(&family),
                "a spent refresh token was presented again; its family is revoked"
            );
            let management = ctx.state.management.clone();
            realtime::end_sessions(management.as_deref(), ctx.db.conn().await?, &[family]).await?;
            Err(ApiError::Unauthorized(INVALID_REFRESH))
        }
        Rotation::AlreadyUsed => Err(ApiError::Unauthorized("Refresh token already used.")),
        Rotation::Invalid => Err(ApiError::Unauthorized(INVALID_REFRESH)),
    }
}

/// `POST /api/auth/logout`: ends the presented token's family. Unknown tokens
/// get the same 204, so logout is safe to repeat.
pub async fn logout(mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let presented = ctx.json::<RefreshBody>()?.token()?;
    let conn = ctx.db.conn().await?;
    let ended =
        refresh_tokens::revoke_family_of(conn, &secret::digest_token(&presented), time::now())
            .await?;
    if let Some(session) = ended {
        let management = ctx.state.management.clone();
        realtime::end_sessions(management.as_deref(), conn, &[session]).await?;
    }
    Ok(respond::no_content())
}
