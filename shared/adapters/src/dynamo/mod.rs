//! The single table of docs/data-model.md.

mod api_keys;
mod idempotency;
mod item;
pub mod keys;
mod people;
mod requests;
mod surveys;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use nps_domain::StoreError;

pub use api_keys::{ApiKey, DynamoApiKeys, Scope};
pub use idempotency::DynamoIdempotencyStore;
pub use people::{DynamoPeople, Eligibility, SuppressionReason};
pub use requests::{CreateOutcome, DynamoRequests, Transition, Transitioned};
pub use surveys::DynamoSurveys;

/// A client and the name of the table (from the template's `NpsTable`).
#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Table { client, name: name.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// DynamoDB's error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Maps any DynamoDB SDK error that is not an expected outcome to a [`StoreError`], keeping it as
/// the source. (Conditional-check failures are outcomes, handled where they occur.)
pub(crate) fn store_error<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if crate::aws::is_transient(&err, TRANSIENT_CODES) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Rejected(Box::new(err))
    }
}
