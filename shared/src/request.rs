//! Reading what a client sent: bounded JSON bodies and query parameters.

use lambda_http::Body;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The contract's limit on request bodies.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Checked for every request before routing, so no handler sees an oversized body.
pub fn check_body_size(body: &Body) -> Result<(), ApiError> {
    if body.as_ref().len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(())
}

/// Parses a JSON body into `T`; syntax errors, type errors and unknown fields
/// are a 400 that talks about the client's input only.
pub fn json<T: DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    check_body_size(body)?;
    let bytes = body.as_ref();
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::bad_request("A JSON request body is required.")),
        // serde would also read a struct from an array of its fields.
        Some(b'{') => {}
        Some(_) => return Err(ApiError::bad_request("Request body must be a JSON object.")),
    }
    serde_json::from_slice(bytes).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => {
            ApiError::bad_request(format!("Invalid request body: {}.", without_position(&err)))
        }
        _ => ApiError::bad_request("Request body is not valid JSON."),
    })
}

/// serde_json appends " at line L column C" to its messages; the client needs
/// only the problem.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The decoded parameters of a query string, each known to the route and
/// given at most once.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        for (i, (key, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Unknown query parameter: {key}."
                )));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == key) {
                return Err(ApiError::bad_request(format!(
                    "Query parameter {key} is given more than once."
                )));
            }
        }
        Ok(Query(pairs))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a JSON object")]
    struct Sample {
        #[allow(dead_code)]
        name: Option<String>,
    }

    fn message(err: ApiError) -> String {
        match err {
            ApiError::BadRequest { message, .. } => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_400() {
        let err = json::<Sample>(&Body::from("{\"name\": ")).unwrap_err();
        assert_eq!(message(err), "Request body is not valid JSON.");
    }

    #[test]
    fn invalid_utf8_is_a_400() {
        let err = json::<Sample>(&Body::from(vec![b'{', b'"', 0xff, b'"', b'}'])).unwrap_err();
        assert_eq!(message(err), "Request body is not valid JSON.");
    }

    #[test]
    fn unknown_fields_are_named_without_positions() {
        let err = json::<Sample>(&Body::from(r#"{"nmae": "x"}"#)).unwrap_err();
        let text = message(err);
        assert!(text.contains("unknown field `nmae`"), "{text}");
        assert!(!text.contains("line"), "{text}");
    }

    #[test]
    fn a_json_array_is_not_an_object() {
        let text = message(json::<Sample>(&Body::from("[1]")).unwrap_err());
        assert_eq!(text, "Request body must be a JSON object.");
    }

    #[test]
    fn deeply_nested_json_is_a_400_not_a_stack_overflow() {
        let nested = format!("{{\"name\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            json::<Sample>(&Body::from(nested)),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn bodies_over_64_kib_are_413() {
        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            json::<Sample>(&Body::from(big)),
            Err(ApiError::PayloadTooLarge)
        ));
    }

    #[test]
    fn an_empty_body_is_a_400() {
        assert!(matches!(
            json::<Sample>(&Body::Empty),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        let query = Query::parse(
            Some("email=a%2Bb%40x.org&page_size=5"),
            &["email", "page_size"],
        )
        .unwrap();
        assert_eq!(query.get("email"), Some("a+b@x.org"));
        assert_eq!(query.get("page_size"), Some("5"));
        assert_eq!(query.get("cursor"), None);
    }

    #[test]
    fn unknown_or_repeated_query_parameters_are_a_400() {
        assert!(Query::parse(Some("evil=1"), &["page_size"]).is_err());
        assert!(Query::parse(Some("page_size=1&page_size=2"), &["page_size"]).is_err());
        assert!(Query::parse(None, &["page_size"]).is_ok());
    }
}
