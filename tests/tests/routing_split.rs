//! The split of paths between functions is written three times: the
//! `cargo lambda watch` router in `Cargo.toml`, the HTTP API routes in
//! `template.yaml`, and the test gateway (`api_tests::function_for`). Every
//! sample path must reach the same function in all three.

use std::collections::BTreeMap;

use api_tests::{Function, function_for};
use yaml_rust2::{Yaml, YamlLoader};

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A function's name as the watch router and the template's resources name it.
fn name(function: Function) -> &'static str {
    match function {
        Function::Auth => "auth",
        Function::Conversations => "conversations",
        Function::Messages => "messages",
    }
}

/// `[workspace.metadata.lambda.watch.router]`: matchit patterns, as
/// `cargo lambda watch` matches them.
fn watch_router() -> matchit::Router<String> {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let table = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("the watch router table");
    let mut router = matchit::Router::new();
    for (pattern, function) in table {
        router
            .insert(pattern.as_str(), function.as_str().unwrap().to_string())
            .unwrap();
    }
    router
}

/// One HTTP API route of the template: its path (None for `$default`) and
/// the function it invokes, as a watch-router name (`AuthFunction` → `auth`).
struct GatewayRoute {
    path: Option<Vec<String>>,
    function: String,
}

fn template_routes() -> Vec<GatewayRoute> {
    let docs = YamlLoader::load_from_str(&read("template.yaml")).unwrap();
    let resources = docs[0]["Resources"].as_hash().expect("Resources");
    let mut routes = Vec::new();
    for (resource, body) in resources {
        if body["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let resource = resource.as_str().unwrap();
        let function = resource.trim_end_matches("Function").to_lowercase();
        let Some(events) = body["Properties"]["Events"].as_hash() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let path = match &event["Properties"]["Path"] {
                Yaml::String(path) => Some(
                    path.trim_start_matches('/')
                        .split('/')
                        .map(str::to_string)
                        .collect(),
                ),
                _ => None,
            };
            routes.push(GatewayRoute {
                path,
                function: function.clone(),
            });
        }
    }
    routes
}

/// API Gateway's choice for a path: a route without a greedy variable that
/// matches wins over one with `{proxy+}`; among those, more literal segments
/// win; then `$default`.
fn gateway_function(routes: &[GatewayRoute], path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<((bool, usize), &str)> = None;
    for route in routes {
        let Some(pattern) = &route.path else {
            continue;
        };
        let greedy = pattern.last().is_some_and(|s| s.ends_with("+}"));
        let fixed = if greedy {
            &pattern[..pattern.len() - 1]
        } else {
            &pattern[..]
        };
        let fits = if greedy {
            segments.len() > fixed.len()
        } else {
            segments.len() == fixed.len()
        };
        let matches = fits
            && fixed
                .iter()
                .zip(&segments)
                .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s);
        if !matches {
            continue;
        }
        let literal = fixed.iter().filter(|p| !p.starts_with('{')).count();
        let rank = (!greedy, literal);
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, &route.function));
        }
    }
    match best {
        Some((_, function)) => function.to_string(),
        None => routes
            .iter()
            .find(|r| r.path.is_none())
            .map(|r| r.function.clone())
            .expect("a $default route"),
    }
}

/// Every routed path of every function, with and without a trailing slash,
/// with real and odd ids, and paths no function owns.
fn sample_paths() -> Vec<String> {
    let mut paths = Vec::new();
    for router in [auth::router(), conversations::router(), messages::router()] {
        for (pattern, _, _) in router.routes() {
            for id in ["1", "42", "abc", "-1", "99999999999999999999"] {
                let path = pattern
                    .split('/')
                    .map(|s| if s.starts_with('{') { id } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                paths.push(path.clone());
                paths.push(format!("{path}/"));
                paths.push(format!("{path}/extra"));
            }
        }
    }
    paths.extend(
        [
            "/",
            "/api",
            "/api/",
            "/nothing",
            "/api/nothing",
            "/api/auth",
            "/api/auth/",
            "/api/users/1",
            "/api/conversations/1/messages/1/2/3",
            "/api/conversations/1/messages/1/reactions/%F0%9F%91%8D",
            "/api/messages/search",
            "/api/messages/search/",
            "/api/messages",
            "/api/messages/other",
            "/api/uploads",
            "/api/uploads/",
            "/api/uploads/x",
            "/api/uploadsx",
            "/api/conversations/1/other",
            "/api/health/x",
        ]
        .map(String::from),
    );
    paths.sort();
    paths.dedup();
    paths
}

#[test]
fn every_path_reaches_the_same_function_in_all_three_routing_tables() {
    let watch = watch_router();
    let gateway = template_routes();
    assert!(
        gateway.len() >= 5,
        "the template's HTTP API routes were not found"
    );
    let mut disagreements = BTreeMap::new();
    for path in sample_paths() {
        let in_tests = name(function_for(&path)).to_string();
        let in_watch = watch
            .at(&path)
            .map(|m| m.value.clone())
            .unwrap_or_else(|_| "(no route)".into());
        let in_template = gateway_function(&gateway, &path);
        if in_tests != in_watch || in_tests != in_template {
            disagreements.insert(path, (in_tests, in_watch, in_template));
        }
    }
    assert!(
        disagreements.is_empty(),
        "path: (test gateway, cargo lambda watch, template.yaml): {disagreements:#?}"
    );
}

#[test]
fn the_gateway_matcher_follows_api_gateway_priorities() {
    let routes = vec![
        GatewayRoute {
            path: None,
            function: "fallback".into(),
        },
        GatewayRoute {
            path: Some(vec!["a".into(), "{proxy+}".into()]),
            function: "greedy".into(),
        },
        GatewayRoute {
            path: Some(vec!["a".into(), "{id}".into(), "b".into()]),
            function: "exact".into(),
        },
    ];
    assert_eq!(gateway_function(&routes, "/a/1/b"), "exact");
    assert_eq!(gateway_function(&routes, "/a/1/c"), "greedy");
    assert_eq!(gateway_function(&routes, "/a"), "fallback");
    assert_eq!(gateway_function(&routes, "/b"), "fallback");
}

#[test]
fn the_template_offers_no_log_level_that_logs_raw_events() {
    let docs = YamlLoader::load_from_str(&read("template.yaml")).unwrap();
    let allowed: Vec<&str> = docs[0]["Parameters"]["LogLevel"]["AllowedValues"]
        .as_vec()
        .expect("LogLevel's allowed values")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(!allowed.is_empty());
    assert!(!allowed.contains(&"TRACE"), "{allowed:?}");
}
