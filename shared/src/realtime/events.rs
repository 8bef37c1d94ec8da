//! Every event a connection receives, as one typed enum: its JSON is the
//! frame the contract describes.

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use crate::store::conversations::Conversation;
use crate::store::messages::Message;
use crate::store::users::PublicUser;

/// API Gateway refuses a message over 128 KB.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated {
        conversation_id: i64,
        version: i64,
        message: Message,
    },
    #[serde(rename = "message.updated")]
    MessageUpdated {
        conversation_id: i64,
        version: i64,
        message: Message,
    },
    /// The message as its tombstone.
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        conversation_id: i64,
        version: i64,
        message: Message,
    },
    #[serde(rename = "conversation.joined")]
    ConversationJoined { conversation: Conversation },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: Conversation },
    #[serde(rename = "conversation.left")]
    ConversationLeft { conversation_id: i64 },
    #[serde(rename = "conversation.read")]
    ConversationRead {
        conversation_id: i64,
        last_read_seq: i64,
        unread_count: i64,
    },
    #[serde(rename = "receipt")]
    Receipt {
        conversation_id: i64,
        user_id: i64,
        last_read_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: i64,
        user: PublicUser,
        typing: bool,
    },
}

impl Event {
    /// The event of a message as it stands after its latest change: deleted
    /// once a tombstone, created while never changed (no edit, no reaction),
    /// updated otherwise. A
    /// pass that finds a message created and edited since the last one sends
    /// its latest state only, as `message.updated`.
    pub fn of_message(message: Message) -> Self {
        let (conversation_id, version) = (message.conversation_id, message.version);
        if message.deleted_at.is_some() {
            Event::MessageDeleted {
                conversation_id,
                version,
                message,
            }
        } else if message.edited_at.is_none() && message.changed_at.is_none() {
            Event::MessageCreated {
                conversation_id,
                version,
                message,
            }
        } else {
            Event::MessageUpdated {
                conversation_id,
                version,
                message,
            }
        }
    }

    /// The text frame. A conversation event that would pass API Gateway's
    /// limit goes as `{"type", "conversation_id", "truncated": true}`, and
    /// the client fetches the conversation.
    pub fn frame(&self) -> Bytes {
        let text = serde_json::to_string(self).unwrap_or_default();
        if text.len() <= MAX_FRAME_BYTES {
            return Bytes::from(text);
        }
        let truncated = match self {
            Event::ConversationJoined { conversation } => {
                json!({"type": "conversation.joined", "conversation_id": conversation.id, "truncated": true})
            }
            Event::ConversationUpdated { conversation } => {
                json!({"type": "conversation.updated", "conversation_id": conversation.id, "truncated": true})
            }
            // A message body is at most 10,000 characters: a message event
            // never comes near the limit.
            _ => return Bytes::from(text),
        };
        Bytes::from(truncated.to_string())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn conversation(participants: usize, name: &str) -> Conversation {
        Conversation {
            id: 7,
            title: Some(name.into()),
            direct: false,
            created_by: Some(1),
            created_at: Utc::now(),
            participants: (0..participants as i64)
                .map(|id| PublicUser {
                    id,
                    username: Some(name.into()),
                    first_name: name.into(),
                    last_name: name.into(),
                })
                .collect(),
            participant_count: participants as i64,
            last_message: None,
            last_seq: 0,
            last_version: 0,
            last_read_seq: 0,
            unread_count: 0,
        }
    }

    #[test]
    fn a_conversation_event_over_128_kb_goes_as_a_truncated_notice() {
        // 100 inline participants with names of 150 four-byte characters.
        let long = "😀".repeat(150);
        let event = Event::ConversationUpdated {
            conversation: conversation(100, &long),
        };
        assert!(serde_json::to_string(&event).unwrap().len() > MAX_FRAME_BYTES);
        let frame: serde_json::Value = serde_json::from_slice(&event.frame()).unwrap();
        assert_eq!(
            frame,
            json!({"type": "conversation.updated", "conversation_id": 7, "truncated": true})
        );
    }

    #[test]
    fn a_conversation_event_within_the_limit_goes_whole() {
        let event = Event::ConversationJoined {
            conversation: conversation(3, "ann"),
        };
        let frame: serde_json::Value = serde_json::from_slice(&event.frame()).unwrap();
        assert_eq!(frame["type"], "conversation.joined");
        assert_eq!(frame["conversation"]["participants"][2]["username"], "ann");
    }
}
