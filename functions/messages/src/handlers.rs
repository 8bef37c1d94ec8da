use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::domain::{ClientId, MessageBody};
use shared::error::FieldErrors;
use shared::pagination::{self, MessagePosition, PageSize};
use shared::rate_limit::{self, Limit};
use shared::store::messages::{self, Change, Changed, Sent, Walk};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct EditBody {
    body: Option<String>,
}

/// `POST /api/conversations/{id}/messages`
pub async fn send(sender: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let (body, client_id) = ctx.json::<SendBody>()?.parse()?;
    let now = time::now();
    let config = ctx.state.config.clone();
    let conn = ctx.db.conn().await?;
    if let Err(limited) = rate_limit::take(conn, &config, sender.id, Limit::Changes, now).await {
        // A repeat of a stored send is answered from what was stored,
        // whatever the limit.
        let stored = match &client_id {
            Some(client_id) => {
                messages::repeat_of(conn, conversation_id, sender.id, client_id).await?
            }
            None => None,
        };
        return match stored {
            Some(message) => Ok(respond::ok(&message)),
            None => Err(limited),
        };
    }
    let sent = messages::send(
        conn,
        conversation_id,
        &sender,
        &body,
        client_id.as_ref(),
        now,
    )
    .await?;
    match sent {
        Sent::Created(message) => {
            ctx.announce(conversation_id, Some(message.version)).await;
            Ok(respond::created(&message))
        }
        Sent::Repeated(message) => {
            rate_limit::give_back(conn, sender.id, Limit::Changes).await?;
            Ok(respond::ok(&message))
        }
        Sent::NotParticipant => Err(ApiError::NotFound),
    }
}

/// `GET /api/conversations/{id}/messages/{message_id}`: one message, a
/// tombstone too.
pub async fn show(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let message_id = ctx.params.id("message_id")?;
    let conn = ctx.db.conn().await?;
    match messages::one_for_member(conn, conversation_id, message_id, caller.id).await? {
        Some(message) => Ok(respond::ok(&message)),
        None => Err(ApiError::NotFound),
    }
}

/// `PATCH /api/conversations/{id}/messages/{message_id}`: the sender only.
pub async fn edit(editor: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let message_id = ctx.params.id("message_id")?;
    let body = ctx
        .json::<EditBody>()?
        .body
        .ok_or_else(|| "This field is required.".to_string())
        .and_then(MessageBody::parse)
        .map_err(|problem| ApiError::invalid_field("body", problem))?;
    let now = time::now();
    let config = ctx.state.config.clone();
    let conn = ctx.db.conn().await?;
    rate_limit::take(conn, &config, editor.id, Limit::Changes, now).await?;
    let changed = messages::change(
        conn,
        conversation_id,
        message_id,
        editor.id,
        Change::Edit(&body),
        now,
    )
    .await?;
    match changed {
        Changed::Done(message) => {
            ctx.announce(conversation_id, Some(message.version)).await;
            Ok(respond::ok(&message))
        }
        Changed::Deleted => Err(ApiError::Conflict(
            "A deleted message cannot be edited.",
            FieldErrors::new(),
        )),
        other => Err(refusal(other)),
    }
}

/// `DELETE /api/conversations/{id}/messages/{message_id}`: the sender only;
/// the message stays as a tombstone.
pub async fn delete(editor: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let message_id = ctx.params.id("message_id")?;
    let now = time::now();
    let config = ctx.state.config.clone();
    let conn = ctx.db.conn().await?;
    rate_limit::take(conn, &config, editor.id, Limit::Changes, now).await?;
    let changed = messages::change(
        conn,
        conversation_id,
        message_id,
        editor.id,
        Change::Delete,
        now,
    )
    .await?;
    match changed {
        Changed::Done(tombstone) => {
            ctx.announce(conversation_id, Some(tombstone.version)).await;
            Ok(respond::no_content())
        }
        Changed::Unchanged => {
            rate_limit::give_back(ctx.db.conn().await?, editor.id, Limit::Changes).await?;
            Ok(respond::no_content())
        }
        other => Err(refusal(other)),
    }
}

fn refusal(changed: Changed) -> ApiError {
    match changed {
        Changed::NotSender => ApiError::Forbidden("Only the message's sender may change it."),
        _ => ApiError::NotFound,
    }
}

/// A whole number from 0, as `after` and `since` take.
fn position(field: &'static str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::invalid_field(field, "Must be a whole number from 0."))
}

/// `GET /api/conversations/{id}/messages?page_size=&cursor=&after=&since=`
pub async fn list(reader: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let query = ctx.query(&["page_size", "cursor", "after", "since"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    // A cursor carries its own walk and position; otherwise `after` walks
    // forward by seq, `since` by version, and neither is the newest page.
    let (bound, walk) = match (query.get("cursor"), query.get("after"), query.get("since")) {
        (Some(cursor), _, _) => {
            let at: MessagePosition = ctx.state.cursors.decode(cursor)?;
            if at.c != conversation_id {
                return Err(ApiError::bad_request("Invalid cursor."));
            }
            (at.k, at.w)
        }
        (None, Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "since",
                "Give either after or since, not both.",
            ));
        }
        (None, Some(after), None) => (position("after", after)?, Walk::After),
        (None, None, Some(since)) => (position("since", since)?, Walk::Since),
        (None, None, None) => (i64::MAX, Walk::Older),
    };
    let conn = ctx.db.conn().await?;
    let rows = messages::page(conn, conversation_id, reader.id, bound, walk, size.probe())
        .await?
        .ok_or(ApiError::NotFound)?;
    pagination::respond(&rows, size, |last| {
        ctx.state.cursors.encode(&MessagePosition {
            c: conversation_id,
            k: if walk == Walk::Since {
                last.version
            } else {
                last.seq
            },
            w: walk,
        })
    })
}
