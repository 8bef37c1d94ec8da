//! The scenarios wrk loads: each one's name in the report, its request, the
//! raw-SQL operation it is held against, and the original's figures for the
//! same route with the speed-ups it must keep over them.

use anyhow::Context;
use harness::routing::Gateway;
use serde_json::{Value, json};
use shared::{AppState, time};
use sqlx::MySqlPool;

use crate::in_process;
use crate::load::Request;
use crate::seed::{self, DataSet};
use crate::settings::CONCURRENCY;

/// Every scenario is loaded at these concurrencies: one client, and as
/// many as the pool has connections.
pub const CONCURRENCIES: [u32; 2] = [1, CONCURRENCY];

/// The body of every send the scenarios make, and of the raw-SQL send.
pub const SEND_BODY: &str = "A benchmark message of ordinary length.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Login,
    ListMyConversations,
    /// Every send into one conversation, so they queue on its lock.
    Send,
    /// The same send, each wrk connection in a conversation of its own.
    SpreadSend,
    PageOne,
    Deep,
    PageSize100,
    PollNothingNew,
    BusyList,
    BusyUnread,
    SearchRare,
    SearchCommon,
    InvalidToken,
}

/// The original (Django + DRF + gunicorn with 2 workers, as it ships) on
/// the same route, measured on [`ORIGINAL_MEASURED_ON`] with wrk, 10 s a
/// point, against the same MariaDB, in one run with this project's
/// `bench serve` on the same machine (another machine than this one: the
/// original cannot run here). Its p99 figures were not kept.
#[derive(Clone, Copy, Debug)]
pub struct Original {
    /// What it ran, where that differs.
    pub what: &'static str,
    pub c32: ThatRun,
    pub c1: Option<ThatRun>,
}

/// One point of the run that measured the original: its requests per
/// second, and this project's in the same run where that was measured.
#[derive(Clone, Copy, Debug)]
pub struct ThatRun {
    pub original: f64,
    pub ours: Option<f64>,
}

pub const ORIGINAL_MEASURED_ON: &str = "2026-12-07";

impl Original {
    /// That run's figures at `concurrency`, where measured.
    pub fn at(&self, concurrency: u32) -> Option<ThatRun> {
        match concurrency {
            1 => self.c1,
            CONCURRENCY => Some(self.c32),
            _ => None,
        }
    }
}

/// A speed-up over the original this project must keep at `concurrency`.
#[derive(Clone, Copy, Debug)]
pub struct Speedup {
    pub concurrency: u32,
    pub at_least: f64,
}

/// Figures of the run that measured the original: its requests per second,
/// and this project's in that run.
const fn that_run(original: f64, ours: f64) -> ThatRun {
    ThatRun {
        original,
        ours: Some(ours),
    }
}

/// The raw-SQL operation a scenario's request is held against: its
/// statements straight through sqlx, without HTTP, JSON or tokens.
#[derive(Clone, Copy, Debug)]
pub enum CeilingOp {
    /// The reader's sign-in check, their conversations' first page and its
    /// participants.
    ListConversations,
    /// The sign-in check and the send's transaction, into the send
    /// conversation or, with `spread`, into the spread ones in turn.
    Send { spread: bool },
    /// The sign-in check and a page of the big conversation, the first or
    /// the one 100,000 messages deep.
    Page { deep: bool },
}

impl Scenario {
    /// In the order of the report's table.
    pub const ALL: [Scenario; 13] = [
        Scenario::Login,
        Scenario::ListMyConversations,
        Scenario::Send,
        Scenario::SpreadSend,
        Scenario::PageOne,
        Scenario::Deep,
        Scenario::PageSize100,
        Scenario::PollNothingNew,
        Scenario::BusyList,
        Scenario::BusyUnread,
        Scenario::SearchRare,
        Scenario::SearchCommon,
        Scenario::InvalidToken,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Login => "login",
            Scenario::ListMyConversations => "list my conversations",
            Scenario::Send => "send a message",
            Scenario::SpreadSend => "send, 32 conversations",
            Scenario::PageOne => "list messages, page 1 of 100,020",
            Scenario::Deep => "list messages, 100,000 deep",
            Scenario::PageSize100 => "list messages, page_size=100",
            Scenario::PollNothingNew => "poll since=, nothing new",
            Scenario::BusyList => "list conversations, user in 1,000",
            Scenario::BusyUnread => "unread total, user in 1,000",
            Scenario::SearchRare => "search, a rare word",
            Scenario::SearchCommon => "search, a common word",
            Scenario::InvalidToken => "invalid token → 401",
        }
    }

    /// What wrk sends, over and over.
    pub fn request(self, inputs: &Inputs) -> Request {
        let big = inputs.big_conversation;
        let pager = Some(inputs.pager_token.as_str());
        let send = json!({ "body": SEND_BODY });
        match self {
            Scenario::Login => Request::post("/api/auth/login", None, &inputs.login),
            Scenario::ListMyConversations => {
                Request::get("/api/conversations", Some(&inputs.reader_token))
            }
            Scenario::Send => Request::post(
                format!("/api/conversations/{}/messages", inputs.send_conversation),
                pager,
                &send,
            ),
            Scenario::SpreadSend => Request {
                spread: inputs
                    .spread_conversations
                    .iter()
                    .map(|id| format!("/api/conversations/{id}/messages"))
                    .collect(),
                ..Request::post(
                    format!(
                        "/api/conversations/{}/messages",
                        inputs.spread_conversations[0]
                    ),
                    pager,
                    &send,
                )
            },
            Scenario::PageOne => Request::get(format!("/api/conversations/{big}/messages"), pager),
            Scenario::Deep => Request::get(
                format!(
                    "/api/conversations/{big}/messages?cursor={}",
                    inputs.deep_cursor
                ),
                pager,
            ),
            Scenario::PageSize100 => Request::get(
                format!("/api/conversations/{big}/messages?page_size=100"),
                pager,
            ),
            Scenario::PollNothingNew => Request::get(
                format!(
                    "/api/conversations/{big}/messages?since={}",
                    inputs.big_version
                ),
                pager,
            ),
            Scenario::BusyList => Request::get("/api/conversations", Some(&inputs.busy_token)),
            Scenario::BusyUnread => {
                Request::get("/api/conversations/unread", Some(&inputs.busy_token))
            }
            Scenario::SearchRare => Request::get(
                format!("/api/messages/search?q={}", seed::RARE_WORD),
                Some(&inputs.searcher_token),
            ),
            Scenario::SearchCommon => Request::get(
                format!("/api/messages/search?q={}", seed::COMMON_WORD),
                Some(&inputs.searcher_token),
            ),
            Scenario::InvalidToken => Request {
                expect_success: false,
                ..Request::get("/api/auth/me", Some("not.a.token"))
            },
        }
    }

    /// Whether the answer must be a full page of 20: the deep page and the
    /// searches, whose figures mean little over a short page.
    pub fn answers_a_full_page(self) -> bool {
        matches!(
            self,
            Scenario::Deep | Scenario::SearchRare | Scenario::SearchCommon
        )
    }

    pub fn ceiling_op(self) -> Option<CeilingOp> {
        match self {
            Scenario::ListMyConversations => Some(CeilingOp::ListConversations),
            Scenario::Send => Some(CeilingOp::Send { spread: false }),
            Scenario::SpreadSend => Some(CeilingOp::Send { spread: true }),
            Scenario::PageOne => Some(CeilingOp::Page { deep: false }),
            Scenario::Deep => Some(CeilingOp::Page { deep: true }),
            _ => None,
        }
    }

    /// The original's figures on the same route, where it has one.
    pub fn original(self) -> Option<Original> {
        let (what, c32, c1) = match self {
            Scenario::Send => (
                "one conversation",
                that_run(348.0, 2_030.0),
                Some(that_run(286.0, 1_559.0)),
            ),
            // That run sent into one conversation only.
            Scenario::SpreadSend => (
                "its one-conversation send: it has no other",
                ThatRun {
                    original: 348.0,
                    ours: None,
                },
                Some(ThatRun {
                    original: 286.0,
                    ours: None,
                }),
            ),
            Scenario::Login => ("same (argon2id here by design)", that_run(12.1, 73.2), None),
            Scenario::InvalidToken => ("same", that_run(3_088.0, 109_254.0), None),
            Scenario::PageOne => (
                "page 1 of 10,000",
                that_run(145.0, 7_949.0),
                Some(that_run(85.5, 2_637.0)),
            ),
            Scenario::Deep => (
                "8,000 deep, offset pagination",
                that_run(94.2, 8_487.0),
                None,
            ),
            Scenario::PageSize100 => ("page_size = 100", that_run(49.0, 5_335.0), None),
            Scenario::ListMyConversations => (
                "20 conversations × 3 participants × 5 messages",
                that_run(26.9, 3_544.0),
                None,
            ),
            _ => return None,
        };
        Some(Original { what, c32, c1 })
    }

    /// The speed-ups over [`Self::original`] this route must keep.
    pub fn speedup_targets(self) -> Vec<Speedup> {
        let at = |concurrency, at_least| Speedup {
            concurrency,
            at_least,
        };
        match self {
            Scenario::Send => vec![at(CONCURRENCY, 10.0)],
            Scenario::SpreadSend => vec![at(CONCURRENCY, 20.0)],
            Scenario::PageOne => vec![at(1, 50.0), at(CONCURRENCY, 55.0)],
            Scenario::Login => vec![at(CONCURRENCY, 6.0)],
            Scenario::InvalidToken => vec![at(CONCURRENCY, 35.0)],
            Scenario::Deep => vec![at(CONCURRENCY, 90.0)],
            Scenario::PageSize100 => vec![at(CONCURRENCY, 109.0)],
            Scenario::ListMyConversations => vec![at(CONCURRENCY, 132.0)],
            _ => Vec::new(),
        }
    }
}

/// What the scenarios' requests are made of: the seeded data's ids, tokens
/// of its users, and the cursor 100,000 messages deep.
pub struct Inputs {
    pub login: Value,
    pub reader_token: String,
    pub pager_token: String,
    pub busy_token: String,
    pub searcher_token: String,
    pub big_conversation: i64,
    /// The big conversation's last version: a poll from it finds nothing.
    pub big_version: i64,
    pub deep_cursor: String,
    pub send_conversation: i64,
    pub spread_conversations: Vec<i64>,
}

impl Inputs {
    pub async fn prepare(
        gateway: &Gateway,
        state: &AppState,
        pool: &MySqlPool,
        data: &DataSet,
    ) -> anyhow::Result<Self> {
        let token = |user_id| state.tokens.issue(user_id, None, time::now());
        let pager_token = token(data.pager.id)?;
        let big = data.big_conversation;
        let (big_version,): (i64,) =
            sqlx::query_as("SELECT last_version FROM conversations WHERE id = ?")
                .bind(big)
                .fetch_one(pool)
                .await?;
        // The cursor 100,000 messages deep, reached by following cursors.
        let mut cursor = String::new();
        for _ in 0..1_000 {
            let request = Request::get(
                format!("/api/conversations/{big}/messages?page_size=100{cursor}"),
                Some(&pager_token),
            );
            let (_, page, _) = in_process::call(gateway, state, &request).await;
            let next = page["next_cursor"]
                .as_str()
                .context("a next cursor while paging deep")?;
            cursor = format!("&cursor={next}");
        }
        Ok(Inputs {
            login: json!({"email": data.login_email, "password": seed::PASSWORD}),
            reader_token: token(data.reader.id)?,
            busy_token: token(data.busy.id)?,
            searcher_token: token(data.searcher.id)?,
            pager_token,
            big_conversation: big,
            big_version,
            deep_cursor: cursor.trim_start_matches("&cursor=").to_string(),
            send_conversation: data.send_conversation,
            spread_conversations: data.spread_conversations.clone(),
        })
    }
}
