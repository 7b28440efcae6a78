use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::xray::XRay;

/// Timeouts, so that a hung dependency becomes a retryable error well inside the Lambda timeout.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// A function's `SdkConfig`, from what Lambda puts in its environment and nothing else: the
/// region (`AWS_REGION`), the role's credentials (`AWS_ACCESS_KEY_ID`…), and endpoints
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SESV2`, which point the local stack at its
/// stand-ins, or `AWS_ENDPOINT_URL`). Without aws-config's default chains (profile files, SSO,
/// web identity through STS, the instance metadata service), none of which a function uses:
/// their code was ~0.2 MB of every binary and its memory (BENCHMARKS.md).
pub fn lambda_sdk_config() -> SdkConfig {
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).map(Region::new);
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard())
        .use_fips(env("AWS_USE_FIPS_ENDPOINT").is_some_and(|v| v.eq_ignore_ascii_case("true")))
        .service_config(EnvServiceConfig)
        .build()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Service settings from the environment as the SDK names them: `<KEY>_<SERVICE>` first (for
/// example `AWS_ENDPOINT_URL_DYNAMODB`), then `<KEY>`.
#[derive(Debug)]
struct EnvServiceConfig;

impl LoadServiceConfig for EnvServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        service_setting(&key, env)
    }
}

fn service_setting(key: &ServiceConfigKey<'_>, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let service = key.service_id().to_uppercase().replace(' ', "_");
    lookup(&format!("{}_{service}", key.env())).or_else(|| lookup(key.env()))
}

/// The `SdkConfig` of the CLI and the tests, which may run on a laptop: aws-config's default
/// chains (profiles, SSO, …), with the same timeouts as the functions.
pub async fn load_sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
    // Credentials in the environment (the local stack's): read alone, which skips building the
    // rest of the chain, whose web-identity step builds an STS client.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_services_own_endpoint_variable_comes_first() {
        let key = |service| {
            ServiceConfigKey::builder().service_id(service).env("AWS_ENDPOINT_URL").profile("endpoint_url").build()
        };
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        let local = env(&[("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://streams"), ("AWS_ENDPOINT_URL", "http://all")]);
        assert_eq!(service_setting(&key("DynamoDB Streams").unwrap(), local).as_deref(), Some("http://streams"));
        assert_eq!(service_setting(&key("SESv2").unwrap(), local).as_deref(), Some("http://all"));
        assert_eq!(service_setting(&key("SESv2").unwrap(), env(&[])), None);
    }
}
