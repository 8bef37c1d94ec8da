//! Uploads: a signed form to put one file straight into storage, and the
//! checks a send makes before it attaches uploads.

use anyhow::anyhow;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use shared::domain::{FileName, MediaType};
use shared::error::FieldErrors;
use shared::storage::{ObjectStore, UPLOAD_EXPIRES_IN, UploadForm};
use shared::store::uploads::{self, Attachment, MAX_PER_MESSAGE};
use shared::store::users::User;
use shared::{ApiError, RequestCtx, respond, secret, time};
use sqlx::MySqlConnection;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct UploadBody {
    /// Each read as any JSON value, so that a wrong one is refused by name.
    filename: Option<serde_json::Value>,
    content_type: Option<serde_json::Value>,
    size: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Created {
    upload_id: String,
    #[serde(flatten)]
    form: UploadForm,
    expires_in: u64,
}

fn configured(storage: Option<&ObjectStore>) -> Result<&ObjectStore, ApiError> {
    storage.ok_or_else(|| ApiError::Unavailable(anyhow!("ATTACHMENT_BUCKET is not configured")))
}

/// `POST /api/uploads`: a presigned POST for one file of exactly this size
/// and type, valid 15 minutes.
pub async fn create(owner: User, mut ctx: RequestCtx) -> Result<Response<Body>, ApiError> {
    let body = ctx.json::<UploadBody>()?;
    let storage = ctx.state.storage.clone();
    let store = configured(storage.as_deref())?;
    let mut fields = FieldErrors::new();
    let text = |value: Option<serde_json::Value>, field: &str| match value {
        Some(serde_json::Value::String(text)) => Ok(text),
        Some(_) => Err(format!("{field} must be a string.")),
        None => Err("This field is required.".into()),
    };
    let filename = text(body.filename, "filename")
        .and_then(FileName::parse)
        .map_err(|problem| fields.insert("filename", problem))
        .ok();
    let content_type = text(body.content_type, "content_type")
        .and_then(MediaType::parse)
        .map_err(|problem| fields.insert("content_type", problem))
        .ok();
    let max = store.max_bytes;
    let size = body
        .size
        .and_then(|value| value.as_u64())
        .filter(|size| (1..=max).contains(size))
        .or_else(|| {
            fields.insert(
                "size",
                format!("size must be a whole number of bytes from 1 to {max}."),
            );
            None
        });
    let (Some(filename), Some(content_type), Some(size)) = (filename, content_type, size) else {
        return Err(ApiError::invalid_fields(fields));
    };
    let upload = Attachment {
        id: secret::random_token(),
        filename: filename.as_str().to_string(),
        content_type: content_type.as_str().to_string(),
        size: i64::try_from(size).map_err(ApiError::internal)?,
    };
    let now = time::now();
    uploads::create(ctx.db.conn().await?, owner.id, &upload, now).await?;
    let form = store.upload_form(&upload.key(), &upload.content_type, size, now);
    Ok(respond::created(&Created {
        upload_id: upload.id,
        form,
        expires_in: UPLOAD_EXPIRES_IN.as_secs(),
    }))
}

/// The `attachments` of a send: 1 to 10 distinct upload ids.
pub fn parse_ids(value: serde_json::Value) -> Result<Vec<String>, String> {
    let problem = || format!("Give 1 to {MAX_PER_MESSAGE} distinct upload ids.");
    let ids: Vec<String> = serde_json::from_value(value).map_err(|_| problem())?;
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    if ids.is_empty() || ids.len() > MAX_PER_MESSAGE || distinct.len() != ids.len() {
        return Err(problem());
    }
    // Upload ids are URL-safe base64; anything else names no upload.
    let well_formed = |id: &String| {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !ids.iter().all(well_formed) {
        return Err(NOT_ATTACHABLE.into());
    }
    Ok(ids)
}

const NOT_ATTACHABLE: &str =
    "Each upload must be your own, uploaded in full, and attached to no other message.";

/// The sender's uploads that a send may attach: every one the sender's,
/// unattached, and stored in full at its declared size and type. Storage is
/// asked before the send's transaction, so no lock waits on it.
pub async fn attachable(
    storage: Option<&ObjectStore>,
    conn: &mut MySqlConnection,
    sender: &User,
    ids: &[String],
) -> Result<Vec<Attachment>, ApiError> {
    let store = configured(storage)?;
    let found = uploads::unattached(conn, sender.id, ids).await?;
    if found.len() != ids.len() {
        return Err(not_attachable());
    }
    let checks = found.iter().map(|upload| {
        let key = upload.key();
        async move { store.stored(&key).await }
    });
    for (upload, stored) in found
        .iter()
        .zip(futures_util::future::join_all(checks).await)
    {
        let stored = stored.map_err(ApiError::Unavailable)?;
        let complete = stored.is_some_and(|s| {
            s.size == upload.size
                && s.content_type
                    .is_some_and(|t| t.eq_ignore_ascii_case(&upload.content_type))
        });
        if !complete {
            return Err(not_attachable());
        }
    }
    Ok(found)
}

pub fn not_attachable() -> ApiError {
    ApiError::invalid_field("attachments", NOT_ATTACHABLE)
}
