//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.
//! Lambda's event source mapping hands it the table's stream in batches; the schedule's
//! `{"tick": true}` delivers what is due; `{"rebuild": true}` recounts every rollup
//! (`nps_aggregation::invocation`).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{DynamoRollups, Table, TableStream};
use nps_adapters::ses::SesMailer;
use nps_aggregation::Aggregator;
use nps_aggregation::invocation::Payload;
use nps_domain::Timestamp;
use nps_sending::config::{Env, Lookup};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (table, stream) = (Env.required("NPS_TABLE")?, Env.required("NPS_TABLE_STREAM_ARN")?);
    let sdk = load_sdk_config().await;
    let table = Table::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let alerting =
        nps_aggregation::config::alerting(&Env, table.clone(), SesMailer::new(SesMailer::client(&sdk), None))?;
    let webhooks = nps_aggregation::config::response_webhooks(&Env, table.clone())?;
    // Read by a rebuild only.
    let stream = Arc::new(TableStream::new(aws_sdk_dynamodbstreams::Client::new(&sdk), stream));
    let mut aggregator = Aggregator::new(DynamoRollups::new(table));
    if let Some(alerting) = alerting {
        aggregator = aggregator.with_alerting(alerting);
    }
    if let Some(webhooks) = webhooks {
        aggregator = aggregator.with_response_webhooks(webhooks);
    }
    let aggregator = Arc::new(aggregator);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| {
        let (aggregator, stream) = (aggregator.clone(), stream.clone());
        // A failure fails the invocation: the mapping delivers the batch again (splitting it,
        // then to the dead-letter queue), the schedule retries the tick.
        async move {
            Ok::<_, Error>(
                nps_aggregation::invocation::handle(&aggregator, &stream, event.payload, Timestamp::now()).await?,
            )
        }
    }))
    .await
}
