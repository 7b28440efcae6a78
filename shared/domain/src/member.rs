//! A member of a relationship or eNPS survey's list: asked once per period (the survey's
//! cadence), first at a point of the period given by their place in the list, so a list enrolled
//! at once is spread evenly over the period instead of mailed in one minute.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::intake::{EventError, MAX_NAME_LEN, MAX_PROPERTIES, bounded_text, property};
use crate::person::PersonId;
use crate::survey::{Locale, SurveyId};
use crate::{EmailAddress, Timestamp};

/// Most members one call adds or removes (the API's bulk calls; a CSV import sends its rows
/// through the same rule one by one).
pub const MAX_BULK: usize = 100;

/// Who a list member is, as the API, a CSV row or a webhook gives them: bounded and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub locale: Option<Locale>,
    pub properties: BTreeMap<String, String>,
}

impl Contact {
    /// The address, a name (empty is none), a locale already parsed, and at most
    /// [`MAX_PROPERTIES`] properties (names normalised as a trigger's are).
    pub fn parse(
        email: &str,
        name: Option<&str>,
        locale: Option<Locale>,
        properties: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Contact, EventError> {
        let email = EmailAddress::parse(email).map_err(|e| EventError::invalid("email", e.to_string()))?;
        let name = name.map(|n| bounded_text("name", n, MAX_NAME_LEN)).transpose()?.filter(|n| !n.is_empty());
        let mut kept = BTreeMap::new();
        for (k, v) in properties {
            let (k, v) = property(&k, &v)?;
            kept.insert(k, v);
            if kept.len() > MAX_PROPERTIES {
                return Err(EventError::invalid("properties", format!("at most {MAX_PROPERTIES} properties")));
            }
        }
        Ok(Contact { email, name, locale, properties: kept })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub survey: SurveyId,
    pub person: PersonId,
    pub email: EmailAddress,
    pub name: Option<String>,
    pub locale: Option<Locale>,
    pub properties: BTreeMap<String, String>,
    pub added_at: Timestamp,
    /// When the next wave asks this member.
    pub next_due_at: Timestamp,
    /// Waves that came to this member (sent, or skipped by a rule or a pause).
    pub waves: u32,
}

impl Member {
    /// `contact` joining `survey`'s list at `now` (its schedule is set when it is enrolled).
    pub fn joining(survey: SurveyId, person: PersonId, contact: Contact, now: Timestamp) -> Member {
        Member {
            survey,
            person,
            email: contact.email,
            name: contact.name,
            locale: contact.locale,
            properties: contact.properties,
            added_at: now,
            next_due_at: now,
            waves: 0,
        }
    }
}

/// When the `place`-th member added to a list (from 0) is first asked, added at `now`: `now`
/// plus the fractional part of `place` times the golden ratio, of `period`. Any run of members
/// added one after another lands spread evenly over the period (the golden-ratio sequence fills
/// the gaps it leaves most evenly), whether ten or a million are added at once, and each member's
/// first survey comes within a period of joining.
pub fn first_due(place: u64, now: Timestamp, period: Duration) -> Timestamp {
    const GOLDEN: f64 = 0.618_033_988_749_894_9;
    let fraction = (place as f64 * GOLDEN).fract();
    now.plus(Duration::from_secs((fraction * period.as_secs() as f64) as u64))
}

/// When the member is asked after a wave due at `due`: one period later, or, when that is
/// already past (the survey was paused, or dispatch was down), the next point on the member's
/// schedule after `now`, so missed waves are skipped instead of sent at once.
pub fn next_due(due: Timestamp, now: Timestamp, period: Duration) -> Timestamp {
    let step = i64::try_from(period.as_secs().max(1)).unwrap_or(i64::MAX);
    let next = due.unix().saturating_add(step);
    if next > now.unix() {
        return Timestamp::from_unix(next);
    }
    let missed = (now.unix() - next) / step + 1;
    Timestamp::from_unix(next.saturating_add(missed.saturating_mul(step)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn a_list_enrolled_at_once_is_spread_over_the_period() {
        let now = Timestamp::from_unix(1_800_000_000);
        let period = Duration::from_secs(30 * DAY);
        // However many join at once (and after others), no day gets more than its share and one.
        for (before, count) in [(0u64, 10u64), (0, 100), (0, 3000), (17, 250), (1_000_000, 1000)] {
            let mut per_day = [0u64; 30];
            for place in before..before + count {
                let due = first_due(place, now, period);
                let day = (due.unix() - now.unix()) / 86_400;
                assert!((0..30).contains(&day));
                per_day[day as usize] += 1;
            }
            let share = count.div_ceil(30);
            assert!(per_day.iter().all(|d| *d <= share + 1), "{count} after {before}: {per_day:?}");
        }
    }

    #[test]
    fn a_contact_is_bounded() {
        let props = |n: usize| (0..n).map(|i| (format!("p{i}"), "v".to_owned())).collect::<Vec<_>>();
        let ok = Contact::parse(" A@Example.com ", Some(" "), None, props(MAX_PROPERTIES)).unwrap();
        assert_eq!((ok.email.as_str(), ok.name, ok.properties.len()), ("A@example.com", None, MAX_PROPERTIES));
        let too_many = Contact::parse("a@example.com", None, None, props(MAX_PROPERTIES + 1)).unwrap_err();
        assert_eq!(too_many.field(), "properties");
        assert_eq!(Contact::parse("nobody", None, None, []).unwrap_err().field(), "email");
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(Contact::parse("a@example.com", Some(&long), None, []).unwrap_err().field(), "name");
    }

    #[test]
    fn the_next_wave_is_a_period_later_and_missed_waves_are_skipped() {
        let period = Duration::from_secs(30 * DAY);
        let due = Timestamp::from_unix(1_800_000_000);
        let in_time = due.plus(Duration::from_secs(60));
        assert_eq!(next_due(due, in_time, period), due.plus(period));
        // Paused for 100 days: the next wave is the first one after now, not three at once.
        let later = due.plus(Duration::from_secs(100 * DAY));
        let next = next_due(due, later, period);
        assert!(next > later && next <= later.plus(period));
        assert_eq!((next.unix() - due.unix()) % (30 * DAY as i64), 0, "on the member's own schedule");
    }
}
