//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.
//! Lambda's event source mapping hands it the table's stream in batches; the schedule's
//! `{"tick": true}` delivers what is due; `{"rebuild": true}` recounts every rollup
//! (`nps_aggregation::invocation`).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use nps_adapters::aws::lambda_sdk_config;
use nps_adapters::config::{ConfigError, Env, Lookup};
use nps_adapters::dynamo::{DynamoRollups, Table, TableStream};
use nps_adapters::ses::SesMailer;
use nps_aggregation::Aggregator;
use nps_aggregation::config::{AlertSettings, ResponseWebhookSettings};
use nps_aggregation::invocation::Payload;
use nps_domain::Timestamp;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    nps_adapters::logging::init();
    let config = Config::from_lookup(&Env)?;
    let sdk = Arc::new(lambda_sdk_config());
    let table = Table::new(nps_adapters::aws::dynamodb(&sdk), config.table);
    let mut aggregator = Aggregator::new(DynamoRollups::new(table.clone()));
    if let Some(alerts) = config.alerts {
        aggregator =
            aggregator.with_alerting(alerts.build(table.clone(), SesMailer::new(SesMailer::client(&sdk), None)));
    }
    if let Some(webhooks) = config.response_webhooks {
        aggregator = aggregator.with_response_webhooks(webhooks.build(table));
    }
    let aggregator = Arc::new(aggregator);
    let stream_arn: Arc<str> = config.stream.into();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| {
        let aggregator = aggregator.clone();
        // Only a rebuild reads the stream: its client is built then, not at each cold start.
        let (sdk, stream_arn) = (sdk.clone(), stream_arn.clone());
        let stream = move || TableStream::new(nps_adapters::aws::dynamodb_streams(&sdk), &*stream_arn);
        // A failure fails the invocation: the mapping delivers the batch again (splitting it,
        // then to the dead-letter queue), the schedule retries the tick.
        async move {
            Ok::<_, Error>(
                nps_aggregation::invocation::handle(&aggregator, stream, event.payload, Timestamp::now()).await?,
            )
        }
    }))
    .await
}

struct Config {
    table: String,
    stream: String,
    alerts: Option<AlertSettings>,
    response_webhooks: Option<ResponseWebhookSettings>,
}

impl Config {
    /// `NPS_TABLE`, `NPS_TABLE_STREAM_ARN`, and the alert and response-webhook settings.
    fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Config {
            table: env.required("NPS_TABLE")?,
            stream: env.required("NPS_TABLE_STREAM_ARN")?,
            alerts: AlertSettings::from_lookup(env)?,
            response_webhooks: ResponseWebhookSettings::from_lookup(env)?,
        })
    }
}
