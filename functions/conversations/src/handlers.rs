use std::collections::HashMap;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::domain::{Title, UserIds};
use shared::error::FieldErrors;
use shared::pagination::{self, ConversationPosition, PageSize, ParticipantPosition};
use shared::store::conversations::{self, Added, Conversation, Marked, Opened, Removed, Renamed};
use shared::store::delivery;
use shared::store::users::{self, User};
use shared::{ApiError, RequestCtx, respond, time};
use sqlx::MySqlConnection;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct CreateBody {
    participant_ids: Option<Vec<i64>>,
    title: Option<String>,
    /// Read as any JSON value so that a non-boolean is a 400 naming the field.
    direct: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct RenameBody {
    /// Missing is `None`; present, null or a string.
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
}

/// A field that is present, null or not: `Some(None)` for null.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct AddBody {
    user_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ReadBody {
    seq: Option<Value>,
}

const INVALID_IDS: &str = "Invalid participant IDs.";

fn user_ids(field: &'static str, raw: Option<Vec<i64>>) -> Result<UserIds, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::invalid_field(field, "This field is required."))?;
    UserIds::parse(raw).map_err(|problem| ApiError::invalid_field(field, problem))
}

/// Every id must name an existing user, or nothing happens.
async fn check_users_exist(conn: &mut MySqlConnection, ids: &UserIds) -> Result<(), ApiError> {
    let found = users::public_by_ids(conn, ids.as_slice()).await?;
    if found.len() != ids.as_slice().len() {
        return Err(ApiError::bad_request(INVALID_IDS));
    }
    Ok(())
}

/// The conversation as `user_id` sees it, or the 404 that hides it.
pub(crate) async fn visible(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
) -> Result<Conversation, ApiError> {
    conversations::view_for(conn, conversation_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `POST /api/conversations`: a group conversation, or with `"direct": true`
/// the one direct conversation with a user.
pub async fn create(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let body = ctx.json::<CreateBody>()?;
    let direct = match body.direct {
        None | Some(Value::Null) => false,
        Some(Value::Bool(direct)) => direct,
        Some(_) => return Err(ApiError::invalid_field("direct", "Must be true or false.")),
    };
    let ids = user_ids("participant_ids", body.participant_ids)?;
    if direct {
        return open_direct(caller, &mut ctx, ids, body.title).await;
    }
    let ids = ids.with(caller.id);
    let title = body
        .title
        .map(Title::parse)
        .transpose()
        .map_err(|problem| ApiError::invalid_field("title", problem))?;
    let conn = ctx.db.conn().await?;
    check_users_exist(conn, &ids).await?;
    let id =
        conversations::create(conn, title.as_ref(), caller.id, ids.as_slice(), time::now()).await?;
    ctx.announce(id, None).await;
    Ok(respond::created(
        &visible(ctx.db.conn().await?, id, caller.id).await?,
    ))
}

async fn open_direct(
    caller: User,
    ctx: &mut RequestCtx,
    ids: UserIds,
    title: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let mut fields = FieldErrors::new();
    if title.is_some() {
        fields.insert("title", "A direct conversation has no title.".into());
    }
    let [other] = ids.as_slice() else {
        fields.insert(
            "participant_ids",
            "A direct conversation takes exactly one user id.".into(),
        );
        return Err(ApiError::invalid_fields(fields));
    };
    if !fields.is_empty() {
        return Err(ApiError::invalid_fields(fields));
    }
    let conn = ctx.db.conn().await?;
    check_users_exist(conn, &ids).await?;
    let opened = conversations::open_direct(conn, caller.id, *other, time::now()).await?;
    ctx.announce(opened.id(), None).await;
    let view = visible(ctx.db.conn().await?, opened.id(), caller.id).await?;
    Ok(match opened {
        Opened::Created(_) => respond::created(&view),
        Opened::Existing(_) => respond::ok(&view),
    })
}

/// A bound above every stored activity: the largest `DATETIME(6)`.
fn latest_possible() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(253_402_300_799_999_999).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// `GET /api/conversations`
pub async fn list(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let query = ctx.query(&["page_size", "cursor"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    let after = match query.get("cursor") {
        None => (latest_possible(), i64::MAX),
        Some(cursor) => {
            let position: ConversationPosition = ctx.state.cursors.decode(cursor)?;
            let at =
                DateTime::from_timestamp_micros(position.at).filter(|_| position.u == caller.id);
            (
                at.ok_or_else(|| ApiError::bad_request("Invalid cursor."))?,
                position.id,
            )
        }
    };
    let conn = ctx.db.conn().await?;
    let rows = conversations::page_for_member(conn, caller.id, after, size.probe()).await?;
    let activity: HashMap<i64, i64> = rows
        .iter()
        .map(|row| (row.id, row.last_activity_at.timestamp_micros()))
        .collect();
    let results = conversations::with_participants(conn, rows).await?;
    pagination::respond(&results, size, |last| {
        let at = activity.get(&last.id).copied().unwrap_or_default();
        ctx.state.cursors.encode(&ConversationPosition {
            u: caller.id,
            at,
            id: last.id,
        })
    })
}

/// `GET /api/conversations/unread`
pub async fn unread(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let (unread_count, conversations) =
        conversations::unread_totals(ctx.db.conn().await?, caller.id).await?;
    Ok(respond::ok(&json!({
        "unread_count": unread_count,
        "conversations": conversations,
    })))
}

/// `GET /api/conversations/{id}`
pub async fn show(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let id = ctx.params.id("id")?;
    Ok(respond::ok(
        &visible(ctx.db.conn().await?, id, caller.id).await?,
    ))
}

/// `PATCH /api/conversations/{id}`: any participant renames a group
/// conversation; null or "" clears the title.
pub async fn rename(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let id = ctx.params.id("id")?;
    let title = ctx
        .json::<RenameBody>()?
        .title
        .ok_or_else(|| ApiError::invalid_field("title", "This field is required."))?
        .map(Title::parse)
        .transpose()
        .map_err(|problem| ApiError::invalid_field("title", problem))?;
    let conn = ctx.db.conn().await?;
    match conversations::rename(conn, id, caller.id, title.as_ref(), time::now()).await? {
        Renamed::Done => {
            ctx.announce(id, None).await;
            Ok(respond::ok(
                &visible(ctx.db.conn().await?, id, caller.id).await?,
            ))
        }
        Renamed::NotFound => Err(ApiError::NotFound),
        Renamed::Direct => Err(ApiError::Conflict(
            "A direct conversation has no title.",
            FieldErrors::new(),
        )),
    }
}

/// `GET /api/conversations/{id}/participants`: every participant, by user id.
pub async fn participants(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let id = ctx.params.id("id")?;
    let query = ctx.query(&["page_size", "cursor"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    let after = match query.get("cursor") {
        None => 0,
        Some(cursor) => {
            let position: ParticipantPosition = ctx.state.cursors.decode(cursor)?;
            if position.c != id {
                return Err(ApiError::bad_request("Invalid cursor."));
            }
            position.p
        }
    };
    let conn = ctx.db.conn().await?;
    if !conversations::is_member(conn, id, caller.id).await? {
        return Err(ApiError::NotFound);
    }
    let rows = conversations::participants_page(conn, id, after, size.probe()).await?;
    pagination::respond(&rows, size, |last| {
        ctx.state.cursors.encode(&ParticipantPosition {
            c: id,
            p: last.user.id,
        })
    })
}

/// `POST /api/conversations/{id}/participants`: any participant may add.
pub async fn add_participants(
    caller: User,
    mut ctx: RequestCtx,
) -> Result<Response<Body>, ApiError> {
    let id = ctx.params.id("id")?;
    let ids = user_ids("user_ids", ctx.json::<AddBody>()?.user_ids)?;
    let conn = ctx.db.conn().await?;
    if !conversations::is_member(conn, id, caller.id).await? {
        return Err(ApiError::NotFound);
    }
    check_users_exist(conn, &ids).await?;
    match conversations::add_participants(conn, id, caller.id, ids.as_slice(), time::now()).await? {
        Added::Done { newcomers } => {
            if !newcomers.is_empty() {
                ctx.announce(id, None).await;
            }
            Ok(respond::ok(
                &visible(ctx.db.conn().await?, id, caller.id).await?,
            ))
        }
        Added::NotFound => Err(ApiError::NotFound),
        Added::Direct => Err(ApiError::Conflict(
            "A direct conversation takes no other participants.",
            FieldErrors::new(),
        )),
        Added::Full => Err(ApiError::Conflict(
            "A conversation holds at most 1,000 participants.",
            FieldErrors::new(),
        )),
    }
}

/// `DELETE /api/conversations/{id}/participants/{user_id}`: leave, or (the
/// creator only) remove someone else.
pub async fn remove_participant(
    caller: User,
    mut ctx: RequestCtx,
) -> Result<Response<Body>, ApiError> {
    let id = ctx.params.id("id")?;
    let target = ctx.params.id("user_id")?;
    let conn = ctx.db.conn().await?;
    match conversations::remove_participant(conn, id, caller.id, target, time::now()).await? {
        Removed::Done => {
            ctx.announce(id, None).await;
            // A pass that read the recipients before the removal committed
            // may still be posting to the removed user: the answer waits for
            // it (one lock wait at most), and every later pass reads them
            // gone. The removal has committed either way.
            if !delivery::wait_for_passes(ctx.db.conn().await?, id).await? {
                tracing::warn!(
                    conversation_id = id,
                    "a delivery pass outlasted the lock wait; the removal answers anyway"
                );
            }
            Ok(respond::no_content())
        }
        Removed::NotFound => Err(ApiError::NotFound),
        Removed::NotCreator => Err(ApiError::Forbidden(
            "Only the conversation's creator may remove other participants.",
        )),
    }
}

/// `POST /api/conversations/{id}/read`: the caller has read up to `seq`.
pub async fn mark_read(caller: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let id = ctx.params.id("id")?;
    let seq = match ctx.json::<ReadBody>()?.seq {
        None => return Err(ApiError::invalid_field("seq", "This field is required.")),
        Some(value) => value
            .as_i64()
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| ApiError::invalid_field("seq", "Must be a whole number from 0."))?,
    };
    match conversations::mark_read(ctx.db.conn().await?, id, caller.id, seq, time::now()).await? {
        Marked::Done(state) => {
            ctx.announce(id, None).await;
            Ok(respond::ok(&state))
        }
        Marked::NotFound => Err(ApiError::NotFound),
        Marked::PastTheEnd { last_seq } => Err(ApiError::invalid_field(
            "seq",
            format!("Must be at most the conversation's last_seq ({last_seq})."),
        )),
    }
}
