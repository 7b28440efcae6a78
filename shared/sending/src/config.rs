//! The sending settings from the environment, shared by `trigger` and `dispatch`. Parsed once at
//! init: a bad value stops the function from starting, with a message naming the variable.

use nps_adapters::config::{ConfigError, Lookup};
use nps_domain::person::PersonKey;
use nps_domain::survey::SurveyId;
use nps_domain::token::TokenKeys;

use crate::{Fatigue, Pushes, SendingConfig};

impl SendingConfig {
    /// `NPS_PERSON_KEY`, `NPS_TOKEN_KEYS`, `NPS_CAPTURE_BASE_URL`, `NPS_DEFAULT_SURVEY`
    /// (default `default`), `NPS_TOKEN_TTL_DAYS` (60), `NPS_RETENTION_DAYS` (730),
    /// `NPS_FATIGUE_DAYS` (0, off: one survey of any kind per person within that many days),
    /// `NPS_FATIGUE_PUSHES` (`both`; or `relationship`, `transactional`: the kind it pushes),
    /// `NPS_CADENCE_DAY_SECONDS` (a day; shorter only locally).
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        let person_key = PersonKey::new(&env.required("NPS_PERSON_KEY")?)
            .map_err(|e| ConfigError::new("NPS_PERSON_KEY", e.to_string()))?;
        let token_keys = TokenKeys::parse(&env.required("NPS_TOKEN_KEYS")?)
            .map_err(|e| ConfigError::new("NPS_TOKEN_KEYS", e.to_string()))?;
        let default_survey =
            env.var("NPS_DEFAULT_SURVEY").filter(|v| !v.is_empty()).unwrap_or_else(|| "default".into());
        Ok(SendingConfig {
            person_key,
            token_keys,
            links_base: env.base_url("NPS_CAPTURE_BASE_URL")?,
            token_ttl: env.days_or("NPS_TOKEN_TTL_DAYS", SendingConfig::DEFAULT_TOKEN_TTL)?,
            retention: env.days_or("NPS_RETENTION_DAYS", SendingConfig::DEFAULT_RETENTION)?,
            cadence_day: env.cadence_day()?,
            default_survey: SurveyId::parse(&default_survey)
                .map_err(|e| ConfigError::new("NPS_DEFAULT_SURVEY", e.to_string()))?,
            // Unset, empty or 0: off.
            fatigue: match env.var("NPS_FATIGUE_DAYS").filter(|v| !v.trim().is_empty() && v.trim() != "0") {
                Some(_) => Some(Fatigue {
                    window: env.days_or("NPS_FATIGUE_DAYS", std::time::Duration::ZERO)?,
                    pushes: match env.var("NPS_FATIGUE_PUSHES").as_deref().map(str::trim) {
                        None | Some("" | "both") => Pushes::Both,
                        Some("relationship") => Pushes::Relationship,
                        Some("transactional") => Pushes::Transactional,
                        Some(_) => {
                            return Err(ConfigError::new(
                                "NPS_FATIGUE_PUSHES",
                                "must be both, relationship or transactional",
                            ));
                        }
                    },
                }),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| map.get(name).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("NPS_PERSON_KEY", "a-person-key-that-is-long-enough-123"),
        ("NPS_TOKEN_KEYS", "1:a-token-key-that-is-long-enough-1234"),
        ("NPS_CAPTURE_BASE_URL", "https://nps.example/"),
    ];

    #[test]
    fn defaults_apply_and_urls_lose_their_trailing_slash() {
        let c = SendingConfig::from_lookup(&env(GOOD)).unwrap();
        assert_eq!(c.links_base, "https://nps.example");
        assert_eq!(c.default_survey.as_str(), "default");
        assert_eq!(c.token_ttl, SendingConfig::DEFAULT_TOKEN_TTL);
        assert_eq!(c.fatigue, None, "the fatigue rule is off unless set");
    }

    #[test]
    fn the_fatigue_rule_is_off_at_zero_and_bounded() {
        let with = |days: &str| SendingConfig::from_lookup(&env(&[GOOD, &[("NPS_FATIGUE_DAYS", days)]].concat()));
        assert_eq!(with("0").unwrap().fatigue, None);
        let fortnight = std::time::Duration::from_secs(14 * 86_400);
        assert_eq!(with("14").unwrap().fatigue, Some(Fatigue { window: fortnight, pushes: Pushes::Both }));
        assert!(with("-3").is_err() && with("a fortnight").is_err());
    }

    #[test]
    fn a_cadence_day_is_a_day_unless_a_local_stack_shortens_it() {
        let with = |seconds: &str| {
            let vars = [GOOD, &[("NPS_CADENCE_DAY_SECONDS", seconds)]].concat();
            SendingConfig::from_lookup(&env(&vars)).map(|c| c.cadence_day)
        };
        assert_eq!(with("").unwrap(), nps_domain::survey::CADENCE_DAY);
        assert_eq!(with("60").unwrap(), std::time::Duration::from_secs(60));
        for bad in ["0", "86401", "a minute"] {
            assert_eq!(with(bad).unwrap_err().variable, "NPS_CADENCE_DAY_SECONDS", "{bad}");
        }
    }

    #[test]
    fn the_operator_chooses_which_kind_the_fatigue_rule_pushes() {
        let with = |pushes: &str| {
            let vars = [GOOD, &[("NPS_FATIGUE_DAYS", "14"), ("NPS_FATIGUE_PUSHES", pushes)]].concat();
            SendingConfig::from_lookup(&env(&vars)).map(|c| c.fatigue.map(|f| f.pushes))
        };
        assert_eq!(with("").unwrap(), Some(Pushes::Both));
        assert_eq!(with("relationship").unwrap(), Some(Pushes::Relationship));
        assert_eq!(with("transactional").unwrap(), Some(Pushes::Transactional));
        assert_eq!(with("sometimes").unwrap_err().variable, "NPS_FATIGUE_PUSHES");
        // A wave is held back unless event surveys are the ones pushed; an event survey likewise.
        assert_eq!(
            [Pushes::Both, Pushes::Relationship, Pushes::Transactional].map(|p| p.holds(true)),
            [true, true, false]
        );
        assert_eq!(
            [Pushes::Both, Pushes::Relationship, Pushes::Transactional].map(|p| p.holds(false)),
            [true, false, true]
        );
    }

    #[test]
    fn each_bad_variable_is_named() {
        for (name, value) in [
            ("NPS_PERSON_KEY", "short"),
            ("NPS_TOKEN_KEYS", "nonsense"),
            ("NPS_CAPTURE_BASE_URL", "ftp://x"),
            ("NPS_RETENTION_DAYS", "0"),
            ("NPS_TOKEN_TTL_DAYS", "many"),
            ("NPS_DEFAULT_SURVEY", "Not An Id"),
        ] {
            let mut pairs = GOOD.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            assert_eq!(SendingConfig::from_lookup(&env(&pairs)).unwrap_err().variable, name);
        }
        let missing = env(&GOOD[1..]);
        assert_eq!(SendingConfig::from_lookup(&missing).unwrap_err().variable, "NPS_PERSON_KEY");
    }
}
