//! Rebuild: every rollup recomputed from the raw requests and responses, under a new generation
//! that the checkpoint then switches to (docs/data-model.md). For a checkpoint the stream has
//! trimmed past, a changed counting rule, or doubt.
//!
//! 1. Scan the table: what each request and response counts now, added up.
//! 2. Read the stream, every shard from its oldest record to its current end, parents first: the
//!    newest image of every item changed in the last 24 hours. Each replaces what the scan counted
//!    for that item, so an item written during the scan counts once, as it is now. (An item's
//!    rollup keys — survey, day, segment properties — never change; only what it counts does.)
//! 3. Write the totals as a new generation, then switch the checkpoint to it, with the stream
//!    positions just read as each shard's floor, in one transaction that also checks no shard
//!    folded since the rebuild last read the stream (else it reads on and tries again). Folds go on
//!    from there, skipping what the new generation already counts.
//! 4. Delete the rollups of the generations the scan found.
//!
//! Runs at the same time as folds (they add to the old generation until the switch, and their
//! checkpoint condition fails after it). Two rebuilds at once: the second to switch fails and
//! deletes what it wrote.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use nps_adapters::dynamo::{Checkpoint, Counted, DynamoRollups, Folded, Scanned, Shard, StreamError, sequence_order};
use nps_adapters::dynamo::{TableStream, keys::ItemKey};
use nps_domain::request::RequestId;
use nps_domain::rollup::{Counts, Deltas, contribution};
use nps_domain::{StoreError, Timestamp};
use serde::Serialize;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    /// The generation now in use.
    pub generation: u64,
    /// Items the scan read.
    pub scanned: usize,
    /// Stream records read after it.
    pub changes: usize,
    /// Rollup and segment-value items written.
    pub written: usize,
    /// Items of older generations deleted.
    pub deleted: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// Another rebuild switched the checkpoint first; its rollups are in use.
    #[error("another rebuild switched to generation {0} first")]
    Overtaken(u64),
    /// A shard's parent is still open (the stream is splitting a shard): try again shortly.
    #[error("the stream is splitting a shard; retry the rebuild in a minute")]
    Reshaping,
}

impl From<StoreError> for RebuildError {
    fn from(e: StoreError) -> Self {
        RebuildError::Stream(e.into())
    }
}

type ItemId = (RequestId, bool);

/// The newest image of an item in the stream.
struct Newest {
    image: Counted,
    /// Deleted, not by TTL nor erasure: it counts for nothing any more (`image` is its last, for its keys).
    deleted: bool,
}

pub(crate) async fn rebuild(
    stream: &TableStream,
    rollups: &DynamoRollups,
    now: Timestamp,
) -> Result<Rebuilt, RebuildError> {
    let started = rollups.checkpoint().await?;

    // 1. What every item counts now, and what each counted (its rollup keys are in its image).
    let mut scanned_totals = Deltas::default();
    let mut scanned_counts: HashMap<ItemId, Counts> = HashMap::new();
    let mut stale: Vec<ItemKey> = Vec::new();
    let mut newest_generation = started.generation;
    let scanned = rollups
        .scan(|item| match item {
            Scanned::Counted(counted) => {
                if let Some((_, counts)) = contribution(counted.image()) {
                    scanned_counts.insert(counted.id(), counts);
                }
                scanned_totals.add(Some(counted.image()), 1);
            }
            Scanned::Rollup { key, generation } => {
                newest_generation = newest_generation.max(generation);
                stale.push(key);
            }
        })
        .await?;

    // 2. The newest image of every item the stream holds, and how far it was read.
    let mut read = StreamRead::default();
    read.on(stream).await?;

    // 3. The new generation, then the switch; read on (and write again) while shards fold past it.
    let generation = rollups.claim_generation(newest_generation + 1, now).await?;
    let mut written = Vec::new();
    let mut changes_written = None;
    loop {
        if changes_written != Some(read.changes) {
            let totals = read.totals(&scanned_totals, &scanned_counts);
            written = rollups.write_generation(generation, &totals).await?;
            changes_written = Some(read.changes);
        }
        let current = rollups.checkpoint().await?;
        if current.generation != started.generation {
            written.push(ItemKey::rollup_claim(generation));
            rollups.delete(written).await?;
            return Err(RebuildError::Overtaken(current.generation));
        }
        let folded = rollups.shards().await?;
        let ahead = folded.iter().any(|(id, f)| {
            read.positions.get(id).is_some_and(|p| {
                p.sequence.as_deref().is_none_or(|p| sequence_order(&f.sequence, p) == Ordering::Greater)
            })
        });
        if !ahead {
            let floors = read.positions.iter().filter_map(|(id, p)| Some((id.clone(), p.sequence.clone()?))).collect();
            let next = Checkpoint { version: current.version + 1, generation, written_at: now, floors };
            if rollups.switch(&current, &next, &folded).await? == Folded::Done {
                break;
            }
        }
        read.on(stream).await?;
    }

    // 4. The old generations, as the scan found them.
    let deleted = stale.len();
    rollups.delete(stale).await?;
    Ok(Rebuilt { generation, scanned, changes: read.changes, written: written.len() + 1, deleted })
}

/// How far a rebuild has read one shard.
#[derive(Debug, Clone, Default)]
struct Position {
    sequence: Option<String>,
    /// Closed and read to its end.
    done: bool,
}

/// What a rebuild has read of the stream.
#[derive(Default)]
struct StreamRead {
    newest: HashMap<ItemId, Newest>,
    positions: BTreeMap<String, Position>,
    changes: usize,
}

impl StreamRead {
    /// What every item counts: as scanned, unless the stream holds a newer image.
    fn totals(&self, scanned_totals: &Deltas, scanned_counts: &HashMap<ItemId, Counts>) -> Deltas {
        let mut totals = scanned_totals.clone();
        for (id, item) in &self.newest {
            if let (Some((keys, _)), Some(counts)) = (contribution(item.image.image()), scanned_counts.get(id)) {
                totals.add_to(&keys, counts, -1);
            }
            if !item.deleted {
                totals.add(Some(item.image.image()), 1);
            }
        }
        totals
    }

    /// Reads every shard on from where it was read, parents before children, to its current end.
    async fn on(&mut self, stream: &TableStream) -> Result<(), RebuildError> {
        let shards = stream.shards().await?;
        let present: HashMap<&str, &Shard> = shards.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut pending: Vec<&Shard> = shards.iter().filter(|s| !self.done(&s.id)).collect();
        let mut read = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for shard in pending {
                match shard.parent.as_deref().filter(|p| present.contains_key(p)) {
                    // A parent read to its current end but still open: its child's records would
                    // be read out of order.
                    Some(parent) if !self.done(parent) && read.contains(&parent) => {
                        return Err(RebuildError::Reshaping);
                    }
                    Some(parent) if !self.done(parent) => waiting.push(shard),
                    _ => {
                        self.read_shard(stream, &shard.id).await?;
                        read.push(shard.id.as_str());
                    }
                }
            }
            if waiting.len() == before {
                return Err(RebuildError::Reshaping);
            }
            pending = waiting;
        }
        Ok(())
    }

    fn done(&self, shard: &str) -> bool {
        self.positions.get(shard).is_some_and(|p| p.done)
    }

    async fn read_shard(&mut self, stream: &TableStream, shard: &str) -> Result<(), RebuildError> {
        let position = self.positions.entry(shard.to_owned()).or_default();
        let mut iterator = stream.start(shard, position.sequence.as_deref()).await?;
        while let Some(at) = iterator {
            let page = stream.page(&at).await?;
            if page.changes.is_empty() && page.next.is_some() {
                return Ok(()); // the current end of an open shard
            }
            for change in page.changes {
                self.changes += 1;
                position.sequence = Some(change.sequence);
                // Deleted by TTL or erased: its last image still counts, as for folds.
                let (image, deleted) = match (change.new, change.old) {
                    (Ok(Some(new)), _) => (new, false),
                    (Ok(None), Ok(Some(old))) => (old, !change.keeps_counts),
                    (Ok(None), Ok(None)) => continue,
                    (Err(e), _) | (Ok(None), Err(e)) => return Err(StoreError::Malformed(e).into()),
                };
                self.newest.insert(image.id(), Newest { image, deleted });
            }
            iterator = page.next;
        }
        position.done = true;
        Ok(())
    }
}
