//! The intake rules, the outbox and dispatch, against DynamoDB Local and the local SES; every
//! email is read back from the local inbox. Each test has its own table and recipients.

use std::collections::BTreeMap;
use std::time::Duration;

use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{DynamoPeople, DynamoSurveys, SuppressionReason, Table};
use nps_adapters::ses::SesMailer;
use nps_domain::intake::{Outcome, SkipReason, Status, TriggerEvent};
use nps_domain::person::{PersonId, PersonKey};
use nps_domain::request::{RequestId, RequestState};
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_domain::token::{self, TokenKeys};
use nps_domain::{EmailAddress, Timestamp};
use nps_local_stack::testing::{dynamodb, fresh_table, local_endpoint};
use nps_sending::{IntakeError, Outbox, SendingConfig};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(86_400);
const LINKS: &str = "http://127.0.0.1:9/capture";

fn config() -> SendingConfig {
    SendingConfig {
        person_key: PersonKey::new("test-person-key-that-is-long-enough").unwrap(),
        token_keys: TokenKeys::parse("1:test-token-key-that-is-long-enough-1234").unwrap(),
        links_base: LINKS.into(),
        token_ttl: SendingConfig::DEFAULT_TOKEN_TTL,
        retention: SendingConfig::DEFAULT_RETENTION,
        default_survey: SurveyId::parse("default").unwrap(),
        fatigue: None,
        cadence_day: nps_domain::survey::CADENCE_DAY,
    }
}

fn survey(reminder_after_days: Option<u32>) -> Survey {
    Survey {
        id: SurveyId::parse("default").unwrap(),
        kind: SurveyKind::Transactional,
        product_name: "Example Shop".into(),
        sender: "Example Shop <surveys@shop.example>".into(),
        default_locale: Locale::En,
        throttle_days: 90,
        delay_seconds: 0,
        reminder_after_days,
        segment_properties: vec!["product".into()],
        weight_properties: vec![],
        cadence: None,
    }
}

struct Harness {
    outbox: Outbox<SesMailer>,
    table: Table,
    inbox: String,
}

async fn harness(purpose: &str, survey: Survey) -> Harness {
    harness_with_mailer(purpose, survey, None).await
}

/// `ses_endpoint` overrides where mail goes (to simulate an outage).
async fn harness_with_mailer(purpose: &str, survey: Survey, ses_endpoint: Option<&str>) -> Harness {
    let inbox = local_endpoint("NPS_INBOX_URL");
    let client = dynamodb().await;
    let table = Table::new(client.clone(), fresh_table(&client, purpose).await);
    DynamoSurveys::new(table.clone()).put(&survey).await.unwrap();
    let ses = SesMailer::client(&load_sdk_config().await);
    let ses = match ses_endpoint {
        Some(url) => aws_sdk_sesv2::Client::from_conf(ses.config().to_builder().endpoint_url(url).build()),
        None => ses,
    };
    Harness { outbox: Outbox::new(table.clone(), SesMailer::new(ses, None), config()), table, inbox }
}

fn unique_address(label: &str) -> EmailAddress {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    EmailAddress::parse(&format!("{label}-{}-{nanos}@example.com", std::process::id())).unwrap()
}

fn event(email: &EmailAddress, event_id: &str, transaction: &str) -> TriggerEvent {
    TriggerEvent {
        event_id: event_id.into(),
        email: email.clone(),
        name: Some("Ana".into()),
        locale: None,
        survey: None,
        transaction_id: Some(transaction.into()),
        occurred_at: None,
        send_at: None,
        delay: None,
        properties: BTreeMap::from([("product".into(), "boots".into()), ("secret_note".into(), "x".into())]),
    }
}

/// Emails the local SES holds for `to`, oldest first.
async fn inbox_for(inbox: &str, to: &EmailAddress) -> Vec<Value> {
    let store: Value = reqwest::get(format!("{inbox}/store")).await.unwrap().json().await.unwrap();
    store["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["destination"]["to"].as_array().is_some_and(|to_list| to_list.iter().any(|a| a == to.as_str())))
        .cloned()
        .collect()
}

fn now() -> Timestamp {
    Timestamp::now()
}

#[tokio::test]
async fn an_event_due_now_sends_one_email_whose_links_verify() {
    let h = harness("send-now", survey(None)).await;
    let to = unique_address("now");
    let t = now();
    let accepted = h.outbox.accept("generic", &event(&to, "evt-1", "order-1"), t).await.unwrap();
    assert_eq!(accepted.outcome.status, Status::Sent, "{accepted:?}");
    assert!(!accepted.repeat);
    let request_id = accepted.outcome.survey_request_id.clone().unwrap();
    assert_eq!(accepted.outcome.next_eligible_at, Some(t.plus(90 * DAY).to_rfc3339()));

    let emails = inbox_for(&h.inbox, &to).await;
    assert_eq!(emails.len(), 1);
    let text = emails[0]["body"]["text"].as_str().unwrap();
    let keys = config().token_keys;
    let mut links = std::collections::HashSet::new();
    for score in 0..=10 {
        let prefix = format!("{LINKS}/r/");
        let line = text.lines().find(|l| l.starts_with(&format!("{score}")) && l.contains("?score=")).unwrap();
        let url = &line[line.find(&prefix).unwrap()..];
        assert!(links.insert(url.to_owned()), "links are distinct");
        let (token, query) = url[prefix.len()..].split_once('?').unwrap();
        assert_eq!(query, format!("score={score}"));
        let claims = token::verify(&keys, token, t).expect("the emailed token verifies");
        assert_eq!(claims.request_id, RequestId::parse(&request_id).unwrap());
    }
    let headers = emails[0]["headers"].as_array().unwrap();
    assert!(headers.iter().any(|h| h["name"] == "List-Unsubscribe-Post" && h["value"] == "List-Unsubscribe=One-Click"));
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_event_send_one_email() {
    let h = std::sync::Arc::new(harness("concurrent", survey(None)).await);
    let to = unique_address("race");
    let e = event(&to, "evt-race", "order-race");
    let t = now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (h, e) = (h.clone(), e.clone());
            tokio::spawn(async move { h.outbox.accept("shopify", &e, t).await })
        })
        .collect();
    let (mut firsts, mut named) = (0, std::collections::HashSet::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(accepted) => {
                firsts += usize::from(!accepted.repeat);
                named.insert(accepted.outcome.survey_request_id);
            }
            // Transactions on one item at once: DynamoDB may refuse one as a conflict, "retry me".
            Err(IntakeError::Unavailable(e)) if e.is_retryable() => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(firsts, 1);
    assert_eq!(named.len(), 1, "every answer names the one request: {named:?}");
    // A later repeat gets the first outcome back.
    let repeat = h.outbox.accept("shopify", &e, t).await.unwrap();
    assert!(repeat.repeat);
    assert_eq!(repeat.outcome.status, Status::Sent);
    assert_eq!(inbox_for(&h.inbox, &to).await.len(), 1);
}

#[tokio::test]
async fn one_survey_per_transaction_and_none_inside_the_throttle_window() {
    let h = harness("rules", survey(None)).await;
    let to = unique_address("rules");
    let t = now();
    let first = h.outbox.accept("generic", &event(&to, "evt-a", "order-a"), t).await.unwrap().outcome;

    // Another event for the same transaction (say, "order fulfilled" after "order paid").
    let same_order = h.outbox.accept("generic", &event(&to, "evt-b", "order-a"), t).await.unwrap().outcome;
    assert_eq!(same_order.status, Status::Skipped);
    assert_eq!(same_order.reason, Some(SkipReason::DuplicateTransaction));
    assert_eq!(same_order.survey_request_id, first.survey_request_id);

    // A second purchase a day later, inside the 90-day window.
    let later = t.plus(DAY);
    let second = h.outbox.accept("generic", &event(&to, "evt-c", "order-c"), later).await.unwrap().outcome;
    assert_eq!(
        second,
        Outcome {
            status: Status::Skipped,
            reason: Some(SkipReason::Throttled),
            survey_request_id: None,
            next_eligible_at: Some(t.plus(90 * DAY).to_rfc3339()),
        }
    );
    // After the window, the same person may be asked again.
    let after = t.plus(91 * DAY);
    let third = h.outbox.accept("generic", &event(&to, "evt-d", "order-d"), after).await.unwrap().outcome;
    assert_eq!(third.status, Status::Sent);
    assert_eq!(inbox_for(&h.inbox, &to).await.len(), 2);
}

#[tokio::test]
async fn suppressed_people_are_skipped_with_their_reason() {
    let h = harness("suppressed", survey(None)).await;
    let people = DynamoPeople::new(h.table.clone());
    for (label, reason, expected) in [
        ("unsub", SuppressionReason::Unsubscribed, SkipReason::Unsubscribed),
        ("bounce", SuppressionReason::Bounced, SkipReason::Bounced),
        ("complaint", SuppressionReason::Complained, SkipReason::Complained),
    ] {
        let to = unique_address(label);
        people.suppress(&PersonId::derive(&config().person_key, &to), Some(&to), reason, now()).await.unwrap();
        let outcome = h.outbox.accept("generic", &event(&to, label, label), now()).await.unwrap().outcome;
        assert_eq!((outcome.status, outcome.reason), (Status::Skipped, Some(expected)));
        assert!(inbox_for(&h.inbox, &to).await.is_empty());
    }
}

#[tokio::test]
async fn a_delayed_request_goes_out_when_due_and_only_once() {
    let h = harness("delayed", survey(None)).await;
    let to = unique_address("delayed");
    let t = now();
    let mut e = event(&to, "evt-delay", "order-delay");
    e.delay = Some(Duration::from_secs(3600));
    let outcome = h.outbox.accept("generic", &e, t).await.unwrap().outcome;
    assert_eq!(outcome.status, Status::Scheduled);

    assert_eq!(h.outbox.dispatch(t.plus(Duration::from_secs(3599))).await.unwrap().sent, 0);
    assert!(inbox_for(&h.inbox, &to).await.is_empty(), "not before its time");
    assert_eq!(h.outbox.dispatch(t.plus(Duration::from_secs(3600))).await.unwrap().sent, 1);
    assert_eq!(h.outbox.dispatch(t.plus(Duration::from_secs(7200))).await.unwrap().due, 0);
    assert_eq!(inbox_for(&h.inbox, &to).await.len(), 1);
}

#[tokio::test]
async fn a_delay_counts_from_the_event_time_when_given() {
    let h = harness("relative", survey(None)).await;
    let to = unique_address("relative");
    let t = now();
    let mut e = event(&to, "evt-delivered", "order-delivered");
    e.occurred_at = Some(t.plus(DAY)); // e.g. delivered_at, a day from now
    e.delay = Some(7 * DAY);
    assert_eq!(h.outbox.accept("generic", &e, t).await.unwrap().outcome.status, Status::Scheduled);
    assert_eq!(h.outbox.dispatch(t.plus(7 * DAY)).await.unwrap().sent, 0);
    assert_eq!(h.outbox.dispatch(t.plus(8 * DAY)).await.unwrap().sent, 1);
}

#[tokio::test]
async fn one_reminder_unless_the_person_answered() {
    let h = harness("reminder", survey(Some(3))).await;
    let t = now();
    let to = unique_address("remind");
    let outcome = h.outbox.accept("generic", &event(&to, "evt-r1", "order-r1"), t).await.unwrap().outcome;
    let id = RequestId::parse(&outcome.survey_request_id.unwrap()).unwrap();
    let requests = nps_adapters::dynamo::DynamoRequests::new(h.table.clone());
    // The first email's time is its sent time (what capture's evidence and the `sent` rollup read),
    // though a reminder is scheduled; the reminder's is kept apart.
    let first = requests.get(id).await.unwrap().unwrap();
    assert_eq!((first.state, first.sent_at), (RequestState::ReminderScheduled, Some(t)));
    assert_eq!(h.outbox.dispatch(t.plus(2 * DAY)).await.unwrap().sent, 0);
    assert_eq!(h.outbox.dispatch(t.plus(3 * DAY)).await.unwrap().sent, 1);
    assert_eq!(requests.get(id).await.unwrap().unwrap().sent_at, Some(t), "a reminder keeps the first sent time");
    assert_eq!(h.outbox.dispatch(t.plus(30 * DAY)).await.unwrap().due, 0, "one reminder at most");
    let emails = inbox_for(&h.inbox, &to).await;
    assert_eq!(emails.len(), 2);
    assert!(emails[1]["subject"].as_str().unwrap().starts_with("Reminder: "));

    // Someone who answered gets no reminder.
    let answered = unique_address("answered");
    let outcome = h.outbox.accept("generic", &event(&answered, "evt-r2", "order-r2"), t).await.unwrap().outcome;
    let id = RequestId::parse(&outcome.survey_request_id.unwrap()).unwrap();
    let key = nps_adapters::dynamo::keys::ItemKey::response(id);
    h.table
        .client()
        .put_item()
        .table_name(h.table.name())
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S(key.sk))
        .send()
        .await
        .unwrap();
    let report = h.outbox.dispatch(t.plus(3 * DAY)).await.unwrap();
    assert_eq!((report.sent, report.answered), (0, 1));
    assert_eq!(inbox_for(&h.inbox, &answered).await.len(), 1);
}

#[tokio::test]
async fn with_mail_down_the_trigger_still_answers_and_dispatch_sends_once_later() {
    // Nothing listens on port 9: every send fails before reaching a mail service.
    let down = harness_with_mailer("mail-down", survey(None), Some("http://127.0.0.1:9")).await;
    let to = unique_address("outage");
    let t = now();
    let outcome = down.outbox.accept("generic", &event(&to, "evt-o", "order-o"), t).await.unwrap().outcome;
    assert_eq!(outcome.status, Status::Scheduled, "answered, and kept for later");
    assert_eq!(down.outbox.dispatch(t).await.unwrap().sent, 0, "not due again until the backoff passes");
    let report = down.outbox.dispatch(t.plus(Duration::from_secs(60))).await.unwrap();
    assert_eq!((report.sent, report.retrying), (0, 1));

    // The mail service is back: the same table, a working mailer.
    let mailer = SesMailer::new(SesMailer::client(&load_sdk_config().await), None);
    let up = Outbox::new(down.table.clone(), mailer, config());
    let later = t.plus(Duration::from_secs(600));
    assert_eq!(up.dispatch(later).await.unwrap().sent, 1);
    assert_eq!(up.dispatch(later.plus(DAY)).await.unwrap().due, 0);
    assert_eq!(inbox_for(&down.inbox, &to).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_survey_is_refused_and_the_event_can_be_retried() {
    let h = harness("unknown-survey", survey(None)).await;
    let to = unique_address("unknown");
    let mut e = event(&to, "evt-u", "order-u");
    e.survey = Some(SurveyId::parse("no-such-survey").unwrap());
    assert!(matches!(h.outbox.accept("generic", &e, now()).await, Err(IntakeError::UnknownSurvey(_))));
    // Not remembered as done: fixed and sent again, the event goes through.
    e.survey = None;
    assert_eq!(h.outbox.accept("generic", &e, now()).await.unwrap().outcome.status, Status::Sent);
}

#[tokio::test]
async fn two_dispatch_runs_at_once_send_each_due_email_once() {
    let h = std::sync::Arc::new(harness("dispatch-race", survey(None)).await);
    let t = now();
    let recipients: Vec<EmailAddress> = (0..5).map(|i| unique_address(&format!("race{i}"))).collect();
    for (i, to) in recipients.iter().enumerate() {
        let mut e = event(to, &format!("evt-{i}"), &format!("order-{i}"));
        e.delay = Some(Duration::from_secs(60));
        assert_eq!(h.outbox.accept("generic", &e, t).await.unwrap().outcome.status, Status::Scheduled);
    }
    let due = t.plus(Duration::from_secs(60));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.outbox.dispatch(due).await.unwrap() })
        })
        .collect();
    let mut sent = 0;
    for run in runs {
        sent += run.await.unwrap().sent;
    }
    assert_eq!(sent, 5);
    for to in &recipients {
        assert_eq!(inbox_for(&h.inbox, to).await.len(), 1);
    }
}

#[tokio::test]
async fn someone_who_unsubscribes_before_a_delayed_survey_is_due_gets_nothing() {
    let h = harness("late-unsubscribe", survey(None)).await;
    let to = unique_address("late");
    let t = now();
    let mut e = event(&to, "evt-late", "order-late");
    e.delay = Some(DAY);
    assert_eq!(h.outbox.accept("generic", &e, t).await.unwrap().outcome.status, Status::Scheduled);
    let person = PersonId::derive(&config().person_key, &to);
    DynamoPeople::new(h.table.clone()).suppress(&person, None, SuppressionReason::Unsubscribed, t).await.unwrap();
    let report = h.outbox.dispatch(t.plus(DAY)).await.unwrap();
    assert_eq!((report.sent, report.skipped), (0, 1));
    assert_eq!(h.outbox.dispatch(t.plus(2 * DAY)).await.unwrap().due, 0, "taken out of the outbox");
    assert!(inbox_for(&h.inbox, &to).await.is_empty());
}
