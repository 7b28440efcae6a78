//! Outbound messages waiting for delivery (docs/data-model.md): alerts (`ALERT#<kind>#<subject>` /
//! `<yyyy-mm-dd>`) and response events for webhooks (`WEBHOOK#<response id>#v<version>` /
//! `DELIVERY`).
//!
//! Raising one is a conditional put, so each key is raised once however often it is raised. A
//! raised message waits in the `outbox` index (partition `ALERTS` or `WEBHOOKS`) until delivered,
//! like a survey request: claimed (state `sending`, with a lease), sent on each channel, then
//! recorded. A claim whose lease ran out is sent again if the queue delivers at least once
//! (response events: receivers deduplicate by event id), or else never again: `uncertain` (alerts).

use aws_sdk_dynamodb::types::AttributeValue;
use nps_domain::{StoreError, Timestamp};

use super::Table;
use super::item::{Attrs, key_item, n, s};
use super::keys::{ItemKey, attr};

const BODY: &str = "body";
const STATE: &str = "state";
const ATTEMPTS: &str = "attempts";
const ATTEMPT_ID: &str = "attempt_id";
const LEASE_UNTIL: &str = "lease_until";
const CREATED_AT: &str = "created_at";
const SENT_AT: &str = "sent_at";
/// Channels already delivered, so a retry sends only the others.
const DELIVERED: &str = "delivered";
/// How long a claim holds before the alert counts as uncertain.
const LEASE_SECS: i64 = 120;

/// Which messages, and how they are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// At most once per channel; kept 30 days.
    Alerts,
    /// At least once (receivers deduplicate by event id); kept 7 days.
    ResponseEvents,
}

impl Queue {
    fn partition(self) -> &'static str {
        match self {
            Queue::Alerts => "ALERTS",
            Queue::ResponseEvents => "WEBHOOKS",
        }
    }

    fn keep_secs(self) -> i64 {
        match self {
            Queue::Alerts => 30 * 86_400,
            Queue::ResponseEvents => 7 * 86_400,
        }
    }
}

/// A claimed message: deliver it, then [`DynamoOutbound::finish`] it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub key: ItemKey,
    /// As raised (JSON).
    pub body: String,
    pub attempt_id: String,
    pub attempts: u32,
    /// Channels a previous attempt delivered.
    pub delivered: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every channel delivered (or uncertain: never sent twice).
    Done,
    /// Some channels failed for now: try again at `at`; `delivered` lists those that made it.
    Retry { at: Timestamp, delivered: Vec<String> },
    /// Refused for good (a rejected address, a 4xx from the webhook): kept as `failed`.
    Failed,
}

#[derive(Debug, Clone)]
pub struct DynamoOutbound {
    table: Table,
    queue: Queue,
}

fn outbox_sort_key(due: Timestamp, key: &ItemKey) -> String {
    format!("{}#{}#{}", super::keys::sort_from(due.unix()), key.pk, key.sk)
}

impl DynamoOutbound {
    pub fn new(table: Table, queue: Queue) -> Self {
        DynamoOutbound { table, queue }
    }

    /// Stores `body` for delivery under `key`, unless it was raised before: `true` if new.
    pub async fn raise(&self, key: ItemKey, body: String, now: Timestamp) -> Result<bool, StoreError> {
        let mut item = key_item(key.clone());
        item.extend([
            (BODY.to_owned(), s(body)),
            (STATE.to_owned(), s("pending")),
            (ATTEMPTS.to_owned(), n(0)),
            (CREATED_AT.to_owned(), n(now.unix())),
            (attr::OUTBOX_PK.to_owned(), s(self.queue.partition())),
            (attr::OUTBOX_SK.to_owned(), s(outbox_sort_key(now, &key))),
            (attr::EXPIRES_AT.to_owned(), n(now.unix() + self.queue.keep_secs())),
        ]);
        self.table.put_new(item).await
    }

    /// Messages waiting for delivery by `now`, oldest first (keys only).
    pub async fn due(&self, now: Timestamp, limit: i32) -> Result<Vec<ItemKey>, StoreError> {
        let out = self.table.outbox_due(self.queue.partition(), now, limit).await?;
        out.items()
            .iter()
            .map(|item| {
                let a = Attrs(item);
                Ok(ItemKey { pk: a.s(attr::PK)?.to_owned(), sk: a.s(attr::SK)?.to_owned() })
            })
            .collect()
    }

    /// Claims a due message for delivery; `None` if another run has it or it is gone. A claim
    /// whose lease ran out is claimed again (at-least-once queues) or marked `uncertain`.
    pub async fn claim(&self, key: &ItemKey, now: Timestamp) -> Result<Option<Claimed>, StoreError> {
        let Some(item) = self.table.get(key.clone(), true).await? else { return Ok(None) };
        let a = Attrs(&item);
        let attempts = u32::try_from(a.n(ATTEMPTS)?).unwrap_or(u32::MAX);
        let lapsed = a.opt_time(LEASE_UNTIL)?.is_some_and(|until| until < now);
        match a.s(STATE)? {
            "pending" => {}
            "sending" if lapsed && self.queue == Queue::ResponseEvents => {}
            "sending" if lapsed => {
                tracing::warn!(message = %key.pk, "a delivery was interrupted; not sent again");
                self.record(key, a.s(ATTEMPT_ID)?, "uncertain", now).await?;
                return Ok(None);
            }
            _ => return Ok(None),
        }
        let body = a.s(BODY)?.to_owned();
        let delivered = a.strings(DELIVERED)?;
        let attempt_id = format!("{:016x}", fastrand::u64(..));
        let update = self
            .table
            .update(key.clone())
            .update_expression("SET #state = :sending, #attempt = :attempt, #lease = :lease")
            // Pending, or a lapsed claim: a second run claiming it at the same time finds the new lease.
            .condition_expression(
                "#attempts = :attempts AND (#state = :pending OR (#state = :sending AND #lease < :now))",
            )
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempt", ATTEMPT_ID)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now.unix()))
            .expression_attribute_values(":attempt", s(attempt_id.clone()))
            .expression_attribute_values(":lease", n(now.unix() + LEASE_SECS))
            .expression_attribute_values(":attempts", n(i64::from(attempts)))
            .send()
            .await;
        Ok(self.table.conditional(update, |o| o.consumed_capacity())?.map(|_| Claimed {
            key: key.clone(),
            body,
            attempt_id,
            attempts,
            delivered,
        }))
    }

    /// Records what a claimed delivery did.
    pub async fn finish(&self, claimed: &Claimed, delivery: &Delivery, now: Timestamp) -> Result<(), StoreError> {
        let attempt = &claimed.attempt_id;
        match delivery {
            Delivery::Done => self.record(&claimed.key, attempt, "sent", now).await,
            Delivery::Failed => self.record(&claimed.key, attempt, "failed", now).await,
            Delivery::Retry { at, delivered } => {
                let mut update = self
                    .table
                    .update(claimed.key.clone())
                    .update_expression(
                        "SET #state = :pending, #osk = :osk, #delivered = :delivered ADD #attempts :one REMOVE #lease",
                    )
                    .condition_expression("#attempt = :mine")
                    .expression_attribute_names("#state", STATE)
                    .expression_attribute_names("#osk", attr::OUTBOX_SK)
                    .expression_attribute_names("#delivered", DELIVERED)
                    .expression_attribute_names("#attempts", ATTEMPTS)
                    .expression_attribute_names("#lease", LEASE_UNTIL)
                    .expression_attribute_names("#attempt", ATTEMPT_ID)
                    .expression_attribute_values(":pending", s("pending"))
                    .expression_attribute_values(":osk", s(outbox_sort_key(*at, &claimed.key)))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":mine", s(attempt.clone()));
                update = update.expression_attribute_values(
                    ":delivered",
                    AttributeValue::L(delivered.iter().map(|c| s(c.clone())).collect()),
                );
                let result = update.send().await;
                self.table.conditional(result, |o| o.consumed_capacity()).map(|_| ())
            }
        }
    }

    /// Ends a delivery in `state`, out of the outbox.
    async fn record(&self, key: &ItemKey, attempt: &str, state: &str, now: Timestamp) -> Result<(), StoreError> {
        let update = self
            .table
            .update(key.clone())
            .update_expression("SET #state = :state, #at = :now REMOVE #opk, #osk, #lease")
            .condition_expression("#attempt = :mine")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#at", SENT_AT)
            .expression_attribute_names("#opk", attr::OUTBOX_PK)
            .expression_attribute_names("#osk", attr::OUTBOX_SK)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_names("#attempt", ATTEMPT_ID)
            .expression_attribute_values(":state", s(state))
            .expression_attribute_values(":now", n(now.unix()))
            .expression_attribute_values(":mine", s(attempt))
            .send()
            .await;
        self.table.conditional(update, |o| o.consumed_capacity()).map(|_| ())
    }
}
