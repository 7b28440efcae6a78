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
//!    positions just read, in one conditional write. Incremental runs go on from there.
//! 4. Delete the rollups of the generations the scan found.
//!
//! Runs at the same time as incremental runs (they fold into the old generation until the switch,
//! and their checkpoint condition fails after it). Two rebuilds at once: the second to switch fails
//! and deletes what it wrote.

use std::collections::{BTreeMap, HashMap};

use nps_adapters::dynamo::{Checkpoint, Counted, DynamoRollups, Folded, Scanned, Shard, ShardPosition, StreamError};
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
    let mut totals = Deltas::default();
    let mut scanned_counts: HashMap<ItemId, Counts> = HashMap::new();
    let mut stale: Vec<ItemKey> = Vec::new();
    let mut newest_generation = started.generation;
    let scanned = rollups
        .scan(|item| match item {
            Scanned::Counted(counted) => {
                if let Some((_, counts)) = contribution(counted.image()) {
                    scanned_counts.insert(counted.id(), counts);
                }
                totals.add(Some(counted.image()), 1);
            }
            Scanned::Rollup { key, generation } => {
                newest_generation = newest_generation.max(generation);
                stale.push(key);
            }
        })
        .await?;

    // 2. The newest image of every item the stream holds, and how far it was read.
    let (newest, shards, changes) = read_stream(stream).await?;
    for (id, item) in &newest {
        if let (Some((keys, _)), Some(counts)) = (contribution(item.image.image()), scanned_counts.get(id)) {
            totals.add_to(&keys, counts, -1);
        }
        if !item.deleted {
            totals.add(Some(item.image.image()), 1);
        }
    }

    // 3. The new generation, then the switch.
    let generation = rollups.claim_generation(newest_generation + 1, now).await?;
    let mut written = rollups.write_generation(generation, &totals).await?;
    written.push(ItemKey::rollup_claim(generation));
    loop {
        let current = rollups.checkpoint().await?;
        if current.generation != started.generation {
            rollups.delete(written).await?;
            return Err(RebuildError::Overtaken(current.generation));
        }
        let next = Checkpoint { version: current.version + 1, generation, written_at: now, shards: shards.clone() };
        // An incremental run may fold into the old generation meanwhile; then read again, switch again.
        if rollups.fold(&current, &next, &Deltas::default()).await? == Folded::Done {
            break;
        }
    }

    // 4. The old generations, as the scan found them.
    let deleted = stale.len();
    rollups.delete(stale).await?;
    Ok(Rebuilt { generation, scanned, changes, written: written.len(), deleted })
}

/// Reads every shard from its oldest record to its current end, parents before children.
async fn read_stream(
    stream: &TableStream,
) -> Result<(HashMap<ItemId, Newest>, BTreeMap<String, ShardPosition>, usize), RebuildError> {
    let shards = stream.shards().await?;
    let present: HashMap<&str, &Shard> = shards.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut positions: BTreeMap<String, ShardPosition> = BTreeMap::new();
    let mut newest = HashMap::new();
    let mut changes = 0;
    let mut pending: Vec<&Shard> = shards.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for shard in pending {
            let parent = shard.parent.as_deref().filter(|p| present.contains_key(p));
            match parent.map(|p| positions.get(p)) {
                Some(None) => waiting.push(shard),
                // A parent read to its current end but still open: its child's records would be
                // read out of order.
                Some(Some(p)) if !p.done => return Err(RebuildError::Reshaping),
                _ => {
                    let position = read_shard(stream, &shard.id, &mut newest, &mut changes).await?;
                    positions.insert(shard.id.clone(), position);
                }
            }
        }
        if waiting.len() == before {
            return Err(RebuildError::Reshaping);
        }
        pending = waiting;
    }
    Ok((newest, positions, changes))
}

async fn read_shard(
    stream: &TableStream,
    shard: &str,
    newest: &mut HashMap<ItemId, Newest>,
    changes: &mut usize,
) -> Result<ShardPosition, RebuildError> {
    let mut position = ShardPosition::default();
    let mut iterator = stream.start(shard, None).await?;
    while let Some(at) = iterator {
        let page = stream.page(&at).await?;
        if page.changes.is_empty() && page.next.is_some() {
            return Ok(position); // the current end of an open shard
        }
        for change in &page.changes {
            *changes += 1;
            position.sequence = Some(change.sequence.clone());
            // Deleted by TTL or erased: its last image still counts, as for incremental runs.
            let (image, deleted) = match (&change.new, &change.old) {
                (Some(new), _) => (new, false),
                (None, Some(old)) => (old, !change.keeps_counts),
                (None, None) => continue,
            };
            if let Some(counted) = Counted::parse(image)? {
                newest.insert(counted.id(), Newest { image: counted, deleted });
            }
        }
        iterator = page.next;
    }
    position.done = true;
    Ok(position)
}
