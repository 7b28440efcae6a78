//! "One event, one effect": the first delivery of an event claims its key; repeats get the first
//! outcome back. A claim is a lease, so a crash between claiming and completing does not block the
//! event forever: once the lease lapses, a retry may take it over.

use std::time::Duration;

use crate::{StoreError, Timestamp};

/// Identifies one delivery of one event from one source (`source` is our route segment,
/// `event_id` the sender's id for the event).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    source: String,
    event_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("source must be 1 to 32 characters of a-z, 0-9, - or _")]
    Source,
    #[error("event id must be 1 to 256 visible ASCII characters")]
    EventId,
}

impl IdempotencyKey {
    pub fn new(source: &str, event_id: &str) -> Result<Self, IdempotencyKeyError> {
        let source_ok = (1..=32).contains(&source.len())
            && source.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !source_ok {
            return Err(IdempotencyKeyError::Source);
        }
        let event_ok = (1..=256).contains(&event_id.len()) && event_id.bytes().all(|b| b.is_ascii_graphic());
        if !event_ok {
            return Err(IdempotencyKeyError::EventId);
        }
        Ok(IdempotencyKey { source: source.to_owned(), event_id: event_id.to_owned() })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn event_id(&self) -> &str {
        &self.event_id
    }
}

/// Proof that this caller holds the key; needed to complete or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: IdempotencyKey,
    pub token: String,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First delivery (or the first one's lease lapsed): do the work, then `complete` the lease.
    Acquired(Lease),
    /// Already done; answer with the stored outcome and change nothing.
    Completed { outcome: String },
    /// Another delivery holds the key right now; the sender should retry later.
    InProgress { until: Timestamp },
}

/// Why completing or releasing a lease did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease lapsed and another delivery took the key over; this caller's outcome is not stored.
    #[error("the idempotency lease was lost to another delivery")]
    Lost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Storage for idempotency keys. `outcome` is opaque to the store (the caller's JSON answer).
pub trait IdempotencyStore {
    /// Claims `key` for `lease`, unless it is completed or held by a lease that has not lapsed.
    fn claim(
        &self,
        key: &IdempotencyKey,
        now: Timestamp,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Stores the outcome for repeats to find until `keep_until` (after which the key may be forgotten).
    fn complete(
        &self,
        lease: &Lease,
        outcome: &str,
        keep_until: Timestamp,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;

    /// Gives the key up after a failure, so that the sender's retry can claim it at once.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), LeaseError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_and_printable() {
        assert!(IdempotencyKey::new("shopify", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043").is_ok());
        assert_eq!(IdempotencyKey::new("", "e"), Err(IdempotencyKeyError::Source));
        assert_eq!(IdempotencyKey::new("Shop#ify", "e"), Err(IdempotencyKeyError::Source));
        assert_eq!(IdempotencyKey::new("stripe", ""), Err(IdempotencyKeyError::EventId));
        assert_eq!(IdempotencyKey::new("stripe", "a b"), Err(IdempotencyKeyError::EventId));
        assert_eq!(IdempotencyKey::new("stripe", &"e".repeat(257)), Err(IdempotencyKeyError::EventId));
    }
}
