//! Uploads and the attachments they become.
//!
//! An upload is a row from the moment its form is handed out; a send claims
//! its uploads by setting their `message_id`, each at most once, in the
//! send's own transaction. What a message shows of them is kept on the
//! message row (as for reactions), so reading messages costs nothing more.

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use sqlx::{FromRow, MySqlConnection, QueryBuilder};

/// A message holds at most this many attachments.
pub const MAX_PER_MESSAGE: usize = 10;

/// An upload as a message shows it: its download URL is signed each time
/// the message is shown.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, FromRow)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

impl Attachment {
    /// Where storage keeps the file.
    pub fn key(&self) -> String {
        key_of(&self.id)
    }
}

pub fn key_of(upload_id: &str) -> String {
    format!("attachments/{upload_id}")
}

/// What the message row keeps: the attachment without a URL.
#[derive(Serialize)]
struct Kept<'a> {
    id: &'a str,
    filename: &'a str,
    content_type: &'a str,
    size: i64,
}

impl Serialize for Attachment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let url = crate::storage::signed_download(&self.key(), &self.filename, &self.content_type);
        let mut shown = serializer.serialize_struct("Attachment", 5)?;
        shown.serialize_field("id", &self.id)?;
        shown.serialize_field("filename", &self.filename)?;
        shown.serialize_field("content_type", &self.content_type)?;
        shown.serialize_field("size", &self.size)?;
        shown.serialize_field("url", &url)?;
        shown.end()
    }
}

/// The attachments kept on a message row (`NULL` when it has none).
pub(crate) fn from_column(raw: Option<&str>) -> Vec<Attachment> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    serde_json::from_str(raw).unwrap_or_else(|err| {
        tracing::error!(error = %err, "a message's stored attachments do not parse");
        Vec::new()
    })
}

pub(crate) fn to_column(attachments: &[Attachment]) -> Option<String> {
    let kept: Vec<Kept<'_>> = attachments
        .iter()
        .map(|a| Kept {
            id: &a.id,
            filename: &a.filename,
            content_type: &a.content_type,
            size: a.size,
        })
        .collect();
    // A list of plain structs always serialises.
    (!kept.is_empty()).then(|| serde_json::to_string(&kept).unwrap_or_default())
}

/// Records an upload about to be made.
pub async fn create(
    conn: &mut MySqlConnection,
    owner_id: i64,
    upload: &Attachment,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, filename, content_type, size, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&upload.id)
    .bind(owner_id)
    .bind(&upload.filename)
    .bind(&upload.content_type)
    .bind(upload.size)
    .bind(now.naive_utc())
    .execute(conn)
    .await?;
    Ok(())
}

/// The owner's uploads among `ids` that no message holds yet, in the order
/// of `ids`.
pub async fn unattached(
    conn: &mut MySqlConnection,
    owner_id: i64,
    ids: &[String],
) -> Result<Vec<Attachment>, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "SELECT id, filename, content_type, size FROM uploads \
         WHERE message_id IS NULL AND owner_id = ",
    );
    query.push_bind(owner_id).push(" AND id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
    let mut found: Vec<Attachment> = query.build_query_as().fetch_all(conn).await?;
    found.sort_by_key(|a| ids.iter().position(|id| *id == a.id));
    Ok(found)
}

/// Uploads whose files are to go: attached to no message since before
/// `unattached_before`, or attached to a message that is now a tombstone
/// (deleted, or its sender's account erased).
pub async fn removable(
    conn: &mut MySqlConnection,
    unattached_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "(SELECT id FROM uploads WHERE message_id IS NULL AND created_at < ? LIMIT ?) \
         UNION ALL \
         (SELECT u.id FROM uploads u JOIN messages m ON m.id = u.message_id \
          JOIN users s ON s.id = m.sender_id \
          WHERE m.deleted_at IS NOT NULL OR s.erased_at IS NOT NULL LIMIT ?)",
    )
    .bind(unattached_before.naive_utc())
    .bind(limit)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Forgets uploads whose files are gone.
pub async fn forget(conn: &mut MySqlConnection, ids: &[String]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new("DELETE FROM uploads WHERE id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
    query.build().execute(conn).await?;
    Ok(())
}
