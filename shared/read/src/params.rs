//! One strict reader for the query strings of the read routes (`/v1/metrics`, `/v1/responses`,
//! `/v1/comments`, the dashboard): bounded in length, every parameter named and given at most
//! once, one date format, one range rule. Every refusal names its parameter.

use std::collections::HashSet;

use nps_domain::survey::MAX_PROPERTY_LEN;
use time::{Date, Duration, format_description::BorrowedFormatItem, macros::format_description};

/// `2026-11-23`.
const DAY: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");

/// The longest query string read.
pub const MAX_QUERY_LEN: usize = 2048;
/// The longest range, in days (three years), so one call reads a bounded number of items.
pub const MAX_RANGE_DAYS: i64 = 1096;
/// Dates outside these years are refused: no rollup is older, and every sum of days and months
/// done with a date in range stays far from the calendar's ends (no overflow, no panic).
pub const FIRST_YEAR: i32 = 1970;
pub const LAST_YEAR: i32 = 2999;

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

pub fn invalid(parameter: &str, problem: impl Into<String>) -> Invalid {
    Invalid { parameter: parameter.to_owned(), problem: problem.into() }
}

/// The query string's parameters, decoded, in order: refused if it is over [`MAX_QUERY_LEN`],
/// holds a value without a name, or names a parameter twice.
pub fn pairs(query: Option<&str>) -> Result<Vec<(String, String)>, Invalid> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return Err(invalid("query", format!("is over {MAX_QUERY_LEN} characters")));
    }
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name.is_empty() {
            return Err(invalid("query", "holds a value without a parameter name"));
        }
        if !seen.insert(name.clone()) {
            return Err(invalid(&name, "is given more than once"));
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
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

/// `since` to `until`, both days included: `until` defaults to `today`, `since` to `default_days`
/// before it; `since` after `until`, or more than [`MAX_RANGE_DAYS`] days, is refused.
pub fn range(
    since: Option<Date>,
    until: Option<Date>,
    today: Date,
    default_days: i64,
) -> Result<(Date, Date), Invalid> {
    let until = until.unwrap_or(today);
    let since = since.unwrap_or(until - Duration::days(default_days - 1));
    if since > until {
        return Err(invalid("since", "must not be after until"));
    }
    if (until - since).whole_days() + 1 > MAX_RANGE_DAYS {
        return Err(invalid("since", format!("the range may span at most {MAX_RANGE_DAYS} days")));
    }
    Ok((since, until))
}

/// A dimension name as surveys define them: 1 to 40 of a-z, 0-9 and `_` (not `all`).
pub fn dimension(parameter: &str, name: &str) -> Result<String, Invalid> {
    let ok = (1..=40).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok || name == nps_domain::rollup::ALL {
        return Err(invalid(parameter, "must name a segment dimension (a-z, 0-9 and _, at most 40)"));
    }
    Ok(name.to_owned())
}

/// A segment's value: 1 to `MAX_PROPERTY_LEN` characters, as a property is stored.
pub fn segment_value(parameter: &str, value: &str) -> Result<String, Invalid> {
    if !(1..=MAX_PROPERTY_LEN).contains(&value.chars().count()) {
        return Err(invalid(parameter, format!("must be 1 to {MAX_PROPERTY_LEN} characters")));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn refuses_what_no_route_takes() {
        assert_eq!(pairs(Some(&"a=1&".repeat(600))).unwrap_err().parameter, "query");
        assert_eq!(pairs(Some("=1")).unwrap_err().parameter, "query");
        assert_eq!(pairs(Some("since=2026-01-01&since=2026-01-02")).unwrap_err().parameter, "since");
        assert_eq!(pairs(Some("a=%20b&c")).unwrap(), vec![("a".into(), " b".into()), ("c".into(), "".into())]);
    }

    #[test]
    fn one_range_rule() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(range(None, None, today, 30).unwrap(), (date!(2026 - 11 - 01), today));
        let longest = today - Duration::days(MAX_RANGE_DAYS - 1);
        assert_eq!(range(Some(longest), None, today, 30).unwrap().0, longest);
        assert!(range(Some(longest - Duration::days(1)), None, today, 30).is_err());
        assert!(range(Some(today), Some(today - Duration::days(1)), today, 30).is_err());
    }
}
