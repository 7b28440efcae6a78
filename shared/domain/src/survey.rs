//! A survey definition: what to ask, whom it comes from, and when it may be sent.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[a-z0-9-]{1,64}`: safe in keys, URLs and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SurveyId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("survey id must be 1 to 64 characters of a-z, 0-9 and -")]
pub struct SurveyIdError;

impl SurveyId {
    pub fn parse(s: &str) -> Result<Self, SurveyIdError> {
        let ok =
            (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| SurveyId(s.to_owned())).ok_or(SurveyIdError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SurveyId {
    type Error = SurveyIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SurveyId::parse(&s)
    }
}

impl From<SurveyId> for String {
    fn from(id: SurveyId) -> String {
        id.0
    }
}

impl fmt::Display for SurveyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind is a dimension of every figure: the kinds are never merged into one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    /// After a touchpoint: a purchase, a delivery, a closed ticket.
    Transactional,
    /// On a cadence, about the relationship as a whole.
    Relationship,
    /// Employees; answers keep no identity.
    Enps,
}

impl SurveyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Transactional => "transactional",
            SurveyKind::Relationship => "relationship",
            SurveyKind::Enps => "enps",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SurveyKind::Transactional, SurveyKind::Relationship, SurveyKind::Enps].into_iter().find(|k| k.as_str() == s)
    }
}

/// The languages the email and the response page are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    En,
    De,
    Fr,
    Es,
}

impl Locale {
    pub const ALL: [Locale; 4] = [Locale::En, Locale::De, Locale::Fr, Locale::Es];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
            Locale::Fr => "fr",
            Locale::Es => "es",
        }
    }

    /// Accepts a language tag such as `de`, `de-AT` or `fr_CA`; `None` for a language we do not have.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let language = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        Locale::ALL.into_iter().find(|l| l.as_str() == language)
    }
}

/// Most segment properties a survey may name, and the longest name or value kept.
pub const MAX_SEGMENT_PROPERTIES: usize = 10;
pub const MAX_PROPERTY_LEN: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survey {
    pub id: SurveyId,
    pub kind: SurveyKind,
    /// Used in the question: "How likely are you to recommend {product_name} …?"
    pub product_name: String,
    /// `surveys@example.com` or `Example Shop <surveys@example.com>`; must be a verified SES identity.
    pub sender: String,
    pub default_locale: Locale,
    /// Nobody gets this survey twice within this many days.
    pub throttle_days: u32,
    /// Wait this long after the event before sending (unless the event says when).
    pub delay_seconds: u64,
    /// One reminder this many days after the first email, if there is no answer yet.
    pub reminder_after_days: Option<u32>,
    /// Event properties kept on the request and response, as segment dimensions.
    pub segment_properties: Vec<String>,
    /// Numeric event properties each answer is also counted by (`amount`: revenue), per the
    /// event's `currency`: weighted NPS and what each group is worth. Never for eNPS.
    pub weight_properties: Vec<String>,
    /// Relationship and eNPS surveys: their list's members are asked once per period.
    pub cadence: Option<Cadence>,
}

/// How often a relationship or eNPS survey asks each member of its list (Delighted's Autopilot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cadence {
    /// Each member is asked once per this many days (1 to 730).
    pub frequency_days: u32,
    /// Nothing is sent while paused; the waves it misses are skipped, not sent on resuming.
    #[serde(default)]
    pub paused: bool,
}

/// A cadence's day: a day, except where a local stack shortens it (`NPS_CADENCE_DAY_SECONDS`).
pub const CADENCE_DAY: Duration = Duration::from_secs(86_400);

impl Cadence {
    /// `frequency_days` days of `day` ([`CADENCE_DAY`] when deployed).
    pub fn period(&self, day: Duration) -> Duration {
        day.saturating_mul(self.frequency_days)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurveyError {
    #[error("product_name must be 1 to 100 characters")]
    ProductName,
    #[error("sender must be an address or `Name <address>`")]
    Sender,
    #[error("throttle_days must be at most 3650")]
    Throttle,
    #[error("delay must be at most 90 days")]
    Delay,
    #[error("reminder_after_days must be 1 to 30")]
    Reminder,
    #[error("at most 10 segment properties, each 1 to 40 characters of a-z, 0-9 and _")]
    Segments,
    #[error("at most 3 weight properties, named like segment properties; none for an eNPS survey")]
    Weights,
    #[error("cadence: only a relationship or eNPS survey has one, of 1 to 730 days")]
    Cadence,
}

impl Survey {
    pub fn throttle(&self) -> Duration {
        Duration::from_secs(u64::from(self.throttle_days) * 86_400)
    }

    pub fn delay(&self) -> Duration {
        Duration::from_secs(self.delay_seconds)
    }

    /// Checks every field that arrives from outside.
    pub fn validate(&self) -> Result<(), SurveyError> {
        let name_len = self.product_name.chars().count();
        if !(1..=100).contains(&name_len) || self.product_name.chars().any(char::is_control) {
            return Err(SurveyError::ProductName);
        }
        sender_address(&self.sender).ok_or(SurveyError::Sender)?;
        if self.throttle_days > 3650 {
            return Err(SurveyError::Throttle);
        }
        if self.delay_seconds > 90 * 86_400 {
            return Err(SurveyError::Delay);
        }
        if self.reminder_after_days.is_some_and(|d| !(1..=30).contains(&d)) {
            return Err(SurveyError::Reminder);
        }
        // Lower-case names only (they are part of rollup keys); `all` names the whole survey.
        let segment_ok = |p: &String| {
            (1..=40).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && p != crate::rollup::ALL
        };
        if self.segment_properties.len() > MAX_SEGMENT_PROPERTIES || !self.segment_properties.iter().all(segment_ok) {
            return Err(SurveyError::Segments);
        }
        let weights_ok = self.weight_properties.len() <= crate::weight::MAX_WEIGHT_PROPERTIES
            && self.weight_properties.iter().all(|p| segment_ok(p) && p != crate::weight::CURRENCY);
        if !weights_ok || (self.kind == SurveyKind::Enps && !self.weight_properties.is_empty()) {
            return Err(SurveyError::Weights);
        }
        if let Some(c) = self.cadence
            && (self.kind == SurveyKind::Transactional || !(1..=730).contains(&c.frequency_days))
        {
            return Err(SurveyError::Cadence);
        }
        Ok(())
    }
}

/// Whether `sender`'s address is at `domain` (`shop.example`) or one of its subdomains: what an
/// SES domain identity lets the account send from.
pub fn sender_at(sender: &str, domain: &str) -> bool {
    let Some(address) = sender_address(sender) else { return false };
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let at = address.as_str().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    !domain.is_empty() && (at == domain || at.ends_with(&format!(".{domain}")))
}

/// The address part of `addr` or `Name <addr>`, if it is a valid address and the name is plain.
pub fn sender_address(sender: &str) -> Option<crate::EmailAddress> {
    let sender = sender.trim();
    let address = match sender.rsplit_once('<') {
        Some((name, rest)) => {
            let plain = name.chars().all(|c| !c.is_control() && !"<>\"@,;".contains(c));
            (plain && rest.ends_with('>')).then(|| &rest[..rest.len() - 1])?
        }
        None => sender,
    };
    crate::EmailAddress::parse(address).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_is_at_its_domain_or_a_subdomain_only() {
        assert!(sender_at("Shop <surveys@shop.example>", "shop.example"));
        assert!(sender_at("surveys@Mail.Shop.Example", "shop.example"));
        assert!(!sender_at("surveys@evilshop.example", "shop.example"));
        assert!(!sender_at("surveys@shop.example.evil", "shop.example"));
        assert!(!sender_at("Shop <surveys@other.example>", "shop.example"));
        assert!(!sender_at("not an address", "shop.example"));
        assert!(!sender_at("surveys@shop.example", ""));
    }

    pub(crate) fn survey() -> Survey {
        Survey {
            id: SurveyId::parse("default").unwrap(),
            kind: SurveyKind::Transactional,
            product_name: "Example Shop".into(),
            sender: "Example Shop <surveys@shop.example>".into(),
            default_locale: Locale::En,
            throttle_days: 90,
            delay_seconds: 0,
            reminder_after_days: Some(3),
            segment_properties: vec!["product".into(), "region".into()],
            weight_properties: vec!["amount".into()],
            cadence: None,
        }
    }

    #[test]
    fn a_sensible_survey_validates() {
        assert_eq!(survey().validate(), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut s = survey();
        s.sender = "Shop <not an address>".into();
        assert_eq!(s.validate(), Err(SurveyError::Sender));
        let mut s = survey();
        s.segment_properties = vec!["Product Name".into()];
        assert_eq!(s.validate(), Err(SurveyError::Segments));
        s.segment_properties = vec!["all".into()];
        assert_eq!(s.validate(), Err(SurveyError::Segments), "`all` names the whole survey");
        let mut s = survey();
        s.weight_properties = vec!["currency".into()];
        assert_eq!(s.validate(), Err(SurveyError::Weights), "the currency keys weights, it is none");
        s.weight_properties = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(s.validate(), Err(SurveyError::Weights));
        let mut s = survey();
        s.kind = SurveyKind::Enps;
        assert_eq!(s.validate(), Err(SurveyError::Weights), "an anonymous answer carries nothing of the person's");
        let mut s = survey();
        s.reminder_after_days = Some(0);
        assert_eq!(s.validate(), Err(SurveyError::Reminder));
        let mut s = survey();
        s.product_name = "a\nb".into();
        assert_eq!(s.validate(), Err(SurveyError::ProductName));
    }

    #[test]
    fn locales_come_from_language_tags() {
        assert_eq!(Locale::from_tag("de-AT"), Some(Locale::De));
        assert_eq!(Locale::from_tag("FR_ca"), Some(Locale::Fr));
        assert_eq!(Locale::from_tag("pt-BR"), None);
        assert_eq!(Locale::from_tag(""), None);
    }

    #[test]
    fn survey_ids_are_key_safe() {
        assert!(SurveyId::parse("spring-2026").is_ok());
        for bad in ["", "A", "a#b", "a b", &"a".repeat(65)] {
            assert!(SurveyId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
