//! The local stand-in for Lambda's event source mapping on the table's stream (template.yaml's
//! `AggregateStream`), for `make dev`, the tests and the benches: it reads DynamoDB Local's stream
//! shard by shard, parents first, keeps the records the mapping's filter lets through, and invokes
//! the function with exactly the payload Lambda sends (a DynamoDB stream event with the tumbling
//! window's `shardId`, `window` and empty `state`), `BatchSize` records at a time. As configured
//! in the template: a failed invocation is split in two (`BisectBatchOnFunctionError`) until its
//! records stand alone, each retried up to `MaximumRetryAttempts` times, then given up (counted in
//! [`Pumped::discarded`], as Lambda sends it to the dead letters).
//!
//! Like the mapping, it keeps its place in memory: a new pump starts again at the oldest record,
//! and the function must skip what it folded already.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use nps_adapters::dynamo::TableStream;
use serde_json::{Value, json};
use serde_norway::Value as Yaml;

/// The logical id of the mapping in `template.yaml`.
pub const MAPPING_RESOURCE: &str = "AggregateStream";

/// The mapping's settings, from the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub batch_size: usize,
    pub max_retries: u32,
    pub bisect: bool,
    pub window_seconds: i64,
    /// The filter: records whose key attribute `.0` starts with `.1`.
    pub key_prefix: (String, String),
}

impl Mapping {
    pub fn from_template(template: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(template).with_context(|| format!("reading {}", template.display()))?;
        Mapping::from_template_text(&text)
    }

    pub fn from_template_text(text: &str) -> Result<Mapping> {
        let doc: Yaml = serde_norway::from_str(text).context("template is not YAML")?;
        let props = &doc["Resources"][MAPPING_RESOURCE]["Properties"];
        ensure!(props.is_mapping(), "template.yaml has no {MAPPING_RESOURCE}");
        let number = |name: &str| props[name].as_u64().with_context(|| format!("{MAPPING_RESOURCE}.{name}"));
        ensure!(props["StartingPosition"].as_str() == Some("TRIM_HORIZON"), "the pump starts at TRIM_HORIZON only");
        ensure!(number("ParallelizationFactor")? == 1, "the pump reads each shard one batch at a time");
        let filters = props["FilterCriteria"]["Filters"].as_sequence().context("FilterCriteria.Filters")?;
        ensure!(filters.len() == 1, "the pump understands one filter");
        let pattern: Value = serde_json::from_str(filters[0]["Pattern"].as_str().context("Filters[0].Pattern")?)?;
        let keys = pattern["dynamodb"]["Keys"]
            .as_object()
            .filter(|k| k.len() == 1 && pattern.as_object().map(|p| p.len()) == Some(1));
        let Some((attribute, rule)) = keys.and_then(|k| k.iter().next()) else {
            bail!("the pump understands a filter on one key attribute only: {pattern}")
        };
        let Some(prefix) = rule["S"][0]["prefix"].as_str() else { bail!("the pump understands a prefix filter only") };
        Ok(Mapping {
            batch_size: usize::try_from(number("BatchSize")?)?,
            max_retries: u32::try_from(number("MaximumRetryAttempts")?)?,
            bisect: props["BisectBatchOnFunctionError"].as_bool() == Some(true),
            window_seconds: i64::try_from(number("TumblingWindowInSeconds")?)?,
            key_prefix: (attribute.clone(), prefix.to_owned()),
        })
    }

    fn passes(&self, record: &Record) -> bool {
        let key = record.dynamodb().and_then(|d| d.keys()).and_then(|k| k.get(&self.key_prefix.0));
        key.and_then(|v| v.as_s().ok()).is_some_and(|s| s.starts_with(&self.key_prefix.1))
    }
}

/// What one [`Pump::drain`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pumped {
    /// Records read from the stream, and those the filter let through to the function.
    pub read: usize,
    pub delivered: usize,
    pub invocations: usize,
    /// Records given up after the retries (Lambda's on-failure destination).
    pub discarded: usize,
}

#[derive(Debug, Default, Clone)]
struct Position {
    last: Option<String>,
    /// Closed and read to its end.
    done: bool,
}

pub struct Pump {
    client: Client,
    arn: String,
    mapping: Mapping,
    positions: HashMap<String, Position>,
}

impl Pump {
    pub fn new(client: Client, arn: impl Into<String>, mapping: Mapping) -> Pump {
        Pump { client, arn: arn.into(), mapping, positions: HashMap::new() }
    }

    /// Delivers every record the stream holds past this pump's place, to `invoke` (the function:
    /// `Ok` with its answer, `Err` for a failed invocation).
    pub async fn drain<F, Fut>(&mut self, mut invoke: F) -> Result<Pumped>
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = Result<Value, String>>,
    {
        let mut pumped = Pumped::default();
        let shards = TableStream::new(self.client.clone(), &self.arn).shards().await.context("DescribeStream")?;
        let present: HashMap<&str, Option<&str>> =
            shards.iter().map(|s| (s.id.as_str(), s.parent.as_deref())).collect();
        let done = |positions: &HashMap<String, Position>, id: &str| positions.get(id).is_some_and(|p| p.done);
        let mut pending: Vec<&str> = present.keys().copied().filter(|id| !done(&self.positions, id)).collect();
        pending.sort_unstable();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for id in pending {
                let parent = present[id].filter(|p| present.contains_key(p));
                if parent.is_some_and(|p| !done(&self.positions, p)) {
                    waiting.push(id); // parents first, as the mapping reads them
                } else {
                    self.drain_shard(id, &mut invoke, &mut pumped).await?;
                }
            }
            if waiting.len() == before {
                break; // their parents are still open
            }
            pending = waiting;
        }
        Ok(pumped)
    }

    async fn drain_shard<F, Fut>(&mut self, shard: &str, invoke: &mut F, pumped: &mut Pumped) -> Result<()>
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = Result<Value, String>>,
    {
        let last = self.positions.get(shard).and_then(|p| p.last.clone());
        let kind = if last.is_some() { ShardIteratorType::AfterSequenceNumber } else { ShardIteratorType::TrimHorizon };
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(last)
            .send()
            .await
            .context("GetShardIterator")?;
        let mut iterator = out.shard_iterator;
        while let Some(at) = iterator {
            let page = self.client.get_records().shard_iterator(at).limit(1000).send().await.context("GetRecords")?;
            let records = page.records.unwrap_or_default();
            let closed = page.next_shard_iterator.is_none();
            if records.is_empty() && !closed {
                break; // caught up with an open shard
            }
            pumped.read += records.len();
            let passed: Vec<Value> =
                records.iter().filter(|r| self.mapping.passes(r)).map(|r| event_record(&self.arn, r)).collect();
            pumped.delivered += passed.len();
            for batch in passed.chunks(self.mapping.batch_size) {
                self.deliver(shard, batch, invoke, pumped).await;
            }
            let position = self.positions.entry(shard.to_owned()).or_default();
            if let Some(sequence) = records.last().and_then(|r| r.dynamodb()?.sequence_number()) {
                position.last = Some(sequence.to_owned());
            }
            position.done = closed;
            iterator = page.next_shard_iterator;
        }
        Ok(())
    }

    /// One batch, with the mapping's retries and splits.
    async fn deliver<F, Fut>(&self, shard: &str, batch: &[Value], invoke: &mut F, pumped: &mut Pumped)
    where
        F: FnMut(Value) -> Fut,
        Fut: Future<Output = Result<Value, String>>,
    {
        // (records, retries left), first to last.
        let mut work: Vec<(&[Value], u32)> = vec![(batch, self.mapping.max_retries)];
        while let Some((records, retries)) = work.pop() {
            pumped.invocations += 1;
            let Err(error) = invoke(self.event(shard, records)).await else { continue };
            eprintln!("pump: the function failed on {} records of {shard}: {error}", records.len());
            if self.mapping.bisect && records.len() > 1 {
                let (first, second) = records.split_at(records.len() / 2);
                work.push((second, retries));
                work.push((first, retries));
            } else if retries > 0 {
                work.push((records, retries - 1));
            } else {
                pumped.discarded += records.len();
                eprintln!("pump: gave up {} records of {shard} after the retries", records.len());
            }
        }
    }

    fn event(&self, shard: &str, records: &[Value]) -> Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let start = now - now.rem_euclid(self.mapping.window_seconds.max(1));
        json!({
            "Records": records,
            "shardId": shard,
            "eventSourceARN": self.arn,
            "window": { "start": rfc3339(start), "end": rfc3339(start + self.mapping.window_seconds) },
            "state": {},
            "isFinalInvokeForWindow": false,
            "isWindowTerminatedEarly": false,
        })
    }
}

/// A stream record as Lambda puts it in the event.
fn event_record(arn: &str, record: &Record) -> Value {
    let image = |image: Option<&std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        image.map(|i| serde_json::to_value(serde_dynamo::Item::from(i.clone())).unwrap_or_default())
    };
    let data = record.dynamodb();
    let mut change = json!({
        "ApproximateCreationDateTime": data.and_then(|d| d.approximate_creation_date_time()).map(|t| t.as_secs_f64()),
        "Keys": image(data.and_then(|d| d.keys())),
        "SequenceNumber": data.and_then(|d| d.sequence_number()),
        "SizeBytes": data.and_then(|d| d.size_bytes()),
        "StreamViewType": data.and_then(|d| d.stream_view_type()).map(|v| v.as_str()),
    });
    if let Some(new) = image(data.and_then(|d| d.new_image())) {
        change["NewImage"] = new;
    }
    if let Some(old) = image(data.and_then(|d| d.old_image())) {
        change["OldImage"] = old;
    }
    let mut event = json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region(),
        "dynamodb": change,
        "eventSourceARN": arn,
    });
    if let Some(who) = record.user_identity() {
        event["userIdentity"] = json!({ "type": who.r#type(), "principalId": who.principal_id() });
    }
    event
}

fn rfc3339(unix: i64) -> String {
    nps_domain::Timestamp::from_unix(unix).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_templates_mapping() {
        let mapping = Mapping::from_template(&crate::repo_template()).unwrap();
        assert_eq!(mapping.key_prefix, ("pk".to_owned(), "REQUEST#".to_owned()));
        assert!(mapping.bisect && mapping.batch_size > 0 && mapping.window_seconds > 0);
    }

    #[test]
    fn refuses_a_filter_it_cannot_apply() {
        let template = std::fs::read_to_string(crate::repo_template()).unwrap();
        let other = template.replace(r#"{"prefix": "REQUEST#"}"#, r#"{"anything-but": "x"}"#);
        assert!(Mapping::from_template_text(&other).is_err());
    }
}
