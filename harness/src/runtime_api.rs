//! A Lambda Runtime API emulator on 127.0.0.1, so the real function binaries
//! run exactly as in Lambda: they poll `/next`, get an API Gateway event,
//! and post their answer to `/response` (or `/error`). It also serves the
//! Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), as
//! `cargo lambda watch` does, for callers that invoke with any event JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// What a function posted back for one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

struct Shared {
    pending: Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Weak, so the event queue closes (and `/next` answers 410) once the
    /// `RuntimeApi` is dropped.
    events: mpsc::WeakSender<(String, Value)>,
    next_id: AtomicU64,
}

impl Shared {
    /// Hands `event` to the function and waits for its answer.
    async fn invoke(&self, event: Value) -> Outcome {
        let id = format!("e2e-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().await.insert(id.clone(), tx);
        self.events
            .upgrade()
            .expect("the Runtime API is running")
            .send((id, event))
            .await
            .expect("the Runtime API is running");
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answered within 60 s")
            .expect("an answer")
    }
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _events: mpsc::Sender<(String, Value)>,
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
            let next = shared.pending.lock().await.recv().await;
            let Some((id, event)) = next else {
                return Ok(reply(StatusCode::GONE, Bytes::new()));
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + Duration::from_secs(30);
            let mut response = reply(StatusCode::OK, Bytes::from(event.to_string()));
            let headers = response.headers_mut();
            headers.insert(
                "lambda-runtime-aws-request-id",
                id.parse().expect("ascii id"),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string().parse().expect("digits"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:e2e"
                    .parse()
                    .expect("ascii"),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000"
                    .parse()
                    .expect("ascii"),
            );
            headers.insert("content-type", "application/json".parse().expect("ascii"));
            Ok(response)
        }
        (
            Method::POST,
            [
                "2018-06-01",
                "runtime",
                "invocation",
                id,
                kind @ ("response" | "error"),
            ],
        ) => {
            let body = req.into_body().collect().await?.to_bytes();
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let outcome = if *kind == "response" {
                Outcome::Response(value)
            } else {
                Outcome::Error(value)
            };
            if let Some(waiter) = shared.waiting.lock().await.remove(*id) {
                let _ = waiter.send(outcome);
            }
            Ok(reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}")))
        }
        (Method::POST, ["2015-03-31", "functions", _, "invocations"]) => {
            let body = req.into_body().collect().await?.to_bytes();
            let Ok(event) = serde_json::from_slice::<Value>(&body) else {
                return Ok(reply(StatusCode::BAD_REQUEST, Bytes::new()));
            };
            // As Lambda answers: 200 either way, an error marked by a header.
            Ok(match shared.invoke(event).await {
                Outcome::Response(value) => reply(StatusCode::OK, Bytes::from(value.to_string())),
                Outcome::Error(value) => {
                    let mut response = reply(StatusCode::OK, Bytes::from(value.to_string()));
                    response
                        .headers_mut()
                        .insert("x-amz-function-error", "Unhandled".parse().expect("ascii"));
                    response
                }
            })
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            Ok(reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}")))
        }
        _ => Ok(reply(StatusCode::NOT_FOUND, Bytes::new())),
    }
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API");
        let addr = listener.local_addr().expect("an address");
        let (events, pending) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            pending: Mutex::new(pending),
            waiting: Mutex::new(HashMap::new()),
            events: events.downgrade(),
            next_id: AtomicU64::new(1),
        });
        let server_state = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&server_state);
                tokio::spawn(async move {
                    let service = service_fn(move |req| serve(Arc::clone(&state), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi {
            addr,
            shared,
            _events: events,
        }
    }

    /// Hands `event` to the function and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.shared.invoke(event).await
    }
}

/// A function binary running against its own Runtime API emulator.
pub struct LambdaProcess {
    pub api: RuntimeApi,
    child: Child,
    /// Further instances on the same Runtime API.
    others: Vec<Child>,
}

/// The debug build of a function binary, built beside the tests
/// (`./scripts/test.sh` builds them before running the tests).
pub fn built_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

impl LambdaProcess {
    pub async fn spawn(name: &str, env: &[(&str, String)]) -> Self {
        Self::spawn_binary(&built_binary(name), name, env).await
    }

    /// `instances` processes of one function polling one Runtime API, as
    /// `cargo lambda watch --concurrency` or several Lambda instances take
    /// invocations from one queue.
    pub async fn spawn_instances(name: &str, env: &[(&str, String)], instances: usize) -> Self {
        let mut process = Self::spawn(name, env).await;
        for _ in 1..instances.max(1) {
            let child = process.start_instance(&built_binary(name), name, env);
            process.others.push(child);
        }
        process
    }

    pub async fn spawn_binary(
        binary: &std::path::Path,
        name: &str,
        env: &[(&str, String)],
    ) -> Self {
        let api = RuntimeApi::start().await;
        LambdaProcess {
            child: Self::start_on(&api, binary, name, env),
            api,
            others: Vec::new(),
        }
    }

    fn start_instance(
        &self,
        binary: &std::path::Path,
        name: &str,
        env: &[(&str, String)],
    ) -> Child {
        Self::start_on(&self.api, binary, name, env)
    }

    fn start_on(
        api: &RuntimeApi,
        binary: &std::path::Path,
        name: &str,
        env: &[(&str, String)],
    ) -> Child {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        command.spawn().expect("start the function binary")
    }

    /// Sends one API Gateway HTTP API (v2) request and returns the function's
    /// answer as API Gateway would read it: status, headers and parsed body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, Value) {
        let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers =
            json!({"host": "127.0.0.1", "user-agent": "e2e", "content-type": "application/json"});
        if let Some(token) = token {
            headers["authorization"] = json!(format!("Bearer {token}"));
        }
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "e2e",
                "domainName": "127.0.0.1",
                "domainPrefix": "e2e",
                "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "e2e"},
                "requestId": "e2e",
                "routeKey": "$default",
                "stage": "$default",
                "time": "23/Nov/2026:21:33:20 +0000",
                "timeEpoch": 1_795_469_600_280_u64
            },
            "body": body.map(|b| b.to_string()),
            "isBase64Encoded": false
        });
        match self.api.invoke(event).await {
            Outcome::Response(response) => {
                let status = response["statusCode"].as_u64().expect("a statusCode") as u16;
                let text = response["body"].as_str().unwrap_or("");
                let body = if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(text).expect("a JSON body")
                };
                (status, response["headers"].clone(), body)
            }
            Outcome::Error(error) => {
                panic!("the function reported an invocation error (a 502 at the gateway): {error}")
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
