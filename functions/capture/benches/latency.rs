//! Capture latency and DynamoDB cost, in-process, against DynamoDB Local:
//!
//!     infra/scripts/with-stack.sh cargo bench -p capture --bench latency
//!
//! For each of N survey requests: a person's click (`GET /r/{token}?score=N`), then their
//! confirmation (`POST`). Capacity units are DynamoDB Local's own figures for each call.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use capture::{App, Config};
use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{CapacityMeter, DynamoRequests, DynamoSurveys, Table};
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, RequestState, SurveyRequest};
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_domain::token::{self, TokenKeys};
use nps_domain::{EmailAddress, Timestamp};
use nps_local_stack::testing::{dynamodb, fresh_table};

const KEYS: &str = "1:bench-capture-token-key-long-enough-1";
const N: usize = 500;
/// Answers before measuring: DynamoDB Local runs on a JVM whose JIT needs a few thousand calls
/// before its latency settles (with 20, the p99 was three times higher).
const WARM_UP: usize = 3000;

fn request(method: Method, path: String, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("user-agent", "Mozilla/5.0 (bench)")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = dynamodb().await;
    let name = fresh_table(&client, "bench-capture").await;
    let meter = Arc::new(CapacityMeter::default());
    let setup = Table::new(client.clone(), name.clone());
    let survey = Survey {
        id: SurveyId::parse("default").expect("id"),
        kind: SurveyKind::Transactional,
        product_name: "Bench Shop".into(),
        sender: "Bench Shop <surveys@bench.example>".into(),
        default_locale: Locale::En,
        throttle_days: 0,
        delay_seconds: 0,
        reminder_after_days: None,
        segment_properties: vec!["product".into()],
        weight_properties: vec![],
        cadence: None,
    };
    DynamoSurveys::new(setup.clone()).put(&survey).await.expect("survey");
    let keys = TokenKeys::parse(KEYS).expect("keys");
    let sent = Timestamp::from_unix(Timestamp::now().unix() - 3600);
    let requests = DynamoRequests::new(setup);
    let mut tokens = Vec::with_capacity(N + WARM_UP);
    for i in 0..N + WARM_UP {
        let r = SurveyRequest {
            id: RequestId::new(sent),
            survey_id: survey.id.clone(),
            person_id: PersonId::from_stored(&format!("{i:032x}")).expect("person"),
            email: EmailAddress::parse(&format!("bench-{i}@example.com")).expect("email"),
            name: None,
            locale: Locale::En,
            properties: BTreeMap::from([("product".into(), "boots".into())]),
            person_properties: BTreeMap::new(),
            weights: Default::default(),
            source: "generic".into(),
            event_id: format!("e{i}"),
            transaction_id: None,
            created_at: sent,
            due_at: sent,
            state: RequestState::Sent,
            attempts: 0,
            lease_until: None,
            sent_at: Some(sent),
        };
        requests.create(&r, None, sent.plus(Duration::from_secs(86_400)), sent).await.expect("request");
        tokens.push(token::sign(&keys, r.id, sent.plus(Duration::from_secs(60 * 86_400))));
    }
    let vars: HashMap<&str, String> = HashMap::from([("NPS_TABLE", name.clone()), ("NPS_TOKEN_KEYS", KEYS.into())]);
    let config = Config::from_lookup(&|k: &str| vars.get(k).cloned()).expect("config");
    let app = App::new(config, Table::new(client.clone(), name.clone()).metered(meter.clone()));
    // The yardstick: one bare GetItem round trip to DynamoDB Local, timed beside each answer so
    // that both see the same machine; capture's figures are also given as multiples of it.
    let round_trip = || async {
        let t = Instant::now();
        client.get_item().table_name(&name).key("pk", s("SURVEY")).key("sk", s("default")).send().await.expect("get");
        t.elapsed()
    };

    for token in &tokens[N..] {
        app.handle(request(Method::GET, format!("/r/{token}?score=8"), "")).await;
        app.handle(request(Method::POST, format!("/r/{token}"), "score=8")).await;
    }
    let (reads_before, writes_before) = (meter.read_units(), meter.write_units());
    let (mut clicks, mut confirms, mut trips) = (Vec::with_capacity(N), Vec::with_capacity(N), Vec::with_capacity(N));
    for token in &tokens[..N] {
        trips.push(round_trip().await);
        let t = Instant::now();
        let page = app.handle(request(Method::GET, format!("/r/{token}?score=9"), "")).await;
        clicks.push(t.elapsed());
        assert_eq!(page.status(), StatusCode::OK);
        let t = Instant::now();
        let thanks = app.handle(request(Method::POST, format!("/r/{token}"), "score=9&comment=Quick+delivery")).await;
        confirms.push(t.elapsed());
        assert_eq!(thanks.status(), StatusCode::OK);
    }
    clicks.sort();
    confirms.sort();
    trips.sort();
    let p = |v: &[Duration], q: f64| percentile(v, q);
    let times = |v: &[Duration], q: f64| p(v, q).as_secs_f64() / p(&trips, q).as_secs_f64();
    let reads = (meter.read_units() - reads_before) / N as f64;
    let writes = (meter.write_units() - writes_before) / N as f64;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| one bare GetItem round trip, p50 / p99 | {} / {} |", ms(p(&trips, 0.5)), ms(p(&trips, 0.99)));
    for (what, v) in
        [("click (GET, page rendered, click stored)", &clicks), ("confirmation (POST, answer stored)", &confirms)]
    {
        println!(
            "| {what}, p50 / p99 | {} / {} ({:.1} / {:.1} round trips) |",
            ms(p(v, 0.5)),
            ms(p(v, 0.99)),
            times(v, 0.5),
            times(v, 0.99)
        );
    }
    println!(
        "| capacity per confirmed response (one click + one confirmation) | {reads:.2} read units, {writes:.2} write units |"
    );
}
