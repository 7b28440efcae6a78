//! The `trigger` function: `POST /v1/triggers/{source}` (signed webhooks) and `POST /v1/people`
//! (the API, with an API key). Both become one [`TriggerEvent`] and go through the outbox's rules.

pub mod config;
mod http;
mod people;
pub mod sources;

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoPeople, DynamoRequests, Table};
use nps_adapters::ses::SesMailer;
use nps_domain::Timestamp;
use nps_sending::Outbox;

pub use config::Config;
pub use nps_http::ApiError;

/// Everything a request needs, built once at init.
pub struct App {
    outbox: Outbox<SesMailer>,
    api_keys: DynamoApiKeys,
    /// Delighted's `POST /v1/people`: the profile of a person not surveyed, the scheduled time.
    people: DynamoPeople,
    requests: DynamoRequests,
    config: Arc<Config>,
}

impl App {
    pub fn new(config: Config, table: Table, mailer: SesMailer) -> Self {
        App {
            outbox: Outbox::new(table.clone(), mailer, config.sending.clone()),
            api_keys: DynamoApiKeys::new(table.clone()),
            people: DynamoPeople::new(table.clone()),
            requests: DynamoRequests::new(table),
            config: Arc::new(config),
        }
    }

    /// Answers one request; every failure becomes a JSON error response here.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        self.handle_at(req, Timestamp::now()).await
    }

    pub async fn handle_at(&self, req: Request, now: Timestamp) -> Response<Body> {
        let dialect = nps_http::dialect(&req);
        nps_http::respond_in(dialect, self.route(req, now).await)
    }
}
