//! The table's stream (`NEW_AND_OLD_IMAGES`): every change to an item, with its image before and
//! after, in order per shard. Lambda's event source mapping hands the aggregator its records in
//! batches ([`Change::from_record`]); a rebuild reads it whole ([`TableStream`]).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, ShardIteratorType};
use nps_domain::StoreError;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::item::Image as Item;
use super::keys::attr;
use super::rollups::Counted;
use super::store_error;

/// Records read per call (DynamoDB allows 1,000). A page's records with both images are the
/// largest thing the aggregator holds; 250 keeps its memory low (BENCHMARKS.md).
const PAGE_LIMIT: i32 = 250;

#[derive(Debug, Clone)]
pub struct TableStream {
    client: Client,
    arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub id: String,
    /// Read a child only after its parent is read to its end.
    pub parent: Option<String>,
}

/// One change to one item, as the rollups read it: the item before and after, each parsed into
/// what it counts as soon as its record is read, so that a batch holds those values rather than
/// every attribute of its images (a batch of 100 with both images was most of the aggregate
/// function's peak memory, BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct Change {
    pub sequence: String,
    pub old: Read,
    pub new: Read,
    /// Deleted by DynamoDB's TTL, or by a GDPR erasure (the old image carries `erased_at`):
    /// both remove raw data, not what was counted.
    pub keeps_counts: bool,
}

/// An image as the rollups read it: `Ok(None)` when absent or an item they do not count; `Err`
/// says why it cannot be read (the fold stops at its record, after those before it).
pub type Read = Result<Option<Counted>, String>;

/// A page of changes, and where to read on: `None` once a closed shard is read to its end.
#[derive(Debug, Clone)]
pub struct Page {
    pub changes: Vec<Change>,
    pub next: Option<String>,
}

/// Who deletes an item whose TTL has passed.
const TTL: &str = "dynamodb.amazonaws.com";

impl Change {
    fn of<S: BuildHasher>(
        sequence: String,
        old: Option<HashMap<String, AttributeValue, S>>,
        new: Option<HashMap<String, AttributeValue, S>>,
        by_ttl: bool,
    ) -> Change {
        let erased = new.is_none() && old.as_ref().is_some_and(|old| old.contains_key(attr::ERASED_AT));
        let read = |image: Option<HashMap<String, AttributeValue, S>>| -> Read {
            image.map_or(Ok(None), |i| {
                Counted::parse(&i).map_err(|e| match e {
                    StoreError::Malformed(why) => why,
                    other => other.to_string(),
                })
            })
        };
        Change { sequence, old: read(old), new: read(new), keeps_counts: by_ttl || erased }
    }

    /// A record of Lambda's DynamoDB stream event (an image Lambda sends empty is absent).
    pub fn from_record(record: StreamRecord) -> Change {
        let image = |image: Option<Image>| image.map(|i| i.0).filter(|i| !i.is_empty());
        let by_ttl = record.user_identity.is_some_and(|who| who.principal_id == TTL);
        let data = record.dynamodb;
        Change::of(data.sequence.unwrap_or_default(), image(data.old), image(data.new), by_ttl)
    }
}

/// A record of Lambda's DynamoDB stream event, as much of it as a change needs: the other fields
/// (ids, keys, the stream's ARN) are skipped unread. Reading Lambda's whole record, then its images
/// into the SDK's types, took a third more time per record (BENCHMARKS.md, aggregation).
#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    dynamodb: StreamData,
    #[serde(rename = "userIdentity", default)]
    user_identity: Option<Identity>,
}

#[derive(Debug, Deserialize)]
struct StreamData {
    #[serde(rename = "SequenceNumber", default)]
    sequence: Option<String>,
    #[serde(rename = "OldImage", default)]
    old: Option<Image>,
    #[serde(rename = "NewImage", default)]
    new: Option<Image>,
}

#[derive(Debug, Deserialize)]
struct Identity {
    #[serde(rename = "principalId")]
    principal_id: String,
}

/// An image in DynamoDB's JSON, read straight into the table's attribute values (serde_dynamo reads
/// each value; no map of its own type in between).
#[derive(Debug)]
struct Image(Item);

impl<'de> Deserialize<'de> for Image {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Image, D::Error> {
        struct Attributes;
        impl<'de> Visitor<'de> for Attributes {
            type Value = Image;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an item's attributes in DynamoDB's JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Image, A::Error> {
                let mut item = Item::with_capacity_and_hasher(map.size_hint().unwrap_or(16), Default::default());
                while let Some((name, value)) = map.next_entry::<String, serde_dynamo::AttributeValue>()? {
                    item.insert(name, value.into());
                }
                Ok(Image(item))
            }
        }
        deserializer.deserialize_map(Attributes)
    }
}

/// The order of two sequence numbers of one shard: decimal numbers of up to 40 digits, compared
/// as numbers (a string compare would put `9` after `10`).
pub fn sequence_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream keeps 24 hours; the checkpoint is older, so changes were missed.
    #[error("the stream no longer holds the changes after the checkpoint: rebuild the rollups")]
    Trimmed,
}

impl TableStream {
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        TableStream { client, arn: arn.into() }
    }

    /// Every shard the stream holds, open and closed.
    pub async fn shards(&self) -> Result<Vec<Shard>, StoreError> {
        let mut shards = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(after.take())
                .send()
                .await
                .map_err(store_error)?;
            let Some(description) = out.stream_description else { break };
            shards.extend(description.shards().iter().filter_map(|s| {
                Some(Shard { id: s.shard_id()?.to_owned(), parent: s.parent_shard_id().map(str::to_owned) })
            }));
            match description.last_evaluated_shard_id {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        Ok(shards)
    }

    /// Where to start reading `shard`: just after `checkpoint`, or at its oldest record.
    pub async fn start(&self, shard: &str, checkpoint: Option<&str>) -> Result<Option<String>, StreamError> {
        let kind =
            if checkpoint.is_some() { ShardIteratorType::AfterSequenceNumber } else { ShardIteratorType::TrimHorizon };
        let result = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(checkpoint.map(str::to_owned))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.shard_iterator),
            Err(e) if e.code() == Some("TrimmedDataAccessException") => Err(StreamError::Trimmed),
            Err(e) => Err(store_error(e).into()),
        }
    }

    pub async fn page(&self, iterator: &str) -> Result<Page, StreamError> {
        let result = self.client.get_records().shard_iterator(iterator).limit(PAGE_LIMIT).send().await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code() == Some("TrimmedDataAccessException") => return Err(StreamError::Trimmed),
            Err(e) => return Err(store_error(e).into()),
        };
        let changes = out
            .records
            .unwrap_or_default()
            .into_iter()
            .filter_map(|record| {
                let by_ttl = record.user_identity.as_ref().and_then(|who| who.principal_id.as_deref()) == Some(TTL);
                let data = record.dynamodb?;
                Some(Change::of(data.sequence_number?, data.old_image.map(item), data.new_image.map(item), by_ttl))
            })
            .collect();
        Ok(Page { changes, next: out.next_shard_iterator })
    }
}

fn item(image: HashMap<String, StreamValue>) -> Item {
    image.into_iter().map(|(name, value)| (name, value_of(value))).collect()
}

/// The streams API has its own attribute type; the table's parsers take the table's.
fn value_of(value: StreamValue) -> AttributeValue {
    match value {
        StreamValue::S(s) => AttributeValue::S(s),
        StreamValue::N(n) => AttributeValue::N(n),
        StreamValue::B(b) => AttributeValue::B(b),
        StreamValue::Ss(v) => AttributeValue::Ss(v),
        StreamValue::Ns(v) => AttributeValue::Ns(v),
        StreamValue::Bs(v) => AttributeValue::Bs(v),
        StreamValue::Bool(b) => AttributeValue::Bool(b),
        StreamValue::Null(b) => AttributeValue::Null(b),
        StreamValue::L(list) => AttributeValue::L(list.into_iter().map(value_of).collect()),
        StreamValue::M(map) => {
            AttributeValue::M(map.into_iter().map(|(name, value)| (name, value_of(value))).collect())
        }
        // A type newer than this code: kept as a null, which no parser accepts as a value.
        _ => AttributeValue::Null(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: serde_json::Value) -> Change {
        Change::from_record(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn reads_lambdas_records() {
        // An item the rollups do not count: read as nothing.
        let modify = record(serde_json::json!({
            "eventID": "1", "eventName": "MODIFY", "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"pk": {"S": "PERSON#p"}, "sk": {"S": "PROFILE"}},
                "OldImage": {"pk": {"S": "PERSON#p"}, "sk": {"S": "PROFILE"}, "n": {"N": "1"}},
                "NewImage": {"pk": {"S": "PERSON#p"}, "sk": {"S": "PROFILE"}, "n": {"N": "2"}, "tags": {"SS": ["a"]}},
                "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }));
        assert_eq!(modify.sequence, "111");
        assert!(matches!((&modify.old, &modify.new), (Ok(None), Ok(None))) && !modify.keeps_counts);

        // A request item that cannot be read: an error in its place, not a panic, not nothing.
        let insert = record(serde_json::json!({
            "eventID": "2", "eventName": "INSERT", "awsRegion": "us-east-1",
            "dynamodb": {"NewImage": {"pk": {"S": "REQUEST#x"}, "sk": {"S": "REQUEST"}}, "SequenceNumber": "112", "SizeBytes": 10}
        }));
        assert!(matches!(insert.old, Ok(None)), "an image Lambda leaves out is absent");
        assert!(insert.new.as_ref().is_err_and(|e| e.contains("REQUEST#x")), "{:?}", insert.new);

        // Deleted by TTL, or erased: raw data goes, what was counted stays.
        let by_ttl = record(serde_json::json!({
            "eventID": "3", "eventName": "REMOVE", "awsRegion": "us-east-1",
            "dynamodb": {"OldImage": {"pk": {"S": "PERSON#p"}}, "SequenceNumber": "113", "SizeBytes": 10},
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        }));
        assert!(by_ttl.keeps_counts);
        let erased = record(serde_json::json!({
            "eventID": "4", "eventName": "REMOVE", "awsRegion": "us-east-1",
            "dynamodb": {"OldImage": {"pk": {"S": "PERSON#p"}, "erased_at": {"N": "1"}}, "SequenceNumber": "114", "SizeBytes": 10}
        }));
        assert!(erased.keeps_counts);
        let removed = record(serde_json::json!({
            "eventID": "5", "eventName": "REMOVE", "awsRegion": "us-east-1",
            "dynamodb": {"OldImage": {"pk": {"S": "PERSON#p"}}, "SequenceNumber": "115", "SizeBytes": 10}
        }));
        assert!(!removed.keeps_counts);
    }

    #[test]
    fn orders_sequence_numbers_as_numbers() {
        assert_eq!(sequence_order("9", "10"), Ordering::Less);
        assert_eq!(sequence_order("000120", "120"), Ordering::Equal);
        assert_eq!(sequence_order("4421584500000000017450439092", "4421584500000000017450439091"), Ordering::Greater);
    }
}
