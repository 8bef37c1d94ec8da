//! The API Gateway Management API: posting a frame to one connection and
//! closing one.

use std::time::Duration;

use anyhow::Context;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Region};
use aws_sdk_apigatewaymanagement::error::DisplayErrorContext;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use bytes::Bytes;

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
    client: Client,
}

impl ManagementApi {
    pub fn new(client: Client) -> Self {
        ManagementApi { client }
    }

    /// A client of the Management API at `endpoint`
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`), signed
    /// with the credentials Lambda puts in the environment.
    pub fn from_env(endpoint: &str) -> anyhow::Result<Self> {
        let region = std::env::var("AWS_REGION")
            .context("AWS_REGION must be set to reach the WebSocket API")?;
        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .http_client(crate::aws_http::client())
            .endpoint_url(endpoint)
            .build();
        Ok(ManagementApi::new(Client::from_conf(config)))
    }

    pub async fn post(&self, connection_id: &str, data: Bytes) -> Posted {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send();
        match tokio::time::timeout(POST_TIMEOUT, sent).await {
            Err(_) => Posted::Failed(format!("no answer within {POST_TIMEOUT:?}")),
            Ok(Ok(_)) => Posted::Sent,
            Ok(Err(err)) => {
                if err
                    .as_service_error()
                    .is_some_and(|service| service.is_gone_exception())
                {
                    Posted::Gone
                } else {
                    Posted::Failed(DisplayErrorContext(err).to_string())
                }
            }
        }
    }

    /// Closes a connection; one already gone counts as closed.
    pub async fn close(&self, connection_id: &str) -> anyhow::Result<()> {
        let deleted = self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send();
        match tokio::time::timeout(POST_TIMEOUT, deleted).await {
            Err(_) => anyhow::bail!("no answer within {POST_TIMEOUT:?}"),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err))
                if err
                    .as_service_error()
                    .is_some_and(|service| service.is_gone_exception()) =>
            {
                Ok(())
            }
            Ok(Err(err)) => Err(anyhow::anyhow!(DisplayErrorContext(err).to_string())),
        }
    }
}
