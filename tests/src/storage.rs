//! The S3-compatible server the tests store attachments in (its settings
//! are the harness's, shared with the benchmark), and requests to it as a
//! browser makes them.

pub use harness::storage::{
    ACCESS_KEY, BUCKET, MAX_BYTES, REGION, SECRET_KEY, config, credentials, endpoint,
    ensure_bucket, store,
};

/// An HTTP answer from storage.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request to the server of `url` (plain HTTP, 127.0.0.1).
pub async fn request(method: &str, url: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
    use http_body_util::{BodyExt, Full};
    let uri: hyper::Uri = url.parse().expect("a URL");
    let authority = uri.authority().expect("a host").clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .expect("storage answers");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("an HTTP connection");
    tokio::spawn(connection);
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority.as_str());
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    let response = sender
        .send_request(builder.body(Full::new(bytes::Bytes::from(body))).unwrap())
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// POSTs `file` to an upload form as a browser does: every field, then the
/// file as the last part, named `file`.
pub async fn post_form(
    url: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
    file_type: &str,
    file: &[u8],
) -> Answer {
    let boundary = format!("----form{}", shared::secret::random_token());
    let mut body = Vec::new();
    for (name, value) in fields {
        let value = value.as_str().expect("a text field");
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\n\
             Content-Type: {file_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    request(
        "POST",
        url,
        Some(&format!("multipart/form-data; boundary={boundary}")),
        body,
    )
    .await
}
