use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::domain::{ClientId, MessageBody};
use shared::error::FieldErrors;
use shared::pagination::{MessagePosition, Page, PageSize};
use shared::store::conversations;
use shared::store::messages::{self, Direction, Sent};
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, time};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct SendBody {
    body: Option<String>,
    client_id: Option<String>,
}

impl SendBody {
    fn parse(self) -> Result<(MessageBody, Option<ClientId>), ApiError> {
        let mut fields = FieldErrors::new();
        let body = self
            .body
            .ok_or_else(|| "This field is required.".to_string())
            .and_then(MessageBody::parse)
            .map_err(|problem| fields.insert("body", problem))
            .ok();
        let client_id = self
            .client_id
            .map(ClientId::parse)
            .transpose()
            .map_err(|problem| fields.insert("client_id", problem))
            .ok();
        match (body, client_id) {
            (Some(body), Some(client_id)) => Ok((body, client_id)),
            _ => Err(ApiError::invalid_fields(fields)),
        }
    }
}

/// `POST /api/conversations/{id}/messages`
pub async fn send(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let sender = &user;
    let conversation_id = ctx.params.id("id")?;
    let (body, client_id) = ctx.json::<SendBody>()?.parse()?;
    let pool = &ctx.state.pool;
    match messages::send(
        pool,
        conversation_id,
        sender,
        &body,
        client_id.as_ref(),
        time::now(),
    )
    .await?
    {
        Sent::Created(message) => {
            messages::touch_activity(pool, conversation_id, message.created_at).await?;
            Ok(respond::created(&message))
        }
        Sent::Repeated(message) => {
            // The first attempt may have stored the message and failed before
            // this step; doing it again is harmless.
            messages::touch_activity(pool, conversation_id, message.created_at).await?;
            Ok(respond::ok(&message))
        }
        Sent::NotParticipant => Err(ApiError::NotFound),
    }
}

/// `GET /api/conversations/{id}/messages?page_size=&cursor=&after=`
pub async fn list(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let caller = user.id;
    let conversation_id = ctx.params.id("id")?;
    let query = ctx.query(&["page_size", "cursor", "after"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    let after = query
        .get("after")
        .map(|raw| raw.parse::<i64>().ok().filter(|id| *id > 0))
        .map(|id| id.ok_or_else(|| ApiError::bad_request("after must be a message id.")))
        .transpose()?;
    // A cursor carries its own direction and position; `after` starts a
    // forward walk; neither is the newest page.
    let (bound, direction) = match (query.get("cursor"), after) {
        (Some(cursor), _) => {
            let position: MessagePosition = ctx.state.cursors.decode(cursor)?;
            if position.c != conversation_id {
                return Err(ApiError::bad_request("Invalid cursor."));
            }
            (
                position.id,
                if position.fwd {
                    Direction::Newer
                } else {
                    Direction::Older
                },
            )
        }
        (None, Some(after)) => (after, Direction::Newer),
        (None, None) => (i64::MAX, Direction::Older),
    };
    let pool = &ctx.state.pool;
    if !conversations::is_member(pool, conversation_id, caller).await? {
        return Err(ApiError::NotFound);
    }
    let mut results = messages::page(pool, conversation_id, bound, direction, size.probe()).await?;
    let more = results.len() > size.get() as usize;
    results.truncate(size.get() as usize);
    let next_cursor = results.last().filter(|_| more).map(|last| {
        ctx.state.cursors.encode(&MessagePosition {
            c: conversation_id,
            id: last.id,
            fwd: direction == Direction::Newer,
        })
    });
    Ok(respond::ok(&Page {
        results,
        next_cursor,
    }))
}
