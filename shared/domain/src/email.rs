use std::fmt;

use serde::{Deserialize, Serialize};

/// An email address as SES can send to it: ASCII, one `@`, a dot-atom local part, a DNS domain.
/// The domain is lower-cased; quoted local parts and comments are refused. `Debug` redacts it so an
/// address never reaches a log by accident.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address is empty")]
    Empty,
    #[error("email address is longer than 254 characters")]
    TooLong,
    #[error("email address must have exactly one @ with text on both sides")]
    Shape,
    #[error("email address has a character that is not allowed")]
    Character,
    #[error("email address domain is not a valid host name")]
    Domain,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.split_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty() || local.len() > 64 || domain.is_empty() || domain.contains('@') {
            return Err(EmailError::Shape);
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if !local.split('.').all(|part| !part.is_empty() && part.chars().all(atext)) {
            return Err(EmailError::Character);
        }
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
            return Err(EmailError::Domain);
        }
        Ok(EmailAddress(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that identifies a person: every mailbox provider that matters ignores case.
    pub fn identity(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_the_domain() {
        let e = EmailAddress::parse("  Jane.Doe+shop@Example.CO.uk ").unwrap();
        assert_eq!(e.as_str(), "Jane.Doe+shop@example.co.uk");
        assert_eq!(e.identity(), "jane.doe+shop@example.co.uk");
    }

    #[test]
    fn refuses_what_could_not_be_sent_or_could_inject_headers() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@@example.com",
            "a@b@example.com",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "\"quoted\"@example.com",
            "a@example.com\r\nBcc: x@example.com",
            "a,b@example.com",
            "<a@example.com>",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example..com",
            "jürgen@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} must be refused");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(EmailAddress::parse(&long_local), Err(EmailError::Shape));
        let long = format!("a@{}.com", "b".repeat(260));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn debug_never_shows_the_address() {
        let e = EmailAddress::parse("secret@example.com").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
    }
}
