//! Keyset pagination: the client's page size, and opaque cursors that are
//! signed, so a forged or altered one is refused instead of leading anywhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use lambda_http::{Body, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::respond;
use crate::store::messages::Walk;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// 1 to 100 items; larger requests are clamped, not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(PageSize(DEFAULT_PAGE_SIZE));
        };
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request(
                "page_size must be a whole number from 1 to 100.",
            ));
        }
        // All digits: only overflow can fail, and that is far above the clamp.
        let size = raw.parse::<u32>().unwrap_or(u32::MAX);
        if size == 0 {
            return Err(ApiError::bad_request(
                "page_size must be a whole number from 1 to 100.",
            ));
        }
        Ok(PageSize(size.min(MAX_PAGE_SIZE)))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// One row more than a page, to learn whether another page follows.
    pub fn probe(self) -> i64 {
        i64::from(self.0) + 1
    }
}

/// No page's JSON body passes this many bytes, far below Lambda's 6 MB
/// response limit; a page that would is cut short and continues by cursor.
pub const MAX_PAGE_BYTES: usize = 1_048_576;

/// Room kept for `{"results":[],"next_cursor":"..."}` around the items.
const ENVELOPE_BYTES: usize = 512;

/// The 200 answer `{"results": [...], "next_cursor": "..." | null}` for the
/// rows of a page query that asked for [`PageSize::probe`] rows: at most
/// `size` of them, fewer when the body would pass [`MAX_PAGE_BYTES`], with a
/// cursor after the last one shown when more follow.
pub fn respond<T: Serialize>(
    rows: &[T],
    size: PageSize,
    cursor_after: impl Fn(&T) -> String,
) -> Result<Response<Body>, ApiError> {
    let mut more = rows.len() > size.get() as usize;
    let mut body = b"{\"results\":[".to_vec();
    let mut last = None;
    for row in rows.iter().take(size.get() as usize) {
        let item = serde_json::to_vec(row).map_err(ApiError::internal)?;
        if last.is_some() && body.len() + 1 + item.len() + ENVELOPE_BYTES > MAX_PAGE_BYTES {
            more = true;
            break;
        }
        if last.is_some() {
            body.push(b',');
        }
        body.extend_from_slice(&item);
        last = Some(row);
    }
    let next_cursor = last.filter(|_| more).map(cursor_after);
    body.extend_from_slice(b"],\"next_cursor\":");
    body.extend_from_slice(&serde_json::to_vec(&next_cursor).map_err(ApiError::internal)?);
    body.push(b'}');
    Ok(respond::json_bytes(http::StatusCode::OK, body))
}

/// Signs and checks cursors with a key of their own, derived from the token
/// secret so that a deployment needs no second secret.
pub struct CursorKey(Hmac<Sha256>);

const TAG_BYTES: usize = 16;

impl CursorKey {
    pub fn derive(secret: &[u8]) -> Self {
        let mut master = hmac_key(secret);
        master.update(b"messaging-api pagination cursor v1");
        CursorKey(hmac_key(&master.finalize().into_bytes()))
    }

    pub fn encode<T: Serialize>(&self, position: &T) -> String {
        // Serialising a plain struct of numbers cannot fail.
        let mut bytes = serde_json::to_vec(position).unwrap_or_default();
        let mut mac = self.0.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode<T: DeserializeOwned>(&self, cursor: &str) -> Result<T, ApiError> {
        let invalid = || ApiError::bad_request("Invalid cursor.");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        if bytes.len() <= TAG_BYTES {
            return Err(invalid());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        let mut mac = self.0.clone();
        mac.update(payload);
        // Compares the truncated tag in constant time.
        mac.verify_truncated_left(tag).map_err(|_| invalid())?;
        serde_json::from_slice(payload).map_err(|_| invalid())
    }
}

fn hmac_key(key: &[u8]) -> Hmac<Sha256> {
    Hmac::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Where a page of messages ends and which way the next one goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePosition {
    /// The conversation the cursor belongs to: a cursor is no key to another.
    pub c: i64,
    /// The last `seq` (or `version`, when walking changes) on the page.
    pub k: i64,
    pub w: Walk,
}

/// Where a page of the users who reacted to a message with one emoji ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactorPosition {
    /// The message and emoji the cursor belongs to.
    pub m: i64,
    pub e: String,
    /// The last reaction on the page, in the order of reactions.
    pub k: i64,
}

/// Where a page of search results ends: a cursor is bound to its reader,
/// its query and its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPosition {
    pub u: i64,
    /// The query as searched (boolean mode).
    pub q: String,
    pub c: Option<i64>,
    /// The last message id on the page.
    pub k: i64,
}

/// Where a page of a conversation's participants ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantPosition {
    pub c: i64,
    /// The last user id on the page.
    pub p: i64,
}

/// Where a page of conversations ends, for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationPosition {
    pub u: i64,
    /// Last activity of the last conversation on the page, in microseconds.
    pub at: i64,
    pub id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_clamps_and_refuses() {
        assert_eq!(PageSize::parse(None).unwrap().get(), 20);
        assert_eq!(PageSize::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(PageSize::parse(Some("100")).unwrap().get(), 100);
        assert_eq!(PageSize::parse(Some("101")).unwrap().get(), 100);
        assert_eq!(
            PageSize::parse(Some("99999999999999999999999"))
                .unwrap()
                .get(),
            100
        );
        for bad in ["", "0", "-1", "abc", "1.5", "+5", " 5", "1e3"] {
            assert!(PageSize::parse(Some(bad)).is_err(), "{bad:?}");
        }
    }

    fn key() -> CursorKey {
        CursorKey::derive(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_cursor_round_trips() {
        let position = MessagePosition {
            c: 3,
            k: 99,
            w: Walk::Older,
        };
        let cursor = key().encode(&position);
        assert_eq!(key().decode::<MessagePosition>(&cursor).unwrap(), position);
    }

    #[test]
    fn an_altered_cursor_is_refused() {
        let cursor = key().encode(&MessagePosition {
            c: 3,
            k: 99,
            w: Walk::Older,
        });
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        let i = bytes.iter().position(|b| *b == b'9').unwrap();
        bytes[i] = b'1';
        assert!(
            key()
                .decode::<MessagePosition>(&URL_SAFE_NO_PAD.encode(bytes))
                .is_err()
        );
    }

    #[test]
    fn a_cursor_signed_with_another_key_is_refused() {
        let other = CursorKey::derive(b"another-secret-another-secret-xx");
        let cursor = other.encode(&MessagePosition {
            c: 3,
            k: 99,
            w: Walk::Older,
        });
        assert!(key().decode::<MessagePosition>(&cursor).is_err());
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for bad in ["", "x", "!!!", "eyJjIjozfQ", &"A".repeat(5000)] {
            assert!(key().decode::<MessagePosition>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cursor_of_one_kind_is_not_read_as_another() {
        let cursor = key().encode(&MessagePosition {
            c: 3,
            k: 99,
            w: Walk::Older,
        });
        assert!(key().decode::<ConversationPosition>(&cursor).is_err());
    }
}
