//! Metrics latency and read cost, in-process, against DynamoDB Local:
//!
//!     infra/scripts/with-stack.sh cargo bench -p api --bench latency
//!
//! A year of daily rollups for one survey with three segment dimensions (product ×4, region ×3,
//! plan ×2), then `GET /v1/metrics` calls over the whole year: the survey, a segment, a breakdown,
//! by day, week and month. Then `GET /v1/themes` over the same year, whose days hold
//! `COMMENTS_PER_DAY` commented answers each: the first call (every day counted from its comments
//! and cached), then calls that read the cache. Capacity units are DynamoDB Local's own figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::Body;
use lambda_http::http::{Request, StatusCode};
use nps_adapters::dynamo::{CapacityMeter, DynamoApiKeys, DynamoResponses, DynamoRollups, DynamoSurveys, Scope, Table};
use nps_domain::Timestamp;
use nps_domain::fixtures;
use nps_domain::rollup::{ALL, Counts, Deltas, RollupKey};
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::testing::{dynamodb, fresh_table};

const DIMENSIONS: [(&str, &[&str]); 3] = [
    ("product", &["boots", "hats", "socks", "gloves"]),
    ("region", &["north", "south", "west"]),
    ("plan", &["free", "pro"]),
];
const DAYS: i64 = 365;
/// 2025-11-24T12:00:00Z: the year ends on 2026-11-23.
const FIRST_DAY: i64 = 1_763_985_600;
const WARM_UP: usize = 300;
const COMMENTS_PER_DAY: usize = 10;
const CALLS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A year of rollups: every day, in `all` and in one value of each dimension.
fn year(survey: &SurveyId) -> Deltas {
    let mut deltas = Deltas::default();
    for d in 0..DAYS {
        let day = nps_domain::rollup::day(Timestamp::from_unix(FIRST_DAY + d * 86_400));
        let key = |dimension: &str, value: &str| RollupKey {
            survey: survey.clone(),
            dimension: dimension.into(),
            value: value.into(),
            day: day.clone(),
        };
        // `all` holds what each dimension's values hold together (an answer has one value each).
        let mut all = Counts::default();
        for (i, (dimension, values)) in DIMENSIONS.iter().enumerate() {
            for (j, value) in values.iter().enumerate() {
                let mut counts = Counts::default();
                if i == 0 {
                    counts = Counts { sent: 40, unconfirmed: 3, suspected_bot: 1, ..Counts::default() };
                    for (score, n) in counts.scores.iter_mut().enumerate() {
                        *n = ((score as i64 + d + j as i64) % 4) + i64::from(score >= 9) * 3;
                    }
                    all.add(&counts, 1);
                } else {
                    // The other dimensions split the same answers differently: a share of `all`.
                    counts.scores = all.scores.map(|n| n / values.len() as i64);
                }
                deltas.add_to(&[key(dimension, value)], &counts, 1);
            }
        }
        // The fingerprint of the day's comments (`year_of_comments` writes them).
        all.comments = d + 1;
        deltas.add_to(&[key(ALL, ALL)], &all, 1);
    }
    deltas
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = dynamodb().await;
    let name = fresh_table(&client, "bench-metrics").await;
    let table = Table::new(client, name);
    let survey = SurveyId::parse("default").expect("id");
    DynamoSurveys::new(table.clone())
        .put(&Survey {
            id: survey.clone(),
            kind: SurveyKind::Transactional,
            product_name: "Bench Shop".into(),
            sender: "surveys@bench.example".into(),
            default_locale: Locale::En,
            throttle_days: 0,
            delay_seconds: 0,
            reminder_after_days: None,
            segment_properties: DIMENSIONS.iter().map(|(d, _)| (*d).to_owned()).collect(),
            weight_properties: vec![],
            cadence: None,
        })
        .await
        .expect("survey");
    let written = DynamoRollups::new(table.clone()).write_generation(1, &year(&survey)).await.expect("rollups");
    eprintln!("{} rollup items written", written.len());
    let (_, key) = DynamoApiKeys::new(table.clone()).create(Scope::Read, "bench", Timestamp::now()).await.expect("key");

    let meter = Arc::new(CapacityMeter::default());
    let app = api::App::new(table.clone().metered(meter.clone()));
    let now = Timestamp::from_unix(FIRST_DAY + DAYS * 86_400);
    let call = |query: &str| {
        Request::builder()
            .uri(format!("http://127.0.0.1/v1/metrics?survey=default&since=2025-11-24&until=2026-11-23&{query}"))
            .header("authorization", format!("Bearer {key}"))
            .body(Body::Empty)
            .expect("request")
    };
    let cases = [
        ("the survey, by day (365 buckets)", "granularity=day"),
        ("the survey, by week, with the previous year", "granularity=week&compare=previous_period"),
        ("one segment, by month", "segment.product=hats&granularity=month"),
        ("a breakdown by product (4 groups), by week", "group_by=product&granularity=week"),
    ];
    for _ in 0..WARM_UP {
        for (_, query) in &cases {
            let response = app.handle_at(call(query), now).await;
            assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
        }
    }
    println!("| call (a year of daily rollups, 3 dimensions) | p50 / p99 | read units per call |");
    println!("|---|---|---|");
    for (what, query) in &cases {
        let before = meter.read_units();
        let mut times = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let started = Instant::now();
            let response = app.handle_at(call(query), now).await;
            times.push(started.elapsed());
            assert_eq!(response.status(), StatusCode::OK);
        }
        times.sort();
        let units = (meter.read_units() - before) / CALLS as f64;
        println!("| {what} | {} / {} | {units:.1} |", ms(percentile(&times, 0.5)), ms(percentile(&times, 0.99)));
    }

    // Themes: the same year, each day with its commented answers (in its rollup's fingerprint).
    let comments = year_of_comments(&table, &survey).await;
    eprintln!("{comments} commented answers written");
    let themes = || {
        Request::builder()
            .uri("http://127.0.0.1/v1/themes?survey=default&since=2025-11-24&until=2026-11-23")
            .header("authorization", format!("Bearer {key}"))
            .body(Body::Empty)
            .expect("request")
    };
    let (before, started) = (meter.read_units(), Instant::now());
    let response = app.handle_at(themes(), now).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    println!(
        "| themes, the first call: {DAYS} days counted from {comments} comments and cached | {} | {:.1} |",
        ms(started.elapsed()),
        meter.read_units() - before
    );
    let before = meter.read_units();
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let response = app.handle_at(themes(), now).await;
        times.push(started.elapsed());
        assert_eq!(response.status(), StatusCode::OK);
    }
    times.sort();
    let units = (meter.read_units() - before) / CALLS as f64;
    let (p50, p99) = (ms(percentile(&times, 0.5)), ms(percentile(&times, 0.99)));
    println!("| themes over the year from the cache (with example comments) | {p50} / {p99} | {units:.1} |");
}

/// `COMMENTS_PER_DAY` confirmed answers with a comment on each day of the year (the rollups of
/// `year` hold their days' fingerprints).
async fn year_of_comments(table: &Table, survey: &SurveyId) -> usize {
    use futures_util::stream::{self, StreamExt};
    use nps_domain::response::Comment;
    let words = ["stove", "broken", "late", "great", "tent", "price", "staff", "helpful", "box", "week", "again"];
    let responses = DynamoResponses::new(table.clone());
    let mut answers = Vec::new();
    for d in 0..DAYS {
        let at = Timestamp::from_unix(FIRST_DAY + d * 86_400);
        for i in 0..COMMENTS_PER_DAY {
            let n = d as usize * COMMENTS_PER_DAY + i;
            let request = fixtures::sent_request(n, survey.as_str(), &[], at.plus(Duration::from_secs(i as u64)));
            let score = [1, 4, 8, 9, 10][n % 5];
            let text: Vec<&str> = (0..6).map(|k| words[(n * 7 + k * 3) % words.len()]).collect();
            let mut r = fixtures::response(&request, SurveyKind::Transactional, Some(score), 1);
            r.comment = Comment::parse(&text.join(" ")).expect("a comment");
            answers.push(r);
        }
    }
    let written = answers.len();
    let expires = Timestamp::from_unix(FIRST_DAY + 3 * DAYS * 86_400);
    stream::iter(answers.into_iter().map(|mut r| {
        let responses = &responses;
        async move { responses.save(&mut r, expires).await.expect("saved") }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    written
}
