//! The trigger when DynamoDB goes away at the worst moments, through a proxy that cuts it off right
//! before or right after the request's write. Whatever the moment, the sender's retries with the
//! same `Idempotency-Key` end with exactly one request, and dispatch sends exactly one email.

mod support;

use std::time::Duration;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, Scope, Table};
use nps_domain::Timestamp;
use serde_json::Value;
use support::store_proxy::{Cut, StoreProxy};

/// Longer than the intake's lease on an event (30 s).
const LEASE_LAPSED: Duration = Duration::from_secs(31);

fn person(key: &str, email: &str, idempotency_key: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/v1/people")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .header("idempotency-key", idempotency_key)
        .body(Body::from(format!(r#"{{"email":"{email}","properties":{{"product":"boots"}}}}"#)))
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
/// back, before and after that delivery's lease on the event has lapsed: each retry is a repeat
/// naming the one request stored, and dispatch sends its one email.
async fn retries_find_the_one_request(c: &Case, email: &str, event: &str, now: Timestamp) {
    c.proxy.heal();
    let mut named = Vec::new();
    for at in [now.plus(Duration::from_secs(2)), now.plus(LEASE_LAPSED)] {
        let retry = c.trigger.handle_at(person(&c.key, email, event), at).await;
        assert_eq!(retry.status(), StatusCode::OK, "a repeat: {:?}", answer(&retry));
        assert_eq!(answer(&retry)["status"], "scheduled");
        named.push(answer(&retry)["survey_request_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(named[0], named[1]);
    assert_eq!(requests_for(&c.s.table, email).await, [named[0].as_str()]);

    let outbox = c.s.outbox().await;
    assert_eq!(outbox.dispatch(now.plus(LEASE_LAPSED)).await.unwrap().sent, 1);
    assert_eq!(outbox.dispatch(now.plus(LEASE_LAPSED * 2)).await.unwrap().sent, 0);
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

    // The store dies before the request is written: a 503 to retry, with nothing stored. The
    // event's lease could not be given back either.
    c.proxy.cut(Cut::Before("TransactWriteItems"));
    let first = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now).await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer(&first)["error"]["code"], "unavailable");
    assert!(first.headers().contains_key("retry-after"));
    c.proxy.heal();
    assert!(requests_for(&c.s.table, &email).await.is_empty());

    // While that lease runs, a retry is told when to come back; after it, the retry does the work.
    let early = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now.plus(Duration::from_secs(2))).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    assert_eq!(answer(&early)["error"]["code"], "in_progress");
    let late = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now.plus(LEASE_LAPSED)).await;
    assert_eq!(late.status(), StatusCode::ACCEPTED, "{:?}", answer(&late));
    assert_eq!(answer(&late)["status"], "sent");
    let id = answer(&late)["survey_request_id"].as_str().unwrap().to_owned();
    let again = c.trigger.handle_at(person(&c.key, &email, "order-2-paid"), now.plus(LEASE_LAPSED * 2)).await;
    assert_eq!((again.status(), answer(&again)["status"].as_str()), (StatusCode::OK, Some("sent")));
    assert_eq!(requests_for(&c.s.table, &email).await, [id]);
    assert_eq!(support::emails_to(&c.s, &email).await.len(), 1, "one email");
}
