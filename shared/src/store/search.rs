//! Search: the caller's messages whose current text holds every word, newest
//! first, through the InnoDB full-text index `messages_text`.

use sqlx::MySqlConnection;

use crate::domain::SearchQuery;
use crate::store::messages::{Message, MessageRow, message_columns};

/// The search statement, with `$within` as its last condition.
macro_rules! search {
    ($within:literal) => {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m \
              JOIN users s ON s.id = m.sender_id \
              JOIN conversation_participants p \
                ON p.conversation_id = m.conversation_id AND p.user_id = ? \
              WHERE MATCH (m.body) AGAINST (? IN BOOLEAN MODE) \
                AND m.deleted_at IS NULL AND s.erased_at IS NULL AND m.id < ?",
            $within,
            " ORDER BY m.id DESC LIMIT ?"
        )
    };
}

/// The search over all of the reader's conversations, binding reader id, the
/// boolean-mode query, the id bound and limit. Membership is the join's own
/// condition, as in the message page: a conversation the reader left is not
/// searched.
pub const SEARCH_SQL: &str = search!("");

/// The same within one conversation, binding its id after the id bound.
pub const SEARCH_IN_SQL: &str = search!(" AND m.conversation_id = ?");

/// Up to `limit` matching messages with an id below `before`, newest first;
/// `None` when `conversation_id` names a conversation `reader_id` is not in.
pub async fn search(
    conn: &mut MySqlConnection,
    reader_id: i64,
    query: &SearchQuery,
    conversation_id: Option<i64>,
    before: i64,
    limit: i64,
) -> Result<Option<Vec<Message>>, sqlx::Error> {
    let sql = if conversation_id.is_some() {
        SEARCH_IN_SQL
    } else {
        SEARCH_SQL
    };
    let mut statement = sqlx::query_as(sql)
        .bind(reader_id)
        .bind(query.boolean_mode())
        .bind(before);
    if let Some(id) = conversation_id {
        statement = statement.bind(id);
    }
    let rows: Vec<MessageRow> = statement.bind(limit).fetch_all(&mut *conn).await?;
    if let Some(id) = conversation_id
        && rows.is_empty()
        && !crate::store::conversations::is_member(conn, id, reader_id).await?
    {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().map(Message::from).collect()))
}
