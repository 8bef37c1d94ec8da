//! The S3-compatible server attachments are stored in on this machine:
//! SeaweedFS on 127.0.0.1, started by `scripts/storage.sh` (which
//! `scripts/test.sh` and `scripts/bench.sh` run), checking every signature
//! with the credentials of `scripts/seaweedfs-s3.json`.

use aws_credential_types::Credentials;
use shared::config::StorageConfig;
use shared::storage::ObjectStore;
use tokio::sync::OnceCell;

pub const BUCKET: &str = "messaging-tests";
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "local";
pub const SECRET_KEY: &str = "local-secret-for-tests-only";
pub const MAX_BYTES: u64 = 25 * 1024 * 1024;

/// `TEST_S3_ENDPOINT`, else the port `scripts/storage.sh` uses.
pub fn endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8333".into())
}

pub fn config() -> StorageConfig {
    StorageConfig {
        bucket: BUCKET.into(),
        max_bytes: MAX_BYTES,
        endpoint: Some(endpoint()),
    }
}

pub fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests")
}

pub fn store(config: &StorageConfig) -> ObjectStore {
    ObjectStore::new(config, REGION.into(), credentials())
}

/// Creates the bucket once per process (every upload's key is its own
/// random upload id, so tests and runs share it).
pub async fn ensure_bucket() {
    static CREATED: OnceCell<()> = OnceCell::const_new();
    CREATED
        .get_or_init(|| async {
            let store = store(&config());
            match store.client().create_bucket().bucket(BUCKET).send().await {
                Ok(_) => {}
                Err(err) => {
                    let owned = err.as_service_error().is_some_and(|e| {
                        e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                    });
                    assert!(
                        owned,
                        "the S3-compatible server at {} must run (scripts/storage.sh): {err:?}",
                        endpoint()
                    );
                }
            }
        })
        .await;
}
