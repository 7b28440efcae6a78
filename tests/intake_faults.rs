//! The trigger when DynamoDB goes away at the worst moments, through a proxy that cuts it off right
//! before or right after the request's write. Whatever the moment, the sender's retries with the
//! same `Idempotency-Key` end with exactly one request, and dispatch sends exactly one email. And
//! what that safety costs: the calls an accepted event makes, counted by the same proxy.

use crate::support;

use std::time::Duration;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoSurveys, Scope, Table};
use nps_domain::Timestamp;
use nps_domain::survey::{Survey, SurveyId};
use serde_json::Value;
use support::store_proxy::{Call, Cut, StoreProxy};

/// A retry half a minute later (versions that leased events held them 30 s).
const LATER: Duration = Duration::from_secs(31);

fn person(key: &str, email: &str, idempotency_key: &str) -> Request<Body> {
    person_with(key, email, idempotency_key, "")
}

/// [`person`], with more fields (`extra`: `,"name":"value"…`).
fn person_with(key: &str, email: &str, idempotency_key: &str, extra: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/v1/people")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .header("idempotency-key", idempotency_key)
        .body(Body::from(format!(r#"{{"email":"{email}","properties":{{"product":"boots"}}{extra}}}"#)))
        .unwrap()
}

fn answer(response: &lambda_http::Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

/// The ids of the requests stored for `email`.
async fn requests_for(table: &Table, email: &str) -> Vec<String> {
    let requests = support::items(table, "REQUEST").await;
    requests.into_iter().filter(|(_, item)| item["email"].as_s().unwrap() == email).map(|(id, _)| id).collect()
}

struct Case {
    s: support::Stack,
    proxy: StoreProxy,
    trigger: trigger::App,
    key: String,
}

async fn case(purpose: &str) -> Case {
    let s = support::stack(purpose, "https://nps.example", &["product"]).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, purpose, Timestamp::now()).await.unwrap();
    let proxy = StoreProxy::start(&nps_local_stack::testing::local_endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let trigger = s.trigger_on(Table::new(proxy.client(s.table.client()), s.table.name().to_owned())).await;
    Case { s, proxy, trigger, key }
}

/// After `first` (the answer to the event's first delivery), the sender retries once the store is
/// back, at once and a while later: each retry is a repeat naming the one request stored, and
/// dispatch sends its one email.
async fn retries_find_the_one_request(c: &Case, email: &str, event: &str, now: Timestamp) {
    c.proxy.heal();
    let mut named = Vec::new();
    for at in [now.plus(Duration::from_secs(2)), now.plus(LATER)] {
        let retry = c.trigger.handle_at(person(&c.key, email, event), at).await;
        assert_eq!(retry.status(), StatusCode::OK, "a repeat: {:?}", answer(&retry));
        assert_eq!(answer(&retry)["status"], "scheduled");
        named.push(answer(&retry)["survey_request_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(named[0], named[1]);
    assert_eq!(requests_for(&c.s.table, email).await, [named[0].as_str()]);

    let outbox = c.s.outbox().await;
    assert_eq!(outbox.dispatch(now.plus(LATER)).await.unwrap().sent, 1);
    assert_eq!(outbox.dispatch(now.plus(LATER * 2)).await.unwrap().sent, 0);
    assert_eq!(support::emails_to(&c.s, email).await.len(), 1, "one email");
}

#[tokio::test]
async fn a_request_written_as_the_store_died_is_not_written_again_by_the_retry() {
    let c = case("fault-during").await;
    let email = support::unique("fault-during");
    let now = Timestamp::now();

    // The request's transaction is written, and its answer lost: a 503 to retry.
    c.proxy.cut(Cut::During("TransactWriteItems"));
    let first = c.trigger.handle_at(person(&c.key, &email, "order-1-paid"), now).await;
    assert!(c.proxy.is_down(), "the cut happened");
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE, "{:?}", answer(&first));
    assert_eq!(answer(&first)["error"]["code"], "unavailable");
    retries_find_the_one_request(&c, &email, "order-1-paid", now).await;
}

#[tokio::test]
async fn a_request_written_just_before_the_store_died_is_not_written_again_by_the_retry() {
    let c = case("fault-after").await;
    let email = support::unique("fault-after");
    let now = Timestamp::now();

    // The request's transaction is written and answered, then the store is gone: the inline send
    // fails and the request waits for dispatch. The answer names it; say the sender never got it.
    c.proxy.cut(Cut::After("TransactWriteItems"));
    let first = c.trigger.handle_at(person(&c.key, &email, "order-3-paid"), now).await;
    assert!(c.proxy.is_down(), "the cut happened");
    assert_eq!(first.status(), StatusCode::ACCEPTED, "{:?}", answer(&first));
    assert_eq!(answer(&first)["status"], "scheduled");
    retries_find_the_one_request(&c, &email, "order-3-paid", now).await;
}

#[tokio::test]
async fn a_transaction_retried_by_the_sdk_after_its_answer_was_lost_counts_once() {
    let c = case("fault-blip").await;
    let email = support::unique("fault-blip");
    // The SDK retries the written transaction itself, whose request already exists then.
    c.proxy.cut(Cut::Blip("TransactWriteItems"));
    let first = c.trigger.handle_at(person(&c.key, &email, "order-4-paid"), Timestamp::now()).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED, "{:?}", answer(&first));
    assert_eq!(answer(&first)["status"], "sent");
    let id = answer(&first)["survey_request_id"].as_str().unwrap().to_owned();
    assert_eq!(requests_for(&c.s.table, &email).await, [id]);
    assert_eq!(support::emails_to(&c.s, &email).await.len(), 1, "one email");
}

#[tokio::test]
async fn a_request_the_store_never_got_is_written_by_the_retry_once() {
    let c = case("fault-before").await;
    let email = support::unique("fault-before");
    let now = Timestamp::now();

    // The store dies before the request is written: a 503 to retry, with nothing stored and
    // nothing held, so the sender's first retry does the work.
    c.proxy.cut(Cut::Before("TransactWriteItems"));
    let first = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now).await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer(&first)["error"]["code"], "unavailable");
    assert!(first.headers().contains_key("retry-after"));
    c.proxy.heal();
    assert!(requests_for(&c.s.table, &email).await.is_empty());

    let late = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now.plus(Duration::from_secs(2))).await;
    assert_eq!(late.status(), StatusCode::ACCEPTED, "{:?}", answer(&late));
    assert_eq!(answer(&late)["status"], "sent");
    let id = answer(&late)["survey_request_id"].as_str().unwrap().to_owned();
    let again = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now.plus(LATER * 2)).await;
    assert_eq!((again.status(), answer(&again)["status"].as_str()), (StatusCode::OK, Some("sent")));
    assert_eq!(requests_for(&c.s.table, &email).await, [id]);
    assert_eq!(support::emails_to(&c.s, &email).await.len(), 1, "one email");
}

/// What a piece of work cost DynamoDB, as DynamoDB prices it (DynamoDB Local reports no
/// transaction's `Update`): a write unit per item of 1 KB written, two inside a transaction, and
/// the index entries the writes add or remove; and the round trips one after another.
#[derive(Debug, PartialEq, Eq)]
struct Cost {
    calls: usize,
    rounds: usize,
    write_units: usize,
    index_writes: usize,
}

fn cost(calls: &[Call]) -> Cost {
    let mut rounds = 0;
    let mut round_end = None;
    for call in calls {
        // A call that starts before the others have all answered runs beside them.
        if round_end.is_none_or(|end| call.started >= end) {
            rounds += 1;
        }
        round_end = Some(round_end.map_or(call.ended, |end: std::time::Instant| end.max(call.ended)));
    }
    let (mut write_units, mut index_writes) = (0, 0);
    for call in calls {
        let r = &call.request;
        let writes: Vec<&Value> = match call.operation.as_str() {
            "PutItem" | "UpdateItem" | "DeleteItem" => vec![r],
            "TransactWriteItems" => r["TransactItems"].as_array().unwrap().iter().collect(),
            "GetItem" | "BatchGetItem" | "Query" => vec![],
            other => panic!("not priced: {other}"),
        };
        let per_item = if call.operation == "TransactWriteItems" { 2 } else { 1 };
        for w in writes {
            let w = w.get("Put").or(w.get("Update")).or(w.get("Delete")).or(w.get("ConditionCheck")).unwrap_or(w);
            assert!(w.to_string().len() < 1024, "an item under 1 KB: {w}");
            write_units += per_item;
            let item_has = |a: &str| w["Item"].get(a).is_some();
            let names_have =
                |a: &str| w["ExpressionAttributeNames"].as_object().is_some_and(|n| n.values().any(|v| v == a));
            // The outbox's entry, put with the request and removed when it is sent; the person's
            // entry in the people listing, put with a new profile.
            index_writes += usize::from(item_has("outbox_pk"));
            index_writes +=
                usize::from(names_have("outbox_pk") && w["UpdateExpression"].as_str().unwrap().contains("REMOVE"));
            index_writes += usize::from(names_have("listing_pk"));
        }
    }
    Cost { calls: calls.len(), rounds, write_units, index_writes }
}

#[tokio::test]
async fn an_accepted_survey_costs_four_round_trips_and_ten_write_units() {
    let c = case("intake-cost").await;
    // A survey as deployed: a 90-day throttle, sent at once.
    let surveys = DynamoSurveys::new(c.s.table.clone());
    let default = surveys.get(&SurveyId::parse("default").unwrap()).await.unwrap().unwrap();
    surveys.put(&Survey { id: SurveyId::parse("throttled").unwrap(), throttle_days: 90, ..default }).await.unwrap();
    let now = Timestamp::now();
    c.proxy.take_calls();

    // A new person's purchase, with and without a transaction id: the most an accepted survey
    // writes (the request, its pointer, the profile with the throttle window, and the event's
    // record or the transaction's marker that holds it; then the send's claim and its record).
    for (n, transaction) in [(1, None), (2, Some("order-9"))] {
        let email = support::unique(&format!("cost-{n}"));
        let event = |id: &str| {
            let mut e = serde_json::json!({"event_id": format!("{id}-{n}"), "email": email, "survey": "throttled"});
            if let Some(t) = transaction {
                e["transaction_id"] = t.into();
            }
            support::generic_delivery(&e, now)
        };
        let first = c.trigger.handle_at(event("cost"), now).await;
        assert_eq!((first.status(), answer(&first)["status"].as_str()), (StatusCode::ACCEPTED, Some("sent")));
        let calls = c.proxy.take_calls();
        let operations: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
        let expected = Cost { calls: 5, rounds: 4, write_units: 10, index_writes: 3 };
        assert_eq!(cost(&calls), expected, "{transaction:?}: {operations:?}");

        // A repeat: the first read tells it, and the request's state says it was sent.
        let repeat = c.trigger.handle_at(event("cost"), now).await;
        assert_eq!((repeat.status(), answer(&repeat)["status"].as_str()), (StatusCode::OK, Some("sent")));
        assert_eq!(answer(&repeat)["survey_request_id"], answer(&first)["survey_request_id"]);
        let spent = cost(&c.proxy.take_calls());
        assert_eq!((spent.rounds, spent.write_units, spent.index_writes), (2, 0, 0), "a repeat writes nothing");

        // Another purchase inside the window: skipped, for the event's record alone.
        let again = c.trigger.handle_at(event("cost-again"), now).await;
        let reason = answer(&again)["reason"].clone();
        let told = (reason.as_str(), transaction.is_some());
        assert!(matches!(told, (Some("throttled"), false) | (Some("duplicate_transaction"), true)), "{told:?}");
        // With a transaction id, the marker is read again after the record: a concurrent delivery
        // of the event may have made the request meanwhile.
        let spent = cost(&c.proxy.take_calls());
        assert_eq!((spent.rounds, spent.write_units), (2 + usize::from(transaction.is_some()), 1));
    }
}
