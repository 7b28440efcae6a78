//! The alert and response-webhook settings from the environment, parsed once at init (the
//! aggregate function's `Config`): a bad value stops the function from starting, naming the
//! variable. No channel configured: no alerts are raised; no response webhook: no events.

use nps_adapters::config::{ConfigError, Lookup};
use nps_adapters::dynamo::{DynamoOutbound, DynamoRequests, DynamoResponses, DynamoSurveys, Queue, Table};
use nps_adapters::ses::SesMailer;
use nps_domain::EmailAddress;
use nps_domain::alert::DEFAULT_DROP_MIN_N;
use nps_domain::survey::sender_address;

use crate::alerts::{Alerting, EmailChannel};
use crate::events::ResponseWebhooks;
use crate::webhook::WebhookChannel;

/// The alert channels and the drop check's threshold, as configured: `NPS_ALERT_EMAILS`
/// (comma-separated) with `NPS_ALERT_FROM` (an SES-verified sender), `NPS_ALERT_WEBHOOK_URL` with
/// `NPS_ALERT_WEBHOOK_SECRET`, `NPS_DROP_MIN_N` (30), and `NPS_DASHBOARD_URL` (optional).
pub struct AlertSettings {
    /// The sender, and who is told.
    pub email: Option<(String, Vec<EmailAddress>)>,
    pub webhook: Option<WebhookChannel>,
    pub drop_min_n: u64,
    /// `NPS_DASHBOARD_URL`, where a detractor's alert says to follow it up.
    pub dashboard: Option<String>,
}

impl AlertSettings {
    /// `None`: no channel, no alerts.
    pub fn from_lookup(env: &impl Lookup) -> Result<Option<Self>, ConfigError> {
        let set = |name: &'static str| env.var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let email = match set("NPS_ALERT_EMAILS") {
            None => None,
            Some(list) => {
                let to = list
                    .split(',')
                    .map(|a| EmailAddress::parse(a.trim()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| ConfigError::new("NPS_ALERT_EMAILS", "must be addresses separated by commas"))?;
                let from = env.required("NPS_ALERT_FROM")?;
                sender_address(&from)
                    .ok_or_else(|| ConfigError::new("NPS_ALERT_FROM", "must be an address or `Name <address>`"))?;
                Some((from, to))
            }
        };
        let webhook = webhook(env, "NPS_ALERT_WEBHOOK_URL", "NPS_ALERT_WEBHOOK_SECRET")?;
        let drop_min_n = match set("NPS_DROP_MIN_N") {
            None => DEFAULT_DROP_MIN_N,
            Some(v) => v.parse().ok().filter(|n| (5..=100_000).contains(n)).ok_or_else(|| {
                ConfigError::new("NPS_DROP_MIN_N", "must be a whole number of answers from 5 to 100000")
            })?,
        };
        let dashboard = match set("NPS_DASHBOARD_URL") {
            None => None,
            Some(url)
                if (url.starts_with("https://") || url.starts_with("http://")) && !url.contains(['?', '#', ' ']) =>
            {
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(_) => return Err(ConfigError::new("NPS_DASHBOARD_URL", "must be an http(s) URL without a query")),
        };
        Ok((email.is_some() || webhook.is_some()).then_some(AlertSettings { email, webhook, drop_min_n, dashboard }))
    }

    /// Alerting on `table`, emailing through `mailer`.
    pub fn build(self, table: Table, mailer: SesMailer) -> Alerting {
        Alerting {
            store: DynamoOutbound::new(table.clone(), Queue::Alerts),
            surveys: DynamoSurveys::new(table.clone()),
            responses: DynamoResponses::new(table),
            email: self.email.map(|(from, to)| EmailChannel { mailer, from, to }),
            webhook: self.webhook,
            drop_min_n: self.drop_min_n,
            dashboard: self.dashboard,
        }
    }
}

/// Where response events go: `NPS_RESPONSE_WEBHOOK_URL` with `NPS_RESPONSE_WEBHOOK_SECRET`.
pub struct ResponseWebhookSettings(WebhookChannel);

impl ResponseWebhookSettings {
    /// `None`: no URL, no events.
    pub fn from_lookup(env: &impl Lookup) -> Result<Option<Self>, ConfigError> {
        Ok(webhook(env, "NPS_RESPONSE_WEBHOOK_URL", "NPS_RESPONSE_WEBHOOK_SECRET")?.map(ResponseWebhookSettings))
    }

    pub fn build(self, table: Table) -> ResponseWebhooks {
        ResponseWebhooks {
            store: DynamoOutbound::new(table.clone(), Queue::ResponseEvents),
            requests: DynamoRequests::new(table.clone()),
            responses: DynamoResponses::new(table),
            webhook: self.0,
        }
    }
}

/// A webhook target: an https URL (plain http on loopback only) and a signing secret.
fn webhook(
    env: &impl Lookup,
    url_variable: &'static str,
    secret_variable: &'static str,
) -> Result<Option<WebhookChannel>, ConfigError> {
    let Some(url) = env.var(url_variable).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    // Plain http only to this machine (the local stack's receivers): the host is exactly a
    // loopback name, not one that starts like it (`http://localhost.example`).
    let local = url.strip_prefix("http://").is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, port)| if port.parse::<u16>().is_ok() { h } else { host });
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    });
    if !(url.starts_with("https://") || local) || url.contains(char::is_whitespace) {
        return Err(ConfigError::new(url_variable, "must be an https URL"));
    }
    let secret = env.required(secret_variable)?;
    if secret.len() < 16 {
        return Err(ConfigError::new(secret_variable, "must be at least 16 characters"));
    }
    WebhookChannel::new(url, secret).map(Some).map_err(|e| ConfigError::new(url_variable, e))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<Alerting>, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let lookup = |k: &str| vars.get(k).cloned();
        let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let table = Table::new(aws_sdk_dynamodb::Client::new(&sdk), "nps");
        let mailer = SesMailer::new(SesMailer::client(&sdk), None);
        Ok(AlertSettings::from_lookup(&lookup)?.map(|settings| settings.build(table, mailer)))
    }

    #[test]
    fn no_channel_means_no_alerts_and_bad_values_are_named() {
        assert!(parse(&[]).unwrap().is_none());
        let both = parse(&[
            ("NPS_ALERT_EMAILS", "cx@shop.example, lead@shop.example"),
            ("NPS_ALERT_FROM", "NPS <alerts@shop.example>"),
            ("NPS_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X"),
            ("NPS_ALERT_WEBHOOK_SECRET", "0123456789abcdef"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(both.email.unwrap().to.len(), 2);
        assert_eq!(both.drop_min_n, 30);
        let named = |vars: &[(&str, &str)]| parse(vars).err().map(|e| e.variable);
        assert_eq!(named(&[("NPS_ALERT_EMAILS", "cx@shop.example")]), Some("NPS_ALERT_FROM"));
        assert_eq!(
            named(&[("NPS_ALERT_EMAILS", "not an address"), ("NPS_ALERT_FROM", "a@b.example")]),
            Some("NPS_ALERT_EMAILS")
        );
        assert_eq!(
            named(&[
                ("NPS_ALERT_WEBHOOK_URL", "http://hooks.example/x"),
                ("NPS_ALERT_WEBHOOK_SECRET", "0123456789abcdef")
            ]),
            Some("NPS_ALERT_WEBHOOK_URL"),
            "plain http only on loopback"
        );
        assert_eq!(named(&[("NPS_ALERT_WEBHOOK_URL", "https://h.example/x")]), Some("NPS_ALERT_WEBHOOK_SECRET"));
        assert_eq!(
            named(&[("NPS_ALERT_EMAILS", "a@b.example"), ("NPS_ALERT_FROM", "a@b.example"), ("NPS_DROP_MIN_N", "2")]),
            Some("NPS_DROP_MIN_N")
        );
    }

    #[test]
    fn the_response_webhook_needs_https_and_a_secret() {
        let parse = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let lookup = |k: &str| vars.get(k).cloned();
            let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
            let table = Table::new(aws_sdk_dynamodb::Client::new(&sdk), "nps");
            ResponseWebhookSettings::from_lookup(&lookup).map(|w| w.map(|w| w.build(table)).is_some())
        };
        assert_eq!(parse(&[]), Ok(false));
        let url = ("NPS_RESPONSE_WEBHOOK_URL", "https://crm.example/hooks/nps");
        assert_eq!(parse(&[url, ("NPS_RESPONSE_WEBHOOK_SECRET", "0123456789abcdef")]), Ok(true));
        assert_eq!(parse(&[url]).unwrap_err().variable, "NPS_RESPONSE_WEBHOOK_SECRET");
        let secret = ("NPS_RESPONSE_WEBHOOK_SECRET", "0123456789abcdef");
        for plain in [
            "http://crm.example/hooks",
            "http://localhost.crm.example/hooks",
            "http://127.0.0.1.crm.example/",
            "http://localhost@crm.example/",
            "ftp://127.0.0.1/x",
        ] {
            let url = ("NPS_RESPONSE_WEBHOOK_URL", plain);
            assert_eq!(parse(&[url, secret]).unwrap_err().variable, "NPS_RESPONSE_WEBHOOK_URL", "{plain}");
        }
        for local in ["http://127.0.0.1:8080/hooks", "http://localhost/x", "http://[::1]:9000"] {
            assert_eq!(parse(&[("NPS_RESPONSE_WEBHOOK_URL", local), secret]), Ok(true), "{local}");
        }
    }
}
