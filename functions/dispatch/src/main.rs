//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.
//! Each invocation (from the schedule; its payload is ignored) sends what is due now.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::Table;
use nps_adapters::ses::SesMailer;
use nps_domain::Timestamp;
use nps_sending::config::{ConfigError, Env, Lookup};
use nps_sending::{Outbox, SendingConfig};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (table, sending, configuration_set) = config(&Env)?;
    let sdk = load_sdk_config().await;
    let table = Table::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let outbox = Arc::new(Outbox::new(table, SesMailer::new(SesMailer::client(&sdk), configuration_set), sending));
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let outbox = outbox.clone();
        async move {
            // A failure to read the outbox fails the invocation, so the schedule's retry and
            // dead-letter queue see it; failures of single requests are counted in the report.
            let report = outbox.dispatch(Timestamp::now()).await?;
            tracing::info!(?report, "dispatch run");
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}

/// `NPS_TABLE`, the sending settings, `NPS_SES_CONFIGURATION_SET` (optional).
fn config(env: &impl Lookup) -> Result<(String, SendingConfig, Option<String>), ConfigError> {
    Ok((
        env.required("NPS_TABLE")?,
        SendingConfig::from_lookup(env)?,
        env.var("NPS_SES_CONFIGURATION_SET").filter(|v| !v.is_empty()),
    ))
}
