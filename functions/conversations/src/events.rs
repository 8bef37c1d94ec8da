//! Conversation events, published once the change has committed and before
//! the answer. A `<Conversation>` in an event is the recipient's own view, so
//! views are read only for recipients with an open connection.

use serde_json::json;
use shared::RequestCtx;
use shared::store::conversations::ReadState;
use shared::store::realtime as connections;

use crate::handlers::visible;

/// `conversation.joined` to each of `users` (who created, were added to or
/// opened the conversation).
pub async fn joined(ctx: &mut RequestCtx, conversation_id: i64, users: &[i64]) {
    if ctx.state.publisher.is_none() {
        return;
    }
    let recipients = match ctx.db.conn().await {
        Ok(conn) => connections::connected_users(conn, users).await,
        Err(err) => Err(err),
    };
    match recipients {
        Ok(recipients) => views(ctx, "conversation.joined", conversation_id, recipients).await,
        Err(err) => tracing::warn!(error = %err, "conversation.joined not published"),
    }
}

/// `conversation.updated` to every participant but `except` (those who get
/// `conversation.joined` for the same change).
pub async fn updated(ctx: &mut RequestCtx, conversation_id: i64, except: &[i64]) {
    if ctx.state.publisher.is_none() {
        return;
    }
    let recipients = match ctx.db.conn().await {
        Ok(conn) => connections::connected_participants(conn, conversation_id).await,
        Err(err) => Err(err),
    };
    match recipients {
        Ok(mut recipients) => {
            recipients.retain(|user| !except.contains(user));
            views(ctx, "conversation.updated", conversation_id, recipients).await;
        }
        Err(err) => tracing::warn!(error = %err, "conversation.updated not published"),
    }
}

/// `conversation.left` to a user who left or was removed.
pub async fn left(ctx: &mut RequestCtx, conversation_id: i64, user_id: i64) {
    let event = json!({"type": "conversation.left", "conversation_id": conversation_id});
    ctx.publish(vec![(user_id, event)]).await;
}

/// `conversation.read` to the reader's own connections only.
pub async fn read(ctx: &mut RequestCtx, reader: i64, state: &ReadState) {
    let event = json!({
        "type": "conversation.read",
        "conversation_id": state.conversation_id,
        "last_read_seq": state.last_read_seq,
        "unread_count": state.unread_count,
    });
    ctx.publish(vec![(reader, event)]).await;
}

async fn views(ctx: &mut RequestCtx, kind: &str, conversation_id: i64, recipients: Vec<i64>) {
    let mut deliveries = Vec::with_capacity(recipients.len());
    for user in recipients {
        let view = match ctx.db.conn().await {
            Ok(conn) => visible(conn, conversation_id, user).await,
            Err(err) => Err(err.into()),
        };
        match view {
            Ok(view) => deliveries.push((user, json!({"type": kind, "conversation": view}))),
            // Gone from the conversation in the meantime: nothing to show them.
            Err(shared::ApiError::NotFound) => {}
            Err(err) => tracing::warn!(error = %err, kind, "conversation event not published"),
        }
    }
    ctx.publish(deliveries).await;
}
