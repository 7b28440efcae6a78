//! What one survey link can cost us (architecture invariant 9): 500 clicks (scores and user
//! agents of every kind) and 200 alternating confirmations with a long comment, through the real
//! capture function on DynamoDB Local, then the aggregator with a response webhook. Clicks that
//! add nothing write nothing, versions are capped, and a burst of versions is one event.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::{Method, StatusCode};
use nps_adapters::dynamo::{CapacityMeter, DynamoResponses, DynamoRollups};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use nps_domain::response::{MAX_CLICKS_KEPT, MAX_VERSIONS};
use serde_json::json;
use support::{capture_call, emailed_links, purchase_at, receiver, stack, unique};

const LINKS: &str = "https://nps.example";
/// Write units of the clicks: at most 20 kept (+3 for reasons) of an item under 2 KB here (short
/// agents). Each click written would cost about 500 for 250 clicks; measured: 31.
const CLICK_UNITS: f64 = 23.0 * 2.0;
/// Write units of the confirmations: at most 10 versions of an item under 4 KB (a 1,120-character
/// comment). Each confirmation written would cost about 800; measured: 30.
const CONFIRM_UNITS: f64 = 10.0 * 4.0;

#[tokio::test]
async fn one_link_clicked_500_times_and_confirmed_200_times_costs_a_bounded_few_writes_and_one_event() {
    let s = stack("one-link", LINKS, &["product"]).await;
    let start = Timestamp::now();
    let buyer = unique("clicker");
    let answer =
        purchase_at(&s, &buyer, &format!("order-{buyer}"), json!({"properties": {"product": "boots"}}), start).await;
    let id = RequestId::parse(answer["survey_request_id"].as_str().unwrap()).unwrap();
    let (link, _) = emailed_links(&s, &buyer, 0).await;
    let path = link.replace(LINKS, "").split('?').next().unwrap().to_owned();

    let meter = Arc::new(CapacityMeter::default());
    let capture = s.capture_on(s.table.clone().metered(meter.clone()));
    let at = |i: u64| start.plus(Duration::from_secs(600 + i));
    let mut rng = fastrand::Rng::with_seed(9);
    let agents: Vec<String> = (0..60).map(|i| format!("Mozilla/5.0 (rotating {i})")).collect();
    let mut click = async |i: u64| {
        let (score, agent) = (rng.u8(0..=10), &agents[rng.usize(..agents.len())]);
        let page =
            capture.handle_at(capture_call(Method::GET, &format!("{path}?score={score}"), agent, ""), at(i)).await;
        assert_eq!(page.status(), StatusCode::OK);
    };
    for i in 0..250 {
        click(i).await;
    }
    let clicks = meter.write_units();
    assert!(clicks <= CLICK_UNITS, "250 clicks cost {clicks} write units");

    let comment = "The boots leak at the seam; ".repeat(40);
    let mut refused = 0;
    for i in 0..200u64 {
        let form = format!("score={}&comment={}", 9 + i % 2, comment.replace(' ', "+"));
        let page =
            capture.handle_at(capture_call(Method::POST, &path, "Mozilla/5.0 (person)", &form), at(300 + i)).await;
        match page.status() {
            StatusCode::OK => {}
            // The page that says the answer can no longer be changed.
            StatusCode::CONFLICT if i >= u64::from(MAX_VERSIONS) => refused += 1,
            other => panic!("confirmation {i}: {other}"),
        }
    }
    assert_eq!(refused, 95, "every change after the tenth version (a repeat of the last is no change)");
    let confirmations = meter.write_units() - clicks;
    assert!(confirmations <= CONFIRM_UNITS, "200 confirmations cost {confirmations} write units");
    for i in 250..500 {
        click(600 + i).await;
    }
    let later_clicks = meter.write_units() - clicks - confirmations;
    assert_eq!(later_clicks, 0.0, "once the evidence is full, a click without a new reason writes nothing");
    println!("write units: 250 clicks {clicks}, 200 confirmations {confirmations}, 250 more clicks {later_clicks}");

    let stored = DynamoResponses::new(s.table.clone()).get(id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.clicks.len()), (MAX_VERSIONS, MAX_CLICKS_KEPT));
    assert!(stored.suspected_bot(), "60 agents sweeping scores: {:?}", stored.bot_reasons);

    // One event, the latest version, for the whole burst.
    let (url, received) = receiver(0).await;
    let vars = BTreeMap::from([
        ("NPS_RESPONSE_WEBHOOK_URL", url),
        ("NPS_RESPONSE_WEBHOOK_SECRET", "one-link-webhook-secret-0123456789".to_owned()),
    ]);
    let webhooks = nps_aggregation::config::ResponseWebhookSettings::from_lookup(&|k: &str| vars.get(k).cloned())
        .unwrap()
        .unwrap()
        .build(s.table.clone());
    let aggregator = Aggregator::new(DynamoRollups::new(s.table.clone())).with_response_webhooks(webhooks);
    let report = support::aggregate(&s.table, &aggregator, at(2000)).await;
    assert_eq!((report.events_raised, report.events_delivered), (1, 1), "{report:?}");
    let posts = received.lock().unwrap();
    assert_eq!(posts[0].body["data"]["version"], json!(MAX_VERSIONS));
    assert_eq!(posts[0].body["type"], "response.created", "the first the receiver hears of it");
}
