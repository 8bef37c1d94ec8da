//! Token attacks on every route that needs a token, credential attacks, and
//! what a refused request leaves behind: nothing.

use std::time::{Duration, Instant};

use api_tests::{PASSWORD, SECRET, TestApp, TestUser};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use lambda_http::http::Method;
use serde_json::{Value, json};
use sqlx::MySqlPool;

fn claims(user_id: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": user_id.to_string(), "exp": now + 600, "iat": now, "nbf": now, "iss": "messaging-api",
           "aud": "messaging-api", "jti": "attack", "typ": "access"})
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    shared::token_crypto::install();
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// A token whose header names `alg` but whose signature is HMAC-SHA256 with
/// the server's own secret: the algorithm-confusion attack.
fn confused(alg: &str, claims: &Value) -> String {
    let signed = hs256(claims, SECRET);
    let mut parts = signed.split('.');
    let (_, payload, _) = (parts.next(), parts.next().unwrap(), parts.next());
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let signature = ring::hmac::sign(&key, format!("{header}.{payload}").as_bytes());
    format!(
        "{header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

/// Each way an `Authorization` header can be wrong, by name.
fn bad_headers(victim: &TestUser, deleted: &TestUser) -> Vec<(&'static str, Option<String>)> {
    let id = victim.id;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(id);
        change(&mut c);
        format!("Bearer {}", hs256(&c, SECRET))
    };
    let none = format!(
        "Bearer {}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(id).to_string())
    );
    let now = chrono::Utc::now().timestamp();
    vec![
        ("no header", None),
        ("Token scheme", Some(format!("Token {}", victim.access))),
        ("garbage", Some("Bearer garbage".into())),
        ("alg none", Some(none)),
        (
            "another key",
            Some(format!(
                "Bearer {}",
                hs256(&claims(id), b"someone-elses-secret-someone-elses")
            )),
        ),
        (
            "RS256 confusion",
            Some(format!("Bearer {}", confused("RS256", &claims(id)))),
        ),
        (
            "HS512 relabel",
            Some(format!("Bearer {}", confused("HS512", &claims(id)))),
        ),
        ("expired", Some(with(&|c| c["exp"] = json!(now - 1)))),
        (
            "not yet valid",
            Some(with(&|c| c["nbf"] = json!(now + 300))),
        ),
        ("wrong iss", Some(with(&|c| c["iss"] = json!("evil")))),
        ("wrong aud", Some(with(&|c| c["aud"] = json!("evil")))),
        ("refresh token", Some(format!("Bearer {}", victim.refresh))),
        ("refresh type", Some(with(&|c| c["typ"] = json!("refresh")))),
        ("deleted user", Some(format!("Bearer {}", deleted.access))),
    ]
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "users",
        "conversations",
        "conversation_participants",
        "messages",
        "refresh_tokens",
    ] {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(app.pool())
                .await
                .unwrap();
        out.push(n);
    }
    out
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn every_bad_token_on_every_protected_route_is_a_401_that_writes_nothing(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let mallory = app.user("mallory").await;
    sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(mallory.id)
        .execute(app.pool())
        .await
        .unwrap();
    let id = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, id, "hello").await;

    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/auth/me".into(), None),
        (
            Method::POST,
            "/api/auth/password".into(),
            Some(json!({"current_password": PASSWORD, "new_password": "another passphrase"})),
        ),
        (
            Method::DELETE,
            "/api/auth/me".into(),
            Some(json!({"password": PASSWORD})),
        ),
        (Method::GET, "/api/users?username=bob".into(), None),
        (
            Method::POST,
            "/api/conversations".into(),
            Some(json!({"participant_ids": [bob.id]})),
        ),
        (Method::GET, "/api/conversations".into(), None),
        (Method::GET, format!("/api/conversations/{id}"), None),
        (
            Method::POST,
            format!("/api/conversations/{id}/participants"),
            Some(json!({"user_ids": [carol.id]})),
        ),
        (
            Method::DELETE,
            format!("/api/conversations/{id}/participants/{}", bob.id),
            None,
        ),
        (
            Method::POST,
            format!("/api/conversations/{id}/messages"),
            Some(json!({"body": "forged"})),
        ),
        (
            Method::GET,
            format!("/api/conversations/{id}/messages"),
            None,
        ),
    ];
    let before = counts(&app).await;
    for (name, header) in bad_headers(&alice, &mallory) {
        for (method, path, body) in &routes {
            let mut request = lambda_http::http::Request::builder()
                .method(method.clone())
                .uri(path.as_str());
            if let Some(value) = &header {
                request = request.header("authorization", value.as_str());
            }
            let body = body
                .as_ref()
                .map(|b| lambda_http::Body::Text(b.to_string()))
                .unwrap_or(lambda_http::Body::Empty);
            let response = app.send(request.body(body).unwrap()).await;
            assert_eq!(
                response.status, 401,
                "{name}: {method} {path} → {:?}",
                response.body
            );
            assert_eq!(
                response.header("www-authenticate"),
                Some("Bearer"),
                "{name}: {method} {path}"
            );
            assert!(
                response.body == json!({"error": "Invalid or expired token."})
                    || response.body
                        == json!({"error": "Authentication credentials were not provided."}),
                "{name}: {:?}",
                response.body
            );
        }
    }
    assert_eq!(
        counts(&app).await,
        before,
        "a refused request changed the database"
    );
    // Every one of them was logged, and none as the victim.
    assert!(
        app.log_lines()
            .iter()
            .rev()
            .take(14 * routes.len())
            .all(|l| l.contains(" - User: Anonymous - "))
    );
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_unknown_email_and_a_wrong_password_take_the_same_time(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.login_throttle.max_failures = 1_000);
    app.user("alice").await;
    let time = |email: String, password: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login(&email, password).await;
            assert_eq!(response.status, 401);
            started.elapsed().as_secs_f64()
        }
    };
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    // Interleaved, so drift in the machine's load touches both alike.
    for n in 0..31 {
        unknown.push(time(format!("nobody{n}@example.org"), "wrong password").await);
        wrong.push(time("alice@example.org".into(), "wrong password").await);
    }
    let (unknown, wrong) = (median(unknown), median(wrong));
    let ratio = unknown / wrong;
    println!(
        "login medians: unknown email {:.1} ms, wrong password {:.1} ms, ratio {ratio:.2}",
        unknown * 1e3,
        wrong * 1e3
    );
    // A gross bound: what it must catch is an unknown email answered without
    // a verification (a ratio near 0), not the noise of a shared machine.
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {unknown:.4}s vs wrong password {wrong:.4}s"
    );
}

/// A burst of parallel wrong passwords from several instances at once gets no
/// more guesses than the throttle allows: each attempt is reserved before the
/// password is checked.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn forty_parallel_wrong_logins_through_four_instances_get_five_guesses(pool: MySqlPool) {
    let app = TestApp::new(pool);
    app.user("alice").await;
    let mut states = Vec::new();
    for _ in 0..4 {
        states.push(app.production_state(10).await);
    }
    let body = json!({"email": "alice@example.org", "password": "a wrong guess"});
    let mut tasks = Vec::new();
    for n in 0..40 {
        let state = states[n % 4].clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            api_tests::call_on(&state, "POST", "/api/auth/login", "", Some(body))
                .await
                .0
        }));
    }
    let mut counts = std::collections::BTreeMap::new();
    for task in tasks {
        *counts.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    println!("40 parallel wrong logins: {counts:?}");
    assert_eq!(counts.get(&401).copied().unwrap_or(0), 5, "{counts:?}");
    assert_eq!(counts.get(&429).copied().unwrap_or(0), 35, "{counts:?}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn throttling_answers_retry_after_and_a_success_resets_the_count(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.login_throttle.window = Duration::from_secs(60));
    app.user("alice").await;
    for _ in 0..4 {
        app.login("alice@example.org", "wrong").await;
    }
    assert_eq!(app.login("alice@example.org", PASSWORD).await.status, 200);
    for _ in 0..5 {
        assert_eq!(app.login("alice@example.org", "wrong").await.status, 401);
    }
    let throttled = app.login("alice@example.org", PASSWORD).await;
    assert_eq!(throttled.status, 429);
    let retry = throttled.retry_after();
    assert!((55..=60).contains(&retry), "{retry}");
    assert!(throttled.body["error"].is_string());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn no_response_or_log_line_carries_a_password_hash_or_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = ?")
        .bind(alice.id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    let id = app.conversation(&alice, &[&bob]).await;
    let mut bodies = Vec::new();
    for response in [
        app.me(&alice.access).await,
        app.get("/api/users?username=alice", Some(&bob.access))
            .await,
        app.get(&format!("/api/conversations/{id}"), Some(&bob.access))
            .await,
        app.send_message(&alice, id, json!({"body": "hi"})).await,
        app.login("alice@example.org", "wrong password").await,
        app.register(json!({"email": "alice@example.org", "password": PASSWORD}))
            .await,
    ] {
        bodies.push(response.body.to_string());
    }
    let log = app.log_lines().join("\n");
    for text in bodies.iter().chain(std::iter::once(&log)) {
        for secret in [
            PASSWORD,
            hash.as_str(),
            alice.access.as_str(),
            alice.refresh.as_str(),
            bob.access.as_str(),
        ] {
            assert!(!text.contains(secret), "leaked in {text}");
        }
    }
}
