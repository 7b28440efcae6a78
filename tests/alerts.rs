//! Alerts through the aggregate run, against DynamoDB Local, the local SES inbox and a webhook
//! receiver on loopback: a detractor's answer alerts once, by email and by a signed webhook, after
//! the next run and never again; a synthetic drop in one product alerts once, naming it.

use crate::support;

use std::collections::BTreeMap;

use lambda_http::http::{Method, StatusCode};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{DynamoResponses, DynamoRollups};
use nps_adapters::ses::SesMailer;
use nps_aggregation::Aggregator;
use nps_aggregation::config::AlertSettings;
use nps_domain::response::Response;
use nps_domain::survey::SurveyKind;
use nps_domain::{Timestamp, fixtures};
use serde_json::json;
use support::{Stack, capture_call, emailed_links, emails_to, purchase, receiver, stack, unique};

const LINKS: &str = "https://nps.example";
const WEBHOOK_SECRET: &str = "alerts-webhook-secret-0123456789";
const PERSON: &str = "Mozilla/5.0 (person)";

/// The aggregator with alerts to `cx` by email and to `webhook`, configured as in Lambda.
async fn aggregator(s: &Stack, cx: &str, webhook: &str) -> Aggregator {
    let vars: BTreeMap<&str, String> = BTreeMap::from([
        ("NPS_ALERT_EMAILS", cx.to_owned()),
        ("NPS_ALERT_FROM", "NPS alerts <alerts@journey.example>".to_owned()),
        ("NPS_ALERT_WEBHOOK_URL", webhook.to_owned()),
        ("NPS_ALERT_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
    ]);
    let lookup = |k: &str| vars.get(k).cloned();
    let sdk = load_sdk_config().await;
    let alerting = AlertSettings::from_lookup(&lookup)
        .unwrap()
        .expect("channels configured")
        .build(s.table.clone(), SesMailer::new(SesMailer::client(&sdk), None));
    Aggregator::new(DynamoRollups::new(s.table.clone())).with_alerting(alerting)
}

#[tokio::test]
async fn a_detractor_alerts_once_by_email_and_signed_webhook() {
    let s = stack("alerts-detractor", LINKS, &["product"]).await;
    let (url, received) = receiver(0).await;
    let cx = unique("cx");
    let aggregator = aggregator(&s, &cx, &url).await;

    let mut paths = Vec::new();
    for (i, product) in ["boots", "hats"].into_iter().enumerate() {
        let email = unique(&format!("buyer{i}"));
        purchase(&s, &email, &format!("order-{email}"), json!({ "product": product })).await;
        let (link, _) = emailed_links(&s, &email, 0).await;
        paths.push(link.replace(LINKS, "").split('?').next().unwrap().to_owned());
    }
    let answer = |path: &str, form: &str| capture_call(Method::POST, path, PERSON, form);
    let page = s.capture.handle(answer(&paths[0], "score=3&comment=%3Cb%3ETook+three+weeks%3C%2Fb%3E")).await;
    assert_eq!(page.status(), StatusCode::OK);
    s.capture.handle(answer(&paths[1], "score=10")).await;

    let report = support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    assert_eq!((report.alerts_raised, report.alerts_delivered), (1, 1), "{report:?}");
    let emails = emails_to(&s, &cx).await;
    assert_eq!(emails.len(), 1, "one alert email");
    assert_eq!(emails[0]["subject"], "Detractor on default: 3/10 (product=boots)");
    let text = emails[0]["body"]["text"].as_str().unwrap();
    assert!(text.contains("“<b>Took three weeks</b>”"), "{text}");
    let html = emails[0]["body"]["html"].as_str().unwrap();
    assert!(html.contains("&lt;b&gt;Took three weeks&lt;/b&gt;") && !html.contains("<b>"), "{html}");
    {
        let hooks = received.lock().unwrap();
        assert_eq!(hooks.len(), 1, "one webhook call");
        hooks[0].assert_signed(WEBHOOK_SECRET);
        let (event, body) = (&hooks[0].event_id, &hooks[0].body);
        assert!(event.starts_with("ALERT#detractor#"), "{event}");
        assert_eq!((body["alert"]["kind"].clone(), body["alert"]["score"].clone()), (json!("detractor"), json!(3)));
        assert_eq!(body["alert"]["segment"], json!({"product": "boots"}));
        assert!(body["text"].as_str().unwrap().contains("&lt;b&gt;Took three weeks&lt;/b&gt;"), "Slack escaping");
    }

    // The next run, a change of the same answer to another detractor score, and a run after it:
    // nothing new.
    let report = support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    assert_eq!((report.alerts_raised, report.alerts_delivered), (0, 0), "{report:?}");
    s.capture.handle(answer(&paths[0], "score=2")).await;
    let report = support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    assert!(report.folds > 0 && report.alerts_raised == 0, "{report:?}");
    assert_eq!(emails_to(&s, &cx).await.len(), 1);
    assert_eq!(received.lock().unwrap().len(), 1);
}

fn response(i: usize, product: &str, score: u8, at: Timestamp) -> Response {
    let request = fixtures::sent_request(i, "default", &[("product", product)], at);
    fixtures::response(&request, SurveyKind::Transactional, Some(score), 1)
}

#[tokio::test]
async fn a_drop_in_one_product_alerts_once_naming_it() {
    let s = stack("alerts-drop", LINKS, &["product"]).await;
    let (url, received) = receiver(0).await;
    let cx = unique("cx-drop");
    let aggregator = aggregator(&s, &cx, &url).await;

    // Boots go from promoters (8 to 30 days ago) to detractors (the last 6 days); hats the other
    // way, so the survey as a whole does not move.
    let now = Timestamp::now();
    let ago = |days: u64, i: usize| Timestamp::from_unix(now.unix() - (days * 86_400) as i64 - i as i64);
    let responses = DynamoResponses::new(s.table.clone());
    for i in 0..35 {
        let (before, recent) = (ago(8 + (i as u64 % 22), i), ago(i as u64 % 6, i));
        // Every fifth answer a passive: real answers have some spread (and z needs it).
        let (boots_before, boots_recent) = if i % 5 == 0 { (7, 8) } else { (10, 2) };
        let (hats_before, hats_recent) = if i % 5 == 0 { (7, 7) } else { (1, 9) };
        for (j, (product, score, at)) in [
            ("boots", boots_before, before),
            ("boots", boots_recent, recent),
            ("hats", hats_before, before),
            ("hats", hats_recent, recent),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = response(i * 4 + j, product, score, at);
            responses.save(&mut r, now.plus(std::time::Duration::from_secs(86_400 * 30))).await.unwrap();
        }
    }

    // The detractors confirmed in the last 48 hours alert too (one each; the 47 older ones do
    // not), so runs go on until every alert is out.
    let report = support::aggregate(&s.table, &aggregator, now).await;
    assert!(report.drops_checked, "{report:?}");
    let fresh_detractors = (0..35).filter(|i| i % 5 != 0 && i % 6 < 2).count();
    assert_eq!(fresh_detractors, 9);
    assert_eq!(report.alerts_raised, fresh_detractors + 1, "9 detractors and one drop: {report:?}");
    let mut later = now;
    while support::aggregate(&s.table, &aggregator, later).await.alerts_delivered > 0 {
        later = later.plus(std::time::Duration::from_secs(1));
    }
    let drop_emails = || async {
        let emails = emails_to(&s, &cx).await;
        emails.into_iter().filter(|e| e["subject"].as_str().unwrap().starts_with("NPS drop")).collect::<Vec<_>>()
    };
    let emails = drop_emails().await;
    assert_eq!(emails.len(), 1, "one drop alert");
    assert_eq!(emails[0]["subject"], "NPS drop on default, product=boots");
    let text = emails[0]["body"]["text"].as_str().unwrap();
    assert!(text.contains("NPS -80.0") && text.contains("against 80.0") && text.contains("(n = 35)"), "{text}");
    {
        let hooks = received.lock().unwrap();
        let drops: Vec<_> = hooks.iter().filter(|post| post.body["alert"]["kind"] == "drop").collect();
        assert_eq!(drops.len(), 1);
        drops[0].assert_signed(WEBHOOK_SECRET);
        let body = &drops[0].body;
        assert_eq!(
            (body["alert"]["dimension"].clone(), body["alert"]["value"].clone()),
            (json!("product"), json!("boots"))
        );
        assert!(body["alert"]["z"].as_f64().unwrap() < -1.96);
        assert_eq!(hooks.len(), fresh_detractors + 1, "every alert once");
    }

    // A check in the next hour of the same day raises nothing new: one drop alert a day.
    let next_hour = now.plus(std::time::Duration::from_secs(3600));
    let report = support::aggregate(&s.table, &aggregator, next_hour).await;
    assert!(report.drops_checked, "{report:?}");
    if nps_domain::rollup::day(now) == nps_domain::rollup::day(next_hour) {
        assert_eq!(report.alerts_raised, 0, "{report:?}");
        assert_eq!(drop_emails().await.len(), 1);
    }
}
