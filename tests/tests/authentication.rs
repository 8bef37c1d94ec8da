//! Who may call what is written in the route tables: the contract's public
//! routes are the only `Endpoint::Public` ones, every other route answers 401
//! without a valid token, and the OpenAPI document says the same.

use std::collections::BTreeSet;

use api_tests::TestApp;
use lambda_http::http::Method;
use serde_json::Value;
use shared::Endpoint;
use sqlx::MySqlPool;

/// Every route of every function: (method, path pattern, public?).
fn route_table() -> Vec<(Method, String, bool)> {
    [auth::router(), conversations::router(), messages::router()]
        .iter()
        .flat_map(|router| {
            router
                .routes()
                .map(|(path, method, endpoint)| {
                    (
                        method.clone(),
                        path.to_string(),
                        matches!(endpoint, Endpoint::Public(_)),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The routes the contract lists as needing no token.
const CONTRACT_PUBLIC: &[(&str, &str)] = &[
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/health"),
];

#[test]
fn only_the_contracts_public_routes_are_public() {
    let public: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .filter(|(_, _, public)| *public)
        .map(|(method, path, _)| (method.to_string(), path))
        .collect();
    let expected: BTreeSet<(String, String)> = CONTRACT_PUBLIC
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(public, expected);
}

#[test]
fn the_openapi_document_marks_exactly_the_public_routes_as_needing_no_token() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (method, path, public) in route_table() {
        let operation = &doc["paths"][&path][method.as_str().to_lowercase()];
        let open = operation["security"].as_array().is_some_and(Vec::is_empty);
        assert_eq!(
            open, public,
            "{method} {path}: security in docs/openapi.json"
        );
    }
}

/// A concrete path for a pattern: every parameter an id that exists nowhere.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[sqlx::test(migrations = "../migrations")]
async fn every_authenticated_route_answers_401_without_a_valid_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    for (method, pattern, public) in route_table() {
        let path = concrete(&pattern);
        for token in [None, Some("not-a-token")] {
            let response = app
                .call(method.clone(), &path, token, Some(serde_json::json!({})))
                .await;
            if public {
                assert_ne!(response.status, 401, "{method} {path} is public");
            } else {
                assert_eq!(response.status, 401, "{method} {path} with {token:?}");
                assert_eq!(response.header("www-authenticate"), Some("Bearer"));
            }
        }
    }
}
