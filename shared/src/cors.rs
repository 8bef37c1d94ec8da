//! CORS for browsers on the origins of `CORS_ALLOWED_ORIGINS`: the answers
//! API Gateway's `CorsConfiguration` gives in the cloud (`template.yaml`
//! sets it from the same list), given by the functions themselves where no
//! gateway does (local runs). Other origins get no CORS headers.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Response};

/// What a browser may send and read; `template.yaml`'s `CorsConfiguration`
/// lists the same.
pub const ALLOWED_METHODS: &str = "GET,POST,PUT,PATCH,DELETE";
pub const ALLOWED_HEADERS: &str = "authorization,content-type";
pub const EXPOSED_HEADERS: &str = "retry-after,www-authenticate";
pub const MAX_AGE_SECONDS: u32 = 600;

/// The browser origins the API answers CORS for, each `scheme://host[:port]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// A comma-separated list; empty allows none.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let well_formed = origin.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https")
                    && !host.is_empty()
                    && !host.contains(['/', '?', '#', '*', ' '])
            });
            if !well_formed {
                return Err(format!(
                    "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin such as https://chat.example.org"
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(AllowedOrigins(origins))
    }

    /// The request's `Origin`, when it is one of the list.
    pub fn of<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let origin = headers.get(ORIGIN)?.to_str().ok()?;
        self.allows(origin).then_some(origin)
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// An `OPTIONS` request that asks whether a cross-origin one may follow.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight: 204, with the allowances for an allowed
/// origin and none for another.
pub fn preflight(origins: &AllowedOrigins, headers: &HeaderMap) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Some(origin) = origins.of(headers) {
        let answer = response.headers_mut();
        insert(answer, ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        answer.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        answer.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        answer.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECONDS));
        answer.insert(VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Lets an allowed origin read the answer (and the headers a client needs
/// from it).
pub fn allow_reading(origins: &AllowedOrigins, headers: &HeaderMap, response: &mut Response<Body>) {
    if let Some(origin) = origins.of(headers) {
        let answer = response.headers_mut();
        insert(answer, ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        answer.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        answer.insert(VARY, HeaderValue::from_static("origin"));
    }
}

fn insert(headers: &mut HeaderMap, name: http::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        let origins =
            AllowedOrigins::parse(" http://127.0.0.1:9002, https://Chat.Example.org ,").unwrap();
        assert_eq!(
            origins.as_slice(),
            ["http://127.0.0.1:9002", "https://chat.example.org"]
        );
        assert!(origins.allows("https://chat.example.org"));
        assert!(!origins.allows("https://evil.example.org"));
        assert_eq!(
            AllowedOrigins::parse("").unwrap(),
            AllowedOrigins::default()
        );
        for bad in [
            "chat.example.org",
            "https://a.org/path",
            "*",
            "ftp://a.org",
            "https://*.a.org",
        ] {
            assert!(AllowedOrigins::parse(bad).is_err(), "{bad}");
        }
    }
}
