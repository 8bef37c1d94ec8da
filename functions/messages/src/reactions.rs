//! Reactions to messages: add, take back, and who reacted with an emoji.

use lambda_http::{Body, Response};
use shared::domain::Emoji;
use shared::error::FieldErrors;
use shared::pagination::{self, PageSize, ReactorPosition};
use shared::rate_limit::{self, Limit};
use shared::store::reactions::{self, Reacted, Reacting};
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, time};

/// The `{emoji}` of the path.
fn emoji(ctx: &RequestCtx) -> Result<Emoji, ApiError> {
    let text = ctx
        .params
        .text("emoji")
        .ok_or_else(|| ApiError::invalid_field("emoji", "emoji must be UTF-8, percent-encoded."))?;
    Emoji::parse(text).map_err(|problem| ApiError::invalid_field("emoji", problem))
}

/// `PUT /api/conversations/{id}/messages/{message_id}/reactions/{emoji}`
pub async fn add(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    react(user, ctx, Reacting::Add).await
}

/// `DELETE /api/conversations/{id}/messages/{message_id}/reactions/{emoji}`
pub async fn take_back(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    react(user, ctx, Reacting::TakeBack).await
}

async fn react(
    user: User,
    mut ctx: RequestCtx,
    reacting: Reacting,
) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let message_id = ctx.params.id("message_id")?;
    let emoji = emoji(&ctx)?;
    let now = time::now();
    let config = ctx.state.config.clone();
    let conn = ctx.db.conn().await?;
    rate_limit::take(conn, &config, user.id, Limit::Changes, now).await?;
    let reacted = reactions::react(
        conn,
        conversation_id,
        message_id,
        user.id,
        &emoji,
        reacting,
        now,
    )
    .await?;
    if !matches!(reacted, Reacted::Done(_)) {
        rate_limit::give_back(ctx.db.conn().await?, user.id, Limit::Changes).await?;
    }
    match reacted {
        Reacted::Done(message) => {
            ctx.announce(conversation_id, Some(message.version)).await;
            Ok(respond::ok(&message))
        }
        Reacted::Unchanged(message) => Ok(respond::ok(&message)),
        Reacted::NotFound => Err(ApiError::NotFound),
        Reacted::Tombstone => Err(ApiError::Conflict(
            "A deleted message takes no reactions.",
            FieldErrors::new(),
        )),
        Reacted::TooMany => Err(ApiError::Conflict(
            "This message already has 20 different reactions.",
            FieldErrors::new(),
        )),
    }
}

/// `GET /api/conversations/{id}/messages/{message_id}/reactions/{emoji}?page_size=&cursor=`:
/// who reacted with the emoji, in the order they did.
pub async fn list(reader: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let message_id = ctx.params.id("message_id")?;
    let emoji = emoji(&ctx)?;
    let query = ctx.query(&["page_size", "cursor"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    let after = match query.get("cursor") {
        Some(cursor) => {
            let at: ReactorPosition = ctx.state.cursors.decode(cursor)?;
            if at.m != message_id || at.e != emoji.as_str() {
                return Err(ApiError::bad_request("Invalid cursor."));
            }
            at.k
        }
        None => 0,
    };
    let conn = ctx.db.conn().await?;
    let rows = reactions::reactors(
        conn,
        conversation_id,
        message_id,
        &emoji,
        reader.id,
        after,
        size.probe(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    pagination::respond(&rows, size, |last| {
        ctx.state.cursors.encode(&ReactorPosition {
            m: message_id,
            e: emoji.as_str().to_string(),
            k: last.position,
        })
    })
}
