//! Aggregation throughput and cost, against DynamoDB Local and its stream:
//!
//!     infra/scripts/with-stack.sh cargo bench -p nps-aggregation --bench throughput
//!
//! Writes N confirmed responses (3 products, 7 days), then times one run that folds them all,
//! and an idle run after it. Capacity units are DynamoDB Local's own figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{CapacityMeter, DynamoResponses, DynamoRollups, Table, TableStream};
use nps_aggregation::Aggregator;
use nps_domain::response::Response;
use nps_domain::survey::SurveyKind;
use nps_domain::{Timestamp, fixtures};
use nps_local_stack::testing::{dynamodb, fresh_table};

const N: usize = 20_000;
const WRITERS: usize = 16;
const PRODUCTS: [&str; 3] = ["boots", "hats", "socks"];

fn response(i: usize, start: Timestamp) -> Response {
    let at = start.plus(Duration::from_secs((i % 7) as u64 * 86_400 + (i / 7 % 3600) as u64));
    let request = fixtures::sent_request(i, "default", &[("product", PRODUCTS[i % 3])], at);
    fixtures::response(&request, SurveyKind::Transactional, Some((i * 7 % 11) as u8), 1)
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

    let arn = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("stream");
    let meter = Arc::new(CapacityMeter::default());
    let streams = aws_sdk_dynamodbstreams::Client::new(&load_sdk_config().await);
    let aggregator = Aggregator::new(TableStream::new(streams, arn), DynamoRollups::new(table.metered(meter.clone())));

    let t = Instant::now();
    let report = aggregator.run(usize::MAX, Timestamp::now()).await.expect("run");
    let folding = t.elapsed();
    // Also counted: the records of the run's own writes (rollups, checkpoint), which fold to nothing.
    assert!(report.changes >= N, "{report:?}");
    let (reads, writes) = (meter.read_units(), meter.write_units());
    let t = Instant::now();
    let idle = aggregator.run(usize::MAX, Timestamp::now()).await.expect("idle run");
    let idle_time = t.elapsed();
    assert_eq!(idle.folds, 0);

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| pending responses folded per second | {:.0} ({N} in {:.2} s, {} folds) |",
        N as f64 / folding.as_secs_f64(),
        folding.as_secs_f64(),
        report.folds
    );
    println!("| write units per response (rollups and checkpoint) | {:.3} |", writes / N as f64);
    println!("| read units per run | {reads:.1} |");
    println!(
        "| idle run | {:.1} ms, {:.1} read units, no writes |",
        idle_time.as_secs_f64() * 1000.0,
        meter.read_units() - reads
    );
}
