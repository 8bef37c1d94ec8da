use chrono::{DateTime, Utc};
use lambda_http::{Body, Response};
use serde::Deserialize;
use shared::domain::{Title, UserIds};
use shared::pagination::{ConversationPosition, Page, PageSize};
use shared::store::conversations::{self, Conversation};
use shared::store::users;
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, time};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct CreateBody {
    participant_ids: Option<Vec<i64>>,
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct AddBody {
    user_ids: Option<Vec<i64>>,
}

const INVALID_IDS: &str = "Invalid participant IDs.";

fn user_ids(field: &'static str, raw: Option<Vec<i64>>) -> Result<UserIds, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::invalid_fields([(field, "This field is required.".to_string())].into())
    })?;
    UserIds::parse(raw).map_err(|problem| ApiError::invalid_fields([(field, problem)].into()))
}

/// Every id must name an existing user, or nothing happens.
async fn check_users_exist(ctx: &RequestCtx, ids: &UserIds) -> Result<(), ApiError> {
    let found = users::public_by_ids(&ctx.state.pool, ids.as_slice()).await?;
    if found.len() != ids.as_slice().len() {
        return Err(ApiError::bad_request(INVALID_IDS));
    }
    Ok(())
}

/// The conversation as `user_id` sees it, or the 404 that hides it.
async fn visible(
    ctx: &RequestCtx,
    conversation_id: i64,
    user_id: i64,
) -> Result<Conversation, ApiError> {
    let pool = &ctx.state.pool;
    let row = conversations::for_member(pool, conversation_id, user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut page = conversations::with_participants(pool, vec![row]).await?;
    page.pop().ok_or(ApiError::NotFound)
}

/// `POST /api/conversations`
pub async fn create(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let caller = user.id;
    let body = ctx.json::<CreateBody>()?;
    let ids = user_ids("participant_ids", body.participant_ids)?.with(caller);
    let title = body
        .title
        .map(Title::parse)
        .transpose()
        .map_err(|problem| ApiError::invalid_fields([("title", problem)].into()))?;
    check_users_exist(&ctx, &ids).await?;
    let id = conversations::create(
        &ctx.state.pool,
        title.as_ref(),
        caller,
        ids.as_slice(),
        time::now(),
    )
    .await?;
    Ok(respond::created(&visible(&ctx, id, caller).await?))
}

/// A bound above every stored activity: the largest `DATETIME(6)`.
fn latest_possible() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(253_402_300_799_999_999).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// `GET /api/conversations`
pub async fn list(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let caller = user.id;
    let query = ctx.query(&["page_size", "cursor"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    let after = match query.get("cursor") {
        None => (latest_possible(), i64::MAX),
        Some(cursor) => {
            let position: ConversationPosition = ctx.state.cursors.decode(cursor)?;
            let at = DateTime::from_timestamp_micros(position.at).filter(|_| position.u == caller);
            (
                at.ok_or_else(|| ApiError::bad_request("Invalid cursor."))?,
                position.id,
            )
        }
    };
    let pool = &ctx.state.pool;
    let mut rows = conversations::page_for_member(pool, caller, after, size.probe()).await?;
    let more = rows.len() > size.get() as usize;
    rows.truncate(size.get() as usize);
    let next_cursor = rows.last().filter(|_| more).map(|last| {
        ctx.state.cursors.encode(&ConversationPosition {
            u: caller,
            at: last.last_activity_at.timestamp_micros(),
            id: last.id,
        })
    });
    let results = conversations::with_participants(pool, rows).await?;
    Ok(respond::ok(&Page {
        results,
        next_cursor,
    }))
}

/// `GET /api/conversations/{id}`
pub async fn show(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let caller = user.id;
    let id = ctx.params.id("id")?;
    Ok(respond::ok(&visible(&ctx, id, caller).await?))
}

/// `POST /api/conversations/{id}/participants`: any participant may add.
pub async fn add_participants(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let caller = user.id;
    let id = ctx.params.id("id")?;
    let pool = &ctx.state.pool;
    let row = conversations::for_member(pool, id, caller)
        .await?
        .ok_or(ApiError::NotFound)?;
    let ids = user_ids("user_ids", ctx.json::<AddBody>()?.user_ids)?;
    check_users_exist(&ctx, &ids).await?;
    // Newcomers see the conversation where its activity places it.
    conversations::add_participants(pool, id, ids.as_slice(), time::now(), row.last_activity_at)
        .await?;
    let mut page = conversations::with_participants(pool, vec![row]).await?;
    Ok(respond::ok(&page.pop().ok_or(ApiError::NotFound)?))
}

/// `DELETE /api/conversations/{id}/participants/{user_id}`: leave, or (the
/// creator only) remove someone else.
pub async fn remove_participant(user: User, ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let caller = user.id;
    let id = ctx.params.id("id")?;
    let target = ctx.params.id("user_id")?;
    let pool = &ctx.state.pool;
    let creator = conversations::creator_for_member(pool, id, caller)
        .await?
        .ok_or(ApiError::NotFound)?;
    if target != caller && creator != Some(caller) {
        return Err(ApiError::Forbidden(
            "Only the conversation's creator may remove other participants.",
        ));
    }
    if !conversations::remove_participant(pool, id, target).await? {
        return Err(ApiError::NotFound);
    }
    Ok(respond::no_content())
}
