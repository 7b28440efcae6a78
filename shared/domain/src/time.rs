use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, in whole seconds since the Unix epoch (the unit of DynamoDB TTL attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix(seconds: i64) -> Self {
        Timestamp(seconds)
    }

    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
    }

    pub const fn unix(self) -> i64 {
        self.0
    }

    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
    }

    /// Parses an RFC 3339 date-time (`2026-11-23T18:50:00Z`, any offset); `None` otherwise or
    /// outside years 1970–9999.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        if s.len() > 40 {
            return None;
        }
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        (t.year() >= 1970).then(|| Timestamp(t.unix_timestamp()))
    }

    /// `2026-11`: the month, in UTC.
    pub fn year_month(self) -> String {
        self.to_rfc3339().chars().take(7).collect()
    }

    /// `2026-11-23T18:50:00Z`.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_honours_offsets() {
        let t = Timestamp::parse_rfc3339("2026-11-23T18:50:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T18:50:00Z");
        assert_eq!(t.year_month(), "2026-11");
        assert_eq!(Timestamp::parse_rfc3339("2026-11-23T19:50:00+01:00"), Some(t));
        for bad in ["", "2026-11-23", "yesterday", "1969-12-31T23:59:59Z", "2026-13-01T00:00:00Z"] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }
}
