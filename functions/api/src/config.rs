//! The api function's environment.

use std::time::Duration;

use nps_adapters::config::{ConfigError, Lookup};
use nps_adapters::dynamo::Table;
use nps_domain::person::PersonKey;
use nps_domain::survey::SurveyId;

use crate::{App, DEFAULT_CHANGE_WINDOW_DAYS};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub person_key: PersonKey,
    pub change_window: Duration,
    pub default_survey: Option<SurveyId>,
    pub autopilot_survey: Option<SurveyId>,
    pub cadence_day: Duration,
    pub retention: Duration,
    pub sender_domain: Option<String>,
}

impl Config {
    /// `NPS_TABLE`, `NPS_PERSON_KEY`, `NPS_CHANGE_WINDOW_DAYS` (7), `NPS_DEFAULT_SURVEY`,
    /// `NPS_AUTOPILOT_SURVEY`, `NPS_CADENCE_DAY_SECONDS` (a day), `NPS_RETENTION_DAYS` (730),
    /// `NPS_SENDER_DOMAIN`.
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        let survey = |name: &'static str| {
            env.var(name)
                .filter(|s| !s.trim().is_empty())
                .map(|s| SurveyId::parse(s.trim()).map_err(|e| ConfigError::new(name, e.to_string())))
                .transpose()
        };
        let default_window = Duration::from_secs(DEFAULT_CHANGE_WINDOW_DAYS.unsigned_abs() * 86_400);
        Ok(Config {
            table: env.required("NPS_TABLE")?,
            person_key: PersonKey::new(&env.required("NPS_PERSON_KEY")?)
                .map_err(|e| ConfigError::new("NPS_PERSON_KEY", e.to_string()))?,
            change_window: env.days_or("NPS_CHANGE_WINDOW_DAYS", default_window)?,
            default_survey: survey("NPS_DEFAULT_SURVEY")?,
            autopilot_survey: survey("NPS_AUTOPILOT_SURVEY")?,
            cadence_day: env.cadence_day()?,
            retention: env.days_or("NPS_RETENTION_DAYS", Duration::from_secs(730 * 86_400))?,
            sender_domain: env.var("NPS_SENDER_DOMAIN").map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()),
        })
    }

    /// The function on `table` (named by `self.table`), so configured.
    pub fn app(self, table: Table) -> App {
        let days = i64::try_from(self.change_window.as_secs() / 86_400).unwrap_or(i64::MAX);
        let mut app = App::new(table)
            .with_person_key(self.person_key)
            .with_change_window_days(days)
            .with_cadence_day(self.cadence_day)
            .with_retention(self.retention);
        if let Some(survey) = self.default_survey {
            app = app.with_default_survey(survey);
        }
        if let Some(survey) = self.autopilot_survey {
            app = app.with_autopilot_survey(survey);
        }
        if let Some(domain) = self.sender_domain {
            app = app.with_sender_domain(domain);
        }
        app
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(&|name: &str| map.get(name).cloned())
    }

    const GOOD: &[(&str, &str)] = &[("NPS_TABLE", "nps"), ("NPS_PERSON_KEY", "a-person-key-that-is-long-enough-123")];

    #[test]
    fn defaults_apply_and_each_bad_variable_is_named() {
        let c = config(GOOD).unwrap();
        assert_eq!(c.change_window, Duration::from_secs(7 * 86_400));
        assert_eq!((c.default_survey, c.autopilot_survey, c.sender_domain), (None, None, None));
        for (name, value) in [
            ("NPS_PERSON_KEY", "short"),
            ("NPS_CHANGE_WINDOW_DAYS", "0"),
            ("NPS_DEFAULT_SURVEY", "Not An Id"),
            ("NPS_AUTOPILOT_SURVEY", "a#b"),
            ("NPS_RETENTION_DAYS", "forever"),
            ("NPS_CADENCE_DAY_SECONDS", "0"),
        ] {
            let mut pairs = GOOD.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            assert_eq!(config(&pairs).unwrap_err().variable, name, "{value}");
        }
        assert_eq!(config(&GOOD[1..]).unwrap_err().variable, "NPS_TABLE");
    }
}
