//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.
//! Each invocation from the schedule folds what the stream holds; an admin invocation with the
//! payload `{"rebuild": true}` recomputes every rollup from the raw items instead.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{DynamoRollups, Table, TableStream};
use nps_adapters::ses::SesMailer;
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_sending::config::{Env, Lookup};
use serde_json::Value;

/// Folds per invocation: about 100 changes each, well inside the function's timeout; the next
/// scheduled run goes on from the checkpoint.
const MAX_FOLDS: usize = 500;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (table, stream) = (Env.required("NPS_TABLE")?, Env.required("NPS_TABLE_STREAM_ARN")?);
    let sdk = load_sdk_config().await;
    let table = Table::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let alerting =
        nps_aggregation::config::alerting(&Env, table.clone(), SesMailer::new(SesMailer::client(&sdk), None))?;
    let webhooks = nps_aggregation::config::response_webhooks(&Env, table.clone())?;
    let stream = TableStream::new(aws_sdk_dynamodbstreams::Client::new(&sdk), stream);
    let mut aggregator = Aggregator::new(stream, DynamoRollups::new(table));
    if let Some(alerting) = alerting {
        aggregator = aggregator.with_alerting(alerting);
    }
    if let Some(webhooks) = webhooks {
        aggregator = aggregator.with_response_webhooks(webhooks);
    }
    let aggregator = Arc::new(aggregator);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let aggregator = aggregator.clone();
        async move {
            if event.payload.get("rebuild") == Some(&Value::Bool(true)) {
                let rebuilt = aggregator.rebuild(Timestamp::now()).await?;
                tracing::info!(?rebuilt, "rollups rebuilt");
                return Ok(serde_json::to_value(rebuilt)?);
            }
            // A failure (storage, or a stream trimmed past the checkpoint) fails the invocation,
            // so the schedule's retries, dead-letter queue and alarm see it.
            let report = aggregator.run(MAX_FOLDS, Timestamp::now()).await?;
            tracing::info!(?report, "aggregation run");
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
