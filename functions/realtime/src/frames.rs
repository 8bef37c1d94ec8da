//! Frames a client sends, and the frame each one is answered with.

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct ClientFrame {
    action: Option<Value>,
}

/// `{"action": "ping"}` is answered with a pong; anything else with an error
/// frame that says what was wrong.
pub fn answer(text: &str) -> Value {
    let problem = match serde_json::from_str::<ClientFrame>(text) {
        Err(_) => "Frames must be JSON objects with an action.".to_string(),
        Ok(ClientFrame { action: None }) => "The frame has no action.".to_string(),
        Ok(ClientFrame {
            action: Some(Value::String(action)),
        }) if action == "ping" => return json!({"type": "pong"}),
        Ok(ClientFrame {
            action: Some(Value::String(action)),
        }) => format!(
            "Unknown action {:?}: the only action is ping.",
            truncated(&action)
        ),
        Ok(ClientFrame { action: Some(_) }) => "The action must be a string.".to_string(),
    };
    error(&problem)
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
    fn a_ping_is_answered_with_a_pong() {
        assert_eq!(answer(r#"{"action": "ping"}"#), json!({"type": "pong"}));
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
        ] {
            let frame = answer(text);
            assert_eq!(frame["type"], "error", "{text}");
            assert!(
                frame["error"].as_str().is_some_and(|e| e.ends_with('.')),
                "{text}"
            );
        }
    }

    #[test]
    fn a_long_action_is_not_echoed_whole() {
        let frame = answer(&format!(r#"{{"action": "{}"}}"#, "x".repeat(10_000)));
        assert!(frame["error"].as_str().unwrap().len() < 200);
    }
}
