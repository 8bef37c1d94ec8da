//! The HTTP client of every AWS SDK client here: hyper with rustls over
//! ring, the workspace's one crypto provider (the database's TLS uses the
//! same rustls and ring). The SDK's default would bring aws-lc, a second
//! provider of a few megabytes, into every function (docs/DECISIONS.md,
//! "One crypto provider").

use std::sync::OnceLock;

use aws_sdk_sqs::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// One client per process: its connection pool serves every SDK client that
/// is given it. Trusted roots are the system's, loaded on first use.
pub fn client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}
