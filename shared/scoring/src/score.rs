use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One answer to "how likely are you to recommend …?": only 0 to 10 can become a `Score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Score(u8);

/// Why a value is not a score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    #[error("a score is a whole number from 0 to 10, got {0}")]
    OutOfRange(i64),
    #[error("a score is a whole number from 0 to 10, got {0:?}")]
    NotANumber(String),
}

impl Score {
    pub const MIN: Score = Score(0);
    pub const MAX: Score = Score(10);

    pub const fn value(self) -> u8 {
        self.0
    }

    pub const fn category(self) -> Category {
        match self.0 {
            0..=6 => Category::Detractor,
            7 | 8 => Category::Passive,
            _ => Category::Promoter,
        }
    }

    /// Every score, 0 to 10, in order.
    pub fn all() -> impl Iterator<Item = Score> {
        (0..=10).map(Score)
    }
}

impl TryFrom<i64> for Score {
    type Error = ScoreError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match u8::try_from(value) {
            Ok(v @ 0..=10) => Ok(Score(v)),
            _ => Err(ScoreError::OutOfRange(value)),
        }
    }
}

impl TryFrom<u8> for Score {
    type Error = ScoreError;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Score::try_from(i64::from(value))
    }
}

impl From<Score> for u8 {
    fn from(score: Score) -> u8 {
        score.0
    }
}

impl FromStr for Score {
    type Err = ScoreError;
    /// Parses the decimal digits of a query parameter or form field ("0" to "10"), nothing else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let not_a_number = || ScoreError::NotANumber(s.chars().take(16).collect());
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_a_number());
        }
        let value: i64 = s.parse().map_err(|_| not_a_number())?;
        Score::try_from(value)
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The three NPS groups. Passives count in n but in neither side of the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Detractor,
    Passive,
    Promoter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zero_to_ten_are_scores() {
        assert!(Score::try_from(-1i64).is_err());
        assert!(Score::try_from(11i64).is_err());
        assert!(Score::try_from(255u8).is_err());
        assert_eq!(Score::all().map(u8::from).collect::<Vec<_>>(), (0..=10).collect::<Vec<_>>());
    }

    #[test]
    fn categories_follow_the_published_boundaries() {
        let cats: Vec<Category> = Score::all().map(Score::category).collect();
        assert_eq!(&cats[..7], &[Category::Detractor; 7]);
        // 7 and 8 are passives, not detractors (a bug seen in public tools).
        assert_eq!(&cats[7..9], &[Category::Passive; 2]);
        assert_eq!(&cats[9..], &[Category::Promoter; 2]);
    }

    #[test]
    fn parses_only_plain_decimal_text() {
        assert_eq!("0".parse::<Score>().map(u8::from), Ok(0));
        assert_eq!("10".parse::<Score>().map(u8::from), Ok(10));
        assert_eq!("09".parse::<Score>().map(u8::from), Ok(9));
        for bad in ["", "-1", "11", "+5", " 5", "5.0", "1e1", "010", "ten"] {
            assert!(bad.parse::<Score>().is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn serde_round_trips_as_a_plain_number_and_rejects_out_of_range() {
        let s: Score = serde_json::from_str("9").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "9");
        assert!(serde_json::from_str::<Score>("11").is_err());
        assert!(serde_json::from_str::<Score>("-3").is_err());
        assert!(serde_json::from_str::<Score>("\"9\"").is_err());
    }
}
