//! What each event got, as items `IDEMPOTENCY#<source>#<event id>` (docs/data-model.md): written
//! once, under a condition, so that a repeat of the event (a sender's retry, a concurrent
//! delivery) is answered with the first outcome and changes nothing. An event that makes a survey
//! request records its outcome in the request's own transaction (see `DynamoRequests::create`).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure};
use nps_domain::idempotency::IdempotencyKey;
use nps_domain::survey::SurveyId;
use nps_domain::{StoreError, Timestamp};

use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, attr};
use super::people::transaction_outcome;
use super::{Table, Units, store_error};

/// How long a repeat of an event is answered with its first outcome (webhook senders retry for up
/// to three days).
pub const EVENT_RECORD_RETENTION: Duration = Duration::from_secs(7 * 86_400);

const STATE: &str = "state";
pub(crate) const OUTCOME: &str = "outcome";
const COMPLETED: &str = "completed";
/// Left by versions that leased an event while working on it; such an item records nothing and
/// may be written over.
const IN_PROGRESS: &str = "in_progress";

/// Not recorded yet: absent, or an old version's lease.
const UNRECORDED: &str = "attribute_not_exists(#pk) OR #state = :in_progress";

/// The record of `key`'s `outcome`, kept until `keep_until`, as a conditional put (alone or in a
/// transaction): it fails if the event already has one.
pub(crate) fn record_put(
    table: &str,
    key: &IdempotencyKey,
    outcome: &str,
    keep_until: Timestamp,
) -> Result<Put, StoreError> {
    let mut item = key_item(ItemKey::idempotency(key));
    item.extend([
        (STATE.to_owned(), s(COMPLETED)),
        (OUTCOME.to_owned(), s(outcome)),
        (attr::EXPIRES_AT.to_owned(), n(keep_until.unix())),
    ]);
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(UNRECORDED)
        .set_expression_attribute_names(Some(HashMap::from([
            ("#pk".to_owned(), attr::PK.to_owned()),
            ("#state".to_owned(), STATE.to_owned()),
        ])))
        .expression_attribute_values(":in_progress", s(IN_PROGRESS))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| StoreError::Rejected(Box::new(e)))
}

/// The outcome an event's item records (`None` for an old version's lease, which records none).
pub(crate) fn recorded_outcome(item: &HashMap<String, AttributeValue>) -> Result<Option<String>, StoreError> {
    let a = Attrs(item);
    match a.opt_s(STATE) {
        Some(COMPLETED) => Ok(Some(a.s(OUTCOME)?.to_owned())),
        Some(IN_PROGRESS) => Ok(None),
        _ => Err(StoreError::Malformed("idempotency item without a known state".into())),
    }
}

/// Records the outcomes of events that write nothing else (a skip, an enrolment).
#[derive(Debug, Clone)]
pub struct DynamoEventRecords {
    table: Table,
}

impl DynamoEventRecords {
    pub fn new(table: Table) -> Self {
        DynamoEventRecords { table }
    }

    /// Records `outcome` for `key` until `keep_until`, unless the event has a record already:
    /// `None` when written, else the outcome recorded first (a concurrent delivery won).
    ///
    /// `transaction`: the event's survey and transaction id. A concurrent delivery of the event
    /// may have made the transaction's request, recording the outcome in its marker instead (and
    /// a `BatchGetItem` can see part of a transaction: its window, not its marker); the marker is
    /// then read, and its outcome wins, over this record and over any earlier one (another
    /// delivery that saw the same part of the transaction and skipped first).
    pub async fn record(
        &self,
        key: &IdempotencyKey,
        outcome: &str,
        keep_until: Timestamp,
        transaction: Option<(&SurveyId, &str)>,
    ) -> Result<Option<String>, StoreError> {
        let earlier = record(&self.table, key, outcome, keep_until).await?;
        let Some((survey, transaction)) = transaction else { return Ok(earlier) };
        let marker = self.table.get(ItemKey::transaction(survey, transaction), true).await?;
        Ok(marker.and_then(|item| transaction_outcome(&item, &ItemKey::idempotency(key))).or(earlier))
    }
}

/// [`DynamoEventRecords::record`] on `table`.
pub(crate) async fn record(
    table: &Table,
    key: &IdempotencyKey,
    outcome: &str,
    keep_until: Timestamp,
) -> Result<Option<String>, StoreError> {
    let put = record_put(table.name(), key, outcome, keep_until)?;
    let sent = table
        .client()
        .put_item()
        .table_name(put.table_name())
        .set_item(Some(put.item().clone()))
        .set_condition_expression(put.condition_expression().map(str::to_owned))
        .set_expression_attribute_names(put.expression_attribute_names().cloned())
        .set_expression_attribute_values(put.expression_attribute_values().cloned())
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .set_return_consumed_capacity(table.capacity())
        .send()
        .await;
    match sent {
        Ok(out) => {
            table.count(Units::Write, out.consumed_capacity());
            Ok(None)
        }
        Err(err) => match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(held)) => {
                let item: &Item =
                    held.item().ok_or_else(|| StoreError::Malformed("condition failed without item".into()))?;
                recorded_outcome(item)?
                    .map(Some)
                    .ok_or_else(|| StoreError::Malformed("unrecorded event failed its condition".into()))
            }
            _ => Err(store_error(err)),
        },
    }
}
