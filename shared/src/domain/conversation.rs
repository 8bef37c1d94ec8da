//! Conversation and message input.

/// 1 to 100 user ids as sent; duplicates are dropped, order kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds(Vec<i64>);

/// At most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

/// 1 to 10,000 characters, not only white space; stored exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

/// A client's retry key: 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

/// A reaction: 1 to 32 characters with no white space or control character,
/// an emoji with its modifiers and joiners or a short code; two are the same
/// when their bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

pub const MAX_IDS: usize = 100;
const MAX_TITLE_CHARS: usize = 255;
const MAX_BODY_CHARS: usize = 10_000;
const MAX_CLIENT_ID_CHARS: usize = 64;
const MAX_EMOJI_CHARS: usize = 32;

impl UserIds {
    pub fn parse(raw: Vec<i64>) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("Give at least one user id.".into());
        }
        if raw.len() > MAX_IDS {
            return Err(format!("Give at most {MAX_IDS} user ids."));
        }
        let mut ids: Vec<i64> = Vec::with_capacity(raw.len());
        for id in raw {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(UserIds(ids))
    }

    /// Adds the caller, who is always a participant of what they create.
    pub fn with(mut self, id: i64) -> Self {
        if !self.0.contains(&id) {
            self.0.push(id);
        }
        self
    }

    pub fn as_slice(&self) -> &[i64] {
        &self.0
    }
}

impl Title {
    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.chars().count() > MAX_TITLE_CHARS {
            return Err(format!(
                "Title must be at most {MAX_TITLE_CHARS} characters."
            ));
        }
        Ok(Title(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl MessageBody {
    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("Message body must not be empty or only white space.".into());
        }
        if raw.chars().count() > MAX_BODY_CHARS {
            return Err(format!(
                "Message body must be at most {MAX_BODY_CHARS} characters."
            ));
        }
        Ok(MessageBody(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ClientId {
    pub fn parse(raw: String) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 || count > MAX_CLIENT_ID_CHARS {
            return Err(format!(
                "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters."
            ));
        }
        Ok(ClientId(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Emoji {
    pub fn parse(raw: String) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 || count > MAX_EMOJI_CHARS {
            return Err(format!("emoji must be 1 to {MAX_EMOJI_CHARS} characters."));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("emoji must not contain white space or control characters.".into());
        }
        Ok(Emoji(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deduplicated_in_order_and_bounded() {
        assert_eq!(
            UserIds::parse(vec![3, 2, 3, 2]).unwrap().as_slice(),
            &[3, 2]
        );
        assert!(UserIds::parse(vec![]).is_err());
        assert!(UserIds::parse((1..=100).collect()).is_ok());
        assert!(UserIds::parse((1..=101).collect()).is_err());
        assert_eq!(
            UserIds::parse(vec![2]).unwrap().with(1).with(2).as_slice(),
            &[2, 1]
        );
    }

    #[test]
    fn bodies_are_1_to_10000_characters_and_not_blank() {
        assert!(MessageBody::parse("x".into()).is_ok());
        assert!(MessageBody::parse("😀".repeat(10_000)).is_ok());
        assert!(MessageBody::parse("x".repeat(10_001)).is_err());
        assert!(MessageBody::parse("".into()).is_err());
        assert!(MessageBody::parse(" \n\t ".into()).is_err());
        assert_eq!(
            MessageBody::parse("  padded  ".into()).unwrap().as_str(),
            "  padded  "
        );
    }

    #[test]
    fn titles_and_client_ids_are_bounded() {
        assert!(Title::parse("t".repeat(255)).is_ok());
        assert!(Title::parse("t".repeat(256)).is_err());
        assert!(ClientId::parse("c".repeat(64)).is_ok());
        assert!(ClientId::parse("c".repeat(65)).is_err());
        assert!(ClientId::parse(String::new()).is_err());
    }

    #[test]
    fn emoji_are_1_to_32_characters_without_spaces_or_controls() {
        for good in ["👍", "👍🏽", "👩\u{200d}💻", "❤\u{fe0f}", ":party-parrot:"] {
            assert!(Emoji::parse(good.into()).is_ok(), "{good:?}");
        }
        assert!(Emoji::parse("x".repeat(32)).is_ok());
        for bad in ["", "a b", "\u{a0}", "x\u{7}", "\n"] {
            assert!(Emoji::parse(bad.into()).is_err(), "{bad:?}");
        }
        assert!(Emoji::parse("x".repeat(33)).is_err());
    }
}
