//! The response store against DynamoDB Local, each test on its own table.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use nps_adapters::dynamo::keys::{ItemKey, attr};
use std::sync::Arc;

use nps_adapters::dynamo::{CapacityMeter, DynamoRequests, DynamoResponses, Order, Saved, Table};
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, RequestState, SurveyRequest};
use nps_domain::response::{BotReason, Click, Comment, Response};
use nps_domain::survey::{Locale, SurveyId, SurveyKind};
use nps_domain::weight::{Weight, Weights};
use nps_domain::{EmailAddress, Timestamp};
use nps_local_stack::testing::{dynamodb, fresh_table};
use nps_scoring::Score;

const DAY: Duration = Duration::from_secs(86_400);

async fn store(purpose: &str) -> (DynamoResponses, Table) {
    let client = dynamodb().await;
    let table = Table::new(client.clone(), fresh_table(&client, purpose).await);
    (DynamoResponses::new(table.clone()), table)
}

fn request(now: Timestamp) -> SurveyRequest {
    SurveyRequest {
        id: RequestId::new(now),
        survey_id: SurveyId::parse("default").unwrap(),
        person_id: PersonId::from_stored("0123456789abcdef0123456789abcdef").unwrap(),
        email: EmailAddress::parse("a@example.com").unwrap(),
        name: None,
        locale: Locale::En,
        properties: BTreeMap::from([("product".into(), "boots".into())]),
        person_properties: BTreeMap::from([("plan".into(), "pro".into())]),
        weights: Weights {
            currency: Some("eur".into()),
            values: BTreeMap::from([("amount".into(), Weight::parse("129.90").unwrap())]),
        },
        source: "generic".into(),
        event_id: "e".into(),
        transaction_id: None,
        created_at: now,
        due_at: now,
        state: RequestState::Sent,
        attempts: 0,
        lease_until: None,
        sent_at: Some(now),
    }
}

fn score(v: u8) -> Score {
    Score::try_from(v).unwrap()
}

async fn raw(table: &Table, id: RequestId) -> std::collections::HashMap<String, AttributeValue> {
    let key = ItemKey::response(id);
    table
        .client()
        .get_item()
        .table_name(table.name())
        .key(attr::PK, AttributeValue::S(key.pk))
        .key(attr::SK, AttributeValue::S(key.sk))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test]
async fn a_response_round_trips_with_its_evidence_and_listing_keys() {
    let (responses, table) = store("resp-roundtrip").await;
    let now = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
    let req = request(now);
    let mut r = Response::new(&req, SurveyKind::Transactional, now);
    for s in 0..=10 {
        r.record_click(Click::new(now.plus(Duration::from_secs(2)), score(s), "Mozilla/5.0", Some(now)));
    }
    r.confirm(score(7), Comment::parse("<b>ok</b> =1+1").unwrap(), now.plus(DAY), 7 * DAY).unwrap();
    assert_eq!(responses.save(&mut r, now.plus(730 * DAY)).await.unwrap(), Saved::Done);
    assert_eq!(r.revision, 1);

    let stored = responses.get(req.id).await.unwrap().expect("saved");
    assert_eq!(stored, r);
    assert_eq!(stored.weights.values["amount"].to_string(), "129.9", "with its weights");
    assert_eq!(stored.bot_reasons, vec![BotReason::TooSoonAfterSend, BotReason::ScoreBurst]);
    assert_eq!(stored.comment.as_ref().map(Comment::as_str), Some("<b>ok</b> =1+1"), "stored verbatim");

    let item = raw(&table, req.id).await;
    assert_eq!(item[attr::LISTING_PK], AttributeValue::S("RESPONSES#default#2026-11".into()));
    assert!(item[attr::LISTING_SK].as_s().unwrap().ends_with(&format!("#{}", req.id)));
    assert!(responses.get(RequestId::new(now)).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_changes_never_overwrite_each_other() {
    let (responses, _) = store("resp-conflict").await;
    let now = Timestamp::now();
    let req = request(now);

    // Two first clicks at once: one creates the response, the other must re-read.
    let mut a = Response::new(&req, SurveyKind::Transactional, now);
    let mut b = Response::new(&req, SurveyKind::Transactional, now);
    a.record_click(Click::new(now, score(9), "Mozilla/5.0", None));
    b.record_click(Click::new(now, score(3), "Mozilla/5.0", None));
    assert_eq!(responses.save(&mut a, now.plus(DAY)).await.unwrap(), Saved::Done);
    assert_eq!(responses.save(&mut b, now.plus(DAY)).await.unwrap(), Saved::Conflict);

    // Two confirmations from the same read: the second must re-read, so no answer is lost.
    let mut first = responses.get(req.id).await.unwrap().unwrap();
    let mut second = first.clone();
    first.confirm(score(9), None, now, 7 * DAY).unwrap();
    second.confirm(score(10), None, now, 7 * DAY).unwrap();
    assert_eq!(responses.save(&mut first, now.plus(DAY)).await.unwrap(), Saved::Done);
    assert_eq!(responses.save(&mut second, now.plus(DAY)).await.unwrap(), Saved::Conflict);
    let mut again = responses.get(req.id).await.unwrap().unwrap();
    again.confirm(score(10), None, now, 7 * DAY).unwrap();
    assert_eq!(responses.save(&mut again, now.plus(DAY)).await.unwrap(), Saved::Done);
    let last = responses.get(req.id).await.unwrap().unwrap();
    assert_eq!((last.score, last.version, last.revision), (Some(score(10)), 2, 3));
}

#[tokio::test]
async fn enps_responses_store_no_person() {
    let (responses, table) = store("resp-enps").await;
    let now = Timestamp::now();
    let req = request(now);
    let mut r = Response::new(&req, SurveyKind::Enps, now);
    r.confirm(score(8), None, now, 7 * DAY).unwrap();
    responses.save(&mut r, now.plus(DAY)).await.unwrap();
    let item = raw(&table, req.id).await;
    assert!(!item.contains_key("person_id"));
    assert!(!format!("{item:?}").contains("0123456789abcdef0123456789abcdef"));
}

#[tokio::test]
async fn a_request_and_its_response_come_back_in_one_read_unit() {
    let (_, table) = store("resp-with-request").await;
    let meter = Arc::new(CapacityMeter::default());
    let responses = DynamoResponses::new(table.clone().metered(meter.clone()));
    let now = Timestamp::now();
    // As created: the sending time is written when the email goes out.
    let req = SurveyRequest { sent_at: None, ..request(now) };
    assert!(responses.with_request(req.id).await.unwrap().is_none(), "unknown request");

    DynamoRequests::new(table).create(&req, None, now.plus(DAY), now).await.unwrap();
    let (read, response) = responses.with_request(req.id).await.unwrap().expect("the request");
    assert_eq!((read, response), (req.clone(), None));

    let mut r = Response::new(&req, SurveyKind::Transactional, now);
    r.confirm(score(6), Comment::parse("slow").unwrap(), now, 7 * DAY).unwrap();
    responses.save(&mut r, now.plus(DAY)).await.unwrap();
    let before = meter.read_units();
    let (read, response) = responses.with_request(req.id).await.unwrap().expect("the request");
    assert_eq!((read, response), (req, Some(r)));
    assert_eq!(meter.read_units() - before, 1.0, "one strongly consistent read unit for both items");
}

#[tokio::test]
async fn a_request_written_as_sent_keeps_its_sending_time() {
    // make demo writes its history's requests as already sent: the rollups count a request as
    // sent by its sending time, so a request item without it made the demo's response rate 112%.
    let (responses, table) = store("req-written-sent").await;
    let now = Timestamp::now();
    let req = request(now);
    DynamoRequests::new(table).create(&req, None, now.plus(DAY), now).await.unwrap();
    let (read, _) = responses.with_request(req.id).await.unwrap().expect("the request");
    assert_eq!(read.sent_at, Some(now));
}

#[tokio::test]
async fn a_month_pages_the_same_oldest_or_newest_first() {
    let (responses, _) = store("resp-listing-order").await;
    let start = Timestamp::parse_rfc3339("2026-11-02T10:00:00Z").unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let req = request(start.plus(i * DAY));
        let mut r = Response::new(&req, SurveyKind::Transactional, req.created_at);
        assert_eq!(responses.save(&mut r, start.plus(730 * DAY)).await.unwrap(), Saved::Done);
        ids.push(req.id);
    }
    let survey = SurveyId::parse("default").unwrap();
    let (low, high) = ("00000000000".to_owned(), "99999999999~".to_owned());
    let read = |newest_first: bool| {
        let (responses, survey, low, high) = (&responses, &survey, &low, &high);
        async move {
            let (mut got, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
            loop {
                let page = if newest_first {
                    let bounds = (low.as_str(), cursor.as_deref().unwrap_or(high));
                    responses.listed(survey, "2026-11", bounds, 3, Order::NewestFirst).await.unwrap()
                } else {
                    let bounds = (cursor.as_deref().unwrap_or(low), high.as_str());
                    responses.listed(survey, "2026-11", bounds, 3, Order::OldestFirst).await.unwrap()
                };
                got.extend(page.responses.iter().map(|r| r.request_id));
                pages += 1;
                if page.exhausted {
                    return (got, pages);
                }
                cursor = page.last;
            }
        }
    };
    assert_eq!(read(false).await, (ids.clone(), 3));
    let mut newest = ids.clone();
    newest.reverse();
    assert_eq!(read(true).await, (newest, 3), "each once, newest first");
}
