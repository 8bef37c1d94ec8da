//! Object storage for attachments: files go straight between the client and
//! the bucket with short-lived signed URLs, never through a function.
//!
//! Uploads are presigned POSTs (a signed policy pinning the key, the content
//! type and the exact size); downloads are presigned GETs. The SDK presigns
//! GET and PUT but not POST, so both are signed here with `aws-sigv4`, the
//! SDK's own signer; the SDK's client asks storage what was uploaded and
//! removes files. The client is built on first use: only the functions that
//! ask or remove (messages, the purge) build it, and only their binaries
//! link it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::SdkError;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use percent_encoding::utf8_percent_encode;
use serde::Serialize;

use crate::aws_http::UNRESERVED;
use crate::config::StorageConfig;

/// An upload form stays valid this long.
pub const UPLOAD_EXPIRES_IN: Duration = Duration::from_secs(15 * 60);
/// A download URL stays valid this long from the answer that carries it.
pub const DOWNLOAD_EXPIRES_IN: Duration = Duration::from_secs(3600);
/// Shown inline; every other type downloads as a file, so that no stored
/// page or script runs in the browser from the bucket's origin.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The bucket, with the credentials that sign for it.
pub struct ObjectStore {
    client: OnceLock<aws_sdk_s3::Client>,
    /// A local server's endpoint, addressed path-style; none in the cloud.
    endpoint: Option<String>,
    credentials: Credentials,
    region: String,
    bucket: String,
    /// Where the bucket answers: `{endpoint}/{bucket}` path-style for a local
    /// server, `https://{bucket}.s3.{region}.amazonaws.com` in the cloud.
    bucket_url: String,
    pub max_bytes: u64,
}

/// What a client needs to upload one file: POST `url` as
/// `multipart/form-data` with every field, then the file as `file`.
#[derive(Debug, Serialize)]
pub struct UploadForm {
    pub url: String,
    pub fields: BTreeMap<&'static str, String>,
}

/// What storage holds under a key.
#[derive(Debug, PartialEq, Eq)]
pub struct Stored {
    pub size: i64,
    pub content_type: Option<String>,
}

impl ObjectStore {
    pub fn new(config: &StorageConfig, region: String, credentials: Credentials) -> Self {
        let bucket_url = match &config.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), config.bucket),
            None => format!("https://{}.s3.{region}.amazonaws.com", config.bucket),
        };
        ObjectStore {
            client: OnceLock::new(),
            endpoint: config.endpoint.clone(),
            credentials,
            region,
            bucket: config.bucket.clone(),
            bucket_url,
            max_bytes: config.max_bytes,
        }
    }

    /// The region and credentials of the function's environment
    /// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...), which Lambda sets for the
    /// function's role.
    pub async fn from_env(config: &StorageConfig) -> anyhow::Result<Self> {
        let region =
            std::env::var("AWS_REGION").context("AWS_REGION must be set to store attachments")?;
        let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new()
            .provide_credentials()
            .await
            .context("attachments need AWS credentials in the environment")?;
        Ok(ObjectStore::new(config, region, credentials))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_or_init(|| {
            let mut s3 = aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(self.region.clone()))
                .credentials_provider(self.credentials.clone())
                .http_client(crate::aws_http::client());
            if let Some(endpoint) = &self.endpoint {
                s3 = s3.endpoint_url(endpoint).force_path_style(true);
            }
            aws_sdk_s3::Client::from_conf(s3.build())
        })
    }

    /// A presigned POST for exactly one object: this key, this content type,
    /// this many bytes, within [`UPLOAD_EXPIRES_IN`] of `now`.
    pub fn upload_form(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        now: DateTime<Utc>,
    ) -> UploadForm {
        let date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let credential = format!(
            "{}/{}/{}/s3/aws4_request",
            self.credentials.access_key_id(),
            &date[..8],
            self.region
        );
        let expiration = now + UPLOAD_EXPIRES_IN;
        let mut fields = BTreeMap::from([
            ("key", key.to_string()),
            ("Content-Type", content_type.to_string()),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_string()),
            ("x-amz-credential", credential),
            ("x-amz-date", date),
        ]);
        if let Some(token) = self.credentials.session_token() {
            fields.insert("x-amz-security-token", token.to_string());
        }
        let mut conditions = vec![
            serde_json::json!({"bucket": self.bucket}),
            serde_json::json!(["content-length-range", size, size]),
        ];
        conditions.extend(
            fields
                .iter()
                .map(|(name, value)| serde_json::json!({ *name: value })),
        );
        let policy = serde_json::json!({
            "expiration": expiration.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "conditions": conditions,
        });
        let policy = STANDARD.encode(policy.to_string());
        let signing_key = v4::generate_signing_key(
            self.credentials.secret_access_key(),
            SystemTime::from(now),
            &self.region,
            "s3",
        );
        let signature = v4::calculate_signature(signing_key, policy.as_bytes());
        fields.insert("policy", policy);
        fields.insert("x-amz-signature", signature);
        UploadForm {
            url: self.bucket_url.clone(),
            fields,
        }
    }

    /// A presigned GET of the object, valid [`DOWNLOAD_EXPIRES_IN`] from
    /// `now`; anything but the four image types downloads as a file.
    pub fn download_url(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        now: SystemTime,
    ) -> anyhow::Result<String> {
        let mut url = format!("{}/{}", self.bucket_url, encode_key(key));
        if !INLINE_TYPES.contains(&content_type) {
            let disposition = content_disposition(filename);
            url.push_str("?response-content-disposition=");
            url.extend(utf8_percent_encode(&disposition, UNRESERVED).map(str::to_string));
        }
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(DOWNLOAD_EXPIRES_IN);
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()?
            .into();
        let request = SignableRequest::new(
            "GET",
            &url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )?;
        let (instructions, _) = sign(request, &params)?.into_parts();
        let mut separator = if url.contains('?') { '&' } else { '?' };
        for (name, value) in instructions.params() {
            url.push(separator);
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, UNRESERVED).map(str::to_string));
            separator = '&';
        }
        Ok(url)
    }

    /// The object's size and type, or `None` when nothing is stored there.
    pub async fn stored(&self, key: &str) -> anyhow::Result<Option<Stored>> {
        match self
            .client()
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Stored {
                size: head.content_length().unwrap_or_default(),
                content_type: head.content_type().map(str::to_string),
            })),
            Err(SdkError::ServiceError(err)) if err.err().is_not_found() => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context("asking storage for an upload")),
        }
    }

    /// Removes objects; one that is already gone is no error.
    pub async fn remove(&self, key: &str) -> anyhow::Result<()> {
        self.client()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .context("removing a stored file")?;
        Ok(())
    }
}

/// Each segment of the key percent-encoded, its slashes kept.
fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// `attachment` with the name in plain ASCII for old clients and in full
/// (RFC 6266's `filename*`) for the others.
fn content_disposition(filename: &str) -> String {
    let plain: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, UNRESERVED)
    )
}

/// The store that signs download URLs wherever a message is shown (pages,
/// events, a conversation's last message), installed once per process by
/// the first application that has one.
static DOWNLOADS: OnceLock<Arc<ObjectStore>> = OnceLock::new();

pub fn install_downloads(store: Arc<ObjectStore>) {
    let _ = DOWNLOADS.set(store);
}

/// A fresh download URL for an attachment; `None` where no store is
/// configured (no attachment can exist there).
pub fn signed_download(key: &str, filename: &str, content_type: &str) -> Option<String> {
    let store = DOWNLOADS.get()?;
    store
        .download_url(key, filename, content_type, SystemTime::now())
        .map_err(|err| tracing::error!(error = %err, "a download URL could not be signed"))
        .ok()
}

/// An upload attached to no message is removed this long after its form was
/// handed out.
pub const UNATTACHED_MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const REMOVAL_BATCH: i64 = 500;
const REMOVALS_IN_FLIGHT: usize = 16;

/// Removes the files no message shows any more, and their rows: uploads
/// attached to no message within [`UNATTACHED_MAX_AGE`], and the files of
/// tombstones. A file storage fails to remove keeps its row for the next
/// run. Returns how many went.
pub async fn remove_unneeded(
    conn: &mut sqlx::MySqlConnection,
    store: &ObjectStore,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    use crate::store::uploads;
    use futures_util::StreamExt;
    let mut removed = 0;
    loop {
        let ids = uploads::removable(&mut *conn, now - UNATTACHED_MAX_AGE, REMOVAL_BATCH).await?;
        let results: Vec<(String, anyhow::Result<()>)> = futures_util::stream::iter(ids.clone())
            .map(|id| async move {
                let outcome = store.remove(&uploads::key_of(&id)).await;
                (id, outcome)
            })
            .buffer_unordered(REMOVALS_IN_FLIGHT)
            .collect()
            .await;
        let mut gone = Vec::new();
        for (id, outcome) in results {
            match outcome {
                Ok(()) => gone.push(id),
                Err(err) => tracing::warn!(error = %err, "a file was not removed; next run"),
            }
        }
        uploads::forget(&mut *conn, &gone).await?;
        removed += gone.len() as u64;
        // Fewer than a batch, or storage refusing: the rest waits for the
        // next run.
        if (ids.len() as i64) < REMOVAL_BATCH || gone.len() < ids.len() {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_given_plainly_and_in_full() {
        assert_eq!(
            content_disposition("résumé \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
    }
}
