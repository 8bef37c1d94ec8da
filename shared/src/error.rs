//! One error type for every function; each variant knows its status and the
//! client-safe sentence it answers with.

use std::collections::BTreeMap;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;

use crate::respond;

/// Field name to the problem with it, for validation errors.
pub type FieldErrors = BTreeMap<&'static str, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        fields: FieldErrors,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    #[error("{0}")]
    Conflict(&'static str, FieldErrors),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("too many failed logins")]
    TooManyRequests {
        message: &'static str,
        retry_after_secs: u64,
    },
    /// The database could not be reached; the client may retry.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Seconds a client should wait before retrying while the database is away.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            fields: FieldErrors::new(),
        }
    }

    /// A validation failure naming each offending field.
    pub fn invalid_fields(fields: FieldErrors) -> Self {
        ApiError::BadRequest {
            message: "Invalid input.".into(),
            fields,
        }
    }

    /// A validation failure of one field (or query parameter).
    pub fn invalid_field(field: &'static str, problem: impl Into<String>) -> Self {
        ApiError::invalid_fields([(field, problem.into())].into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn client_message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. } => message.clone(),
            ApiError::Unauthorized(m) | ApiError::Forbidden(m) | ApiError::Conflict(m, _) => {
                (*m).to_string()
            }
            ApiError::NotFound => "Not found.".into(),
            ApiError::MethodNotAllowed { .. } => "Method not allowed.".into(),
            ApiError::PayloadTooLarge => "Request body is larger than 64 KiB.".into(),
            ApiError::TooManyRequests { message, .. } => (*message).into(),
            ApiError::Unavailable(_) => {
                "The service is temporarily unavailable. Try again shortly.".into()
            }
            ApiError::Internal(_) => "Internal server error.".into(),
        }
    }

    /// The contract's JSON error; server-side failures are logged with their
    /// whole chain and answered without any of it.
    pub fn into_response(self) -> Response<Body> {
        match &self {
            ApiError::Internal(source) => {
                tracing::error!(error = format!("{source:#}"), "request failed")
            }
            ApiError::Unavailable(source) => {
                tracing::warn!(error = format!("{source:#}"), "database unavailable")
            }
            _ => {}
        }
        let mut body = json!({ "error": self.client_message() });
        if let ApiError::BadRequest { fields, .. } | ApiError::Conflict(_, fields) = &self
            && !fields.is_empty()
        {
            body["fields"] = json!(fields);
        }
        let mut response = respond::json(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(1)),
                );
            }
            ApiError::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            ApiError::Unavailable(err.into())
        } else {
            ApiError::Internal(err.into())
        }
    }
}

/// Errors that mean "the database cannot serve this right now" rather than
/// "this query is wrong": they become 503 with `Retry-After`.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            // Too many connections, server shutdown, connection killed (MySQL,
            // MariaDB); lock wait timeout and deadlock, which a retry resolves.
            .is_some_and(|e| matches!(e.number(), 1040 | 1053 | 1927 | 3169 | 1205 | 1213)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn internal_errors_answer_without_detail() {
        let response =
            ApiError::internal(anyhow::anyhow!("SELECT * FROM users failed: secret detail"))
                .into_response();
        assert_eq!(response.status(), 500);
        assert_eq!(
            body_of(&response),
            json!({"error": "Internal server error."})
        );
    }

    #[test]
    fn validation_errors_name_their_fields() {
        let mut fields = FieldErrors::new();
        fields.insert("email", "Enter a valid email address.".into());
        let response = ApiError::invalid_fields(fields).into_response();
        assert_eq!(response.status(), 400);
        assert_eq!(
            body_of(&response)["fields"]["email"],
            "Enter a valid email address."
        );
    }

    #[test]
    fn unauthorized_carries_the_bearer_challenge() {
        let response = ApiError::Unauthorized("Invalid token.").into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        let response = ApiError::MethodNotAllowed {
            allow: "GET, POST".into(),
        }
        .into_response();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET, POST");
    }

    #[test]
    fn pool_timeouts_are_503_with_retry_after() {
        let response = ApiError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn throttling_says_when_to_retry() {
        let response = ApiError::TooManyRequests {
            message: "Too many changes. Try again later.",
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
    }
}
