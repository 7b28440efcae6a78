//! The function's three kinds of invocation, told apart by their payload: a batch of the table's
//! stream from Lambda's event source mapping, the scheduled tick, and the operator's rebuild.
//!
//! The mapping has a tumbling window (template.yaml) only so that each batch names its shard:
//! the function keeps no window state and answers every batch with an empty one.

use nps_adapters::dynamo::{Change, StreamError, StreamRecord, TableStream};
use nps_domain::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Aggregator, RebuildError};

pub enum Invocation {
    /// Records of one shard, in order.
    Batch { shard: String, changes: Vec<Change> },
    /// `{"tick": true}`, from the schedule.
    Tick,
    /// `{"rebuild": true}`, from the operator (`make rebuild`, `nps-cli rebuild`).
    Rebuild,
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// A payload this function does not take: a misconfigured caller, not something to retry.
    #[error("not an invocation of the aggregate function: {0}")]
    Unknown(String),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
}

/// What Lambda hands the function, read in one pass: a stream batch (its records and shard) or a
/// flag. (Through an untyped JSON value first, a batch took twice as long to read.)
#[derive(Debug, Default, Deserialize)]
pub struct Payload {
    #[serde(rename = "Records")]
    records: Option<Vec<StreamRecord>>,
    #[serde(rename = "shardId")]
    shard_id: Option<String>,
    #[serde(default)]
    tick: bool,
    #[serde(default)]
    rebuild: bool,
}

impl Payload {
    /// For callers that hold the payload as JSON (the local pump, in-process).
    pub fn from_json(payload: Value) -> Result<Payload, InvocationError> {
        serde_json::from_value(payload).map_err(|e| InvocationError::Unknown(e.to_string()))
    }
}

impl Invocation {
    pub fn parse(payload: Payload) -> Result<Invocation, InvocationError> {
        match payload {
            Payload { records: Some(records), shard_id: Some(shard), tick: false, rebuild: false } => {
                Ok(Invocation::Batch { shard, changes: records.into_iter().map(Change::from_record).collect() })
            }
            Payload { records: Some(_), shard_id: None, .. } => Err(InvocationError::Unknown(
                "a stream batch without shardId: the mapping needs its tumbling window".into(),
            )),
            Payload { records: None, tick: true, rebuild: false, .. } => Ok(Invocation::Tick),
            Payload { records: None, tick: false, rebuild: true, .. } => Ok(Invocation::Rebuild),
            _ => {
                Err(InvocationError::Unknown("expected stream records, {\"tick\": true} or {\"rebuild\": true}".into()))
            }
        }
    }
}

/// The answer to a batch folded: the window's state, empty (a batch that fails is an error).
pub fn answer() -> Value {
    json!({ "state": {} })
}

/// Handles one invocation; the answer Lambda expects. `stream` gives the table's stream, which
/// only a rebuild reads (its client is built then, not at every cold start).
pub async fn handle(
    aggregator: &Aggregator,
    stream: impl FnOnce() -> TableStream,
    payload: Payload,
    now: Timestamp,
) -> Result<Value, InvocationError> {
    match Invocation::parse(payload)? {
        Invocation::Batch { shard, changes } => {
            let folding = aggregator.fold(&shard, &changes, now).await?;
            tracing::info!(shard, ?folding, "batch folded");
            folding.counts().emit("aggregate");
            Ok(answer())
        }
        Invocation::Tick => {
            let ticked = aggregator.tick(now).await?;
            tracing::info!(?ticked, "tick");
            ticked.counts().emit("aggregate");
            Ok(serde_json::to_value(ticked).unwrap_or_default())
        }
        Invocation::Rebuild => {
            let rebuilt = aggregator.rebuild(&stream(), now).await?;
            tracing::info!(?rebuilt, "rollups rebuilt");
            Ok(serde_json::to_value(rebuilt).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: Value) -> Result<Invocation, InvocationError> {
        Invocation::parse(Payload::from_json(json)?)
    }

    #[test]
    fn tells_the_three_invocations_apart_and_refuses_anything_else() {
        assert!(matches!(parse(json!({"tick": true})), Ok(Invocation::Tick)));
        assert!(matches!(parse(json!({"rebuild": true})), Ok(Invocation::Rebuild)));
        let batch = json!({
            "Records": [{"eventID": "1", "eventName": "INSERT", "awsRegion": "us-east-1",
                         "dynamodb": {"NewImage": {"pk": {"S": "REQUEST#x"}}, "SequenceNumber": "7", "SizeBytes": 10}}],
            "shardId": "shardId-1", "window": {"start": "2026-11-30T10:00:00Z", "end": "2026-11-30T10:01:00Z"},
            "state": {}, "isFinalInvokeForWindow": false, "isWindowTerminatedEarly": false
        });
        let Ok(Invocation::Batch { shard, changes }) = parse(batch.clone()) else { panic!("a batch") };
        assert_eq!((shard.as_str(), changes.len(), changes[0].sequence.as_str()), ("shardId-1", 1, "7"));
        // Without the tumbling window the event names no shard: a misconfigured mapping.
        let mut unnamed = batch;
        unnamed.as_object_mut().unwrap().remove("shardId");
        assert!(matches!(parse(unnamed), Err(InvocationError::Unknown(_))));
        for other in [json!({}), json!({"tick": true, "rebuild": true}), json!([1]), json!({"Records": "x"})] {
            assert!(matches!(parse(other.clone()), Err(InvocationError::Unknown(_))), "{other}");
        }
    }
}
