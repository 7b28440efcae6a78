//! For tests that need the local services. They never skip: without the services they fail with
//! a message that says how to start them, and they refuse any endpoint that is not on loopback.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;

use crate::{TABLE_RESOURCE, create_table, repo_template, table_from_template};

/// The value of `var`, which must be an http URL on loopback. Panics with guidance otherwise.
pub fn local_endpoint(var: &str) -> String {
    let value = std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs the local stack (DynamoDB Local and the local SES). \
             Run `make test`, or `infra/scripts/with-stack.sh cargo test …` to start them around any command."
        )
    });
    let host = value.strip_prefix("http://").unwrap_or_default();
    let loopback = ["127.", "localhost:", "[::1]:"].iter().any(|p| host.starts_with(p));
    assert!(loopback, "{var}={value} is not a loopback http URL; tests only ever talk to local services");
    value
}

/// A DynamoDB client for DynamoDB Local, built the way the functions build theirs.
pub async fn dynamodb() -> Client {
    local_endpoint("AWS_ENDPOINT_URL_DYNAMODB");
    Client::new(&nps_adapters::aws::load_sdk_config().await)
}

/// A new, empty table with a unique name, defined by `template.yaml`: one per test, so tests
/// running at the same time never see each other's items.
pub async fn fresh_table(client: &Client, purpose: &str) -> String {
    fresh_table_with(client, purpose, true).await
}

/// [`fresh_table`] without its stream, for a test that writes much and never aggregates:
/// DynamoDB Local keeps every table's stream records in one store, and tens of thousands of them
/// slow every other test's stream reads.
pub async fn fresh_table_with(client: &Client, purpose: &str, stream: bool) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = format!("test-{purpose}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut def = table_from_template(&repo_template(), TABLE_RESOURCE).expect("template.yaml defines the table");
    if !stream {
        def.stream_view_type = None;
    }
    create_table(client, &name, &def).await.unwrap_or_else(|e| panic!("creating {name} in DynamoDB Local: {e:#}"));
    name
}
