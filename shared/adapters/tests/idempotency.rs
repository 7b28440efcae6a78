//! The idempotency store against DynamoDB Local, each test on its own table.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use nps_adapters::dynamo::keys::{ItemKey, attr};
use nps_adapters::dynamo::{Completion, CreateOutcome, DynamoIdempotencyStore, DynamoRequests, Table, Windows};
use nps_domain::Timestamp;
use nps_domain::fixtures::sent_request;
use nps_domain::idempotency::{Claim, IdempotencyKey, IdempotencyStore, Lease, LeaseError};
use nps_local_stack::testing::{dynamodb, fresh_table};

const LEASE: Duration = Duration::from_secs(30);

async fn store(purpose: &str) -> (DynamoIdempotencyStore, Table) {
    let client = dynamodb().await;
    let table = Table::new(client.clone(), fresh_table(&client, purpose).await);
    (DynamoIdempotencyStore::new(table.clone()), table)
}

fn key(event: &str) -> IdempotencyKey {
    IdempotencyKey::new("shopify", event).unwrap()
}

fn acquired(claim: Claim) -> Lease {
    match claim {
        Claim::Acquired(lease) => lease,
        other => panic!("expected to acquire, got {other:?}"),
    }
}

async fn raw_item(table: &Table, key: &IdempotencyKey) -> HashMap<String, AttributeValue> {
    let ItemKey { pk, sk } = ItemKey::idempotency(key);
    table
        .client()
        .get_item()
        .table_name(table.name())
        .key(attr::PK, AttributeValue::S(pk))
        .key(attr::SK, AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item exists")
}

#[tokio::test]
async fn first_delivery_claims_and_repeats_get_the_first_outcome() {
    let (store, table) = store("idem-repeat").await;
    let now = Timestamp::from_unix(1_800_000_000);
    let k = key("evt-1");

    let lease = acquired(store.claim(&k, now, LEASE).await.unwrap());
    assert_eq!(store.claim(&k, now, LEASE).await.unwrap(), Claim::InProgress { until: now.plus(LEASE) });

    let keep_until = now.plus(Duration::from_secs(7 * 86_400));
    store.complete(&lease, r#"{"status":"sent"}"#, keep_until).await.unwrap();
    for later in [now, now.plus(Duration::from_secs(3600))] {
        assert_eq!(
            store.claim(&k, later, LEASE).await.unwrap(),
            Claim::Completed { outcome: r#"{"status":"sent"}"#.into() }
        );
    }
    // The completed key carries its retention as the TTL attribute.
    let item = raw_item(&table, &k).await;
    assert_eq!(item[attr::EXPIRES_AT], AttributeValue::N(keep_until.unix().to_string()));

    // Another event of the same source, and the same event id from another source, are separate.
    acquired(store.claim(&key("evt-2"), now, LEASE).await.unwrap());
    acquired(store.claim(&IdempotencyKey::new("stripe", "evt-1").unwrap(), now, LEASE).await.unwrap());
}

#[tokio::test]
async fn twenty_concurrent_deliveries_yield_one_claim() {
    let (store, _) = store("idem-race").await;
    let now = Timestamp::from_unix(1_800_000_000);
    let k = key("evt-race");
    let claims = (0..20).map(|_| {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move { store.claim(&k, now, LEASE).await.unwrap() })
    });
    let mut acquired = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Claim::Acquired(_) => acquired += 1,
            Claim::InProgress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acquired, 1);
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_complete() {
    let (store, _) = store("idem-lapse").await;
    let start = Timestamp::from_unix(1_800_000_000);
    let k = key("evt-crash");
    let crashed = acquired(store.claim(&k, start, LEASE).await.unwrap());

    // Still held at the last second of the lease; taken over just after it.
    let at_end = start.plus(LEASE);
    assert!(matches!(store.claim(&k, at_end, LEASE).await.unwrap(), Claim::InProgress { .. }));
    let retry = acquired(store.claim(&k, at_end.plus(Duration::from_secs(1)), LEASE).await.unwrap());
    assert_ne!(retry.token, crashed.token);

    assert!(matches!(store.complete(&crashed, "{}", start).await, Err(LeaseError::Lost)));
    assert!(matches!(store.release(&crashed).await, Err(LeaseError::Lost)));
    store.complete(&retry, r#"{"n":2}"#, start).await.unwrap();
    assert_eq!(store.claim(&k, start, LEASE).await.unwrap(), Claim::Completed { outcome: r#"{"n":2}"#.into() });
}

#[tokio::test]
async fn a_request_completes_its_key_in_its_transaction_and_only_while_the_lease_is_held() {
    let (store, table) = store("idem-request").await;
    let requests = DynamoRequests::new(table);
    let start = Timestamp::from_unix(1_800_000_000);
    let expires = start.plus(Duration::from_secs(86_400));
    let k = key("evt-request");
    let lapsed = acquired(store.claim(&k, start, LEASE).await.unwrap());
    let holder = acquired(store.claim(&k, start.plus(LEASE * 2), LEASE).await.unwrap());

    // The lapsed holder cannot write its request; the one holding the key can, and its write
    // completes the key with the outcome (a holder that dies now leaves nothing to redo).
    let late = sent_request(1, "default", &[], start);
    let completion = |lease| Completion { lease, outcome: r#"{"n":1}"#, keep_until: expires };
    let outcome = requests
        .create_completing(
            &late,
            Windows { write_profile: true, ..Windows::default() },
            expires,
            start,
            Some(completion(&lapsed)),
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::LeaseLost);
    assert!(requests.get(late.id).await.unwrap().is_none());
    let request = sent_request(2, "default", &[], start);
    let outcome = requests
        .create_completing(
            &request,
            Windows { write_profile: true, ..Windows::default() },
            expires,
            start,
            Some(completion(&holder)),
        )
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    assert!(requests.get(request.id).await.unwrap().is_some());
    let later = start.plus(LEASE * 4);
    assert_eq!(store.claim(&k, later, LEASE).await.unwrap(), Claim::Completed { outcome: r#"{"n":1}"#.into() });

    // The holder may complete again (an inline send changed the outcome); nobody else may.
    store.complete(&holder, r#"{"n":2}"#, expires).await.unwrap();
    assert!(matches!(store.complete(&lapsed, "{}", expires).await, Err(LeaseError::Lost)));
    assert_eq!(store.claim(&k, later, LEASE).await.unwrap(), Claim::Completed { outcome: r#"{"n":2}"#.into() });
}

#[tokio::test]
async fn a_released_claim_can_be_taken_again_at_once() {
    let (store, _) = store("idem-release").await;
    let now = Timestamp::from_unix(1_800_000_000);
    let k = key("evt-fail");
    let lease = acquired(store.claim(&k, now, LEASE).await.unwrap());
    store.release(&lease).await.unwrap();
    let again = acquired(store.claim(&k, now, LEASE).await.unwrap());
    // A completed key cannot be released.
    store.complete(&again, "{}", now).await.unwrap();
    assert!(matches!(store.release(&again).await, Err(LeaseError::Lost)));
}

#[tokio::test]
async fn failures_say_whether_to_retry() {
    let client = dynamodb().await;
    let now = Timestamp::now();

    // A missing table is a misconfiguration: retrying will not help.
    let missing = DynamoIdempotencyStore::new(Table::new(client.clone(), "no-such-table"));
    let err = missing.claim(&key("e"), now, LEASE).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");

    // Nothing listening: the service is unavailable, and the caller should answer "retry me".
    let config = client.config().to_builder().endpoint_url("http://127.0.0.1:9").build();
    let unreachable = DynamoIdempotencyStore::new(Table::new(aws_sdk_dynamodb::Client::from_conf(config), "any-table"));
    let err = unreachable.claim(&key("e"), now, LEASE).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
