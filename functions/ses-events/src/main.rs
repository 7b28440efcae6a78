//! Wiring only: logs, config (a bad variable stops init with its name), the client, the loop.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use nps_adapters::aws::lambda_sdk_config;
use nps_adapters::config::{ConfigError, Env, Lookup};
use nps_adapters::dynamo::Table;
use nps_domain::Timestamp;
use nps_domain::person::PersonKey;
use serde_json::Value;
use ses_events::App;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    nps_adapters::logging::init();
    let config = Config::from_lookup(&Env)?;
    let sdk = lambda_sdk_config();
    let app = Arc::new(App::new(Table::new(nps_adapters::aws::dynamodb(&sdk), config.table), config.person_key));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { Ok::<_, Error>(serde_json::to_value(app.handle(event.payload, Timestamp::now()).await?)?) }
    }))
    .await
}

struct Config {
    table: String,
    person_key: PersonKey,
}

impl Config {
    /// `NPS_TABLE`, `NPS_PERSON_KEY` (suppressions are kept under the address's keyed hash).
    fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Config {
            table: env.required("NPS_TABLE")?,
            person_key: PersonKey::new(&env.required("NPS_PERSON_KEY")?)
                .map_err(|e| ConfigError::new("NPS_PERSON_KEY", e.to_string()))?,
        })
    }
}
