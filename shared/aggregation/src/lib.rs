//! Counting, for the `aggregate` function and the ops CLI (`nps-cli rebuild`). Lambda's event
//! source mapping hands the function the table's stream in batches, one shard at a time and in
//! order ([`Aggregator::fold`]); every change to a survey request or response is folded into the
//! rollups (docs/data-model.md). Each fold is one transaction with the shard's next position,
//! conditioned on the one it was read against, so a batch Lambda redelivers, splits or retries
//! counts once: what the shard already folded is skipped, by sequence number.
//!
//! With alerting configured, a fold also raises detractor alerts from the changes it counts and
//! delivers them at once; with a response webhook, it raises an event for each new confirmed
//! version of a response. The scheduled tick ([`Aggregator::tick`]) delivers what is still due
//! (retries) and once an hour checks the rollups for drops (`alerts`, `events`).

pub mod alerts;
pub mod config;
mod erased;
pub mod events;
pub mod invocation;
mod rebuild;
pub mod webhook;

use std::cmp::Ordering;

use nps_adapters::dynamo::{
    Change, Checkpoint, Counted, DynamoRollups, Folded, MAX_WRITES_PER_FOLD, Read, ShardFolded, StreamError,
    TableStream, sequence_order,
};
use nps_adapters::emf::Counts;
use nps_domain::alert::{self, Alert};
use nps_domain::rollup::{Deltas, MAX_WRITES_PER_CHANGE};
use nps_domain::{StoreError, Timestamp};
use serde::Serialize;

pub use alerts::Alerting;
pub use events::ResponseWebhooks;
pub use rebuild::{RebuildError, Rebuilt};

pub struct Aggregator {
    rollups: DynamoRollups,
    alerting: Option<Alerting>,
    webhooks: Option<ResponseWebhooks>,
}

/// What one batch of a shard did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Folding {
    /// Records in the batch (changes to items the rollups do not count included).
    pub changes: usize,
    /// Records the shard had folded already (a batch delivered again), skipped.
    pub skipped: usize,
    /// Transactions written.
    pub folds: usize,
    /// Alerts raised (new ones: a subject alerts once a day) and delivered.
    pub alerts_raised: usize,
    pub alerts_delivered: usize,
    /// Response events raised (one per confirmed version) and delivered to the response webhook.
    pub events_raised: usize,
    pub events_delivered: usize,
}

/// What one scheduled tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Ticked {
    /// This tick checked the segments for drops (the first of each hour does).
    pub drops_checked: bool,
    pub alerts_raised: usize,
    pub alerts_delivered: usize,
    pub events_delivered: usize,
}

impl Folding {
    /// Adds up another batch's folding (a run of several batches).
    pub fn add(&mut self, other: &Folding) {
        self.changes += other.changes;
        self.skipped += other.skipped;
        self.folds += other.folds;
        self.alerts_raised += other.alerts_raised;
        self.alerts_delivered += other.alerts_delivered;
        self.events_raised += other.events_raised;
        self.events_delivered += other.events_delivered;
    }

    /// The batch's business metrics (CloudWatch Embedded Metric Format, `nps_adapters::emf`).
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        counts
            .add("RecordsFolded", self.changes - self.skipped)
            .add("RecordsSkipped", self.skipped)
            .add("AlertsRaised", self.alerts_raised)
            .add("AlertsDelivered", self.alerts_delivered)
            .add("ResponseEventsRaised", self.events_raised)
            .add("ResponseEventsDelivered", self.events_delivered);
        counts
    }
}

impl Ticked {
    /// The tick's business metrics.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        counts
            .add("AlertsRaised", self.alerts_raised)
            .add("AlertsDelivered", self.alerts_delivered)
            .add("ResponseEventsDelivered", self.events_delivered);
        counts
    }
}

/// Attempts at a fold that loses a race (a rebuild switched, or the batch runs twice at once).
const FOLD_ATTEMPTS: usize = 3;

impl Aggregator {
    pub fn new(rollups: DynamoRollups) -> Self {
        Aggregator { rollups, alerting: None, webhooks: None }
    }

    /// Raises and delivers alerts as it folds.
    pub fn with_alerting(mut self, alerting: Alerting) -> Self {
        self.alerting = Some(alerting);
        self
    }

    /// Posts `response.created` and `response.updated` events as it folds.
    pub fn with_response_webhooks(mut self, webhooks: ResponseWebhooks) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Recomputes every rollup from the raw items (and the stream) under a new generation, and
    /// switches to it.
    pub async fn rebuild(&self, stream: &TableStream, now: Timestamp) -> Result<Rebuilt, RebuildError> {
        rebuild::rebuild(stream, &self.rollups, now).await
    }

    /// Folds a batch of `shard`'s records, in the shard's order. Records the shard folded already
    /// are skipped; the rest count once. A record that cannot be read (a malformed item) fails
    /// the batch after the records before it are folded: the mapping splits the batch until that
    /// record stands alone, retries it, then gives it to the dead letters, and the others count.
    pub async fn fold(&self, shard: &str, changes: &[Change], now: Timestamp) -> Result<Folding, StreamError> {
        let mut report = Folding { changes: changes.len(), ..Folding::default() };
        let mut attempts = 0;
        let mut done = 0; // records of `changes` folded or skipped so far
        let mut unreadable = None;
        'read: loop {
            attempts += 1;
            let checkpoint = self.rollups.checkpoint().await?;
            let mut folded = self.rollups.shard(shard).await?;
            let counted = checkpoint.counted(shard, folded.as_ref()).map(str::to_owned);
            let mut batch = Batch::default();
            for change in &changes[done..] {
                if counted.as_deref().is_some_and(|c| sequence_order(&change.sequence, c) != Ordering::Greater) {
                    report.skipped += 1;
                    done += 1;
                    continue;
                }
                let full = batch.deltas.writes_bound() + MAX_WRITES_PER_CHANGE > MAX_WRITES_PER_FOLD;
                if full {
                    let n = batch.changes;
                    match self
                        .commit(shard, &checkpoint, folded.as_ref(), std::mem::take(&mut batch), &mut report, now)
                        .await?
                    {
                        Some(written) => {
                            done += n;
                            if let Some(sequence) = written {
                                folded = Some(ShardFolded { generation: checkpoint.generation, sequence });
                            }
                        }
                        None if attempts < FOLD_ATTEMPTS => continue 'read,
                        None => return Err(contended()),
                    }
                }
                if let Err(e) = batch.add(change, now) {
                    tracing::error!(sequence = %change.sequence, error = %e, "a stream record cannot be read");
                    unreadable = Some(e);
                    break;
                }
            }
            if batch.changes > 0 {
                match self.commit(shard, &checkpoint, folded.as_ref(), batch, &mut report, now).await? {
                    Some(_) => {}
                    None if attempts < FOLD_ATTEMPTS => continue 'read,
                    None => return Err(contended()),
                }
            }
            break;
        }
        self.deliver_raised(&mut report, now).await;
        match unreadable {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Writes `batch` as one fold: `Some(Some(sequence))`, the shard's new position; `Some(None)`
    /// when its changes count for nothing (no write: the position moves with the next fold); `None`
    /// if the checkpoint or the shard moved since they were read.
    async fn commit(
        &self,
        shard: &str,
        checkpoint: &Checkpoint,
        folded: Option<&ShardFolded>,
        batch: Batch,
        report: &mut Folding,
        now: Timestamp,
    ) -> Result<Option<Option<String>>, StreamError> {
        let Some(upto) = batch.upto else { return Ok(Some(None)) };
        // Raised before the fold that counts their changes: never lost, kept once.
        if let Some(alerting) = &self.alerting {
            report.alerts_raised += alerting.raise(&batch.alerts, now).await?;
        }
        if let Some(webhooks) = &self.webhooks {
            report.events_raised += webhooks.raise(&batch.events, now).await?;
        }
        if batch.deltas.is_empty() {
            return Ok(Some(None));
        }
        match self.rollups.fold(checkpoint, shard, folded, &upto, &batch.deltas, now).await? {
            Folded::Done => {
                report.folds += 1;
                Ok(Some(Some(upto)))
            }
            Folded::Contended => Ok(None),
        }
    }

    /// Delivers at once what this batch raised; what fails waits for the tick.
    async fn deliver_raised(&self, report: &mut Folding, now: Timestamp) {
        if let Some(alerting) = self.alerting.as_ref().filter(|_| report.alerts_raised > 0) {
            match alerting.deliver(now).await {
                Ok(n) => report.alerts_delivered = n,
                Err(e) => tracing::warn!(error = %e, "alerts left for the next tick"),
            }
        }
        if let Some(webhooks) = self.webhooks.as_ref().filter(|_| report.events_raised > 0) {
            match webhooks.deliver(now).await {
                Ok(n) => report.events_delivered = n,
                Err(e) => tracing::warn!(error = %e, "response events left for the next tick"),
            }
        }
    }

    /// The clock's part: delivers alerts and events still due (retries), and once an hour checks
    /// the segments for drops.
    pub async fn tick(&self, now: Timestamp) -> Result<Ticked, StreamError> {
        let mut ticked = Ticked::default();
        if let Some(alerting) = &self.alerting {
            if self.rollups.claim_drop_check(now).await? {
                ticked.drops_checked = true;
                ticked.alerts_raised = alerting.check_drops(&self.rollups, now).await?;
            }
            ticked.alerts_delivered = alerting.deliver(now).await?;
        }
        if let Some(webhooks) = &self.webhooks {
            ticked.events_delivered = webhooks.deliver(now).await?;
        }
        Ok(ticked)
    }
}

fn contended() -> StreamError {
    StreamError::Store(nps_domain::StoreError::Unavailable(
        "the shard's folds moved while this batch was folded".into(),
    ))
}

/// Changes folded in one transaction: what they change in the counts, the alerts and events they
/// raise. Public for the throughput bench, which times it apart from any I/O.
#[derive(Default)]
pub struct Batch {
    deltas: Deltas,
    /// Detractor alerts the changes raise.
    alerts: Vec<Alert>,
    /// Response events (the latest confirmed version of each response changed).
    events: Vec<events::ResponseEvent>,
    changes: usize,
    /// The sequence of its last change; `None` while empty.
    upto: Option<String>,
}

/// What an image counts, or why its record cannot be read.
fn read(image: &Read) -> Result<Option<&Counted>, StreamError> {
    image.as_ref().map(Option::as_ref).map_err(|e| StoreError::Malformed(e.clone()).into())
}

impl Batch {
    /// Adds what `change` changes in the counts.
    pub fn add(&mut self, change: &Change, now: Timestamp) -> Result<(), StreamError> {
        // Deletions by TTL or erasure remove raw data, not what was counted.
        if !change.keeps_counts {
            let (old, new) = (read(&change.old)?, read(&change.new)?);
            self.deltas.change(old.map(Counted::image), new.map(Counted::image));
            if let Some(Counted::Response(new)) = new {
                let old = match old {
                    Some(Counted::Response(old)) => Some(old),
                    _ => None,
                };
                self.alerts.extend(alert::detractor(old, new, now));
                if let Some(event) = events::event(old, new, now) {
                    events::coalesce(&mut self.events, event);
                }
            }
        }
        self.changes += 1;
        self.upto = Some(change.sequence.clone());
        Ok(())
    }
}
