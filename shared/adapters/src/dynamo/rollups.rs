//! Rollups and the aggregator's checkpoint (docs/data-model.md).
//!
//! - rollup: `ROLLUP#<generation>#<survey>#<dimension>=<value>` / `<yyyy-mm-dd>`: `h0`…`h10`,
//!   `unconfirmed`, `suspected_bot`, `sent`, the comments' fingerprint `comments` and the weight
//!   totals `w#…`, changed only by `ADD`.
//! - segment values: `ROLLUP#<generation>#<survey>` / `VALUE#<dimension>#<value>`: `months`, the
//!   set of months (`2026-11`) the value has rollups in (what `group_by` and the drop check list),
//!   changed only by `ADD`. One item per value, so no item grows with a dimension's values.
//! - a rebuild's claim of a generation: `ROLLUP#<generation>` / `CLAIM`.
//! - checkpoint: `AGGREGATOR` / `CHECKPOINT`: a version, the rollups' generation, and per stream
//!   shard the last sequence the generation counted when a rebuild switched to it (its floor).
//! - a shard's folds: `AGGREGATOR` / `SHARD#<shard id>`: the generation and last sequence folded
//!   from that shard; expires two days after its last fold (the stream keeps 24 hours).
//!
//! A fold is one transaction: the rollups' changes and the shard's next position, on the
//! conditions that the shard's position is still the one the batch was read against and the
//! generation is still the one it adds to. So a record counts once or not at all, whatever
//! Lambda redelivers, splits or retries, and whatever runs at the same time.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use nps_domain::request::{RequestId, SurveyRequest};
use nps_domain::response::Response;
use nps_domain::rollup::{Counts, Deltas, Image, RollupKey, SegmentValue, WeightKey, WeightTotals};
use nps_domain::survey::SurveyId;
use nps_domain::{StoreError, Timestamp};

use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, REQUEST_PREFIX, REQUEST_SK, RESPONSE_SK, attr, request_of};
use super::{Table, Units, requests, responses, store_error};

/// Rollups and value lists one fold may change: a transaction holds 100 items, two of them the
/// checkpoint's check and the shard's position.
pub const MAX_WRITES_PER_FOLD: usize = 98;

/// A segment value item's months.
const MONTHS: &str = "months";

const VERSION: &str = "version";
const WRITTEN_AT: &str = "written_at";
const GENERATION: &str = "generation";
const SHARDS: &str = "shards";
const SEQUENCE: &str = "sequence";
const SHARD_PREFIX: &str = "SHARD#";
const UNCONFIRMED: &str = "unconfirmed";
const SUSPECTED_BOT: &str = "suspected_bot";
const SENT: &str = "sent";
const COMMENTS: &str = "comments";
const SCORE_BUCKETS: [&str; 11] = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "h10"];

/// The rollups' generation, and how far a rebuild counted each shard for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Bumped by every switch; 0 before the first.
    pub version: u64,
    /// Which set of rollups is current (a rebuild writes the next one, then switches).
    pub generation: u64,
    /// When it was stored.
    pub written_at: Timestamp,
    /// Per shard, the last sequence the generation counts already: records up to it are skipped
    /// by a shard whose folds are of an older generation (or that has folded nothing).
    pub floors: BTreeMap<String, String>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { version: 0, generation: 1, written_at: Timestamp::from_unix(0), floors: BTreeMap::new() }
    }
}

/// How far one shard's folds have reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFolded {
    pub generation: u64,
    pub sequence: String,
}

impl Checkpoint {
    /// The last sequence of `shard` the current generation counts: from its own folds, or the
    /// floor a rebuild set.
    pub fn counted<'a>(&'a self, shard: &str, folded: Option<&'a ShardFolded>) -> Option<&'a str> {
        match folded {
            Some(f) if f.generation == self.generation => Some(&f.sequence),
            _ => self.floors.get(shard).map(String::as_str),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folded {
    Done,
    /// The shard's position or the generation moved since they were read, or another fold was
    /// writing the same items: nothing was written.
    Contended,
}

/// A shard's fold record lives two days: a day longer than the stream keeps its records.
const SHARD_TTL_SECONDS: i64 = 2 * 86_400;

#[derive(Debug, Clone)]
pub struct DynamoRollups {
    table: Table,
}

impl DynamoRollups {
    pub fn new(table: Table) -> Self {
        DynamoRollups { table }
    }

    pub async fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let Some(item) = self.table.get(ItemKey::checkpoint(), true).await? else { return Ok(Checkpoint::default()) };
        let a = Attrs(&item);
        let bad = |what: &str| StoreError::Malformed(format!("aggregator checkpoint: {what}"));
        let count = |v: i64| u64::try_from(v).map_err(|_| bad("negative counter"));
        let mut floors = BTreeMap::new();
        if let Some(AttributeValue::M(map)) = item.get(SHARDS) {
            for (id, position) in map {
                let position = position.as_m().map_err(|_| bad("shard position"))?;
                if let Some(sequence) = Attrs(position).opt_s(SEQUENCE) {
                    floors.insert(id.clone(), sequence.to_owned());
                }
            }
        }
        Ok(Checkpoint {
            version: count(a.n(VERSION)?)?,
            generation: count(a.n(GENERATION)?)?,
            written_at: a.time(WRITTEN_AT)?,
            floors,
        })
    }

    /// How far `shard`'s folds have reached, if it folded in the last two days.
    pub async fn shard(&self, shard: &str) -> Result<Option<ShardFolded>, StoreError> {
        let Some(item) = self.table.get(ItemKey::aggregator_shard(shard), true).await? else { return Ok(None) };
        shard_folded(&item)
    }

    /// Every shard's folds of the last two days, by shard id (for a rebuild's switch).
    pub async fn shards(&self) -> Result<BTreeMap<String, ShardFolded>, StoreError> {
        let mut shards = BTreeMap::new();
        let mut start = None;
        loop {
            let query = self
                .table
                .partition(ItemKey::checkpoint().pk)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :shard)")
                .expression_attribute_values(":shard", s(SHARD_PREFIX))
                .expression_attribute_names("#sk", attr::SK)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            let out = self.table.query(query).await?;
            for item in out.items() {
                let id = Attrs(item).s(attr::SK)?.trim_start_matches(SHARD_PREFIX).to_owned();
                if let Some(folded) = shard_folded(item)? {
                    shards.insert(id, folded);
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(shards),
            }
        }
    }

    /// Adds `deltas` to the rollups of `checkpoint.generation` and moves `shard` to `upto`, if
    /// the checkpoint is still `checkpoint` and the shard's folds still at `seen`.
    pub async fn fold(
        &self,
        checkpoint: &Checkpoint,
        shard: &str,
        seen: Option<&ShardFolded>,
        upto: &str,
        deltas: &Deltas,
        now: Timestamp,
    ) -> Result<Folded, StoreError> {
        let mut item = key_item(ItemKey::aggregator_shard(shard));
        item.extend([
            (GENERATION.to_owned(), n(counter(checkpoint.generation)?)),
            (SEQUENCE.to_owned(), s(upto.to_owned())),
            (attr::EXPIRES_AT.to_owned(), n(now.unix() + SHARD_TTL_SECONDS)),
        ]);
        let put = Put::builder().table_name(self.table.name()).set_item(Some(item));
        let put = match seen {
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", attr::PK),
            Some(seen) => put
                .condition_expression("#generation = :generation AND #sequence = :sequence")
                .expression_attribute_names("#generation", GENERATION)
                .expression_attribute_names("#sequence", SEQUENCE)
                .expression_attribute_values(":generation", n(counter(seen.generation)?))
                .expression_attribute_values(":sequence", s(seen.sequence.clone())),
        };
        let mut items = vec![
            TransactWriteItem::builder().condition_check(self.checkpoint_check(checkpoint)?).build(),
            TransactWriteItem::builder().put(put.build().map_err(malformed)?).build(),
        ];
        for (key, counts) in deltas.iter() {
            items.push(
                TransactWriteItem::builder().update(self.rollup_update(checkpoint.generation, key, counts)?).build(),
            );
        }
        for (value, months) in deltas.segment_values() {
            items.push(
                TransactWriteItem::builder().update(self.value_update(checkpoint.generation, value, &months)?).build(),
            );
        }
        if items.len() > 2 + MAX_WRITES_PER_FOLD {
            return Err(StoreError::Malformed(format!("{} writes in one fold", items.len())));
        }
        self.transact(items).await
    }

    /// Switches to `next` (a rebuild's generation and floors), if the checkpoint is still `seen`
    /// and no shard folded since `shards` was read.
    pub async fn switch(
        &self,
        seen: &Checkpoint,
        next: &Checkpoint,
        shards: &BTreeMap<String, ShardFolded>,
    ) -> Result<Folded, StoreError> {
        let mut items = vec![TransactWriteItem::builder().put(self.checkpoint_put(seen, next)?).build()];
        for (id, folded) in shards {
            let check = ConditionCheck::builder()
                .table_name(self.table.name())
                .set_key(Some(key_item(ItemKey::aggregator_shard(id))))
                .condition_expression("#generation = :generation AND #sequence = :sequence")
                .expression_attribute_names("#generation", GENERATION)
                .expression_attribute_names("#sequence", SEQUENCE)
                .expression_attribute_values(":generation", n(counter(folded.generation)?))
                .expression_attribute_values(":sequence", s(folded.sequence.clone()))
                .build()
                .map_err(malformed)?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        if items.len() > 100 {
            return Err(StoreError::Malformed(format!(
                "{} shards folded in the last two days: more than one switch can check",
                shards.len()
            )));
        }
        self.transact(items).await
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Folded, StoreError> {
        let result = self
            .table
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        let err = match result {
            Ok(out) => {
                self.table.count(Units::Write, out.consumed_capacity());
                return Ok(Folded::Done);
            }
            Err(err) => err,
        };
        // A condition failed, or another transaction on the same items was under way.
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error()
            && cancelled
                .cancellation_reasons()
                .iter()
                .any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict")))
        {
            return Ok(Folded::Contended);
        }
        Err(store_error(err))
    }

    /// The checkpoint is still `seen` (absent before the first switch).
    fn checkpoint_check(&self, seen: &Checkpoint) -> Result<ConditionCheck, StoreError> {
        let check =
            ConditionCheck::builder().table_name(self.table.name()).set_key(Some(key_item(ItemKey::checkpoint())));
        let check = if seen.version == 0 {
            check.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", attr::PK)
        } else {
            check
                .condition_expression("#version = :seen")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":seen", n(counter(seen.version)?))
        };
        check.build().map_err(malformed)
    }

    fn checkpoint_put(&self, seen: &Checkpoint, next: &Checkpoint) -> Result<Put, StoreError> {
        let floors = next
            .floors
            .iter()
            .map(|(id, sequence)| {
                (id.clone(), AttributeValue::M(Item::from([(SEQUENCE.to_owned(), s(sequence.clone()))])))
            })
            .collect();
        let mut item = key_item(ItemKey::checkpoint());
        item.extend([
            (VERSION.to_owned(), n(counter(seen.version + 1)?)),
            (GENERATION.to_owned(), n(counter(next.generation)?)),
            (WRITTEN_AT.to_owned(), n(next.written_at.unix())),
        ]);
        // Never an empty map (see `item::string_map`).
        if !next.floors.is_empty() {
            item.insert(SHARDS.to_owned(), AttributeValue::M(floors));
        }
        let put = Put::builder().table_name(self.table.name()).set_item(Some(item));
        let put = if seen.version == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", attr::PK)
        } else {
            put.condition_expression("#version = :seen")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":seen", n(counter(seen.version)?))
        };
        put.build().map_err(malformed)
    }

    fn rollup_update(&self, generation: u64, key: &RollupKey, counts: &Counts) -> Result<Update, StoreError> {
        let mut adds = Vec::new();
        let mut update =
            Update::builder().table_name(self.table.name()).set_key(Some(key_item(rollup_key(generation, key))));
        let fields = count_fields(counts);
        for (i, (name, change)) in fields.enumerate().filter(|(_, (_, change))| *change != 0) {
            adds.push(format!("#f{i} :f{i}"));
            update = update
                .expression_attribute_names(format!("#f{i}"), name)
                .expression_attribute_values(format!(":f{i}"), AttributeValue::N(change.to_string()));
        }
        update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))
    }

    fn value_update(
        &self,
        generation: u64,
        value: SegmentValue<'_>,
        months: &BTreeSet<&str>,
    ) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(self.table.name())
            .set_key(Some(key_item(ItemKey::rollup_value(generation, value.survey, value.dimension, value.value))))
            .update_expression("ADD #months :months")
            .expression_attribute_names("#months", MONTHS)
            .expression_attribute_values(
                ":months",
                AttributeValue::Ss(months.iter().map(|m| (*m).to_owned()).collect()),
            )
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))
    }

    /// The segment values a survey has rollups for, by dimension: those with rollups in a month of
    /// `months` (`2026-09`, `2026-11`: inclusive), or all.
    pub async fn segment_values(
        &self,
        generation: u64,
        survey: &SurveyId,
        months: Option<(&str, &str)>,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        let mut dimensions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut start = None;
        loop {
            let query = self
                .table
                .partition(ItemKey::rollup_values_partition(generation, survey))
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :value)")
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":value", s("VALUE#"))
                .set_exclusive_start_key(start);
            let out = self.table.query(query).await?;
            for item in out.items() {
                let a = Attrs(item);
                let sk = a.s(attr::SK)?;
                let (dimension, value) = sk
                    .strip_prefix("VALUE#")
                    .and_then(|rest| rest.split_once('#'))
                    .ok_or_else(|| StoreError::Malformed(format!("segment value {sk}")))?;
                let active = match (months, item.get(MONTHS)) {
                    (None, _) => true,
                    (Some((from, until)), Some(AttributeValue::Ss(seen))) => {
                        seen.iter().any(|m| (from..=until).contains(&m.as_str()))
                    }
                    (Some(_), _) => false,
                };
                if active {
                    dimensions.entry(dimension.to_owned()).or_default().insert(value.to_owned());
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(dimensions),
            }
        }
    }

    /// The first day (`yyyy-mm-dd`) `survey` has a rollup for: where its history starts. One read.
    pub async fn first_day(&self, generation: u64, survey: &SurveyId) -> Result<Option<String>, StoreError> {
        let probe =
            RollupKey { survey: survey.clone(), dimension: "all".into(), value: "all".into(), day: String::new() };
        let query = self.table.partition(rollup_key(generation, &probe).pk).limit(1);
        let out = self.table.query(query).await?;
        out.items().first().map(|item| Attrs(item).s(attr::SK).map(str::to_owned)).transpose()
    }

    /// One rollup's days from `since` to `until` (inclusive, `yyyy-mm-dd`), oldest first.
    pub async fn days(
        &self,
        generation: u64,
        survey: &SurveyId,
        dimension: &str,
        value: &str,
        since: &str,
        until: &str,
    ) -> Result<Vec<(String, Counts)>, StoreError> {
        let probe = RollupKey {
            survey: survey.clone(),
            dimension: dimension.to_owned(),
            value: value.to_owned(),
            day: String::new(),
        };
        let mut days = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let query = self
                .table
                .client()
                .query()
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :since AND :until")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":pk", s(rollup_key(generation, &probe).pk))
                .expression_attribute_values(":since", s(since))
                .expression_attribute_values(":until", s(until))
                .set_exclusive_start_key(start.take());
            let out = self.table.query(query).await?;
            for item in out.items() {
                days.push((Attrs(item).s(attr::SK)?.to_owned(), counts_of(item)?));
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(days),
            }
        }
    }
}

/// An item a rebuild's scan finds.
#[derive(Debug, Clone)]
pub enum Scanned {
    Counted(Box<Counted>),
    /// A rollup or a segment value item, of any generation.
    Rollup {
        key: ItemKey,
        generation: u64,
    },
}

impl DynamoRollups {
    /// Reads the whole table once, handing each item the rollups count and each rollup item to
    /// `each`. The one read whose cost grows with the table: rebuilds only.
    pub async fn scan(&self, mut each: impl FnMut(Scanned)) -> Result<usize, StoreError> {
        let mut start: Option<Item> = None;
        let mut items = 0;
        loop {
            let out = self
                .table
                .client()
                .scan()
                .table_name(self.table.name())
                .set_exclusive_start_key(start.take())
                .set_return_consumed_capacity(self.table.capacity())
                .send()
                .await
                .map_err(store_error)?;
            self.table.count(Units::Read, out.consumed_capacity());
            for item in out.items() {
                items += 1;
                if let Some(counted) = Counted::parse(item)? {
                    each(Scanned::Counted(Box::new(counted)));
                } else if let Some(generation) = rollup_generation(item) {
                    let a = Attrs(item);
                    let key = ItemKey { pk: a.s(attr::PK)?.to_owned(), sk: a.s(attr::SK)?.to_owned() };
                    each(Scanned::Rollup { key, generation });
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }

    /// Whether this run is the first of the current hour to check for drops (at most one is).
    pub async fn claim_drop_check(&self, now: Timestamp) -> Result<bool, StoreError> {
        let hour = now.unix().div_euclid(3600);
        let update = self
            .table
            .update(ItemKey::drop_check())
            .update_expression("SET #hour = :hour")
            .condition_expression("attribute_not_exists(#hour) OR #hour < :hour")
            .expression_attribute_names("#hour", "checked_hour")
            .expression_attribute_values(":hour", n(hour))
            .send()
            .await;
        Ok(self.table.conditional(update, |o| o.consumed_capacity())?.is_some())
    }

    /// Lets the next run check for drops whatever the hour (`make demo`, after writing history).
    pub async fn release_drop_check(&self) -> Result<(), StoreError> {
        self.table.delete(ItemKey::drop_check()).await
    }

    /// Claims the first unclaimed generation from `from` on, so two rebuilds never write the same
    /// one. The claim (`ROLLUP#<generation>` / `CLAIM`) is a rollup item: deleted with the rest.
    pub async fn claim_generation(&self, from: u64, now: Timestamp) -> Result<u64, StoreError> {
        for generation in from.. {
            let mut item = key_item(ItemKey::rollup_claim(generation));
            item.insert(WRITTEN_AT.to_owned(), n(now.unix()));
            if self.table.put_new(item).await? {
                return Ok(generation);
            }
        }
        Err(StoreError::Malformed("no generation left to claim".into()))
    }

    /// Stores `totals` as the whole counts of `generation` (a rebuild's, not yet in use), and each
    /// survey's segment values; returns the keys written.
    pub async fn write_generation(&self, generation: u64, totals: &Deltas) -> Result<Vec<ItemKey>, StoreError> {
        let mut items = Vec::new();
        for (key, counts) in totals.iter() {
            let mut item = key_item(rollup_key(generation, key));
            let fields = count_fields(counts).filter(|(_, count)| *count != 0);
            item.extend(fields.map(|(name, count)| (name, AttributeValue::N(count.to_string()))));
            items.push(item);
        }
        for (value, months) in totals.segment_values() {
            let mut item = key_item(ItemKey::rollup_value(generation, value.survey, value.dimension, value.value));
            item.insert(MONTHS.to_owned(), AttributeValue::Ss(months.into_iter().map(str::to_owned).collect()));
            items.push(item);
        }
        let mut keys = Vec::with_capacity(items.len());
        let mut puts = Vec::with_capacity(items.len());
        for item in items {
            let a = Attrs(&item);
            keys.push(ItemKey { pk: a.s(attr::PK)?.to_owned(), sk: a.s(attr::SK)?.to_owned() });
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(malformed)?;
            puts.push(WriteRequest::builder().put_request(put).build());
        }
        self.table.batch_write(puts).await?;
        Ok(keys)
    }

    /// Deletes rollup items (of a generation no longer in use).
    pub async fn delete(&self, keys: Vec<ItemKey>) -> Result<(), StoreError> {
        let deletes = keys
            .into_iter()
            .map(|key| {
                let delete = DeleteRequest::builder().set_key(Some(key_item(key))).build().map_err(malformed)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.table.batch_write(deletes).await
    }
}

fn malformed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Malformed(e.to_string())
}

/// The generation of a rollup or segment value item; `None` for any other item.
fn rollup_generation(item: &Item) -> Option<u64> {
    Attrs(item).opt_s(attr::PK)?.strip_prefix("ROLLUP#")?.split('#').next()?.parse().ok()
}

/// A stored item the rollups count, parsed from a stream image.
#[derive(Debug, Clone)]
pub enum Counted {
    Request(SurveyRequest),
    Response(Response),
}

impl Counted {
    /// `None` for the items the rollups do not count (people, markers, surveys, rollups…).
    pub fn parse<S: std::hash::BuildHasher>(
        item: &std::collections::HashMap<String, AttributeValue, S>,
    ) -> Result<Option<Counted>, StoreError> {
        let a = Attrs(item);
        let Some(pk) = a.opt_s(attr::PK).filter(|pk| pk.starts_with(REQUEST_PREFIX)) else { return Ok(None) };
        let id = request_of(pk).ok_or_else(|| StoreError::Malformed(format!("item key {pk}")))?;
        Ok(match a.opt_s(attr::SK) {
            Some(REQUEST_SK) => Some(Counted::Request(requests::from_item(id, item)?)),
            Some(RESPONSE_SK) => Some(Counted::Response(responses::from_item(id, item)?)),
            _ => None,
        })
    }

    /// The request it is, or belongs to, and whether it is the response.
    pub fn id(&self) -> (RequestId, bool) {
        match self {
            Counted::Request(r) => (r.id, false),
            Counted::Response(r) => (r.request_id, true),
        }
    }

    pub fn image(&self) -> Image<'_> {
        match self {
            Counted::Request(r) => Image::Request(r),
            Counted::Response(r) => Image::Response(r),
        }
    }
}

fn counter(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Malformed("counter out of range".into()))
}

fn rollup_key(generation: u64, key: &RollupKey) -> ItemKey {
    ItemKey::rollup(generation, &key.survey, &key.dimension, &key.value, &key.day)
}

fn counts_of(item: &Item) -> Result<Counts, StoreError> {
    let a = Attrs(item);
    let field = |name: &str| Ok::<_, StoreError>(a.opt_n(name)?.unwrap_or(0));
    let mut counts = Counts::default();
    for (bucket, name) in counts.scores.iter_mut().zip(SCORE_BUCKETS) {
        *bucket = field(name)?;
    }
    counts.unconfirmed = field(UNCONFIRMED)?;
    counts.suspected_bot = field(SUSPECTED_BOT)?;
    counts.sent = field(SENT)?;
    counts.comments = field(COMMENTS)?;
    for (name, value) in item {
        let Some(rest) = name.strip_prefix(WEIGHT_PREFIX) else { continue };
        let bad = || malformed(format!("rollup weight {name}"));
        let mut parts = rest.rsplitn(3, '#');
        let (Some(field), Some(currency), Some(property)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let value: i128 = value.as_n().ok().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let key = WeightKey { property: property.to_owned(), currency: currency.to_owned() };
        let totals = counts.weights.entry(key);
        let (column, category) = field.split_at(1);
        let category: usize = category.parse().ok().filter(|c| *c < 3).ok_or_else(bad)?;
        match column {
            "n" => totals.n[category] = i64::try_from(value).map_err(|_| bad())?,
            "s" => totals.sums[category] = value,
            "q" => totals.squares[category] = value,
            _ => return Err(bad()),
        }
    }
    counts.weights.retain_nonzero();
    Ok(counts)
}

/// A rollup's attributes and their counts (or changes), zeros included.
fn count_fields(counts: &Counts) -> impl Iterator<Item = (String, i128)> + '_ {
    let fields = SCORE_BUCKETS.iter().zip(counts.scores).chain([
        (&UNCONFIRMED, counts.unconfirmed),
        (&SUSPECTED_BOT, counts.suspected_bot),
        (&SENT, counts.sent),
        (&COMMENTS, counts.comments),
    ]);
    fields
        .map(|(name, count)| ((*name).to_owned(), i128::from(count)))
        .chain(counts.weights.iter().flat_map(|(key, totals)| weight_fields(key, totals)))
}

/// A rollup's weight totals: `w#<property>#<currency>#<n|s|q><category>`, category 0 for
/// detractors, 1 passives, 2 promoters; `s` is Σw and `q` Σw², w in units of 1/10,000. Changed only
/// by `ADD`, like the counts.
const WEIGHT_PREFIX: &str = "w#";

fn weight_fields(key: &WeightKey, totals: &WeightTotals) -> impl Iterator<Item = (String, i128)> {
    let name = move |column: &str, category: usize| {
        format!("{WEIGHT_PREFIX}{}#{}#{column}{category}", key.property, key.currency)
    };
    (0..3).flat_map(move |c| {
        [(name("n", c), i128::from(totals.n[c])), (name("s", c), totals.sums[c]), (name("q", c), totals.squares[c])]
    })
}

fn shard_folded(item: &Item) -> Result<Option<ShardFolded>, StoreError> {
    let a = Attrs(item);
    let generation = u64::try_from(a.n(GENERATION)?).map_err(|_| malformed("negative generation"))?;
    Ok(a.opt_s(SEQUENCE).map(|sequence| ShardFolded { generation, sequence: sequence.to_owned() }))
}
