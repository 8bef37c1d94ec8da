//! CORS the same locally and in the cloud: the functions answer preflights
//! and let allowed origins read answers exactly as the HTTP API's
//! `CorsConfiguration` in `template.yaml` does, from the same list; other
//! origins get no CORS headers; a WebSocket handshake from another origin is
//! refused.

use api_tests::websocket::Stack;
use api_tests::{TestApp, TestResponse};
use lambda_http::Body;
use lambda_http::http::{Method, Request};
use shared::cors;
use sqlx::MySqlPool;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use yaml_rust2::{Yaml, YamlLoader};

const PAGE: &str = "http://127.0.0.1:9002";
const FOREIGN: &str = "https://evil.example";

fn app(pool: MySqlPool) -> TestApp {
    TestApp::with_config(pool, |config| {
        config.cors_allowed_origins =
            cors::AllowedOrigins::parse(&format!("{PAGE},https://chat.example.org")).unwrap();
    })
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> TestResponse {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("origin", origin);
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    app.send(builder.body(Body::Empty).unwrap()).await
}

/// The HTTP API's CorsConfiguration as the template writes it (the tags
/// `!If` and `!Split` read as plain lists).
fn template_cors() -> Yaml {
    let text = std::fs::read_to_string(format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    docs[0]["Resources"]["Api"]["Properties"]["CorsConfiguration"][1].clone()
}

fn listed(yaml: &Yaml) -> String {
    yaml.as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn the_template_configures_the_api_with_the_functions_own_allowances() {
    let configured = template_cors();
    assert_eq!(
        listed(&configured["AllowMethods"]),
        cors::ALLOWED_METHODS.to_ascii_lowercase()
    );
    assert_eq!(listed(&configured["AllowHeaders"]), cors::ALLOWED_HEADERS);
    assert_eq!(listed(&configured["ExposeHeaders"]), cors::EXPOSED_HEADERS);
    assert_eq!(
        configured["MaxAge"].as_i64(),
        Some(i64::from(cors::MAX_AGE_SECONDS))
    );
    assert_eq!(configured["AllowCredentials"].as_bool(), Some(false));
    // From the one parameter the functions also read.
    assert_eq!(
        configured["AllowOrigins"][1].as_str(),
        Some("CorsAllowedOrigins")
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_allowed_origin_gets_preflights_and_readable_answers_and_a_foreign_one_nothing(
    pool: MySqlPool,
) {
    let app = app(pool);
    let alice = app.user("alice").await;
    let preflight = [
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization, content-type",
        ),
    ];
    for path in [
        "/api/conversations",
        "/api/conversations/7/messages",
        "/api/auth/login",
        "/api/nowhere",
    ] {
        let allowed = request(&app, Method::OPTIONS, path, PAGE, &preflight).await;
        assert_eq!(allowed.status, 204, "{path}");
        assert_eq!(allowed.header("access-control-allow-origin"), Some(PAGE));
        assert_eq!(
            allowed.header("access-control-allow-methods"),
            Some(cors::ALLOWED_METHODS)
        );
        assert_eq!(
            allowed.header("access-control-allow-headers"),
            Some(cors::ALLOWED_HEADERS)
        );
        assert_eq!(allowed.header("access-control-max-age"), Some("600"));
        assert_eq!(allowed.header("vary"), Some("origin"));
        let foreign = request(&app, Method::OPTIONS, path, FOREIGN, &preflight).await;
        assert_eq!(foreign.status, 204);
        assert!(
            foreign
                .headers
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-")),
            "{:?}",
            foreign.headers
        );
    }
    // Answers, errors included, are readable by the allowed origin only.
    let token = format!("Bearer {}", alice.access);
    for (path, status) in [("/api/auth/me", 200), ("/api/conversations/999", 404)] {
        let allowed = request(&app, Method::GET, path, PAGE, &[("authorization", &token)]).await;
        assert_eq!(allowed.status, status);
        assert_eq!(allowed.header("access-control-allow-origin"), Some(PAGE));
        assert_eq!(
            allowed.header("access-control-expose-headers"),
            Some(cors::EXPOSED_HEADERS)
        );
        let foreign = request(
            &app,
            Method::GET,
            path,
            FOREIGN,
            &[("authorization", &token)],
        )
        .await;
        assert_eq!(foreign.status, status);
        assert!(foreign.header("access-control-allow-origin").is_none());
    }
    let refused = request(&app, Method::GET, "/api/auth/me", PAGE, &[]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(PAGE));
    // The request log has its line for the preflight too.
    assert!(
        app.log_lines()
            .iter()
            .any(|l| l.ends_with("User: Anonymous - Path: /api/nowhere"))
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_websocket_handshake_from_a_foreign_origin_is_refused(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    for (origin, accepted) in [(Some(PAGE), true), (None, true), (Some(FOREIGN), false)] {
        let mut handshake = stack
            .ticket_url(&alice)
            .await
            .into_client_request()
            .unwrap();
        if let Some(origin) = origin {
            handshake
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(handshake).await {
            Ok(_) => assert!(accepted, "{origin:?} was let in"),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert!(!accepted, "{origin:?} was refused: {}", response.status());
                assert_eq!(response.status(), 403);
            }
            Err(other) => panic!("{origin:?}: {other}"),
        }
    }
}
