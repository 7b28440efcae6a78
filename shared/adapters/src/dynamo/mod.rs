//! The single table of docs/data-model.md.

mod api_keys;
mod erasure;
mod follow_ups;
mod idempotency;
mod item;
pub mod keys;
mod members;
mod outbound;
mod people;
mod requests;
mod responses;
mod rollups;
mod stream;
mod surveys;
mod themes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ConsumedCapacity, KeysAndAttributes, ReturnConsumedCapacity, WriteRequest};
use nps_domain::StoreError;

pub use api_keys::{ApiKey, DynamoApiKeys, KeyInfo, Scope};
pub use erasure::{DynamoErasure, Erased};
pub use follow_ups::DynamoFollowUps;
pub use idempotency::{DynamoEventRecords, EVENT_RECORD_RETENTION};
pub use members::DynamoMembers;
pub use outbound::{Claimed, Delivery, DynamoOutbound, Queue};
pub use people::{
    DynamoPeople, Eligibility, Listing, MAX_SKIPPED, Profile, Start, Suppressed, SuppressionList, SuppressionReason,
};
pub use requests::{CreateOutcome, DynamoRequests, EventRecord, Transition, Transitioned, Windows};
pub use responses::{DynamoResponses, Listed, Order, Saved};
pub use rollups::{Checkpoint, Counted, DynamoRollups, Folded, MAX_WRITES_PER_FOLD, Scanned, ShardFolded};
pub use stream::{Change, Page, Read, Shard, StreamError, StreamRecord, TableStream, sequence_order};
pub use surveys::{CachedSurveys, DynamoSurveys};
pub use themes::{CachedDay, DynamoThemes};

/// A client and the name of the table (from the template's `NpsTable`).
#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: String,
    meter: Option<Arc<CapacityMeter>>,
}

/// Adds up the capacity units the table's calls consume, as DynamoDB reports them
/// (`ReturnConsumedCapacity=TOTAL`, indexes included), for benchmarks and cost figures.
/// Conditional writes that fail also consume units, but DynamoDB reports none for them.
#[derive(Debug, Default)]
pub struct CapacityMeter {
    read_milli: AtomicU64,
    write_milli: AtomicU64,
}

impl CapacityMeter {
    pub fn read_units(&self) -> f64 {
        self.read_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub fn write_units(&self) -> f64 {
        self.write_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Units {
    Read,
    Write,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Table { client, name: name.into(), meter: None }
    }

    /// Counts the capacity consumed by every call made through this table into `meter`.
    pub fn metered(mut self, meter: Arc<CapacityMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// What to ask DynamoDB for: capacity figures only while metering.
    pub(crate) fn capacity(&self) -> Option<ReturnConsumedCapacity> {
        self.meter.as_ref().map(|_| ReturnConsumedCapacity::Total)
    }

    /// One item by key, its read counted.
    pub(crate) async fn get(&self, key: keys::ItemKey, consistent: bool) -> Result<Option<item::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(item::key_item(key)))
            .consistent_read(consistent)
            .set_return_consumed_capacity(self.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.count(Units::Read, out.consumed_capacity());
        Ok(out.item)
    }

    /// The items of `keys` (at most 100) that exist, in no particular order. Keys DynamoDB leaves
    /// unprocessed (throttling) make it fail as retryable.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<item::Item>,
        consistent: bool,
    ) -> Result<Vec<item::Item>, StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent)
            .build()
            .map_err(|e| StoreError::Rejected(Box::new(e)))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.name, request)
            .set_return_consumed_capacity(self.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.count(Units::Read, out.consumed_capacity());
        if out.unprocessed_keys().is_some_and(|u| !u.is_empty()) {
            return Err(StoreError::Unavailable("throttled: unprocessed keys in a batch read".into()));
        }
        Ok(out.responses.and_then(|mut r| r.remove(&self.name)).unwrap_or_default())
    }

    /// Up to `limit` entries of the `outbox` index's `partition` due by `now` (their sort keys start
    /// with the due time, 11 digits), soonest first: keys only.
    pub(crate) async fn outbox_due(
        &self,
        partition: &str,
        now: nps_domain::Timestamp,
        limit: i32,
    ) -> Result<QueryOutput, StoreError> {
        let query = self
            .client
            .query()
            .index_name(keys::index::OUTBOX)
            .key_condition_expression("#opk = :partition AND #osk < :after")
            .expression_attribute_names("#opk", keys::attr::OUTBOX_PK)
            .expression_attribute_names("#osk", keys::attr::OUTBOX_SK)
            .expression_attribute_values(":partition", item::s(partition))
            .expression_attribute_values(":after", item::s(keys::sort_from(now.unix().max(0) + 1)))
            .limit(limit);
        self.query(query).await
    }

    /// Puts `item`, replacing any item with its key.
    pub(crate) async fn put(&self, item: item::Item) -> Result<(), StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .set_return_consumed_capacity(self.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.count(Units::Write, out.consumed_capacity());
        Ok(())
    }

    /// Puts `item` unless an item with its key exists: `true` if it was put.
    pub(crate) async fn put_new(&self, item: item::Item) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::attr::PK)
            .set_return_consumed_capacity(self.capacity())
            .send()
            .await;
        Ok(self.conditional(put, |o| o.consumed_capacity())?.is_some())
    }

    /// Deletes the item at `key` (nothing if it is gone already).
    pub(crate) async fn delete(&self, key: keys::ItemKey) -> Result<(), StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(item::key_item(key)))
            .set_return_consumed_capacity(self.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.count(Units::Write, out.consumed_capacity());
        Ok(())
    }

    /// An update of the item at `key`, its capacity reported while metering.
    pub(crate) fn update(&self, key: keys::ItemKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(item::key_item(key)))
            .set_return_consumed_capacity(self.capacity())
    }

    /// A query of every item in partition `pk` (more conditions may follow), for [`Table::query`].
    pub(crate) fn partition(&self, pk: impl Into<String>) -> QueryFluentBuilder {
        self.client
            .query()
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::attr::PK)
            .expression_attribute_values(":pk", item::s(pk))
    }

    /// Runs a query built on this table's client, its reads counted.
    pub(crate) async fn query(&self, query: QueryFluentBuilder) -> Result<QueryOutput, StoreError> {
        let out = query
            .table_name(&self.name)
            .set_return_consumed_capacity(self.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.count(Units::Read, out.consumed_capacity());
        Ok(out)
    }

    /// The result of a conditional write: `Some` output if it applied (its units counted), `None`
    /// if its condition failed (an outcome, not an error), any other failure mapped.
    pub(crate) fn conditional<O, E>(
        &self,
        result: Result<O, SdkError<E, HttpResponse>>,
        consumed: impl Fn(&O) -> Option<&ConsumedCapacity>,
    ) -> Result<Option<O>, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match result {
            Ok(out) => {
                self.count(Units::Write, consumed(&out));
                Ok(Some(out))
            }
            Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException") => {
                Ok(None)
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Writes `requests` in batches of 25, again for what DynamoDB leaves unprocessed.
    pub(crate) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0u32.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, pending)
                    .set_return_consumed_capacity(self.capacity())
                    .send()
                    .await
                    .map_err(store_error)?;
                self.count(Units::Write, out.consumed_capacity());
                pending = out.unprocessed_items.and_then(|mut left| left.remove(&self.name)).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == 8 {
                    return Err(StoreError::Unavailable("writes left unprocessed after 8 retries".into()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    pub(crate) fn count<'a>(&self, units: Units, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        let Some(meter) = &self.meter else { return };
        let milli: f64 = consumed.into_iter().filter_map(|c| c.capacity_units()).sum::<f64>() * 1000.0;
        let counter = match units {
            Units::Read => &meter.read_milli,
            Units::Write => &meter.write_milli,
        };
        counter.fetch_add(milli.round() as u64, Ordering::Relaxed);
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// DynamoDB's error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Maps any DynamoDB SDK error that is not an expected outcome to a [`StoreError`], keeping it as
/// the source. (Conditional-check failures are outcomes, handled where they occur.)
pub(crate) fn store_error<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if crate::aws::is_transient(&err, TRANSIENT_CODES) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Rejected(Box::new(err))
    }
}
