//! The API Gateway Management API: posting a frame to one connection and
//! closing one, as signed requests (`crate::aws_http::SignedHttp`).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use percent_encoding::utf8_percent_encode;

use crate::aws_http::{Answer, SignedHttp, UNRESERVED};

/// A post that has not answered in this time is given up and counted failed.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Sent,
    /// 410: closed, or not fully open yet (a post inside its handshake).
    Gone,
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct ManagementApi {
    http: SignedHttp,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    endpoint: String,
}

impl ManagementApi {
    pub fn new(endpoint: &str, http: SignedHttp) -> Self {
        ManagementApi {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// A client of the Management API at `endpoint`, signed with the
    /// credentials Lambda puts in the environment.
    pub fn from_env(endpoint: &str) -> anyhow::Result<Self> {
        Ok(ManagementApi::new(
            endpoint,
            SignedHttp::from_env("execute-api")?,
        ))
    }

    fn connection_url(&self, connection_id: &str) -> String {
        format!(
            "{}/@connections/{}",
            self.endpoint,
            // One path segment, encoded as the SDK encodes it.
            utf8_percent_encode(connection_id, UNRESERVED)
        )
    }

    pub async fn post(&self, connection_id: &str, data: Bytes) -> Posted {
        let url = self.connection_url(connection_id);
        match self
            .http
            .send(Method::POST, &url, &[], data, POST_TIMEOUT)
            .await
        {
            Ok(answer) if answer.status.is_success() => Posted::Sent,
            Ok(answer) if answer.status == StatusCode::GONE => Posted::Gone,
            Ok(answer) => Posted::Failed(refusal(&answer)),
            Err(err) => Posted::Failed(format!("{err:#}")),
        }
    }

    /// Closes a connection; one already gone counts as closed.
    pub async fn close(&self, connection_id: &str) -> anyhow::Result<()> {
        let url = self.connection_url(connection_id);
        let answer = self
            .http
            .send(Method::DELETE, &url, &[], Bytes::new(), POST_TIMEOUT)
            .await?;
        if answer.status.is_success() || answer.status == StatusCode::GONE {
            Ok(())
        } else {
            anyhow::bail!(refusal(&answer))
        }
    }
}

/// The status and the service's own words, for the log.
fn refusal(answer: &Answer) -> String {
    format!(
        "{}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body).trim()
    )
}
