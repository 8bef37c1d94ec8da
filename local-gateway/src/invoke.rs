//! Invoking a function through the Lambda Invoke API of the local functions (`cargo lambda watch`, or any emulator that serves it).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// API Gateway's integration timeout.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// What the function answered: a proxy integration's status and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Option<String>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Clone)]
pub struct Invoker {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
}

impl Invoker {
    /// `base` is the Invoke API's address (`http://127.0.0.1:9000`), and
    /// `function` the name it knows the WebSocket function by.
    pub fn new(base: &str, function: &str) -> Self {
        Invoker {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url: format!(
                "{}/2015-03-31/functions/{function}/invocations",
                base.trim_end_matches('/')
            ),
        }
    }

    /// Invokes a WebSocket route: the answer is a proxy integration's.
    pub async fn invoke(&self, event: &Value) -> anyhow::Result<Answer> {
        let payload = self.invoke_raw(event).await?;
        let Some(status) = payload
            .get("statusCode")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
        else {
            bail!("the function's answer has no statusCode (an invocation error?): {payload}");
        };
        Ok(Answer {
            status,
            body: payload
                .get("body")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// Invokes the function with any event and returns what it answered.
    pub async fn invoke_raw(&self, event: &Value) -> anyhow::Result<Value> {
        let request = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event.to_string())))
            .context("build the invoke request")?;
        let response = tokio::time::timeout(INTEGRATION_TIMEOUT, self.client.request(request))
            .await
            .context("the function did not answer within 29 s")?
            .with_context(|| format!("invoke {}", self.url))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("read the invoke answer")?
            .to_bytes();
        if !status.is_success() {
            bail!(
                "invoke answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).context("the function's answer is not JSON")
    }
}
