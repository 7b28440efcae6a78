//! The parameters of `GET /v1/metrics`, parsed and bounded; every refusal names its parameter.

use nps_domain::survey::{MAX_PROPERTY_LEN, SurveyId, SurveyKind};
use time::{Date, Duration, format_description::BorrowedFormatItem, macros::format_description};

/// `2026-11-23`.
const DAY: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");

/// The longest query string read.
pub const MAX_QUERY_LEN: usize = 2048;
/// The longest range, in days (three years), so one call reads a bounded number of rollups.
pub const MAX_RANGE_DAYS: i64 = 1096;
/// The range when `since` is not given: the last 30 days.
pub const DEFAULT_RANGE_DAYS: i64 = 30;
/// Dates outside these years are refused: no rollup is older, and every sum of days and months
/// done with a date in range stays far from the calendar's ends (no overflow, no panic).
pub const FIRST_YEAR: i32 = 1970;
pub const LAST_YEAR: i32 = 2999;

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

/// A refused parameter: its name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub parameter: String,
    pub problem: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.parameter, self.problem)
    }
}

fn invalid(parameter: &str, problem: impl Into<String>) -> Invalid {
    Invalid { parameter: parameter.to_owned(), problem: problem.into() }
}

pub fn format_day(day: Date) -> String {
    day.format(DAY).unwrap_or_default()
}

/// A rollup's sort key, `2026-11-23`, as a date.
pub fn stored_day(day: &str) -> Option<Date> {
    Date::parse(day, DAY).ok()
}

/// A date of the query: `YYYY-MM-DD`, between the years `FIRST_YEAR` and `LAST_YEAR`.
pub fn parse_day(parameter: &str, value: &str) -> Result<Date, Invalid> {
    Date::parse(value, DAY)
        .ok()
        .filter(|d| (FIRST_YEAR..=LAST_YEAR).contains(&d.year()))
        .ok_or_else(|| invalid(parameter, format!("must be a date, YYYY-MM-DD (UTC), in {FIRST_YEAR} to {LAST_YEAR}")))
}

/// A dimension name as surveys define them: 1 to 40 of a-z, 0-9 and `_`.
fn dimension(parameter: &str, name: &str) -> Result<String, Invalid> {
    let ok = (1..=40).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok || name == nps_domain::rollup::ALL {
        return Err(invalid(parameter, "must name a segment dimension (a-z, 0-9 and _, at most 40)"));
    }
    Ok(name.to_owned())
}

/// Parses the query string; `today` is the default end of the range.
pub fn parse(query: Option<&str>, today: Date) -> Result<MetricsQuery, Invalid> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return Err(invalid("query", format!("is over {MAX_QUERY_LEN} characters")));
    }
    let mut seen = std::collections::HashSet::new();
    let (mut survey, mut kind, mut since, mut until, mut segment, mut group_by) = (None, None, None, None, None, None);
    let (mut granularity, mut by_wave, mut compare) = (None, false, false);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.is_empty() {
            return Err(invalid("query", "holds a value without a parameter name"));
        }
        if !seen.insert(name.to_owned()) {
            return Err(invalid(name, "is given more than once"));
        }
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
                    let value_len = value.chars().count();
                    if !(1..=MAX_PROPERTY_LEN).contains(&value_len) {
                        return Err(invalid(name, format!("must be 1 to {MAX_PROPERTY_LEN} characters")));
                    }
                    segment = Some(Segment { dimension: dimension(name, d)?, value: value.to_owned() });
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
    let until = until.unwrap_or(today);
    let since = since.unwrap_or(until - Duration::days(DEFAULT_RANGE_DAYS - 1));
    if since > until {
        return Err(invalid("since", "must not be after until"));
    }
    if (until - since).whole_days() + 1 > MAX_RANGE_DAYS {
        return Err(invalid("since", format!("the range may span at most {MAX_RANGE_DAYS} days")));
    }
    Ok(MetricsQuery { survey, kind, since, until, segment, group_by, granularity, by_wave, compare })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

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
