//! The OpenAPI document and the routers describe the same API.

use std::collections::BTreeSet;

use serde_json::Value;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json"))
        .expect("valid JSON")
}

fn routed() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut add = |path: &str, method: &lambda_http::http::Method| {
        routes.insert((path.to_string(), method.as_str().to_lowercase()));
    };
    auth::router().routes().for_each(|(p, m, _)| add(p, m));
    conversations::router()
        .routes()
        .for_each(|(p, m, _)| add(p, m));
    messages::router().routes().for_each(|(p, m, _)| add(p, m));
    routes
}

#[test]
fn every_routed_operation_is_documented_and_every_documented_one_is_routed() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            documented.insert((path.clone(), method.clone()));
        }
    }
    let routed = routed();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "in docs/openapi.json but routed nowhere: {unrouted:?}"
    );
}

#[test]
fn every_operation_documents_its_failures_as_the_contracts_error() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success response"
            );
            assert!(
                responses.contains_key("503"),
                "{method} {path} does not document 503"
            );
        }
    }
}
