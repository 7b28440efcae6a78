//! Counting, for the `aggregate` function and the ops CLI (`nps-cli rebuild`): reads the table's
//! stream from the stored checkpoint and folds every change to a survey request or response into
//! the rollups (docs/data-model.md). Each fold is one transaction with the next checkpoint,
//! conditioned on the one it started from, so a run that crashes, is retried, or overlaps another
//! counts every change exactly once.
//!
//! The aggregator's own writes (rollups, the checkpoint) are changes in the same stream. Changes
//! that count for nothing move the checkpoint only in memory, so a fold does not feed the next run
//! a fold of its own; the checkpoint is still stored at least hourly, to stay well inside the
//! stream's 24 hours.
//!
//! With alerting configured, a run also raises detractor alerts from the changes it folds,
//! delivers due alerts, and once an hour checks the rollups for drops (`alerts`); with a response
//! webhook, it posts an event for each new confirmed version of a response (`events`).

pub mod alerts;
pub mod config;
mod erased;
pub mod events;
mod rebuild;
pub mod webhook;

use std::collections::HashSet;
use std::time::Duration;

use nps_adapters::dynamo::{
    Change, Checkpoint, Counted, DynamoRollups, Folded, MAX_WRITES_PER_FOLD, Shard, StreamError, TableStream,
};
use nps_domain::Timestamp;
use nps_domain::alert::{self, Alert};
use nps_domain::rollup::{Deltas, MAX_WRITES_PER_CHANGE};
use serde::Serialize;

pub use alerts::Alerting;
pub use events::ResponseWebhooks;
pub use rebuild::{RebuildError, Rebuilt};

pub struct Aggregator {
    stream: TableStream,
    rollups: DynamoRollups,
    alerting: Option<Alerting>,
    webhooks: Option<ResponseWebhooks>,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Stream records read and folded (changes to items the rollups do not count included).
    pub changes: usize,
    /// Transactions written.
    pub folds: usize,
    /// Another run moved the checkpoint first; this one stopped without writing its batch.
    pub contended: bool,
    /// Stopped at the run's limit of folds; the next run goes on from the checkpoint.
    pub limited: bool,
    /// Alerts raised (new ones: a subject alerts once a day) and delivered.
    pub alerts_raised: usize,
    pub alerts_delivered: usize,
    /// This run checked the segments for drops (the first run of each hour does).
    pub drops_checked: bool,
    /// Response events raised (one per confirmed version) and delivered to the response webhook.
    pub events_raised: usize,
    pub events_delivered: usize,
}

/// How often a checkpoint that only skips changes counting for nothing is stored anyway.
const CHECKPOINT_REFRESH: Duration = Duration::from_secs(3600);
/// Most changes in one fold, which share its rollup writes (several pages of the stream).
const FOLD_CHANGES: usize = 1000;

/// One run's state.
struct Run<'a> {
    /// As stored: the condition of the next fold.
    stored: Checkpoint,
    /// How far this run has read: ahead of `stored` by changes that count for nothing.
    read: Checkpoint,
    present: HashSet<&'a str>,
    max_folds: usize,
    now: Timestamp,
    report: Report,
}

impl Aggregator {
    pub fn new(stream: TableStream, rollups: DynamoRollups) -> Self {
        Aggregator { stream, rollups, alerting: None, webhooks: None }
    }

    /// Raises and delivers alerts as it runs.
    pub fn with_alerting(mut self, alerting: Alerting) -> Self {
        self.alerting = Some(alerting);
        self
    }

    /// Posts `response.created` and `response.updated` events as it runs.
    pub fn with_response_webhooks(mut self, webhooks: ResponseWebhooks) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Recomputes every rollup from the raw items under a new generation, and switches to it.
    pub async fn rebuild(&self, now: Timestamp) -> Result<Rebuilt, RebuildError> {
        rebuild::rebuild(&self.stream, &self.rollups, now).await
    }

    /// Folds what the stream holds after the checkpoint, in at most `max_folds` transactions;
    /// then delivers due alerts and, once an hour, checks for drops.
    pub async fn run(&self, max_folds: usize, now: Timestamp) -> Result<Report, StreamError> {
        let mut report = self.fold_stream(max_folds, now).await?;
        if let Some(alerting) = &self.alerting {
            if self.rollups.claim_drop_check(now).await? {
                report.drops_checked = true;
                report.alerts_raised += alerting.check_drops(&self.rollups, now).await?;
            }
            report.alerts_delivered = alerting.deliver(now).await?;
        }
        if let Some(webhooks) = &self.webhooks {
            report.events_delivered = webhooks.deliver(now).await?;
        }
        Ok(report)
    }

    async fn fold_stream(&self, max_folds: usize, now: Timestamp) -> Result<Report, StreamError> {
        let shards = self.stream.shards().await?;
        let stored = self.rollups.checkpoint().await?;
        let mut run = Run {
            read: stored.clone(),
            stored,
            present: shards.iter().map(|s| s.id.as_str()).collect(),
            max_folds,
            now,
            report: Report::default(),
        };
        // Parents before children: a child is read once its parent is done (or trimmed away).
        let done = |run: &Run<'_>, id: &str| run.read.shards.get(id).is_some_and(|p| p.done);
        let mut pending: Vec<&Shard> = shards.iter().filter(|s| !done(&run, &s.id)).collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for shard in pending {
                let ready = shard.parent.as_deref().is_none_or(|p| !run.present.contains(p) || done(&run, p));
                if !ready {
                    waiting.push(shard);
                } else if !self.read_shard(shard, &mut run).await? {
                    return Ok(run.report);
                }
            }
            if waiting.len() == before {
                break; // their parents are still open: the children wait for a later run
            }
            pending = waiting;
        }
        Ok(run.report)
    }

    /// Reads one shard to its current end; `false` when the run must stop (contended or limited).
    /// Changes gather over pages into folds of up to [`FOLD_CHANGES`]: pages stay small, so the
    /// records held at once stay few, and a fold's writes are still shared by many changes.
    async fn read_shard(&self, shard: &Shard, run: &mut Run<'_>) -> Result<bool, StreamError> {
        let from = run.read.shards.get(&shard.id).and_then(|p| p.sequence.clone());
        let mut iterator = self.stream.start(&shard.id, from.as_deref()).await?;
        let mut batch = Batch::default();
        while let Some(at) = iterator {
            let page = self.stream.page(&at).await?;
            let finished = page.next.is_none();
            if page.changes.is_empty() && !finished {
                break; // caught up with an open shard
            }
            for change in &page.changes {
                let full = batch.deltas.writes_bound() + MAX_WRITES_PER_CHANGE > MAX_WRITES_PER_FOLD;
                if full && !self.fold(shard, std::mem::take(&mut batch), false, run).await? {
                    return Ok(false);
                }
                batch.add(change, run.now)?;
            }
            let due = finished || batch.changes >= FOLD_CHANGES;
            if due && !self.fold(shard, std::mem::take(&mut batch), finished, run).await? {
                return Ok(false);
            }
            iterator = page.next;
        }
        if batch.changes > 0 {
            return self.fold(shard, batch, false, run).await;
        }
        Ok(true)
    }

    /// Folds `batch`, read from `shard` (`done`: to the end of the closed shard); `false` when the
    /// run must stop (contended or limited).
    async fn fold(&self, shard: &Shard, batch: Batch, done: bool, run: &mut Run<'_>) -> Result<bool, StreamError> {
        let mut next = run.read.clone();
        // Finished shards the stream no longer holds need no position any more.
        next.shards.retain(|id, p| !p.done || run.present.contains(id.as_str()));
        let position = next.shards.entry(shard.id.clone()).or_default();
        if let Some(upto) = batch.upto {
            position.sequence = Some(upto);
        }
        position.done = done;
        run.report.changes += batch.changes;
        let stale = run.stored.written_at.plus(CHECKPOINT_REFRESH) <= run.now;
        if batch.deltas.is_empty() && !done && !stale {
            run.read = next;
            return Ok(true);
        }
        next.written_at = run.now;
        // Raised before the fold that counts their changes: never lost, kept once.
        if let Some(alerting) = &self.alerting {
            run.report.alerts_raised += alerting.raise(&batch.alerts, run.now).await?;
        }
        if let Some(webhooks) = &self.webhooks {
            run.report.events_raised += webhooks.raise(&batch.events, run.now).await?;
        }
        if self.rollups.fold(&run.stored, &next, &batch.deltas).await? == Folded::Contended {
            run.report.contended = true;
            return Ok(false);
        }
        next.version = run.stored.version + 1;
        run.stored = next.clone();
        run.read = next;
        run.report.folds += 1;
        if run.report.folds >= run.max_folds {
            run.report.limited = true;
            return Ok(false);
        }
        Ok(true)
    }
}

/// Changes folded in one transaction.
#[derive(Default)]
struct Batch {
    deltas: Deltas,
    /// Detractor alerts the changes raise.
    alerts: Vec<Alert>,
    /// Response events (the latest confirmed version of each response changed).
    events: Vec<events::ResponseEvent>,
    changes: usize,
    /// The sequence of its last change; `None` for the empty end of a closed shard.
    upto: Option<String>,
}

impl Batch {
    /// Adds what `change` changes in the counts.
    fn add(&mut self, change: &Change, now: Timestamp) -> Result<(), StreamError> {
        // Deletions by TTL or erasure remove raw data, not what was counted.
        if !change.keeps_counts {
            let parse = |image: &Option<_>| image.as_ref().map(Counted::parse).transpose().map(Option::flatten);
            let (old, new) = (parse(&change.old)?, parse(&change.new)?);
            self.deltas.change(old.as_ref().map(Counted::image), new.as_ref().map(Counted::image));
            if let Some(Counted::Response(new)) = &new {
                let old = match &old {
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
