//! A bare function, for `make bench-lambda` to measure ours against in the same run: the runtime,
//! the SDK's configuration and a DynamoDB client built once, then one `PutItem` per event into the
//! table named by `NPS_TABLE` (keys `FLOOR#<id>` / `FLOOR`, the event's `id`). No configuration
//! parsing, no other client, no logging set up. No function of ours can do less and still store
//! an answer, so its init time and memory are the floor.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let table = std::env::var("NPS_TABLE")?;
    let client = aws_sdk_dynamodb::Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            let id = event.payload["id"].as_str().unwrap_or("none").to_owned();
            client
                .put_item()
                .table_name(table)
                .item("pk", AttributeValue::S(format!("FLOOR#{id}")))
                .item("sk", AttributeValue::S("FLOOR".to_owned()))
                .send()
                .await?;
            Ok::<_, Error>(json!({ "stored": id }))
        }
    }))
    .await
}
