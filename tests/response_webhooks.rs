//! Outbound response webhooks through the aggregate run, against DynamoDB Local and a receiver on
//! loopback: a confirmation posts one signed `response.created`, a change one `response.updated`,
//! a receiver that fails gets the event again after the backoff, and nothing is posted twice.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_http::http::{Method, StatusCode};
use nps_adapters::dynamo::DynamoRollups;
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use serde_json::{Value, json};
use support::{Stack, capture_call, emailed_links, enps_survey, purchase_at, receiver, stack, unique};

const LINKS: &str = "https://nps.example";
const SECRET: &str = "response-webhook-secret-0123456789";

async fn aggregator(s: &Stack, url: &str) -> Aggregator {
    let vars = BTreeMap::from([
        ("NPS_RESPONSE_WEBHOOK_URL", url.to_owned()),
        ("NPS_RESPONSE_WEBHOOK_SECRET", SECRET.to_owned()),
    ]);
    let lookup = |k: &str| vars.get(k).cloned();
    let webhooks = nps_aggregation::config::ResponseWebhookSettings::from_lookup(&lookup)
        .unwrap()
        .expect("configured")
        .build(s.table.clone());
    Aggregator::new(DynamoRollups::new(s.table.clone())).with_response_webhooks(webhooks)
}

/// Purchases for `email` (in `survey`) at `at` and answers `form` an hour later; the link's path.
async fn answered(s: &Stack, email: &str, fields: Value, at: Timestamp, form: &str) -> String {
    purchase_at(s, email, &format!("order-{email}"), fields, at).await;
    let (link, _) = emailed_links(s, email, 0).await;
    let path = link.replace(LINKS, "").split('?').next().unwrap().to_owned();
    let page = s
        .capture
        .handle_at(capture_call(Method::POST, &path, "Mozilla/5.0 (person)", form), at.plus(Duration::from_secs(3600)))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    path
}

#[tokio::test]
async fn each_confirmed_version_is_posted_once_signed_and_retried_after_a_failure() {
    let s = stack("response-webhooks", LINKS, &["product"]).await;
    // The receiver fails its first request: the event comes again after the backoff.
    let (url, received) = receiver(1).await;
    let aggregator = aggregator(&s, &url).await;
    let start = Timestamp::now();
    let minutes = |m: u64| start.plus(Duration::from_secs(3600 + m * 60));

    let buyer = unique("crm");
    let path = answered(&s, &buyer, json!({"properties": {"product": "boots"}}), start, "score=9&comment=Fast").await;
    let report = support::aggregate(&s.table, &aggregator, minutes(0)).await;
    assert_eq!((report.events_raised, report.events_delivered), (1, 0), "the receiver failed: {report:?}");
    let report = support::aggregate(&s.table, &aggregator, minutes(0)).await;
    assert_eq!(report.events_delivered, 0, "not before the backoff: {report:?}");
    let report = support::aggregate(&s.table, &aggregator, minutes(2)).await;
    assert_eq!(report.events_delivered, 1, "{report:?}");
    {
        let posts = received.lock().unwrap();
        assert_eq!(posts.len(), 2, "one failed attempt, one delivery");
        posts[1].assert_signed(SECRET);
        let (event_id, body) = (&posts[1].event_id, &posts[1].body);
        assert_eq!(body, &posts[0].body, "the same event again");
        assert_eq!(body["type"], "response.created");
        assert_eq!(event_id, body["id"].as_str().unwrap());
        let data = &body["data"];
        assert_eq!(
            (data["score"].clone(), data["comment"].clone(), data["version"].clone()),
            (json!(9), json!("Fast"), json!(1))
        );
        assert_eq!(data["email"], json!(buyer), "for the CRM's contact");
        assert_eq!(data["person_properties"], json!({"product": "boots"}));
        assert_eq!(data["survey_type"], "transactional");
    }

    // A change is one response.updated; a click alone and later runs post nothing.
    s.capture.handle_at(capture_call(Method::POST, &path, "Mozilla/5.0 (person)", "score=10"), minutes(3)).await;
    s.capture
        .handle_at(capture_call(Method::GET, &format!("{path}?score=4"), "Mozilla/5.0 (person)", ""), minutes(3))
        .await;
    let report = support::aggregate(&s.table, &aggregator, minutes(4)).await;
    assert_eq!((report.events_raised, report.events_delivered), (1, 1), "{report:?}");
    let report = support::aggregate(&s.table, &aggregator, minutes(10)).await;
    assert_eq!((report.events_raised, report.events_delivered), (0, 0), "{report:?}");
    {
        let posts = received.lock().unwrap();
        assert_eq!(posts.len(), 3);
        posts[2].assert_signed(SECRET);
        let body = &posts[2].body;
        assert_eq!(
            (body["type"].clone(), body["data"]["score"].clone(), body["data"]["version"].clone()),
            (json!("response.updated"), json!(10), json!(2))
        );
    }

    // eNPS answers are anonymous: no event at all (docs/enps.md).
    enps_survey(&s, "staff", &[]).await;
    answered(&s, &unique("staff"), json!({"survey": "staff"}), start, "score=6").await;
    let report = support::aggregate(&s.table, &aggregator, minutes(11)).await;
    assert_eq!((report.events_raised, report.events_delivered), (0, 0), "{report:?}");
    assert_eq!(received.lock().unwrap().len(), 3);
}
