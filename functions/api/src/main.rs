//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.

use std::sync::Arc;

use api::config::Config;
use lambda_http::{Error, service_fn};
use nps_adapters::aws::lambda_sdk_config;
use nps_adapters::config::Env;
use nps_adapters::dynamo::Table;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    nps_adapters::logging::init();
    let config = Config::from_lookup(&Env)?;
    let sdk = lambda_sdk_config();
    let table = Table::new(nps_adapters::aws::dynamodb(&sdk), config.table.clone());
    let app = Arc::new(config.app(table));
    lambda_http::run(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Error>(nps_http::access_logged(req, |req| async move { app.handle(req).await }).await) }
    }))
    .await
}
