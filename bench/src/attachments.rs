//! What three attachments add to a send: sends one after another, in
//! process, each with three fresh uploads already in the local storage, and
//! as many without.

use std::time::Instant;

use anyhow::{Context, bail};
use harness::routing::Gateway;
use serde_json::{Value, json};
use shared::AppState;

use crate::in_process;
use crate::load::Request;

/// Sends measured with three attachments, and as many without.
const ROUNDS: usize = 100;

/// Sends one after another, in process: with three attachments (their
/// uploads already in storage) and without.
#[derive(Debug, Default)]
pub struct AttachmentSends {
    pub with_ms: Vec<f64>,
    pub without_ms: Vec<f64>,
    pub with_statements: usize,
    pub without_statements: usize,
}

/// Times and statements of the send requests alone, into `conversation` as
/// the holder of `token`.
pub async fn measure(
    gateway: &Gateway,
    state: &AppState,
    conversation: i64,
    token: &str,
) -> anyhow::Result<AttachmentSends> {
    harness::storage::ensure_bucket().await;
    let storage = harness::storage::config();
    let state = state
        .clone()
        .with_storage(harness::storage::store(&storage));
    let store = harness::storage::store(&storage);
    let path = format!("/api/conversations/{conversation}/messages");
    let send = |body: Value| Request::post(path.clone(), Some(token), &body);
    let mut measured = AttachmentSends::default();
    for round in 0..ROUNDS {
        let mut ids = Vec::new();
        for n in 0..3 {
            let form = Request::post(
                "/api/uploads",
                Some(token),
                &json!({"filename": format!("photo-{round}-{n}.jpg"), "content_type": "image/jpeg", "size": 1024}),
            );
            let (status, form, _) = in_process::call(gateway, &state, &form).await;
            if status != 201 {
                bail!("an upload form answered {status}: {form}");
            }
            let id = form["upload_id"]
                .as_str()
                .context("an upload id")?
                .to_string();
            store
                .client()
                .put_object()
                .bucket(store.bucket())
                .key(shared::store::uploads::key_of(&id))
                .content_type("image/jpeg")
                .body(vec![7u8; 1024].into())
                .send()
                .await?;
            ids.push(id);
        }
        for (with_files, request) in [
            (
                true,
                send(json!({"body": "Photos from the trip", "attachments": ids})),
            ),
            (false, send(json!({"body": "Photos from the trip"}))),
        ] {
            let started = Instant::now();
            let (status, body, statements) = in_process::call(gateway, &state, &request).await;
            let ms = started.elapsed().as_secs_f64() * 1_000.0;
            if status != 201 {
                bail!("a send answered {status}: {body}");
            }
            if with_files {
                measured.with_ms.push(ms);
                measured.with_statements = statements;
            } else {
                measured.without_ms.push(ms);
                measured.without_statements = statements;
            }
        }
    }
    Ok(measured)
}
