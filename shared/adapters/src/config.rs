//! Settings from the environment, read once at init through [`Lookup`] (the process environment
//! in Lambda, a map in tests): a bad value stops the function from starting, with a message naming
//! the variable. Each binary has one `Config::from_lookup` built on it.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        ConfigError { variable, problem: problem.into() }
    }
}

/// Reads variables through `lookup` (the environment in production, a map in tests).
pub trait Lookup {
    fn var(&self, name: &str) -> Option<String>;

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.var(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| ConfigError::new(name, "is required"))
    }

    fn days_or(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.var(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(days @ 1..=3650) => Ok(Duration::from_secs(days * 86_400)),
                _ => Err(ConfigError::new(name, "must be a whole number of days from 1 to 3650")),
            },
        }
    }

    /// `NPS_CADENCE_DAY_SECONDS` (1 to 86400): how long a cadence's day lasts. Unset when deployed
    /// (a day); `make dev` shortens it so a list's waves can be watched going out.
    fn cadence_day(&self) -> Result<Duration, ConfigError> {
        const NAME: &str = "NPS_CADENCE_DAY_SECONDS";
        match self.var(NAME).filter(|v| !v.trim().is_empty()) {
            None => Ok(nps_domain::survey::CADENCE_DAY),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(seconds @ 1..=86_400) => Ok(Duration::from_secs(seconds)),
                _ => Err(ConfigError::new(NAME, "must be a whole number of seconds from 1 to 86400")),
            },
        }
    }

    /// An absolute http(s) URL, without a trailing slash.
    fn base_url(&self, name: &'static str) -> Result<String, ConfigError> {
        let url = self.required(name)?;
        let ok = (url.starts_with("https://") || url.starts_with("http://")) && !url.contains(['?', '#', ' ']);
        ok.then(|| url.trim_end_matches('/').to_owned())
            .ok_or_else(|| ConfigError::new(name, "must be an http(s) URL without query or fragment"))
    }
}

/// The process environment.
pub struct Env;

impl Lookup for Env {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}
