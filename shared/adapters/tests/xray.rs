//! X-Ray subsegments of real SDK calls (DynamoDB Local), received by a stand-in for the daemon on a
//! loopback UDP socket: one per attempt of a sampled invocation, with the trace it belongs to and
//! nothing of the call's content; none when the invocation is not sampled.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use nps_adapters::xray::XRay;
use nps_local_stack::testing::{dynamodb, fresh_table};
use serde_json::Value;
use tokio::net::UdpSocket;

const SAMPLED: &str = "Root=1-6b0d1958-d1aa6a8af47b83361a9cf17f;Parent=c1f2d58f3e79c6a1;Sampled=1";

/// A client like `base`, traced into `daemon` under `header`.
fn traced(
    base: &aws_sdk_dynamodb::Client,
    daemon: &UdpSocket,
    header: fn() -> Option<String>,
) -> aws_sdk_dynamodb::Client {
    let xray = XRay::new(daemon.local_addr().unwrap(), header).unwrap();
    aws_sdk_dynamodb::Client::from_conf(base.config().to_builder().interceptor(xray).build())
}

async fn next_document(daemon: &UdpSocket) -> Option<Value> {
    let mut buffer = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_millis(500), daemon.recv(&mut buffer)).await.ok()?.unwrap();
    let text = std::str::from_utf8(&buffer[..n]).unwrap();
    let (header, document) = text.split_once('\n').expect("a header line, then the document");
    assert_eq!(serde_json::from_str::<Value>(header).unwrap(), serde_json::json!({"format": "json", "version": 1}));
    Some(serde_json::from_str(document).unwrap())
}

#[tokio::test]
async fn each_call_of_a_sampled_invocation_is_a_subsegment_of_its_trace() {
    let base = dynamodb().await;
    let table = fresh_table(&base, "xray").await;
    let daemon = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = traced(&base, &daemon, || Some(SAMPLED.to_owned()));

    let secret = "PERSON#someone@example.com";
    let got = client.get_item().table_name(&table).key("pk", AttributeValue::S(secret.into()));
    got.key("sk", AttributeValue::S("PROFILE".into())).send().await.unwrap();
    let document = next_document(&daemon).await.expect("a subsegment");
    assert_eq!(document["type"], "subsegment");
    assert_eq!((document["name"].as_str(), document["namespace"].as_str()), (Some("DynamoDB"), Some("aws")));
    assert_eq!(document["aws"]["operation"], "GetItem");
    assert!(document["aws"]["request_id"].as_str().is_some_and(|id| !id.is_empty() && id != "-"), "{document}");
    assert_eq!(document["trace_id"], "1-6b0d1958-d1aa6a8af47b83361a9cf17f");
    assert_eq!(document["parent_id"], "c1f2d58f3e79c6a1");
    assert_eq!(document["http"]["response"]["status"], 200);
    assert_eq!((document["error"].as_bool(), document["fault"].as_bool()), (Some(false), Some(false)));
    let (start, end) = (document["start_time"].as_f64().unwrap(), document["end_time"].as_f64().unwrap());
    assert!(start > 1.7e9 && end >= start, "{start} {end}");
    assert_eq!(document["id"].as_str().map(str::len), Some(16));
    assert!(!document.to_string().contains("someone"), "nothing of the call's content: {document}");

    // A refused call is an error of its trace.
    let refused = client.get_item().table_name("no-such-table").key("pk", AttributeValue::S("x".into()));
    assert!(refused.key("sk", AttributeValue::S("x".into())).send().await.is_err());
    let document = next_document(&daemon).await.expect("a subsegment");
    assert_eq!((document["http"]["response"]["status"].as_u64(), document["error"].as_bool()), (Some(400), Some(true)));
}

#[tokio::test]
async fn an_invocation_not_sampled_sends_nothing() {
    let base = dynamodb().await;
    let table = fresh_table(&base, "xray-off").await;
    let daemon = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for header in [|| Some(SAMPLED.replace("Sampled=1", "Sampled=0")), || None] {
        let client = traced(&base, &daemon, header);
        let got = client.get_item().table_name(&table).key("pk", AttributeValue::S("x".into()));
        got.key("sk", AttributeValue::S("x".into())).send().await.unwrap();
    }
    assert_eq!(next_document(&daemon).await, None);
}
