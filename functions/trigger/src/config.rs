//! The trigger's environment.

use std::collections::HashMap;

use nps_adapters::config::{ConfigError, Lookup};
use nps_sending::SendingConfig;

use crate::sources::Source;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub sending: SendingConfig,
    /// Per source; a source without a secret is not enabled (404).
    pub webhook_secrets: HashMap<Source, Vec<u8>>,
    /// The public base URL of this API, as senders call it (HubSpot signs the full URL).
    pub public_base_url: Option<String>,
    pub ses_configuration_set: Option<String>,
}

impl Config {
    /// `NPS_TABLE`, the sending settings, `NPS_WEBHOOK_SECRET_<SOURCE>` for each enabled source,
    /// `NPS_TRIGGER_BASE_URL` (needed with HubSpot), `NPS_SES_CONFIGURATION_SET` (optional).
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        let mut webhook_secrets = HashMap::new();
        for source in Source::ALL {
            let variable = secret_variable(source);
            if let Some(secret) = env.var(variable).filter(|s| !s.is_empty()) {
                if secret.len() < 16 {
                    return Err(ConfigError::new(variable, "must be at least 16 characters"));
                }
                webhook_secrets.insert(source, secret.into_bytes());
            }
        }
        let public_base_url = match env.var("NPS_TRIGGER_BASE_URL").filter(|v| !v.is_empty()) {
            Some(_) => Some(env.base_url("NPS_TRIGGER_BASE_URL")?),
            None if webhook_secrets.contains_key(&Source::Hubspot) => {
                return Err(ConfigError::new("NPS_TRIGGER_BASE_URL", "is required when HubSpot is enabled"));
            }
            None => None,
        };
        Ok(Config {
            table: env.required("NPS_TABLE")?,
            sending: SendingConfig::from_lookup(env)?,
            webhook_secrets,
            public_base_url,
            ses_configuration_set: env.var("NPS_SES_CONFIGURATION_SET").filter(|v| !v.is_empty()),
        })
    }
}

pub fn secret_variable(source: Source) -> &'static str {
    match source {
        Source::Generic => "NPS_WEBHOOK_SECRET_GENERIC",
        Source::Shopify => "NPS_WEBHOOK_SECRET_SHOPIFY",
        Source::Stripe => "NPS_WEBHOOK_SECRET_STRIPE",
        Source::Hubspot => "NPS_WEBHOOK_SECRET_HUBSPOT",
    }
}
