use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::xray::XRay;

/// The one `SdkConfig` a function builds its clients from: region, credentials and endpoints come
/// from the standard AWS variables (`AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_SESV2` point
/// the local stack at its stand-ins), with timeouts so a hung dependency becomes a retryable error
/// well inside the Lambda timeout.
pub async fn load_sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    // Lambda hands a function its role's credentials in these variables, where the default chain
    // looks first. Reading them alone skips building the rest of the chain, whose web-identity
    // step builds an STS client and loads the system's root certificates: a third of a
    // function's init (BENCHMARKS.md). Without them (the CLI on a laptop), the whole chain.
    if env_credentials_set() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

fn env_credentials_set() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// A DynamoDB client on `sdk`, traced (X-Ray subsegments) when the function is.
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(xray) = XRay::from_lambda_env() {
        config = config.interceptor(xray);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// A DynamoDB Streams client on `sdk`, traced when the function is.
pub fn dynamodb_streams(sdk: &SdkConfig) -> aws_sdk_dynamodbstreams::Client {
    let mut config = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
    if let Some(xray) = XRay::from_lambda_env() {
        config = config.interceptor(xray);
    }
    aws_sdk_dynamodbstreams::Client::from_conf(config.build())
}

/// Whether an SDK error may go away by itself (throttling, server faults, network, timeouts),
/// as opposed to a request that will be refused again. `transient_codes` are the service's own
/// error codes that mean "later".
pub(crate) fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, transient_codes: &[&str]) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service.err().code().is_some_and(|code| transient_codes.contains(&code))
        }
        _ => false,
    }
}
