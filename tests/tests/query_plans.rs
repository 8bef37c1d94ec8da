//! The plan of every hot query, read with `EXPLAIN` on the database the tests
//! run on, over data skewed the way real data is (one long conversation, a
//! user in hundreds of conversations): a plan that turns into a scan, or
//! leaves the index it was written for, fails here.

use serde_json::Value;
use shared::store::conversations::{
    FOR_MEMBER_SQL, LOCK_FOR_MEMBER_SQL, PAGE_FOR_MEMBER_SQL, PARTICIPANTS_PAGE_SQL,
    UNREAD_TOTALS_SQL,
};
use shared::store::messages::{Walk, page_sql};
use shared::store::search::{SEARCH_IN_SQL, SEARCH_SQL};
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlPool, Row};

const LONG: i64 = 1;
const BUSY_USER: i64 = 1;

/// One conversation of 20,000 messages, 400 small ones that the busy user is
/// in, 1,600 others, and the table statistics refreshed.
async fn seed(pool: &MySqlPool) {
    for sql in [
        "INSERT INTO users (id, email, username, password_hash, created_at) \
         WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) \
         SELECT i, CONCAT('u', i, '@example.org'), CONCAT('u', i), 'x', NOW(6) FROM n",
        "INSERT INTO conversations (id, created_by, created_at, last_activity_at, participant_count, last_seq, last_version) \
         WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
         SELECT k * 1000 + i, 1, NOW(6), NOW(6) - INTERVAL (k * 1000 + i) SECOND, 2, \
                IF(k = 0 AND i = 1, 20000, 3), IF(k = 0 AND i = 1, 20000, 3) \
         FROM n CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) two WHERE k * 1000 + i <= 2001",
        "INSERT INTO conversation_participants (conversation_id, user_id, joined_at) \
         SELECT id, 1, NOW(6) FROM conversations WHERE id <= 401",
        "INSERT INTO conversation_participants (conversation_id, user_id, joined_at) \
         SELECT id, 2 + id % 400, NOW(6) FROM conversations",
        "INSERT INTO conversation_participants (conversation_id, user_id, joined_at) \
         SELECT id, 402 + id % 98, NOW(6) FROM conversations WHERE id > 401",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    // 20,000 messages in conversation 1, three in each other one.
    for block in 0..20 {
        sqlx::query(
            "INSERT INTO messages (conversation_id, sender_id, body, created_at, seq, version) \
             WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
             SELECT 1, 1 + i % 2, 'long', NOW(6), ? + i, ? + i FROM n",
        )
        .bind(block * 1000)
        .bind(block * 1000)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO messages (conversation_id, sender_id, body, created_at, seq, version) \
         SELECT c.id, 1, 'short', NOW(6), k.k, k.k FROM conversations c \
         CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) k WHERE c.id > 1",
    )
    .execute(pool)
    .await
    .unwrap();
    // Half of the long conversation's second half answers its first message:
    // one long thread.
    sqlx::query(
        "UPDATE messages m JOIN messages first ON first.conversation_id = 1 AND first.seq = 1 \
         SET m.reply_to = first.id, m.thread_id = first.id \
         WHERE m.conversation_id = 1 AND m.seq > 10000 AND m.seq % 2 = 0",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE TABLE users, conversations, conversation_participants, messages")
        .execute(pool)
        .await
        .unwrap();
}

/// `EXPLAIN` rows as (table, type, key, rows).
async fn explain(
    pool: &MySqlPool,
    sql: &str,
    bind: impl FnOnce(
        sqlx::query::Query<'_, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    ) -> sqlx::query::Query<'_, sqlx::MySql, sqlx::mysql::MySqlArguments>,
) -> Vec<(String, String, Option<String>, Option<i64>)> {
    let explain = format!("EXPLAIN {sql}");
    let rows: Vec<MySqlRow> = bind(sqlx::query(sqlx::AssertSqlSafe(explain)))
        .fetch_all(pool)
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let text = |name: &str| -> Option<String> {
                row.try_get::<Option<String>, _>(name)
                    .ok()
                    .flatten()
                    .or_else(|| {
                        row.try_get::<Option<Vec<u8>>, _>(name)
                            .ok()
                            .flatten()
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
            };
            let rows = row
                .try_get::<Option<i64>, _>("rows")
                .ok()
                .flatten()
                .or_else(|| text("rows").and_then(|r| r.parse().ok()));
            (
                text("table").unwrap_or_default(),
                text("type").unwrap_or_default(),
                text("key"),
                rows,
            )
        })
        .collect()
}

/// No table is scanned whole, and each `(table, key, types)` is read so
/// (`types` lists the access types allowed, `|`-separated).
fn assert_plan(
    name: &str,
    plan: &[(String, String, Option<String>, Option<i64>)],
    expected: &[(&str, &str, &str)],
) {
    let shown = serde_json::to_string(
        &plan
            .iter()
            .map(|(t, ty, k, r)| {
                Value::from(format!(
                    "{t}:{ty}:{}:{}",
                    k.clone().unwrap_or_default(),
                    r.unwrap_or(-1)
                ))
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for (table, kind, _, rows) in plan {
        let derived = table.starts_with('<');
        assert!(
            kind != "ALL" || derived,
            "{name}: {table} is scanned whole: {shown}"
        );
        // EXPLAIN's row estimates ignore LIMIT, so the access type says more:
        // a `ref` on a whole conversation where a `range` was written for is
        // the plan MariaDB was seen to pick.
        let _ = rows;
    }
    for (table, key, kind) in expected {
        assert!(
            plan.iter().any(|(t, ty, k, _)| t == table
                && k.as_deref() == Some(*key)
                && kind.split('|').any(|allowed| allowed == ty)),
            "{name}: {table} is not read through {key} as {kind}: {shown}"
        );
    }
    println!("{name}: {shown}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn hot_queries_use_their_indexes_on_skewed_data(pool: MySqlPool) {
    seed(&pool).await;
    for (walk, bound, key) in [
        (Walk::Older, i64::MAX, "messages_seq"),
        (Walk::Older, 10_000, "messages_seq"),
        (Walk::After, 19_990, "messages_seq"),
        (Walk::Since, 19_990, "messages_version"),
    ] {
        let plan = explain(&pool, page_sql(walk), |q| {
            q.bind(LONG).bind(bound).bind(LONG).bind(BUSY_USER).bind(21)
        })
        .await;
        assert_plan(
            &format!("message page {walk:?} from {bound}"),
            &plan,
            &[("m", key, "range")],
        );
    }
    let first: i64 =
        sqlx::query_scalar("SELECT id FROM messages WHERE conversation_id = 1 AND seq = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    for bound in [0, 15_000] {
        let plan = explain(&pool, page_sql(Walk::Thread(first)), |q| {
            q.bind(LONG)
                .bind(bound)
                .bind(first)
                .bind(LONG)
                .bind(BUSY_USER)
                .bind(21)
        })
        .await;
        assert_plan(
            &format!("thread page from {bound}"),
            &plan,
            &[("m", "messages_thread", "range")],
        );
    }
    let plan = explain(&pool, SEARCH_SQL, |q| {
        q.bind(BUSY_USER).bind("+short*").bind(i64::MAX).bind(21)
    })
    .await;
    assert_plan(
        "search",
        &plan,
        &[
            ("m", "messages_text", "fulltext"),
            ("p", "PRIMARY", "eq_ref"),
        ],
    );
    let plan = explain(&pool, SEARCH_IN_SQL, |q| {
        q.bind(BUSY_USER)
            .bind("+short*")
            .bind(i64::MAX)
            .bind(LONG)
            .bind(21)
    })
    .await;
    assert_plan(
        "search in one conversation",
        &plan,
        &[("m", "messages_text", "fulltext")],
    );
    let latest = chrono::DateTime::from_timestamp_micros(253_402_300_799_999_999)
        .unwrap()
        .naive_utc();
    let plan = explain(&pool, PAGE_FOR_MEMBER_SQL, |q| {
        q.bind(BUSY_USER)
            .bind(latest)
            .bind(latest)
            .bind(i64::MAX)
            .bind(21)
            .bind(BUSY_USER)
    })
    .await;
    assert_plan(
        "list conversations",
        &plan,
        &[
            ("pp", "participants_by_user", "ref"),
            ("c", "PRIMARY", "eq_ref"),
            ("m", "messages_seq", "eq_ref"),
        ],
    );
    let plan = explain(&pool, FOR_MEMBER_SQL, |q| q.bind(LONG).bind(BUSY_USER)).await;
    assert_plan(
        "show conversation",
        &plan,
        &[("m", "messages_seq", "eq_ref|const")],
    );
    let plan = explain(&pool, UNREAD_TOTALS_SQL, |q| q.bind(BUSY_USER)).await;
    assert_plan(
        "unread totals",
        &plan,
        &[("p", "participants_by_user", "ref")],
    );
    let plan = explain(&pool, PARTICIPANTS_PAGE_SQL, |q| {
        q.bind(LONG).bind(0).bind(21)
    })
    .await;
    assert_plan("participants page", &plan, &[("p", "PRIMARY", "range")]);
    let lock = LOCK_FOR_MEMBER_SQL.trim_end_matches(" FOR UPDATE");
    let plan = explain(&pool, lock, |q| q.bind(LONG).bind(BUSY_USER)).await;
    assert_plan("send's lock", &plan, &[("c", "PRIMARY", "eq_ref|const")]);
}
