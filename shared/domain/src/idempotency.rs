//! "One event, one effect": each event's outcome is recorded once, under a condition, with the
//! work it did; a repeat of the event gets the first outcome back and changes nothing.

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
