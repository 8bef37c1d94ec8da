//! Account fields: email, username, password and names.

use std::fmt;

/// A syntactically valid address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// 3 to 150 letters, digits and `.@+-_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// 8 to 128 characters. Deliberately not `Debug` or `Display`.
pub struct Password(String);

/// A first or last name: at most 150 characters, possibly empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonName(String);

const MAX_EMAIL_CHARS: usize = 254;
const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=150;
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
const MAX_NAME_CHARS: usize = 150;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        const INVALID: &str = "Enter a valid email address.";
        let email = raw.trim().to_lowercase();
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(format!(
                "Email must be at most {MAX_EMAIL_CHARS} characters."
            ));
        }
        let (local, domain) = email.rsplit_once('@').ok_or(INVALID)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Email(email))
        } else {
            Err(INVALID.into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let count = raw.chars().count();
        if !USERNAME_CHARS.contains(&count) {
            return Err(format!(
                "Username must be {} to {} characters.",
                USERNAME_CHARS.start(),
                USERNAME_CHARS.end()
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_alphanumeric() || ".@+-_".contains(c))
        {
            return Err("Username may contain only letters, digits and . @ + - _".into());
        }
        Ok(Username(raw.to_string()))
    }

    /// The email serves as username when none is given, if it fits the rules.
    pub fn from_email(email: &Email) -> Result<Self, String> {
        Username::parse(email.as_str()).map_err(|_| {
            "This email cannot serve as a username; choose a username of 3 to 150 letters, digits and . @ + - _".into()
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Password {
    pub fn parse(raw: String) -> Result<Self, String> {
        let count = raw.chars().count();
        if !PASSWORD_CHARS.contains(&count) {
            return Err(format!(
                "Password must be {} to {} characters.",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ));
        }
        Ok(Password(raw))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(format!("Must be at most {MAX_NAME_CHARS} characters."));
        }
        if raw.chars().any(char::is_control) {
            return Err("Must not contain control characters.".into());
        }
        Ok(PersonName(raw.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_a_control_character_is_refused() {
        for bad in [
            "Ann\u{0}",
            "A\nB",
            "tab\there",
            "\u{1b}[31mred",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(PersonName::parse(" Zoë 🙂 ").unwrap().as_str(), "Zoë 🙂");
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Alice@Example.ORG ").unwrap().as_str(),
            "alice@example.org"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "alice",
            "alice@",
            "@example.org",
            "alice@example",
            "a b@example.org",
            "alice@@example.org",
            "alice@exa_mple.org",
            ".alice@example.org",
            "al..ice@example.org",
            "alice@-example.org",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn plus_addresses_and_subdomains_are_fine() {
        assert!(Email::parse("alice+chat@mail.example.co.uk").is_ok());
    }

    #[test]
    fn overlong_emails_are_refused() {
        let raw = format!("{}@{}.org", "a".repeat(64), "b".repeat(200));
        assert!(Email::parse(&raw).is_err());
    }

    #[test]
    fn usernames_follow_the_contract() {
        assert!(Username::parse("al").is_err());
        assert!(Username::parse(&"a".repeat(151)).is_err());
        assert!(Username::parse(&"a".repeat(150)).is_ok());
        assert!(Username::parse("alice.b+c@d-e_f").is_ok());
        assert!(Username::parse("José").is_ok());
        assert!(Username::parse("alice smith").is_err());
        assert!(Username::parse("alice;drop").is_err());
    }

    #[test]
    fn an_email_with_characters_a_username_cannot_hold_needs_a_username() {
        let email = Email::parse("o'brien@example.org").unwrap();
        assert!(Username::from_email(&email).is_err());
        let email = Email::parse("bob@example.org").unwrap();
        assert_eq!(
            Username::from_email(&email).unwrap().as_str(),
            "bob@example.org"
        );
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("é".repeat(128)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn names_are_at_most_150_characters() {
        assert!(PersonName::parse(&"n".repeat(150)).is_ok());
        assert!(PersonName::parse(&"n".repeat(151)).is_err());
    }
}
