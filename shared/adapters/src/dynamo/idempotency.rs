use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, Update};
use nps_domain::idempotency::{Claim, IdempotencyKey, IdempotencyStore, Lease, LeaseError};
use nps_domain::{StoreError, Timestamp};

use super::item::{key_item, n, s};
use super::keys::{ItemKey, attr};
use super::{Table, Units, store_error};

const STATE: &str = "state";
const LEASE_TOKEN: &str = "lease_token";
const LEASE_UNTIL: &str = "lease_until";
const OUTCOME: &str = "outcome";
const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

/// An in-progress claim is kept at least this long after its lease, for the sender's retries.
const IN_PROGRESS_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Idempotency keys as items `IDEMPOTENCY#<source>#<event id>` (docs/data-model.md).
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    table: Table,
}

impl DynamoIdempotencyStore {
    pub fn new(table: Table) -> Self {
        DynamoIdempotencyStore { table }
    }

    fn key(&self, key: &IdempotencyKey) -> HashMap<String, AttributeValue> {
        key_item(ItemKey::idempotency(key))
    }
}

fn new_lease_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Stores the outcome. Only the token is checked (not the state): a holder may complete twice, as
/// when its request's transaction completed the key and an inline send then changed the outcome.
const COMPLETE: &str = "SET #state = :completed, #outcome = :outcome, #expires_at = :keep REMOVE #lease_until";
const HELD: &str = "#token = :token";

fn completion_names() -> HashMap<String, String> {
    let names = [
        ("#state", STATE),
        ("#outcome", OUTCOME),
        ("#expires_at", attr::EXPIRES_AT),
        ("#lease_until", LEASE_UNTIL),
        ("#token", LEASE_TOKEN),
    ];
    names.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn completion_values(lease: &Lease, outcome: &str, keep_until: Timestamp) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":completed".to_owned(), s(COMPLETED)),
        (":outcome".to_owned(), s(outcome)),
        (":keep".to_owned(), n(keep_until.unix())),
        (":token".to_owned(), s(lease.token.clone())),
    ])
}

/// The completion of `lease` as one item of a transaction: written with the work it records, the
/// key can never be left claimed by a holder that did the work and died before completing.
pub(crate) fn completion_in_transaction(
    table: &str,
    lease: &Lease,
    outcome: &str,
    keep_until: Timestamp,
) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(table)
        .set_key(Some(key_item(ItemKey::idempotency(&lease.key))))
        .update_expression(COMPLETE)
        .condition_expression(HELD)
        .set_expression_attribute_names(Some(completion_names()))
        .set_expression_attribute_values(Some(completion_values(lease, outcome, keep_until)))
        .build()
        .map_err(|e| StoreError::Rejected(Box::new(e)))
}

fn existing_claim(item: &HashMap<String, AttributeValue>) -> Result<Claim, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    match text(STATE).map(String::as_str) {
        Some(COMPLETED) => Ok(Claim::Completed {
            outcome: text(OUTCOME)
                .ok_or_else(|| StoreError::Malformed("completed claim without outcome".into()))?
                .clone(),
        }),
        Some(IN_PROGRESS) => {
            let until = item
                .get(LEASE_UNTIL)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| StoreError::Malformed("claim without lease_until".into()))?;
            Ok(Claim::InProgress { until: Timestamp::from_unix(until) })
        }
        _ => Err(StoreError::Malformed("idempotency item without a known state".into())),
    }
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(&self, key: &IdempotencyKey, now: Timestamp, lease: Duration) -> Result<Claim, StoreError> {
        let token = new_lease_token();
        let lease_until = now.plus(lease);
        let mut item = self.key(key);
        item.extend([
            (STATE.to_owned(), s(IN_PROGRESS)),
            (LEASE_TOKEN.to_owned(), s(token.clone())),
            (LEASE_UNTIL.to_owned(), n(lease_until.unix())),
            (attr::EXPIRES_AT.to_owned(), n(lease_until.plus(IN_PROGRESS_RETENTION).unix())),
        ]);
        let put = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(item))
            // New, or a claim whose holder's lease has lapsed (it crashed or timed out).
            .condition_expression("attribute_not_exists(#pk) OR (#state = :in_progress AND #lease_until < :now)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#lease_until", LEASE_UNTIL)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(now.unix()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        match put {
            Ok(out) => {
                self.table.count(Units::Write, out.consumed_capacity());
                Ok(Claim::Acquired(Lease { key: key.clone(), token }))
            }
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(held)) => {
                    let item =
                        held.item().ok_or_else(|| StoreError::Malformed("condition failed without item".into()))?;
                    existing_claim(item)
                }
                _ => Err(store_error(err)),
            },
        }
    }

    async fn complete(&self, lease: &Lease, outcome: &str, keep_until: Timestamp) -> Result<(), LeaseError> {
        let update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(self.key(&lease.key)))
            .update_expression(COMPLETE)
            .condition_expression(HELD)
            .set_expression_attribute_names(Some(completion_names()))
            .set_expression_attribute_values(Some(completion_values(lease, outcome, keep_until)))
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        match self.table.conditional(update, |o| o.consumed_capacity())? {
            Some(_) => Ok(()),
            None => Err(LeaseError::Lost),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let delete = self
            .table
            .client()
            .delete_item()
            .table_name(self.table.name())
            .set_key(Some(self.key(&lease.key)))
            .condition_expression("#state = :in_progress AND #token = :token")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#token", LEASE_TOKEN)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":token", s(lease.token.clone()))
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        match self.table.conditional(delete, |o| o.consumed_capacity())? {
            Some(_) => Ok(()),
            None => Err(LeaseError::Lost),
        }
    }
}
