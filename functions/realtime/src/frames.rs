//! Frames a client sends: what each asks for, or the error frame that says
//! what was wrong with it.

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct ClientFrame {
    action: Option<Value>,
    conversation_id: Option<Value>,
    typing: Option<Value>,
}

/// What a client frame asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Ping,
    Typing {
        conversation_id: i64,
        typing: bool,
    },
    /// Answered with this error frame.
    Invalid(Value),
}

/// Reads a client frame: `{"action": "ping"}`, or `{"action": "typing",
/// "conversation_id": <id>, "typing": true | false}` (`typing` defaults to
/// true).
pub fn parse(text: &str) -> Request {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Err(_) => return invalid("Frames must be JSON objects with an action."),
        Ok(frame) => frame,
    };
    match frame.action {
        None => invalid("The frame has no action."),
        Some(Value::String(action)) if action == "ping" => Request::Ping,
        Some(Value::String(action)) if action == "typing" => {
            let Some(conversation_id) = frame
                .conversation_id
                .as_ref()
                .and_then(Value::as_i64)
                .filter(|id| *id > 0)
            else {
                return invalid("A typing frame needs a conversation_id (a positive integer).");
            };
            match frame.typing {
                None | Some(Value::Null) => Request::Typing {
                    conversation_id,
                    typing: true,
                },
                Some(Value::Bool(typing)) => Request::Typing {
                    conversation_id,
                    typing,
                },
                Some(_) => invalid("typing must be true or false."),
            }
        }
        Some(Value::String(action)) => invalid(&format!(
            "Unknown action {:?}: the actions are ping and typing.",
            truncated(&action)
        )),
        Some(_) => invalid("The action must be a string."),
    }
}

fn invalid(problem: &str) -> Request {
    Request::Invalid(error(problem))
}

pub fn pong() -> Value {
    json!({"type": "pong"})
}

/// `{"type": "error", "error": <problem>}`.
pub fn error(problem: &str) -> Value {
    json!({"type": "error", "error": problem})
}

/// An echo of the client's own text, kept short.
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_and_typing_frames_are_read() {
        assert_eq!(parse(r#"{"action": "ping"}"#), Request::Ping);
        assert_eq!(
            parse(r#"{"action": "typing", "conversation_id": 7}"#),
            Request::Typing {
                conversation_id: 7,
                typing: true
            }
        );
        assert_eq!(
            parse(r#"{"action": "typing", "conversation_id": 7, "typing": false}"#),
            Request::Typing {
                conversation_id: 7,
                typing: false
            }
        );
    }

    #[test]
    fn every_other_frame_is_an_error_frame() {
        for text in [
            "",
            "ping",
            "[1]",
            "{}",
            r#"{"action": 1}"#,
            r#"{"action": "send"}"#,
            r#"{"action": "typing"}"#,
            r#"{"action": "typing", "conversation_id": "7"}"#,
            r#"{"action": "typing", "conversation_id": -1}"#,
            r#"{"action": "typing", "conversation_id": 7, "typing": "yes"}"#,
        ] {
            let Request::Invalid(frame) = parse(text) else {
                panic!("{text} was accepted");
            };
            assert_eq!(frame["type"], "error", "{text}");
            assert!(
                frame["error"].as_str().is_some_and(|e| e.ends_with('.')),
                "{text}"
            );
        }
    }

    #[test]
    fn a_long_action_is_not_echoed_whole() {
        let Request::Invalid(frame) = parse(&format!(r#"{{"action": "{}"}}"#, "x".repeat(10_000)))
        else {
            panic!("accepted");
        };
        assert!(frame["error"].as_str().unwrap().len() < 200);
    }
}
