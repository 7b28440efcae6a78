//! What every trigger source (a webhook or the people API) is normalised to, and what the sender
//! is told back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::survey::{Locale, MAX_PROPERTY_LEN, SurveyId};
use crate::{EmailAddress, Timestamp};

/// Longest transaction id and name kept.
pub const MAX_TRANSACTION_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 100;
/// Most properties kept from one event.
pub const MAX_PROPERTIES: usize = 20;

/// One event that may lead to a survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerEvent {
    /// The sender's id for this event: repeats of it are answered with the first outcome.
    pub event_id: String,
    pub email: EmailAddress,
    pub name: Option<String>,
    pub locale: Option<Locale>,
    /// `None` means the deployment's default survey.
    pub survey: Option<SurveyId>,
    /// One survey per (survey, transaction): a second event for the same order is skipped.
    pub transaction_id: Option<String>,
    pub occurred_at: Option<Timestamp>,
    /// When to send; otherwise `delay` (or the survey's delay) after now.
    pub send_at: Option<Timestamp>,
    pub delay: Option<Duration>,
    /// Segment candidates (product, channel, region, plan, amount, variant…); the survey keeps the
    /// ones it names.
    pub properties: BTreeMap<String, String>,
}

/// Why a field of an event was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    /// A well-formed event of a kind that starts no survey (a cancelled order, a new customer):
    /// answered `2xx` and skipped, so the sender does not retry it.
    #[error("{field}: {kind} is not a purchase")]
    NotAPurchase { field: &'static str, kind: String },
}

impl EventError {
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        EventError::Invalid { field, problem: problem.into() }
    }

    pub fn not_a_purchase(field: &'static str, kind: impl Into<String>) -> Self {
        EventError::NotAPurchase { field, kind: kind.into() }
    }

    pub fn field(&self) -> &'static str {
        match self {
            EventError::Invalid { field, .. } | EventError::NotAPurchase { field, .. } => field,
        }
    }
}

/// Trims and bounds free text from outside: control characters are refused.
pub fn bounded_text(field: &'static str, value: &str, max_chars: usize) -> Result<String, EventError> {
    let value = value.trim();
    if value.chars().count() > max_chars {
        return Err(EventError::invalid(field, format!("longer than {max_chars} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(EventError::invalid(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// Normalises one property: names become `a-z0-9_`, values are bounded text.
pub fn property(name: &str, value: &str) -> Result<(String, String), EventError> {
    let key: String = name
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(40)
        .collect();
    if key.is_empty() {
        return Err(EventError::invalid("properties", "a property has an empty name"));
    }
    Ok((key, bounded_text("properties", value, MAX_PROPERTY_LEN)?))
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting in the outbox for its due time (or for the mail service to come back).
    Scheduled,
    /// Handed to the mail service.
    Sent,
    /// No survey, for the reason given.
    Skipped,
    /// Added to the list of the survey (one with a cadence): its waves ask the person, the next
    /// at `next_eligible_at`.
    Enrolled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// This survey already went out for this transaction.
    DuplicateTransaction,
    Unsubscribed,
    Bounced,
    Complained,
    /// Surveyed inside the survey's throttle window; see `next_eligible_at`.
    Throttled,
    /// The caller asked not to send (`"send": false` on the people API).
    NotRequested,
    /// The event is not a purchase (a cancelled or deleted order, another Stripe event).
    NotAPurchase,
}

/// The answer to a trigger: `{status, reason, survey_request_id, next_eligible_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub reason: Option<SkipReason>,
    pub survey_request_id: Option<String>,
    /// RFC 3339, when this person may be surveyed again by this survey (enrolled: when the list's
    /// next wave asks them).
    pub next_eligible_at: Option<String>,
}

impl Outcome {
    /// No survey, for `reason`, decided before anything was stored.
    pub fn skipped(reason: SkipReason) -> Self {
        Outcome { status: Status::Skipped, reason: Some(reason), survey_request_id: None, next_eligible_at: None }
    }

    /// Naming the request that went out for the same transaction.
    pub fn with_request(mut self, id: Option<String>) -> Self {
        self.survey_request_id = id;
        self
    }

    /// When the person may be surveyed again.
    pub fn eligible_again_at(mut self, at: Timestamp) -> Self {
        self.next_eligible_at = Some(at.to_rfc3339());
        self
    }

    /// An outcome as it was stored (JSON), for a repeat of its event.
    pub fn from_stored(stored: &str) -> Result<Outcome, crate::StoreError> {
        serde_json::from_str(stored)
            .map_err(|e| crate::StoreError::Malformed(format!("stored outcome does not parse: {e}")))
    }

    /// What a repeat of the event is told: a survey `scheduled` then is `sent` once its email went.
    pub fn as_of(mut self, email_sent: bool) -> Outcome {
        if self.status == Status::Scheduled && email_sent {
            self.status = Status::Sent;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_normalised_and_bounded() {
        assert_eq!(property("Product Name", " Boots "), Ok(("product_name".into(), "Boots".into())));
        assert!(property("  ", "x").is_err());
        assert!(property("p", &"x".repeat(MAX_PROPERTY_LEN + 1)).is_err());
        assert!(property("p", "a\u{0}b").is_err());
    }

    #[test]
    fn a_repeat_of_a_scheduled_survey_is_told_sent_once_its_email_went() {
        let scheduled = Outcome { status: Status::Scheduled, ..Outcome::skipped(SkipReason::Throttled) };
        assert_eq!(scheduled.clone().as_of(false).status, Status::Scheduled);
        assert_eq!(scheduled.as_of(true).status, Status::Sent);
        assert_eq!(Outcome::skipped(SkipReason::Bounced).as_of(true).status, Status::Skipped);
    }

    #[test]
    fn outcomes_serialise_as_documented() {
        let o = Outcome {
            status: Status::Skipped,
            reason: Some(SkipReason::Throttled),
            survey_request_id: None,
            next_eligible_at: Some("2027-02-21T10:00:00Z".into()),
        };
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({"status": "skipped", "reason": "throttled", "survey_request_id": null,
                               "next_eligible_at": "2027-02-21T10:00:00Z"})
        );
    }
}
