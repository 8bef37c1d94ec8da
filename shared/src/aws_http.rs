//! HTTP to AWS: the one client the SDK's clients are given, and signed
//! requests sent without the SDK's client on the delivery path.
//!
//! Both use hyper with rustls over ring, the workspace's one crypto provider
//! (the database's TLS uses the same). The SDK's default client would bring
//! aws-lc, a second provider of a few megabytes, into every function
//! (docs/DECISIONS.md, "One crypto provider").
//!
//! A nudge of the delivery queue and a Management API post run once per
//! change and once per connection and event, so they are signed here with
//! `aws-sigv4` (the SDK's own signer) and sent over hyper, at a fraction of
//! the SDK client's CPU (docs/DECISIONS.md, "Delivery requests without the
//! SDK's client").

use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// What AWS URLs encode: everything but RFC 3986's unreserved characters,
/// in a path segment (an S3 key's, a connection id) or a query value.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An HTTP client for one SDK client, with a connection pool of its own:
/// pooled connections belong to the runtime that opened them, and a process
/// may run several (the tests do), so no pool is shared across clients.
/// Trusted roots are the system's, loaded on first use.
pub fn client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The most of an AWS answer that is read: the delivery path's answers are
/// small JSON documents or empty.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends requests to one AWS service signed with SigV4, over one pooled
/// HTTP/1.1 client.
#[derive(Clone)]
pub struct SignedHttp {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    identity: Identity,
    region: String,
    service: &'static str,
}

impl std::fmt::Debug for SignedHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedHttp")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// What a service answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl SignedHttp {
    pub fn new(service: &'static str, region: impl Into<String>, credentials: Credentials) -> Self {
        // The Mozilla roots the database's TLS trusts too; plain HTTP for a
        // local endpoint.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .expect("ring supports rustls's default protocol versions")
            .https_or_http()
            .enable_http1()
            .build();
        SignedHttp {
            http: Client::builder(TokioExecutor::new()).build(https),
            identity: credentials.into(),
            region: region.into(),
            service,
        }
    }

    /// The region and credentials Lambda puts in the function's environment
    /// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`).
    pub fn from_env(service: &'static str) -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).with_context(|| format!("{name} must be set"));
        let credentials = Credentials::new(
            var("AWS_ACCESS_KEY_ID")?,
            var("AWS_SECRET_ACCESS_KEY")?,
            std::env::var("AWS_SESSION_TOKEN").ok(),
            None,
            "environment",
        );
        Ok(SignedHttp::new(service, var("AWS_REGION")?, credentials))
    }

    /// Signs and sends one request; an answer of any status is an answer,
    /// no answer within `timeout` is an error.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&'static str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> anyhow::Result<Answer> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            uri,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Full::new(body))?;
        instructions.apply_to_request_http1x(&mut request);
        let answered = async {
            let response = self.http.request(request).await?;
            let status = response.status();
            // Read to the end, so the connection goes back to the pool.
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|err| anyhow::anyhow!("reading the answer: {err}"))?
                .to_bytes();
            anyhow::Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, answered)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {timeout:?}"))?
    }
}
