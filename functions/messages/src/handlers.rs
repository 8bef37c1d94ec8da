use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::domain::{ClientId, MessageBody};
use shared::error::FieldErrors;
use shared::pagination::{self, MessagePosition, PageSize};
use shared::rate_limit::{self, Limit};
use shared::store::messages::{self, Change, Changed, Draft, Sent, Walk};
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, time};

use crate::uploads;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct SendBody {
    body: Option<String>,
    client_id: Option<String>,
    /// Read as any JSON value, so that a wrong one is refused by name.
    reply_to: Option<serde_json::Value>,
    attachments: Option<serde_json::Value>,
}

/// A send as the client asked for it.
struct SendRequest {
    /// None for attachments without text.
    body: Option<MessageBody>,
    client_id: Option<ClientId>,
    reply_to: Option<i64>,
    /// Upload ids.
    attachments: Vec<String>,
}

impl SendBody {
    fn parse(self) -> Result<SendRequest, ApiError> {
        let mut fields = FieldErrors::new();
        let attachments = match self.attachments {
            None | Some(serde_json::Value::Null) => Some(Vec::new()),
            Some(value) => uploads::parse_ids(value)
                .map_err(|problem| fields.insert("attachments", problem))
                .ok(),
        };
        let with_files = attachments.as_ref().is_none_or(|ids| !ids.is_empty());
        // With attachments the text may be absent or "".
        let body = match self.body {
            None if with_files => Some(None),
            Some(text) if with_files && text.is_empty() => Some(None),
            raw => raw
                .ok_or_else(|| "This field is required.".to_string())
                .and_then(MessageBody::parse)
                .map(Some)
                .map_err(|problem| fields.insert("body", problem))
                .ok(),
        };
        let client_id = self
            .client_id
            .map(ClientId::parse)
            .transpose()
            .map_err(|problem| fields.insert("client_id", problem))
            .ok();
        let reply_to = match self.reply_to {
            None | Some(serde_json::Value::Null) => Some(None),
            Some(value) => value.as_i64().filter(|id| *id > 0).map(Some).or_else(|| {
                fields.insert(
                    "reply_to",
                    "Must be the id of a message of this conversation.".into(),
                );
                None
            }),
        };
        match (body, client_id, reply_to, attachments) {
            (Some(body), Some(client_id), Some(reply_to), Some(attachments)) => Ok(SendRequest {
                body,
                client_id,
                reply_to,
                attachments,
            }),
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
    let SendRequest {
        body,
        client_id,
        reply_to,
        attachments,
    } = ctx.json::<SendBody>()?.parse()?;
    let now = time::now();
    let counted = Limit::Changes.use_at(&ctx.state.config, now);
    let storage = ctx.state.storage.clone();
    let conn = ctx.db.conn().await?;
    let attachments = if attachments.is_empty() {
        Vec::new()
    } else {
        match uploads::attachable(storage.as_deref(), conn, &sender, &attachments).await {
            Ok(found) => found,
            Err(refused) => {
                // A retry of a send that already took these uploads is
                // answered from what was stored.
                return match stored_send(conn, conversation_id, &sender, client_id.as_ref()).await?
                {
                    Some(stored) => Ok(respond::ok(&stored)),
                    None => Err(refused),
                };
            }
        }
    };
    let draft = Draft {
        body: body.as_ref(),
        client_id: client_id.as_ref(),
        reply_to,
        attachments: &attachments,
    };
    match messages::send(conn, conversation_id, &sender, draft, counted, now).await? {
        Sent::Created {
            message,
            participant_count,
        } => {
            ctx.announce_sent(&message, participant_count).await;
            Ok(respond::created(&message))
        }
        Sent::Repeated(message) => Ok(respond::ok(&message)),
        Sent::Limited { window_started_at } => {
            // A repeat of a stored send is answered from what was stored,
            // whatever the limit.
            match stored_send(conn, conversation_id, &sender, client_id.as_ref()).await? {
                Some(stored) => Ok(respond::ok(&stored)),
                None => Err(Limit::Changes.refused(window_started_at, now)),
            }
        }
        Sent::NotParticipant => Err(ApiError::NotFound),
        Sent::AttachmentTaken => Err(uploads::not_attachable()),
        Sent::NoSuchReplyTo => Err(ApiError::invalid_field(
            "reply_to",
            "Must be the id of a message of this conversation.",
        )),
    }
}

/// The sender's stored send with this `client_id`, if it has one.
async fn stored_send(
    conn: &mut sqlx::MySqlConnection,
    conversation_id: i64,
    sender: &User,
    client_id: Option<&ClientId>,
) -> Result<Option<messages::Message>, ApiError> {
    Ok(match client_id {
        Some(client_id) => messages::repeat_of(conn, conversation_id, sender.id, client_id).await?,
        None => None,
    })
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

/// An id (of a message, a conversation) given in the query.
pub(crate) fn object_id(field: &'static str, raw: &str) -> Result<i64, ApiError> {
    match position(field, raw) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::invalid_field(field, "Must be an id.")),
    }
}

/// A whole number from 0, as `after` and `since` take.
fn position(field: &'static str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::invalid_field(field, "Must be a whole number from 0."))
}

/// `GET /api/conversations/{id}/messages?page_size=&cursor=&after=&since=&thread=`
pub async fn list(reader: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let conversation_id = ctx.params.id("id")?;
    let query = ctx.query(&["page_size", "cursor", "after", "since", "thread"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    // A cursor carries its own walk and position; otherwise `after` walks
    // forward by seq, `since` by version, `thread` along one thread, and
    // none of them is the newest page.
    let chosen = (query.get("after"), query.get("since"), query.get("thread"));
    let (bound, walk) = match (query.get("cursor"), chosen) {
        (Some(cursor), _) => {
            let at: MessagePosition = ctx.state.cursors.decode(cursor)?;
            if at.c != conversation_id {
                return Err(ApiError::bad_request("Invalid cursor."));
            }
            (at.k, at.w)
        }
        (None, (None, None, None)) => (i64::MAX, Walk::Older),
        (None, (Some(after), None, None)) => (position("after", after)?, Walk::After),
        (None, (None, Some(since), None)) => (position("since", since)?, Walk::Since),
        (None, (None, None, Some(thread))) => (0, Walk::Thread(object_id("thread", thread)?)),
        (None, (_, _, Some(_))) => {
            return Err(ApiError::invalid_field(
                "thread",
                "Give thread alone, without after or since.",
            ));
        }
        (None, (Some(_), Some(_), None)) => {
            return Err(ApiError::invalid_field(
                "since",
                "Give either after or since, not both.",
            ));
        }
    };
    let conn = ctx.db.conn().await?;
    let rows = messages::page(conn, conversation_id, reader.id, bound, walk, size.probe())
        .await?
        .ok_or(ApiError::NotFound)?;
    pagination::respond(&rows, size, |last| {
        ctx.state.cursors.encode(&MessagePosition {
            c: conversation_id,
            k: match walk {
                Walk::Since => last.version,
                Walk::Older | Walk::After | Walk::Thread(_) => last.seq,
            },
            w: walk,
        })
    })
}
