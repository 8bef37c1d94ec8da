//! The auth function against the real MariaDB, a fresh database per test.

use std::time::Duration;

use api_tests::{PASSWORD, SECRET, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use sqlx::MySqlPool;

fn alice() -> serde_json::Value {
    json!({"email": "Alice@Example.org", "password": PASSWORD, "username": "alice", "first_name": "Alice", "last_name": "Liddell"})
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn registering_creates_a_user_with_a_lower_cased_email_and_an_argon2id_hash(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app.register(alice()).await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert_eq!(response.body["message"], "User registered successfully!");
    let id = response.body["user_id"].as_i64().unwrap();
    assert!(id > 0);

    let (email, hash): (String, String) =
        sqlx::query_as("SELECT email, password_hash FROM users WHERE id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(email, "alice@example.org");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_username_defaults_to_the_email(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app
        .register(json!({"email": "Bob@Example.org", "password": PASSWORD}))
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    let login = app.login("bob@example.org", PASSWORD).await;
    assert_eq!(login.body["user"]["username"], "bob@example.org");
    assert_eq!(login.body["user"]["first_name"], "");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_taken_email_is_a_409_whatever_its_case(pool: MySqlPool) {
    let app = TestApp::new(pool);
    assert_eq!(app.register(alice()).await.status, 201);
    let response = app
        .register(json!({"email": "ALICE@example.org", "password": PASSWORD, "username": "alice2"}))
        .await;
    assert_eq!(response.status, 409, "{:?}", response.body);
    assert!(response.body["fields"]["email"].is_string());
    assert!(response.body["fields"].get("username").is_none());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_taken_username_is_a_409_whatever_its_case(pool: MySqlPool) {
    let app = TestApp::new(pool);
    assert_eq!(app.register(alice()).await.status, 201);
    let response = app
        .register(json!({"email": "other@example.org", "password": PASSWORD, "username": "ALICE"}))
        .await;
    assert_eq!(response.status, 409, "{:?}", response.body);
    assert!(response.body["fields"]["username"].is_string());
    let count: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count.0, 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn each_invalid_registration_field_is_a_400_naming_the_field(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let cases = [
        (json!({"password": PASSWORD}), "email"),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": 42, "password": PASSWORD}), ""),
        (json!({"email": "a@example.org"}), "password"),
        (
            json!({"email": "a@example.org", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@example.org", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "username": "ab"}),
            "username",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "username": "has space"}),
            "username",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "username": "u".repeat(151)}),
            "username",
        ),
        (
            json!({"email": "o'hara@example.org", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "first_name": "f".repeat(151)}),
            "first_name",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "last_name": "l".repeat(151)}),
            "last_name",
        ),
        (
            json!({"email": "a@example.org", "password": PASSWORD, "is_admin": true}),
            "",
        ),
    ];
    for (body, field) in cases {
        let response = app.register(body.clone()).await;
        assert_eq!(response.status, 400, "{body} → {:?}", response.body);
        assert!(!response.error().is_empty());
        if !field.is_empty() {
            assert!(
                response.body["fields"][field].is_string(),
                "{body} → {:?}",
                response.body
            );
        }
    }
    let count: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count.0, 0);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn malformed_json_is_a_400(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/auth/register")
        .body(lambda_http::Body::from("{\"email\": "))
        .unwrap();
    let response = app.send(request).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error(), "Request body is not valid JSON.");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_body_over_64_kib_is_a_413(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app
        .register(json!({"email": "a@example.org", "password": PASSWORD, "first_name": "x".repeat(70_000)}))
        .await;
    assert_eq!(response.status, 413);
    assert!(response.error().contains("64 KiB"));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn login_answers_tokens_and_the_user(pool: MySqlPool) {
    let app = TestApp::new(pool);
    app.register(alice()).await;
    let response = app.login("ALICE@example.org", PASSWORD).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let body = &response.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let user = &body["user"];
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(user["username"], "alice");
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["last_name"], "Liddell");
    let created = user["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 27, "{created}");
    assert!(user.get("password_hash").is_none());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401(pool: MySqlPool) {
    let app = TestApp::new(pool);
    app.register(alice()).await;
    let wrong = app.login("alice@example.org", "not the password").await;
    let unknown = app.login("nobody@example.org", PASSWORD).await;
    for response in [&wrong, &unknown] {
        assert_eq!(response.status, 401);
        assert_eq!(
            response.body,
            json!({"error": "Invalid email or password."})
        );
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn login_without_a_field_is_a_400(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app
        .post("/api/auth/login", None, json!({"email": "a@example.org"}))
        .await;
    assert_eq!(response.status, 400);
    assert!(response.body["fields"]["password"].is_string());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn repeated_failures_throttle_the_account_until_the_window_passes(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.login_throttle.window = Duration::from_secs(2));
    app.register(alice()).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("alice@example.org", "wrong password")
                .await
                .status,
            401
        );
    }
    let throttled = app.login("alice@example.org", PASSWORD).await;
    assert_eq!(throttled.status, 429, "{:?}", throttled.body);
    let retry_after = throttled.retry_after();
    assert!((1..=2).contains(&retry_after), "{retry_after}");

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(app.login("alice@example.org", PASSWORD).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_unknown_email_is_throttled_like_a_known_one(pool: MySqlPool) {
    let app = TestApp::new(pool);
    for _ in 0..5 {
        assert_eq!(
            app.login("ghost@example.org", "wrong password")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        app.login("ghost@example.org", "wrong password")
            .await
            .status,
        429
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_successful_login_clears_the_failure_count(pool: MySqlPool) {
    let app = TestApp::new(pool);
    app.register(alice()).await;
    for _ in 0..4 {
        app.login("alice@example.org", "wrong password").await;
    }
    assert_eq!(app.login("alice@example.org", PASSWORD).await.status, 200);
    for _ in 0..4 {
        assert_eq!(
            app.login("alice@example.org", "wrong password")
                .await
                .status,
            401
        );
    }
    assert_eq!(app.login("alice@example.org", PASSWORD).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn refresh_rotates_both_tokens(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let response = app.refresh(&alice.refresh).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let new_refresh = response.body["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, alice.refresh);
    assert_eq!(response.body["user"]["id"], alice.id);
    assert_eq!(response.body["token_type"], "Bearer");
    let access = response.body["access_token"].as_str().unwrap();
    assert_eq!(app.me(access).await.status, 200);
    assert_eq!(app.refresh(new_refresh).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let second = app.refresh(&alice.refresh).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    app.outlive_the_reuse_grace().await;
    let replay = app.refresh(&alice.refresh).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.error(), "Invalid or expired refresh token.");
    // The legitimate holder's newer token dies with the family.
    assert_eq!(app.refresh(&second).await.status, 401);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_spent_refresh_token_again_within_the_grace_is_refused_and_revokes_nothing(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let second = app.refresh(&alice.refresh).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The other tab, a moment later.
    let replay = app.refresh(&alice.refresh).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.error(), "Refresh token already used.");
    assert_eq!(app.refresh(&second).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn other_logins_survive_a_revoked_family(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let other = app.login(&alice.email, PASSWORD).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.refresh(&alice.refresh).await;
    app.outlive_the_reuse_grace().await;
    app.refresh(&alice.refresh).await;
    assert_eq!(app.refresh(&other).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_expired_refresh_token_is_a_401(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.tokens.refresh_ttl = Duration::from_secs(1));
    let alice = app.user("alice").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(app.refresh(&alice.refresh).await.status, 401);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_garbage_refresh_token_is_a_401_and_a_missing_one_a_400(pool: MySqlPool) {
    let app = TestApp::new(pool);
    for garbage in ["garbage", "x".repeat(5000).as_str(), "' OR 1=1 --"] {
        assert_eq!(app.refresh(garbage).await.status, 401, "{garbage}");
    }
    assert_eq!(
        app.post("/api/auth/refresh", None, json!({})).await.status,
        400
    );
    assert_eq!(
        app.post("/api/auth/refresh", None, json!({"refresh_token": 5}))
            .await
            .status,
        400
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn logout_revokes_the_family_and_is_safe_to_repeat(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let rotated = app.refresh(&alice.refresh).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app.logout(&alice.refresh).await;
    assert_eq!(response.status, 204);
    assert_eq!(response.body, serde_json::Value::Null);
    assert_eq!(app.refresh(&rotated).await.status, 401);
    assert_eq!(app.logout(&rotated).await.status, 204);
    assert_eq!(app.logout("never-issued").await.status, 204);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn me_answers_the_callers_own_account(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let response = app.me(&alice.access).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["id"], alice.id);
    assert_eq!(response.body["email"], "alice@example.org");
    let keys: Vec<_> = response.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "first_name",
            "id",
            "last_name",
            "username"
        ]
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn me_without_a_token_is_a_401_with_a_bearer_challenge(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app.get("/api/auth/me", None).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn users_are_found_by_exact_email_or_username_without_their_email(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let by_email = app
        .get("/api/users?email=BOB%40example.org", Some(&alice.access))
        .await;
    assert_eq!(by_email.status, 200);
    assert_eq!(
        by_email.body,
        json!({"results": [{"id": bob.id, "username": "bob", "first_name": "", "last_name": ""}]})
    );

    let by_username = app
        .get("/api/users/?username=bob", Some(&alice.access))
        .await;
    assert_eq!(by_username.body["results"][0]["id"], bob.id);

    let prefix = app.get("/api/users?username=bo", Some(&alice.access)).await;
    assert_eq!(prefix.body, json!({"results": []}));
    let wildcard = app
        .get("/api/users?username=%25", Some(&alice.access))
        .await;
    assert_eq!(wildcard.body, json!({"results": []}));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn user_look_up_needs_exactly_one_known_parameter_and_a_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    for query in [
        "",
        "?email=a%40b.org&username=x",
        "?name=alice",
        "?email=a%40b.org&email=c%40d.org",
    ] {
        let response = app
            .get(&format!("/api/users{query}"), Some(&alice.access))
            .await;
        assert_eq!(response.status, 400, "{query}: {:?}", response.body);
    }
    assert_eq!(app.get("/api/users?username=alice", None).await.status, 401);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn health_reports_the_database(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app.get("/api/health", None).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"status": "ok", "database": "ok"}));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn unknown_routes_are_a_json_404_and_wrong_methods_a_405_with_allow(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let missing = app.get("/api/nothing-here", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"error": "Not found."}));
    assert_eq!(missing.header("content-type"), Some("application/json"));

    let wrong = app.get("/api/auth/login", None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST"));
    assert!(wrong.body["error"].is_string());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn trailing_slashes_name_the_same_routes(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app.register(alice()).await;
    assert_eq!(response.status, 201);
    let login = app
        .post(
            "/api/auth/login/",
            None,
            json!({"email": "alice@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(app.get("/api/health/", None).await.status, 200);
}

// Token attacks: each must be refused with the contract's 401.

async fn assert_refused(app: &TestApp, token: &str) {
    let response = app.me(token).await;
    assert_eq!(
        response.status, 401,
        "token {token:?} was accepted: {:?}",
        response.body
    );
    assert_eq!(response.body, json!({"error": "Invalid or expired token."}));
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
}

fn claims(user_id: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": user_id.to_string(), "exp": now + 600, "iat": now, "nbf": now, "iss": "messaging-api",
           "aud": "messaging-api", "jti": "test", "typ": "access"})
}

fn sign(claims: &serde_json::Value, secret: &[u8]) -> String {
    shared::token_crypto::install();
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_hand_made_token_with_the_right_secret_is_accepted(pool: MySqlPool) {
    // The control for the attacks below: they fail for their one defect.
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    assert_eq!(app.me(&sign(&claims(alice.id), SECRET)).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn alg_none_is_refused(pool: MySqlPool) {
    use base64::Engine;
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(alice.id).to_string())
    );
    assert_refused(&app, &token).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_wrong_signature_is_refused(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    assert_refused(
        &app,
        &sign(&claims(alice.id), b"some-other-secret-some-other-secret"),
    )
    .await;
    let mut tampered = alice.access.clone();
    tampered.pop();
    tampered.push(if alice.access.ends_with('A') {
        'B'
    } else {
        'A'
    });
    assert_refused(&app, &tampered).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_expired_token_is_refused(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let mut c = claims(alice.id);
    c["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    assert_refused(&app, &sign(&c, SECRET)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_wrong_issuer_or_audience_is_refused(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let mut c = claims(alice.id);
    c["iss"] = json!("evil");
    assert_refused(&app, &sign(&c, SECRET)).await;
    let mut c = claims(alice.id);
    c["aud"] = json!("evil");
    assert_refused(&app, &sign(&c, SECRET)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_refresh_token_is_not_an_access_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    assert_refused(&app, &alice.refresh).await;
    let mut c = claims(alice.id);
    c["typ"] = json!("refresh");
    assert_refused(&app, &sign(&c, SECRET)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_token_of_a_deleted_user_is_refused(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(alice.id)
        .execute(app.pool())
        .await
        .unwrap();
    assert_refused(&app, &alice.access).await;
    assert_eq!(app.refresh(&alice.refresh).await.status, 401);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn another_scheme_or_garbage_is_refused(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    for header in [
        format!("Token {}", alice.access),
        "Bearer".into(),
        "Bearer not.a.jwt".into(),
        "garbage".into(),
    ] {
        let request = lambda_http::http::Request::builder()
            .uri("/api/auth/me")
            .header("authorization", header.as_str())
            .body(lambda_http::Body::Empty)
            .unwrap();
        let response = app.send(request).await;
        assert_eq!(response.status, 401, "{header}");
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_name_with_a_control_character_is_a_400_naming_the_field(pool: MySqlPool) {
    let app = TestApp::new(pool);
    for (field, name) in [("first_name", "Ann\u{0}"), ("last_name", "Lee\u{1b}[2J")] {
        let mut body = json!({
            "email": "ann@example.org",
            "password": api_tests::PASSWORD,
            "username": "ann",
        });
        body[field] = json!(name);
        let response = app.register(body).await;
        assert_eq!(response.status, 400, "{field}: {:?}", response.body);
        assert!(
            response.body["fields"][field].is_string(),
            "{:?}",
            response.body
        );
    }
}
