//! Trigger throughput and DynamoDB cost, in-process, against DynamoDB Local and the local SES:
//!
//!     infra/scripts/with-stack.sh cargo bench -p trigger --bench throughput
//!
//! Each accepted webhook runs the whole path (signature, rules, the transactional write, the
//! inline send through SES, the idempotency record). Capacity units are DynamoDB Local's own
//! figures for each call (`ReturnConsumedCapacity=TOTAL`, indexes included).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::Body;
use lambda_http::http::{Request, StatusCode};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{CapacityMeter, DynamoSurveys, Table};
use nps_adapters::ses::SesMailer;
use nps_domain::Timestamp;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::testing::{dynamodb, fresh_table, local_endpoint};
use trigger::sources::generic;
use trigger::{App, Config};

const SECRET: &str = "bench-webhook-secret-0123456789";
const SEQUENTIAL: usize = 300;
const CONCURRENT_TASKS: usize = 8;
const PER_TASK: usize = 50;
/// Webhooks before measuring: DynamoDB Local's JVM needs a few thousand calls before its latency
/// settles (see the capture benchmark in BENCHMARKS.md).
const WARM_UP: usize = 1500;

async fn app(meter: Arc<CapacityMeter>) -> App {
    local_endpoint("NPS_INBOX_URL");
    let client = dynamodb().await;
    let name = fresh_table(&client, "bench-trigger").await;
    let table = Table::new(client, name.clone()).metered(meter);
    let survey = Survey {
        id: SurveyId::parse("default").expect("valid id"),
        kind: SurveyKind::Transactional,
        product_name: "Bench Shop".into(),
        sender: "Bench Shop <surveys@bench.example>".into(),
        default_locale: Locale::En,
        throttle_days: 90,
        delay_seconds: 0,
        reminder_after_days: Some(3),
        segment_properties: vec!["product".into()],
        weight_properties: vec![],
        cadence: None,
    };
    DynamoSurveys::new(table.clone()).put(&survey).await.expect("survey stored");
    let vars: HashMap<&str, String> = HashMap::from([
        ("NPS_TABLE", name),
        ("NPS_PERSON_KEY", "bench-person-key-that-is-long-enough".into()),
        ("NPS_TOKEN_KEYS", "1:bench-token-key-that-is-long-enough-1234".into()),
        ("NPS_CAPTURE_BASE_URL", "https://nps.example".into()),
        ("NPS_WEBHOOK_SECRET_GENERIC", SECRET.into()),
    ]);
    let config = Config::from_lookup(&|k: &str| vars.get(k).cloned()).expect("config");
    App::new(config, table, SesMailer::new(SesMailer::client(&load_sdk_config().await), None))
}

fn delivery(run: &str, i: usize) -> Request<Body> {
    let body = format!(
        r#"{{"event_id":"{run}-{i}","email":"bench-{run}-{i}@example.com","transaction_id":"order-{run}-{i}","properties":{{"product":"Boots"}}}}"#
    );
    let signature = generic::sign(SECRET.as_bytes(), Timestamp::now().unix(), body.as_bytes());
    Request::builder()
        .method("POST")
        .uri("http://127.0.0.1/v1/triggers/generic")
        .header("content-type", "application/json")
        .header(generic::HEADER, signature)
        .body(Body::from(body))
        .expect("request")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let run = format!("{}", Timestamp::now().unix());
    let meter = Arc::new(CapacityMeter::default());
    let app = Arc::new(app(meter.clone()).await);
    for i in 0..WARM_UP {
        assert_eq!(app.handle(delivery(&format!("{run}-warm"), i)).await.status(), StatusCode::ACCEPTED);
    }

    // Sequential: latency of one accepted webhook, and what it costs.
    let (read_before, write_before) = (meter.read_units(), meter.write_units());
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let started = Instant::now();
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        let status = app.handle(delivery(&run, i)).await.status();
        latencies.push(t.elapsed());
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let sequential = started.elapsed();
    let reads = (meter.read_units() - read_before) / SEQUENTIAL as f64;
    let writes = (meter.write_units() - write_before) / SEQUENTIAL as f64;
    latencies.sort();

    // A repeat delivery of an event already handled.
    let (read_before, write_before) = (meter.read_units(), meter.write_units());
    for i in 0..100 {
        assert_eq!(app.handle(delivery(&run, i)).await.status(), StatusCode::OK);
    }
    let repeat_reads = (meter.read_units() - read_before) / 100.0;
    let repeat_writes = (meter.write_units() - write_before) / 100.0;

    // Concurrent: throughput with several deliveries in flight.
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|task| {
            let (app, run) = (app.clone(), format!("{run}-c{task}"));
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    assert_eq!(app.handle(delivery(&run, i)).await.status(), StatusCode::ACCEPTED);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let concurrent = started.elapsed();
    let total = CONCURRENT_TASKS * PER_TASK;

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| accepted webhooks, one at a time | {:.0}/s ({SEQUENTIAL} in {:.2} s) |",
        SEQUENTIAL as f64 / sequential.as_secs_f64(),
        sequential.as_secs_f64()
    );
    println!(
        "| latency p50 / p99 / max (inline send included) | {} / {} / {} |",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1])
    );
    println!(
        "| accepted webhooks, {CONCURRENT_TASKS} in flight | {:.0}/s ({total} in {:.2} s) |",
        total as f64 / concurrent.as_secs_f64(),
        concurrent.as_secs_f64()
    );
    println!("| capacity per accepted webhook (sent at once) | {reads:.2} read units, {writes:.2} write units |");
    println!("| capacity per repeat delivery | {repeat_reads:.2} read units, {repeat_writes:.2} write units |");
}
