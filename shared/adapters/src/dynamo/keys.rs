//! Every attribute, index and key prefix of the table, defined once (docs/data-model.md).
//! A test checks these names against template.yaml.

use nps_domain::idempotency::IdempotencyKey;

/// Attribute names.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const OUTBOX_PK: &str = "outbox_pk";
    pub const OUTBOX_SK: &str = "outbox_sk";
    pub const LISTING_PK: &str = "listing_pk";
    pub const LISTING_SK: &str = "listing_sk";
    /// TTL attribute: epoch seconds after which DynamoDB may delete the item.
    pub const EXPIRES_AT: &str = "expires_at";
}

/// Global secondary index names.
pub mod index {
    pub const OUTBOX: &str = "outbox";
    pub const LISTING: &str = "listing";
}

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    /// `IDEMPOTENCY#<source>#<event id>` / `IDEMPOTENCY`. A source never contains `#`, so the
    /// split is unambiguous whatever the event id holds.
    pub fn idempotency(key: &IdempotencyKey) -> Self {
        ItemKey { pk: format!("IDEMPOTENCY#{}#{}", key.source(), key.event_id()), sk: "IDEMPOTENCY".to_owned() }
    }
}
