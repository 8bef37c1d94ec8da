//! Search input: the words of a query, as the full-text index can find them.

/// InnoDB's full-text index holds no word shorter than this
/// (`innodb_ft_min_token_size`, 3 on MariaDB and MySQL alike).
pub const MIN_WORD_CHARS: usize = 3;
const MAX_QUERY_CHARS: usize = 200;

/// InnoDB's default stop words (`INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD`,
/// the same list on MariaDB and MySQL): never indexed, so never findable.
const STOP_WORDS: [&str; 35] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
];

/// Every searchable word of a query, each to be matched as the start of a
/// word. Words split where InnoDB's parser splits them: at any character
/// that is not a letter, a digit or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(Vec<String>);

impl SearchQuery {
    /// Words the index cannot hold (shorter than [`MIN_WORD_CHARS`], or stop
    /// words) are left out; a query with no other word is refused with the
    /// reason, rather than answered with a page that looks like no match.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let count = raw.chars().count();
        if count == 0 || count > MAX_QUERY_CHARS {
            return Err(format!("q must be 1 to {MAX_QUERY_CHARS} characters."));
        }
        let words: Vec<&str> = raw
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return Err("q must contain at least one word.".into());
        }
        let mut searchable: Vec<String> = Vec::new();
        for word in words {
            let lower = word.to_lowercase();
            if word.chars().count() >= MIN_WORD_CHARS
                && !STOP_WORDS.contains(&lower.as_str())
                && !searchable.contains(&lower)
            {
                searchable.push(lower);
            }
        }
        if searchable.is_empty() {
            return Err(format!(
                "Words of fewer than {MIN_WORD_CHARS} characters and very common words \
                 (such as \"the\" or \"with\") cannot be searched: give at least one other word."
            ));
        }
        Ok(SearchQuery(searchable))
    }

    /// The query in InnoDB's boolean mode: every word required, as a prefix.
    pub fn boolean_mode(&self) -> String {
        self.0
            .iter()
            .map(|word| format!("+{word}*"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_searchable_word_is_a_required_prefix() {
        let query = SearchQuery::parse("Lunch at the café, O'Brien? lunch").unwrap();
        assert_eq!(query.boolean_mode(), "+lunch* +café* +brien*");
        assert_eq!(
            SearchQuery::parse("x_y +-*\"()~<>@")
                .unwrap()
                .boolean_mode(),
            "+x_y*"
        );
    }

    #[test]
    fn a_query_with_nothing_searchable_is_refused_with_the_reason() {
        for bad in ["", "   ", "+-*()", &"x".repeat(201)] {
            assert!(SearchQuery::parse(bad).is_err(), "{bad:?}");
        }
        let reason = SearchQuery::parse("at the").unwrap_err();
        assert!(reason.contains("fewer than 3 characters"), "{reason}");
        assert!(SearchQuery::parse(&"x".repeat(200)).is_ok());
    }
}
