//! A survey request: one survey, to one person, for one event. Its id is the survey token's subject.

use std::collections::BTreeMap;
use std::fmt;

use ulid::Ulid;

use crate::person::PersonId;
use crate::survey::{Locale, SurveyId};
use crate::{EmailAddress, Timestamp};

/// A ULID: unique, and sorted by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(Ulid);

impl RequestId {
    pub fn new(now: Timestamp) -> Self {
        let millis = u64::try_from(now.unix()).unwrap_or(0).saturating_mul(1000);
        RequestId(Ulid::from_parts(millis, fastrand::u128(..)))
    }

    /// The id of something imported from elsewhere: its time, and 80 bits of the SHA-256 of its
    /// `source` id, so importing it again finds the same id.
    pub fn derived(at: Timestamp, source: &str) -> Self {
        use sha2::{Digest, Sha256};
        let millis = u64::try_from(at.unix()).unwrap_or(0).saturating_mul(1000);
        let digest = Sha256::digest(source.as_bytes());
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        RequestId(Ulid::from_parts(millis, u128::from_be_bytes(random)))
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 26).then(|| Ulid::from_string(s).ok().map(RequestId)).flatten()
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        RequestId(Ulid::from_bytes(bytes))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a request stands. Each email (the survey, then at most one reminder) goes
/// `*Scheduled` → `*Sending` (claimed by one sender, with a lease) → sent, and only a claim
/// moves it on, so two senders can never both send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    Scheduled,
    Sending,
    Sent,
    ReminderScheduled,
    ReminderSending,
    Reminded,
    /// The mail service refused the message, or it failed too many times.
    Failed,
    /// Not sent: the person was suppressed by the time it was due.
    Skipped,
    /// A send whose outcome is unknown (timed out, or its sender died mid-send). Never retried,
    /// because a retry could send twice; counted and logged instead.
    Uncertain,
}

impl RequestState {
    pub const ALL: [RequestState; 9] = [
        RequestState::Scheduled,
        RequestState::Sending,
        RequestState::Sent,
        RequestState::ReminderScheduled,
        RequestState::ReminderSending,
        RequestState::Reminded,
        RequestState::Failed,
        RequestState::Skipped,
        RequestState::Uncertain,
    ];

    /// Whether a request in this state waits in the outbox for dispatch (to be sent, or to be
    /// found when its sender's lease lapses).
    pub fn waits_in_outbox(self) -> bool {
        matches!(
            self,
            RequestState::Scheduled
                | RequestState::Sending
                | RequestState::ReminderScheduled
                | RequestState::ReminderSending
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Scheduled => "scheduled",
            RequestState::Sending => "sending",
            RequestState::Sent => "sent",
            RequestState::ReminderScheduled => "reminder_scheduled",
            RequestState::ReminderSending => "reminder_sending",
            RequestState::Reminded => "reminded",
            RequestState::Failed => "failed",
            RequestState::Skipped => "skipped",
            RequestState::Uncertain => "uncertain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        RequestState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// The in-flight state a claim moves a waiting email to.
    pub fn sending(self) -> Option<RequestState> {
        match self {
            RequestState::Scheduled => Some(RequestState::Sending),
            RequestState::ReminderScheduled => Some(RequestState::ReminderSending),
            _ => None,
        }
    }

    pub fn is_reminder(self) -> bool {
        matches!(self, RequestState::ReminderScheduled | RequestState::ReminderSending | RequestState::Reminded)
    }
}

/// One survey to one person for one event: the outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyRequest {
    pub id: RequestId,
    pub survey_id: SurveyId,
    pub person_id: PersonId,
    /// Kept on the request to send it; removed with the request (TTL or GDPR deletion).
    pub email: EmailAddress,
    pub name: Option<String>,
    pub locale: Locale,
    /// The survey's segment properties, from the event.
    pub properties: BTreeMap<String, String>,
    /// The event's other properties (at most [`crate::intake::MAX_PROPERTIES`] in all), kept for
    /// the response (Delighted's `person_properties`); never on an eNPS answer.
    pub person_properties: BTreeMap<String, String>,
    /// What the answer will be worth, by the survey's weight properties.
    pub weights: crate::weight::Weights,
    pub source: String,
    pub event_id: String,
    pub transaction_id: Option<String>,
    pub created_at: Timestamp,
    /// When the waiting email (survey or reminder) is due.
    pub due_at: Timestamp,
    pub state: RequestState,
    /// Send attempts of the current email.
    pub attempts: u32,
    pub lease_until: Option<Timestamp>,
    pub sent_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_the_same_for_the_same_source_only() {
        let at = Timestamp::from_unix(1_700_000_000);
        assert_eq!(RequestId::derived(at, "delighted:1"), RequestId::derived(at, "delighted:1"));
        assert_ne!(RequestId::derived(at, "delighted:1"), RequestId::derived(at, "delighted:2"));
        assert!(RequestId::derived(at, "x") < RequestId::new(Timestamp::from_unix(1_700_000_001)), "sorted by time");
    }

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let a = RequestId::new(Timestamp::from_unix(1_800_000_000));
        let b = RequestId::new(Timestamp::from_unix(1_800_000_001));
        assert!(a < b);
        assert_eq!(RequestId::parse(&a.to_string()), Some(a));
        assert_eq!(RequestId::from_bytes(a.to_bytes()), a);
        assert_eq!(RequestId::parse("not-a-ulid"), None);
    }

    #[test]
    fn states_round_trip_and_only_waiting_ones_can_be_claimed() {
        for state in RequestState::ALL {
            assert_eq!(RequestState::parse(state.as_str()), Some(state));
        }
        assert_eq!(RequestState::Scheduled.sending(), Some(RequestState::Sending));
        assert_eq!(RequestState::ReminderScheduled.sending(), Some(RequestState::ReminderSending));
        assert_eq!(RequestState::Sent.sending(), None);
        assert_eq!(RequestState::Sending.sending(), None);
    }
}
