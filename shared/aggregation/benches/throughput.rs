//! Aggregation throughput and cost, against DynamoDB Local and its stream:
//!
//!     infra/scripts/with-stack.sh cargo bench -p nps-aggregation --bench throughput
//!
//! Writes N confirmed responses (3 products, 7 days; most worth an amount, a third with a comment),
//! then measures, each apart:
//! - our own code per record: the stream event Lambda sends read from its bytes (JSON, images) and
//!   each change added up (delta, alerts, events), in memory, no I/O (the median of 5 passes);
//! - DynamoDB Local's stream alone: the local event source mapping reading every record;
//! - the whole path: the local mapping hands the batches to the fold, which writes the rollups;
//! - an idle pass after it.
//!
//! Capacity units are DynamoDB Local's own figures.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nps_adapters::dynamo::{CapacityMeter, DynamoResponses, DynamoRollups, Table};
use nps_aggregation::invocation::{Invocation, Payload, answer};
use nps_aggregation::{Aggregator, Batch};
use nps_domain::response::{Comment, Response};
use nps_domain::survey::SurveyKind;
use nps_domain::weight::{Weight, Weights};
use nps_domain::{Timestamp, fixtures};
use nps_local_stack::pump::{Mapping, Pump};
use nps_local_stack::testing::{dynamodb, fresh_table};
use serde_json::Value;

const N: usize = 20_000;
const WRITERS: usize = 16;
const PASSES: usize = 5;
const PRODUCTS: [&str; 3] = ["boots", "hats", "socks"];

/// Response `i`: three in four worth an amount (in dollars or euros), one in three with a comment.
fn response(i: usize, start: Timestamp) -> Response {
    let at = start.plus(Duration::from_secs((i % 7) as u64 * 86_400 + (i / 7 % 3600) as u64));
    let mut request = fixtures::sent_request(i, "default", &[("product", PRODUCTS[i % 3])], at);
    if !i.is_multiple_of(4) {
        let amount = Weight::parse(&format!("{}.{:02}", 20 + i % 400, i % 100)).expect("an amount");
        request.weights = Weights {
            currency: Some(["usd", "eur"][i % 2].to_owned()),
            values: [("amount".to_owned(), amount)].into(),
        };
    }
    let mut r = fixtures::response(&request, SurveyKind::Transactional, Some((i * 7 % 11) as u8), 1);
    if i.is_multiple_of(3) {
        r.comment = Comment::parse("The stove arrived late, but support answered within the hour.").expect("a comment");
    }
    r
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = dynamodb().await;
    let name = fresh_table(&client, "bench-aggregate").await;
    let table = Table::new(client.clone(), name.clone());
    let start = Timestamp::parse_rfc3339("2026-11-01T08:00:00Z").expect("time");

    let written = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let responses = DynamoResponses::new(table.clone());
        writers.push(tokio::spawn(async move {
            for i in (w..N).step_by(WRITERS) {
                let mut r = response(i, start);
                responses.save(&mut r, start.plus(Duration::from_secs(86_400 * 365))).await.expect("save");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    eprintln!("{N} responses written in {:.1} s", written.elapsed().as_secs_f64());

    let described = client.describe_table().table_name(&name).send().await.expect("describe");
    let arn = described.table.and_then(|t| t.latest_stream_arn).expect("stream");
    let streams = aws_sdk_dynamodbstreams::Client::new(&nps_adapters::aws::load_sdk_config().await);
    let mapping = Mapping::from_template(&nps_local_stack::repo_template()).expect("the template's mapping");
    let pump = || Pump::new(streams.clone(), arn.clone(), mapping.clone());

    // DynamoDB Local's stream alone: every record read, the batches kept for the next part.
    let mut events: Vec<Value> = Vec::new();
    let t = Instant::now();
    let read = pump()
        .drain(|event| {
            events.push(event);
            async { Ok(answer()) }
        })
        .await
        .expect("drain");
    let reading = t.elapsed();
    assert!(read.delivered >= N, "{read:?}");

    // Our code alone, on those very payloads, from their bytes as Lambda hands them over; the
    // median of PASSES passes (the first also pays for the allocator's first pages).
    let payloads: Vec<Vec<u8>> = events.iter().map(|e| serde_json::to_vec(e).expect("JSON")).collect();
    let mut records = 0;
    let mut passes: Vec<Duration> = (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            records = 0;
            for bytes in &payloads {
                let payload: Payload = serde_json::from_slice(bytes).expect("a payload");
                let Ok(Invocation::Batch { changes, .. }) = Invocation::parse(payload) else { panic!("a batch") };
                let mut batch = Batch::default();
                for change in &changes {
                    batch.add(change, start).expect("a readable record");
                }
                records += changes.len();
            }
            t.elapsed()
        })
        .collect();
    passes.sort();
    let ours = passes[PASSES / 2];
    let slowest = records as f64 / passes[PASSES - 1].as_secs_f64();

    // The whole path: the mapping hands the batches to the fold.
    let meter = Arc::new(CapacityMeter::default());
    let aggregator = Aggregator::new(DynamoRollups::new(table.metered(meter.clone())));
    let folds = Cell::new(0);
    let mut mapped = pump();
    let t = Instant::now();
    let pumped = mapped
        .drain(|event| {
            let (aggregator, folds) = (&aggregator, &folds);
            async move {
                let payload = Payload::from_json(event).map_err(|e| e.to_string())?;
                let Ok(Invocation::Batch { shard, changes }) = Invocation::parse(payload) else { panic!("a batch") };
                let folding = aggregator.fold(&shard, &changes, Timestamp::now()).await.map_err(|e| e.to_string())?;
                folds.set(folds.get() + folding.folds);
                Ok(answer())
            }
        })
        .await
        .expect("drain");
    let folding = t.elapsed();
    assert_eq!(pumped.discarded, 0);
    let (reads, writes) = (meter.read_units(), meter.write_units());
    let t = Instant::now();
    let idle = mapped.drain(|_| async { Err("idle: never invoked".to_owned()) }).await.expect("idle");
    let idle_time = t.elapsed();
    assert_eq!(idle.invocations, 0, "{idle:?}");

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| our code: stream records read from Lambda's payload and added up, per second | {:.0} ({records} in {:.1} ms, {:.1} MB of JSON; median of {PASSES} passes, slowest {slowest:.0}/s) |",
        records as f64 / ours.as_secs_f64(),
        ours.as_secs_f64() * 1000.0,
        payloads.iter().map(Vec::len).sum::<usize>() as f64 / 1e6
    );
    println!(
        "| DynamoDB Local: stream records read per second | {:.0} ({} in {:.2} s) |",
        read.read as f64 / reading.as_secs_f64(),
        read.read,
        reading.as_secs_f64()
    );
    println!(
        "| whole path: responses folded per second | {:.0} ({N} in {:.2} s; {} invocations, {} folds) |",
        N as f64 / folding.as_secs_f64(),
        folding.as_secs_f64(),
        pumped.invocations,
        folds.get()
    );
    println!("| write units per response (rollups and shard position) | {:.3} |", writes / N as f64);
    println!("| read units per batch | {:.1} |", reads / pumped.invocations as f64);
    println!("| idle pass | {:.1} ms, no invocation |", idle_time.as_secs_f64() * 1000.0);
}
