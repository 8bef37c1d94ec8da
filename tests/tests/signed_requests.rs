//! The delivery path's AWS requests (a Management API post, a delivery-queue
//! nudge) are signed by hand with `aws-sigv4` and sent over hyper. Each is
//! caught on the wire here and checked twice: its signature is computed
//! again from what arrived (so what was signed is what was sent: host, path
//! encoding, headers, body), and the SDK's own client, sending the same
//! request, sends it to the same place with the same service headers.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use api_tests::websocket::{local_signer, management_client};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use chrono::NaiveDateTime;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::realtime::management::Posted;
use shared::realtime::{DeliveryQueue, ManagementApi, Nudge};
use tokio::net::TcpListener;

/// A request as it arrived.
#[derive(Debug, Clone)]
struct Caught {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Caught {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A server on 127.0.0.1 that keeps every request and answers as the
/// service does when all went well.
async fn catcher() -> (String, Arc<Mutex<Vec<Caught>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let caught = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&caught);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let keep = Arc::clone(&keep);
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let keep = Arc::clone(&keep);
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let sqs = parts.headers.contains_key("x-amz-target");
                        keep.lock().unwrap().push(Caught {
                            method: parts.method.to_string(),
                            path_and_query: parts.uri.path_and_query().unwrap().to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                                .collect(),
                            body,
                        });
                        let answer = if sqs {
                            Bytes::from_static(br#"{"Successful":[],"Failed":[]}"#)
                        } else {
                            Bytes::new()
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/x-amz-json-1.0")
                                .body(Full::new(answer))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), caught)
}

/// Computes the signature of `caught` again from what arrived, with the
/// headers its `Authorization` names, and compares.
fn assert_signed_as_sent(caught: &Caught, service: &str) {
    let authorization = caught.header("authorization").expect("signed");
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .expect("SigV4");
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let credential = field("Credential=");
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope[3], service, "{authorization}");
    let signed_headers = field("SignedHeaders=");
    let headers: Vec<(&str, &str)> = signed_headers
        .split(';')
        .map(|name| (name, caught.header(name).expect("a signed header arrived")))
        .collect();
    let time =
        NaiveDateTime::parse_from_str(caught.header("x-amz-date").unwrap(), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
    let identity: Identity = Credentials::new(scope[0], "local", None, None, "tests").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope[2])
        .name(service)
        .time(SystemTime::from(time))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!(
        "http://{}{}",
        caught.header("host").unwrap(),
        caught.path_and_query
    );
    let request = SignableRequest::new(
        &caught.method,
        &url,
        headers.into_iter(),
        SignableBody::Bytes(&caught.body),
    )
    .unwrap();
    let (instructions, signature) = sign(request, &params).unwrap().into_parts();
    assert!(instructions.headers().count() > 0);
    assert_eq!(field("Signature="), signature, "{caught:?}");
}

#[tokio::test]
async fn a_post_goes_as_it_was_signed_and_where_the_sdk_sends_it() {
    let (endpoint, caught) = catcher().await;
    // API Gateway's connection ids end in `=`, which the path must encode.
    let connection = "L0SM9cOFvHcCIhw=";
    let api = ManagementApi::new(&endpoint, local_signer("execute-api"));
    assert_eq!(
        api.post(connection, Bytes::from_static(b"{\"a\":1}")).await,
        Posted::Sent
    );
    api.close(connection).await.unwrap();
    let address = endpoint.trim_start_matches("http://").parse().unwrap();
    let sdk = management_client(address);
    sdk.post_to_connection()
        .connection_id(connection)
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            &b"{\"a\":1}"[..],
        ))
        .send()
        .await
        .unwrap();
    sdk.delete_connection()
        .connection_id(connection)
        .send()
        .await
        .unwrap();
    let caught = caught.lock().unwrap().clone();
    assert_eq!(caught.len(), 4);
    let (post, close, sdk_post, sdk_close) = (&caught[0], &caught[1], &caught[2], &caught[3]);
    for request in [post, close, sdk_post, sdk_close] {
        assert_signed_as_sent(request, "execute-api");
    }
    assert_eq!(
        (post.method.as_str(), close.method.as_str()),
        ("POST", "DELETE")
    );
    assert_eq!(post.path_and_query, "/@connections/L0SM9cOFvHcCIhw%3D");
    assert_eq!(post.path_and_query, sdk_post.path_and_query);
    assert_eq!(close.path_and_query, sdk_close.path_and_query);
    assert_eq!(
        (&post.method, &close.method),
        (&sdk_post.method, &sdk_close.method)
    );
    assert_eq!(post.body, sdk_post.body);
}

#[tokio::test]
async fn a_nudge_goes_as_it_was_signed_and_as_the_sdk_sends_it() {
    let (endpoint, caught) = catcher().await;
    let url = format!("{endpoint}/000000000000/delivery.fifo");
    let queue = DeliveryQueue::new(&url, Some(&endpoint), local_signer("sqs")).unwrap();
    let nudges: Vec<Nudge> = (0..3)
        .map(|shard| Nudge {
            conversation_id: 7,
            shard,
            shards: 3,
            since: 41,
        })
        .collect();
    queue.send(&nudges).await.unwrap();
    let sdk = local_gateway::event_source::client(&endpoint);
    sdk.send_message_batch()
        .queue_url(&url)
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("0")
                .message_body("{}")
                .message_group_id("7:0")
                .message_deduplication_id("d")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let caught = caught.lock().unwrap().clone();
    assert_eq!(caught.len(), 2);
    let (nudge, sdk_nudge) = (&caught[0], &caught[1]);
    assert_signed_as_sent(nudge, "sqs");
    assert_signed_as_sent(sdk_nudge, "sqs");
    assert_eq!(nudge.path_and_query, sdk_nudge.path_and_query);
    for header in ["x-amz-target", "content-type"] {
        assert_eq!(nudge.header(header), sdk_nudge.header(header), "{header}");
    }
    let body: serde_json::Value = serde_json::from_slice(&nudge.body).unwrap();
    assert_eq!(body["QueueUrl"], url);
    let entries = body["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (shard, entry) in entries.iter().enumerate() {
        assert_eq!(entry["MessageGroupId"], format!("7:{shard}"));
        let sent: Nudge = serde_json::from_str(entry["MessageBody"].as_str().unwrap()).unwrap();
        assert_eq!(sent, nudges[shard]);
        assert!(entry["MessageDeduplicationId"].as_str().unwrap().len() >= 32);
    }
    // Without an override, requests go to the queue URL's origin, as the
    // SDK's endpoint for the queue's region is.
    let cloud = DeliveryQueue::new(
        "https://sqs.eu-west-1.amazonaws.com/123456789012/delivery.fifo",
        None,
        local_signer("sqs"),
    )
    .unwrap();
    assert_eq!(cloud.endpoint(), "https://sqs.eu-west-1.amazonaws.com");
}
