//! Upload input: a file's name and media type as the client declares them.

/// 1 to 255 characters, no `/`, `\` or control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

/// A `type/subtype` media type (RFC 6838's characters), at most 255
/// characters, without parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType(String);

const MAX_NAME_CHARS: usize = 255;

impl FileName {
    pub fn parse(raw: String) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 || count > MAX_NAME_CHARS {
            return Err(format!(
                "filename must be 1 to {MAX_NAME_CHARS} characters."
            ));
        }
        if raw.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
            return Err("filename must not contain /, \\ or control characters.".into());
        }
        Ok(FileName(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl MediaType {
    pub fn parse(raw: String) -> Result<Self, String> {
        let name = |part: &str| {
            !part.is_empty()
                && part.len() <= 127
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        };
        match raw.split_once('/') {
            Some((kind, subtype)) if raw.len() <= MAX_NAME_CHARS && name(kind) && name(subtype) => {
                Ok(MediaType(raw.to_ascii_lowercase()))
            }
            _ => Err("content_type must be a media type such as image/png.".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_1_to_255_characters_without_separators_or_controls() {
        assert!(FileName::parse("résumé final.pdf".into()).is_ok());
        assert!(FileName::parse("x".repeat(255)).is_ok());
        for bad in ["", "a/b", "a\\b", "a\nb", "\u{7f}"] {
            assert!(FileName::parse(bad.into()).is_err(), "{bad:?}");
        }
        assert!(FileName::parse("x".repeat(256)).is_err());
    }

    #[test]
    fn media_types_are_type_slash_subtype() {
        assert_eq!(
            MediaType::parse("Image/PNG".into()).unwrap().as_str(),
            "image/png"
        );
        assert!(MediaType::parse("application/vnd.ms-excel".into()).is_ok());
        for bad in [
            "",
            "image",
            "image/",
            "/png",
            "image/png; q=1",
            "a/b/c",
            "te xt/plain",
        ] {
            assert!(MediaType::parse(bad.into()).is_err(), "{bad:?}");
        }
    }
}
