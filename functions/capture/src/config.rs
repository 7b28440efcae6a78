//! The capture function's environment.

use std::time::Duration;

use nps_adapters::config::{ConfigError, Lookup};
use nps_domain::token::TokenKeys;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub token_keys: TokenKeys,
    /// How long after the first confirmation an answer may still be changed.
    pub change_window: Duration,
    pub retention: Duration,
}

impl Config {
    /// `NPS_TABLE`, `NPS_TOKEN_KEYS`, `NPS_CHANGE_WINDOW_DAYS` (7), `NPS_RETENTION_DAYS` (730).
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        Ok(Config {
            table: env.required("NPS_TABLE")?,
            token_keys: TokenKeys::parse(&env.required("NPS_TOKEN_KEYS")?)
                .map_err(|e| ConfigError::new("NPS_TOKEN_KEYS", e.to_string()))?,
            change_window: env.days_or("NPS_CHANGE_WINDOW_DAYS", Duration::from_secs(7 * 86_400))?,
            retention: env.days_or("NPS_RETENTION_DAYS", Duration::from_secs(730 * 86_400))?,
        })
    }
}
