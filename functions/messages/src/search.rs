//! Search over the caller's conversations.

use lambda_http::{Body, Response};
use shared::domain::SearchQuery;
use shared::pagination::{self, PageSize, SearchPosition};
use shared::store::search;
use shared::store::users::User;
use shared::{ApiError, RequestCtx};

use crate::handlers;

/// `GET /api/messages/search?q=&conversation_id=&page_size=&cursor=`: the
/// messages whose current text holds every word of `q`, newest first.
pub async fn search(reader: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let query = ctx.query(&["q", "conversation_id", "page_size", "cursor"])?;
    let size = PageSize::parse(query.get("page_size"))?;
    let words = SearchQuery::parse(query.get("q").unwrap_or_default())
        .map_err(|problem| ApiError::invalid_field("q", problem))?;
    let conversation_id = query
        .get("conversation_id")
        .map(|raw| handlers::object_id("conversation_id", raw))
        .transpose()?;
    let terms = words.boolean_mode();
    let before = match query.get("cursor") {
        Some(cursor) => {
            let at: SearchPosition = ctx.state.cursors.decode(cursor)?;
            if at.u != reader.id || at.q != terms || at.c != conversation_id {
                return Err(ApiError::bad_request("Invalid cursor."));
            }
            at.k
        }
        None => i64::MAX,
    };
    let conn = ctx.db.conn().await?;
    let rows = search::search(
        conn,
        reader.id,
        &words,
        conversation_id,
        before,
        size.probe(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    pagination::respond(&rows, size, |last| {
        ctx.state.cursors.encode(&SearchPosition {
            u: reader.id,
            q: terms.clone(),
            c: conversation_id,
            k: last.id,
        })
    })
}
