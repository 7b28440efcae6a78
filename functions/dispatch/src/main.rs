//! Wiring only: logs, config (a bad variable stops init with its name), clients, the loop.
//! Each invocation (from the schedule; its payload is ignored) sends what is due now.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use nps_adapters::aws::lambda_sdk_config;
use nps_adapters::config::{ConfigError, Env, Lookup};
use nps_adapters::dynamo::Table;
use nps_adapters::ses::SesMailer;
use nps_domain::Timestamp;
use nps_sending::{Outbox, SendRate, SendingConfig};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    nps_adapters::logging::init();
    let config = Config::from_lookup(&Env)?;
    let sdk = lambda_sdk_config();
    let table = Table::new(nps_adapters::aws::dynamodb(&sdk), config.table);
    let mailer = SesMailer::new(SesMailer::client(&sdk), config.ses_configuration_set);
    // SES's own rate for the account unless given (the local SES answers no GetAccount).
    let per_second = match config.max_send_rate {
        Some(rate) => rate,
        None => mailer.max_send_rate().await.map_err(|e| format!("SES GetAccount (the send rate): {e}"))?,
    };
    tracing::info!(per_second, "dispatch sends at most this many emails per second");
    let outbox = Arc::new(
        Outbox::new(table, mailer, config.sending).with_send_rate(SendRate { per_second, window: SEND_WINDOW }),
    );
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let outbox = outbox.clone();
        async move {
            // A failure to read the outbox fails the invocation, so the schedule's retry and
            // dead-letter queue see it; failures of single requests are counted in the report.
            let report = outbox.dispatch(Timestamp::now()).await?;
            tracing::info!(?report, "dispatch run");
            report.counts().emit("dispatch");
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}

/// How long one run (every minute, 60 s timeout) spends sending at most; the rest waits.
const SEND_WINDOW: Duration = Duration::from_secs(40);

#[derive(Debug)]
struct Config {
    table: String,
    sending: SendingConfig,
    ses_configuration_set: Option<String>,
    /// Emails per second; `None`: SES's own for the account.
    max_send_rate: Option<f64>,
}

impl Config {
    /// `NPS_TABLE`, the sending settings, `NPS_SES_CONFIGURATION_SET` (optional),
    /// `NPS_SES_MAX_SEND_RATE` (emails per second; unset: SES's own for the account).
    fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        let max_send_rate =
            match env.var("NPS_SES_MAX_SEND_RATE").filter(|v| !v.trim().is_empty()) {
                None => None,
                Some(v) => {
                    Some(v.trim().parse::<f64>().ok().filter(|r| (0.01..=10_000.0).contains(r)).ok_or_else(|| {
                        ConfigError::new("NPS_SES_MAX_SEND_RATE", "must be a number from 0.01 to 10000")
                    })?)
                }
            };
        Ok(Config {
            table: env.required("NPS_TABLE")?,
            sending: SendingConfig::from_lookup(env)?,
            ses_configuration_set: env.var("NPS_SES_CONFIGURATION_SET").filter(|v| !v.is_empty()),
            max_send_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_rate_is_given_or_read_from_ses_and_bounded() {
        let with = |rate: Option<&str>| {
            Config::from_lookup(&|name: &str| match name {
                "NPS_TABLE" => Some("t".to_owned()),
                "NPS_PERSON_KEY" => Some("a-person-key-that-is-long-enough-123".to_owned()),
                "NPS_TOKEN_KEYS" => Some("1:a-token-key-that-is-long-enough-1234".to_owned()),
                "NPS_CAPTURE_BASE_URL" => Some("https://nps.example".to_owned()),
                "NPS_SES_MAX_SEND_RATE" => rate.map(str::to_owned),
                _ => None,
            })
        };
        assert_eq!(with(None).unwrap().max_send_rate, None, "unset: read from SES");
        assert_eq!(with(Some("14")).unwrap().max_send_rate, Some(14.0));
        for bad in ["0", "-1", "fast", "1e9"] {
            assert_eq!(with(Some(bad)).unwrap_err().variable, "NPS_SES_MAX_SEND_RATE", "{bad}");
        }
    }
}
