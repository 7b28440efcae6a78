//! The parameters of `GET /v1/metrics`, parsed and bounded; every refusal names its parameter.

use nps_domain::survey::{SurveyId, SurveyKind};
use time::{Date, Duration};

pub use crate::params::{Invalid, format_day, stored_day};
use crate::params::{dimension, invalid, pairs, parse_day, range, segment_value};

/// The range when `since` is not given: the last 30 days.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Week,
    Month,
    /// A list's waves (`granularity=wave`, resolved from the survey's cadence).
    Wave(Waves),
}

/// A list's waves: `days` long (the cadence's period), the first beginning on `first`, the day
/// the list got its first member. Each member is asked once in each wave they are on the list
/// for all of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waves {
    pub first: Date,
    pub days: i64,
}

impl Waves {
    /// The wave holding `day`, from 1 (0 and below: before the list began).
    pub fn number(self, day: Date) -> i64 {
        (day - self.first).whole_days().div_euclid(self.days.max(1)) + 1
    }
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
            Granularity::Wave(_) => "wave",
        }
    }

    /// The first day of the bucket holding `day`: the day, its ISO week's Monday, its month's 1st,
    /// its wave's first day.
    pub fn bucket_start(self, day: Date) -> Date {
        match self {
            Granularity::Day => day,
            Granularity::Week => day - Duration::days(i64::from(day.weekday().number_days_from_monday())),
            Granularity::Month => day.replace_day(1).unwrap_or(day),
            Granularity::Wave(w) => w.first + Duration::days((w.number(day) - 1) * w.days.max(1)),
        }
    }

    /// The last day of the bucket starting on `start`.
    pub fn bucket_end(self, start: Date) -> Date {
        match self {
            Granularity::Day => start,
            Granularity::Week => start + Duration::days(6),
            Granularity::Month => start.replace_day(start.month().length(start.year())).unwrap_or(start),
            Granularity::Wave(w) => start + Duration::days(w.days.max(1) - 1),
        }
    }
}

/// One dimension value: `segment.product=boots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub dimension: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsQuery {
    pub survey: Option<SurveyId>,
    pub kind: Option<SurveyKind>,
    pub since: Date,
    pub until: Date,
    pub segment: Option<Segment>,
    pub group_by: Option<String>,
    /// As asked; `None` when not given (by day, except for eNPS: by month) or by wave.
    pub granularity: Option<Granularity>,
    /// `granularity=wave`: by the survey's waves (resolved from its list).
    pub by_wave: bool,
    pub compare: bool,
    /// `weight=amount`: the figures weighted by a numeric property too.
    pub weight: Option<String>,
}

impl MetricsQuery {
    /// The period just before this one, of the same length.
    pub fn previous_period(&self) -> (Date, Date) {
        let days = (self.until - self.since).whole_days() + 1;
        (self.since - Duration::days(days), self.since - Duration::days(1))
    }
}

/// The buckets of `since..=until` by `granularity`: (first day, last day), the first and last
/// clipped to the range.
pub fn buckets(since: Date, until: Date, granularity: Granularity) -> Vec<(Date, Date)> {
    let mut buckets = Vec::new();
    let mut start = since;
    while start <= until {
        let end = granularity.bucket_end(granularity.bucket_start(start)).min(until);
        buckets.push((start, end));
        match end.next_day() {
            Some(next) => start = next,
            None => break,
        }
    }
    buckets
}

/// Parses the query string; `today` is the default end of the range.
pub fn parse(query: Option<&str>, today: Date) -> Result<MetricsQuery, Invalid> {
    let (mut survey, mut kind, mut since, mut until, mut segment, mut group_by) = (None, None, None, None, None, None);
    let (mut granularity, mut by_wave, mut compare, mut weight) = (None, false, false, None);
    for (name, value) in pairs(query)? {
        let (name, value) = (name.as_str(), value.as_str());
        match name {
            "survey" => survey = Some(SurveyId::parse(value).map_err(|e| invalid(name, e.to_string()))?),
            "kind" => {
                kind = Some(
                    SurveyKind::parse(value)
                        .ok_or_else(|| invalid(name, "must be transactional, relationship or enps"))?,
                )
            }
            "since" => since = Some(parse_day(name, value)?),
            "until" => until = Some(parse_day(name, value)?),
            "group_by" => group_by = Some(dimension(name, value)?),
            "weight" => weight = Some(dimension(name, value)?),
            "granularity" => {
                granularity = match value {
                    "day" => Some(Granularity::Day),
                    "week" => Some(Granularity::Week),
                    "month" => Some(Granularity::Month),
                    "wave" => {
                        by_wave = true;
                        None
                    }
                    _ => return Err(invalid(name, "must be day, week, month or wave")),
                }
            }
            "compare" => {
                if value != "previous_period" {
                    return Err(invalid(name, "must be previous_period"));
                }
                compare = true;
            }
            _ => match name.strip_prefix("segment.") {
                Some(d) => {
                    if segment.is_some() {
                        return Err(invalid(name, "one segment at a time (rollups are per dimension)"));
                    }
                    segment = Some(Segment { dimension: dimension(name, d)?, value: segment_value(name, value)? });
                }
                None => return Err(invalid(name, "is not a parameter of /v1/metrics")),
            },
        }
    }
    if survey.is_none() && kind.is_none() {
        return Err(invalid("survey", "name a survey, or a kind to combine its surveys (kinds are never mixed)"));
    }
    if segment.is_some() && group_by.is_some() {
        return Err(invalid("group_by", "cannot be combined with a segment filter"));
    }
    if by_wave && survey.is_none() {
        return Err(invalid("granularity", "wave: name the survey whose list's waves to count (survey=…)"));
    }
    let (since, until) = range(since, until, today, DEFAULT_RANGE_DAYS)?;
    Ok(MetricsQuery { survey, kind, since, until, segment, group_by, granularity, by_wave, compare, weight })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::params::MAX_QUERY_LEN;

    const TODAY: Date = date!(2026 - 11 - 24);

    fn refused(query: &str) -> String {
        parse(Some(query), TODAY).unwrap_err().parameter
    }

    #[test]
    fn a_full_query_parses() {
        let q = parse(
            Some("survey=default&since=2026-01-01&until=2026-03-31&segment.product=Trail%20Boots&granularity=week&compare=previous_period"),
            TODAY,
        )
        .unwrap();
        assert_eq!(q.survey.as_ref().unwrap().as_str(), "default");
        assert_eq!((q.since, q.until), (date!(2026 - 01 - 01), date!(2026 - 03 - 31)));
        assert_eq!(q.segment, Some(Segment { dimension: "product".into(), value: "Trail Boots".into() }));
        assert_eq!(q.granularity, Some(Granularity::Week));
        assert!(q.compare);
        assert_eq!(q.previous_period(), (date!(2025 - 10 - 03), date!(2025 - 12 - 31)));
    }

    #[test]
    fn defaults_are_the_last_30_days_by_day() {
        let q = parse(Some("kind=enps"), TODAY).unwrap();
        assert_eq!((q.since, q.until, q.granularity), (date!(2026 - 10 - 26), TODAY, None));
        assert_eq!(q.kind, Some(SurveyKind::Enps));
    }

    #[test]
    fn every_refusal_names_its_parameter() {
        assert_eq!(refused(""), "survey");
        assert_eq!(refused("survey=a%23b"), "survey");
        assert_eq!(refused("kind=nps"), "kind");
        assert_eq!(refused("survey=s&since=2026-13-01"), "since");
        assert_eq!(refused("survey=s&until=yesterday"), "until");
        // The calendar's ends: refused by name, never a panic in the arithmetic after.
        assert_eq!(refused("survey=s&until=9999-12-31"), "until");
        assert_eq!(refused("survey=s&until=-9999-01-01"), "until");
        assert_eq!(refused("survey=s&since=1969-12-31&until=1970-01-05"), "since");
        assert_eq!(refused("survey=s&until=+10000-01-01"), "until");
        assert_eq!(refused("survey=s&since=2026-02-01&until=2026-01-01"), "since");
        assert_eq!(refused("survey=s&since=2020-01-01"), "since");
        assert_eq!(refused("survey=s&granularity=hour"), "granularity");
        assert_eq!(refused("survey=s&compare=last_year"), "compare");
        assert_eq!(refused("survey=s&group_by=Product"), "group_by");
        assert_eq!(refused("survey=s&group_by=all"), "group_by");
        assert_eq!(refused("survey=s&segment.product="), "segment.product");
        assert_eq!(refused("survey=s&segment.a=1&segment.b=2"), "segment.b");
        assert_eq!(refused("survey=s&segment.product=x&group_by=region"), "group_by");
        assert_eq!(refused("survey=s&survey=t"), "survey");
        assert_eq!(refused("survey=s&=t"), "query");
        assert_eq!(refused("survey=s&segement.product=x"), "segement.product");
        assert_eq!(refused(&format!("survey=s&x={}", "a".repeat(MAX_QUERY_LEN))), "query");
    }

    #[test]
    fn buckets_are_days_iso_weeks_and_calendar_months() {
        let wed = date!(2026 - 11 - 25);
        assert_eq!(Granularity::Week.bucket_start(wed), date!(2026 - 11 - 23));
        assert_eq!(Granularity::Week.bucket_end(date!(2026 - 11 - 23)), date!(2026 - 11 - 29));
        assert_eq!(Granularity::Month.bucket_start(wed), date!(2026 - 11 - 01));
        assert_eq!(Granularity::Month.bucket_end(date!(2026 - 12 - 01)), date!(2026 - 12 - 31));
        assert_eq!(Granularity::Month.bucket_end(date!(2028 - 02 - 01)), date!(2028 - 02 - 29));
        assert_eq!(Granularity::Day.bucket_end(wed), wed);
    }

    #[test]
    fn waves_are_counted_from_the_lists_first_day() {
        let waves = Waves { first: date!(2026 - 07 - 01), days: 30 };
        let by_wave = Granularity::Wave(waves);
        assert_eq!((waves.number(date!(2026 - 07 - 01)), waves.number(date!(2026 - 07 - 30))), (1, 1));
        assert_eq!((waves.number(date!(2026 - 07 - 31)), waves.number(date!(2026 - 06 - 30))), (2, 0));
        assert_eq!(by_wave.bucket_start(date!(2026 - 08 - 15)), date!(2026 - 07 - 31));
        assert_eq!(by_wave.bucket_end(date!(2026 - 07 - 31)), date!(2026 - 08 - 29));
        assert_eq!(by_wave.bucket_start(date!(2026 - 06 - 30)), date!(2026 - 06 - 01), "before the list: wave 0");
        let spans = buckets(date!(2026 - 07 - 10), date!(2026 - 08 - 05), by_wave);
        assert_eq!(
            spans,
            [(date!(2026 - 07 - 10), date!(2026 - 07 - 30)), (date!(2026 - 07 - 31), date!(2026 - 08 - 05))]
        );
        let q = parse(Some("survey=relationship&granularity=wave"), date!(2026 - 11 - 24)).unwrap();
        assert!(q.by_wave && q.granularity.is_none());
        assert_eq!(
            parse(Some("kind=relationship&granularity=wave"), date!(2026 - 11 - 24)).unwrap_err().parameter,
            "granularity"
        );
    }
}
