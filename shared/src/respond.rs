//! Building responses: every body this API sends is JSON.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let (status, body) = match serde_json::to_vec(value) {
        Ok(body) => (status, body),
        Err(err) => {
            // Only a bug in a Serialize impl lands here; never expose it.
            tracing::error!(error = %err, "could not serialise a response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"error":"Internal server error."}"#.to_vec(),
            )
        }
    };
    json_bytes(status, body)
}

/// A JSON body already serialised.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::Text(String::from_utf8(body).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn ok<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

pub fn created<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json(StatusCode::CREATED, value)
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
