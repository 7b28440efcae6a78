//! Events' records against DynamoDB Local, each test on its own table: written once, the first
//! wins, and a request's transaction records the event that made it.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use nps_adapters::dynamo::keys::{ItemKey, attr};
use nps_adapters::dynamo::{
    CreateOutcome, DynamoEventRecords, DynamoPeople, DynamoRequests, EventRecord, Table, Windows,
};
use nps_domain::Timestamp;
use nps_domain::fixtures::sent_request;
use nps_domain::idempotency::IdempotencyKey;
use nps_local_stack::testing::{dynamodb, fresh_table};

async fn store(purpose: &str) -> (DynamoEventRecords, Table) {
    let client = dynamodb().await;
    let table = Table::new(client.clone(), fresh_table(&client, purpose).await);
    (DynamoEventRecords::new(table.clone()), table)
}

fn key(event: &str) -> IdempotencyKey {
    IdempotencyKey::new("shopify", event).unwrap()
}

async fn raw_item(table: &Table, key: &IdempotencyKey) -> Option<HashMap<String, AttributeValue>> {
    let ItemKey { pk, sk } = ItemKey::idempotency(key);
    let got = table.client().get_item().table_name(table.name()).key(attr::PK, AttributeValue::S(pk));
    got.key(attr::SK, AttributeValue::S(sk)).consistent_read(true).send().await.unwrap().item
}

#[tokio::test]
async fn the_first_record_wins_and_repeats_get_it() {
    let (store, table) = store("idem-repeat").await;
    let now = Timestamp::from_unix(1_800_000_000);
    let k = key("evt-1");
    let keep_until = now.plus(Duration::from_secs(7 * 86_400));

    assert_eq!(store.record(&k, r#"{"status":"skipped"}"#, keep_until, None).await.unwrap(), None);
    let again = store.record(&k, r#"{"status":"other"}"#, keep_until, None).await.unwrap();
    assert_eq!(again.as_deref(), Some(r#"{"status":"skipped"}"#));
    // The record carries its retention as the TTL attribute.
    let item = raw_item(&table, &k).await.expect("recorded");
    assert_eq!(item[attr::EXPIRES_AT], AttributeValue::N(keep_until.unix().to_string()));

    // Another event of the same source, and the same event id from another source, are separate.
    assert_eq!(store.record(&key("evt-2"), "{}", keep_until, None).await.unwrap(), None);
    assert_eq!(
        store.record(&IdempotencyKey::new("stripe", "evt-1").unwrap(), "{}", keep_until, None).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn twenty_concurrent_records_leave_one_outcome() {
    let (store, _) = store("idem-race").await;
    let keep = Timestamp::from_unix(1_800_000_000);
    let k = key("evt-race");
    let records = (0..20).map(|i| {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move { (i, store.record(&k, &format!(r#"{{"n":{i}}}"#), keep, None).await.unwrap()) })
    });
    let mut winners = Vec::new();
    let mut told = Vec::new();
    for record in records {
        match record.await.unwrap() {
            (i, None) => winners.push(format!(r#"{{"n":{i}}}"#)),
            (_, Some(earlier)) => told.push(earlier),
        }
    }
    assert_eq!(winners.len(), 1, "one record is written");
    assert!(told.iter().all(|t| *t == winners[0]), "every other delivery is told the winner's outcome");
}

#[tokio::test]
async fn an_older_versions_lease_records_nothing_and_is_written_over() {
    let (store, table) = store("idem-legacy").await;
    let k = key("evt-leased");
    let ItemKey { pk, sk } = ItemKey::idempotency(&k);
    // What versions that leased events left behind while working (or after dying).
    let leased = table.client().put_item().table_name(table.name()).item(attr::PK, AttributeValue::S(pk));
    let leased = leased.item(attr::SK, AttributeValue::S(sk)).item("state", AttributeValue::S("in_progress".into()));
    leased.item("lease_until", AttributeValue::N("1800000030".into())).send().await.unwrap();

    let person = sent_request(9, "default", &[], Timestamp::from_unix(1_800_000_000)).person_id;
    let people = DynamoPeople::new(table.clone());
    let survey = nps_domain::survey::SurveyId::parse("default").unwrap();
    let known = people.eligibility(&person, &survey, None, Some(&k)).await.unwrap();
    assert_eq!(known.earlier, None, "a lease is no outcome");
    assert_eq!(store.record(&k, r#"{"n":1}"#, Timestamp::from_unix(1_800_000_000), None).await.unwrap(), None);
    let known = people.eligibility(&person, &survey, None, Some(&k)).await.unwrap();
    assert_eq!(known.earlier.as_deref(), Some(r#"{"n":1}"#));
}

#[tokio::test]
async fn a_request_records_its_event_in_its_own_transaction() {
    let (store, table) = store("idem-request").await;
    let requests = DynamoRequests::new(table.clone());
    let people = DynamoPeople::new(table.clone());
    let start = Timestamp::from_unix(1_800_000_000);
    let expires = start.plus(Duration::from_secs(86_400));
    let windows = Windows { write_profile: true, ..Windows::default() };
    let record = |key, outcome| EventRecord { key, outcome, keep_until: expires };

    // Without a transaction id: the event's own record is written with the request.
    let k = key("evt-plain");
    let first = sent_request(1, "default", &[], start);
    let created = requests.create_recording(&first, windows, expires, start, Some(record(&k, r#"{"n":1}"#))).await;
    assert_eq!(created.unwrap(), CreateOutcome::Created);
    assert_eq!(store.record(&k, "{}", expires, None).await.unwrap().as_deref(), Some(r#"{"n":1}"#));
    // A concurrent delivery that got as far as its own request writes nothing and is told the first.
    let second = sent_request(1, "default", &[], start);
    let repeat = requests.create_recording(&second, windows, expires, start, Some(record(&k, r#"{"n":2}"#))).await;
    assert_eq!(repeat.unwrap(), CreateOutcome::Repeat { outcome: r#"{"n":1}"#.into() });
    assert!(requests.get(second.id).await.unwrap().is_none());

    // With one: the transaction's marker is the event's record (no record item beside it).
    let k = key("evt-order");
    let mut ordered = sent_request(2, "default", &[], start);
    ordered.transaction_id = Some("order-7".into());
    let created = requests.create_recording(&ordered, windows, expires, start, Some(record(&k, r#"{"n":3}"#))).await;
    assert_eq!(created.unwrap(), CreateOutcome::Created);
    assert!(raw_item(&table, &k).await.is_none(), "one item records both");
    let known = people.eligibility(&ordered.person_id, &ordered.survey_id, Some("order-7"), Some(&k)).await.unwrap();
    assert_eq!((known.earlier.as_deref(), known.transaction), (Some(r#"{"n":3}"#), None), "a repeat, not a duplicate");
    // Another event's skip for the same order is its own.
    let other_event = key("evt-order-other");
    assert_eq!(store.record(&other_event, "{}", expires, Some((&ordered.survey_id, "order-7"))).await.unwrap(), None);

    // A concurrent delivery of the event that decided to skip (its read saw part of the
    // transaction) writes its record, then finds the marker naming the event: the request wins.
    let order = Some((&ordered.survey_id, "order-7"));
    let told = store.record(&k, r#"{"skipped":true}"#, expires, order).await.unwrap();
    assert_eq!(told.as_deref(), Some(r#"{"n":3}"#));
    let known = people.eligibility(&ordered.person_id, &ordered.survey_id, Some("order-7"), Some(&k)).await.unwrap();
    assert_eq!(known.earlier.as_deref(), Some(r#"{"n":3}"#), "the marker wins over that record");
    // A third one, whose record comes after that skip's: it is refused, and still told the request.
    let told = store.record(&k, r#"{"skipped":"too"}"#, expires, order).await.unwrap();
    assert_eq!(told.as_deref(), Some(r#"{"n":3}"#), "the marker wins over an earlier record too");

    // The same event again is a repeat; another event for the same order is a duplicate.
    let mut again = sent_request(2, "default", &[], start);
    again.transaction_id = Some("order-7".into());
    let repeat = requests.create_recording(&again, windows, expires, start, Some(record(&k, r#"{"n":4}"#))).await;
    assert_eq!(repeat.unwrap(), CreateOutcome::Repeat { outcome: r#"{"n":3}"#.into() });
    let other = key("evt-order-again");
    let duplicate = requests.create_recording(&again, windows, expires, start, Some(record(&other, "{}"))).await;
    let request_id = Some(ordered.id.to_string());
    assert_eq!(duplicate.unwrap(), CreateOutcome::DuplicateTransaction { request_id: request_id.clone() });
    let known = people.eligibility(&again.person_id, &again.survey_id, Some("order-7"), Some(&other)).await.unwrap();
    assert_eq!((known.earlier, known.transaction), (None, Some(request_id)));
}

#[tokio::test]
async fn failures_say_whether_to_retry() {
    let client = dynamodb().await;
    let now = Timestamp::now();

    // A missing table is a misconfiguration: retrying will not help.
    let missing = DynamoEventRecords::new(Table::new(client.clone(), "no-such-table"));
    let err = missing.record(&key("e"), "{}", now, None).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");

    // Nothing listening: the service is unavailable, and the caller should answer "retry me".
    let config = client.config().to_builder().endpoint_url("http://127.0.0.1:9").build();
    let unreachable = DynamoEventRecords::new(Table::new(aws_sdk_dynamodb::Client::from_conf(config), "any-table"));
    let err = unreachable.record(&key("e"), "{}", now, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
