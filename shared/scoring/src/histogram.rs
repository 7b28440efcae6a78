use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use crate::{Category, Score};

/// Counts of scores 0..=10. Element-wise addition merges shards, days, segments and batches
/// exactly and in any order (a commutative monoid with `Histogram::EMPTY` as identity), and every
/// figure of a `Summary` derives from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram([u64; 11]);

/// Counts cannot go below zero: raised when removing more of a score than a histogram holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot remove {removed} answer(s) of score {score}: the histogram holds {held}")]
pub struct Underflow {
    pub score: Score,
    pub held: u64,
    pub removed: u64,
}

impl Histogram {
    pub const EMPTY: Histogram = Histogram([0; 11]);

    pub const fn from_counts(counts: [u64; 11]) -> Self {
        Histogram(counts)
    }

    pub const fn counts(&self) -> &[u64; 11] {
        &self.0
    }

    pub fn count(&self, score: Score) -> u64 {
        self.0[usize::from(score.value())]
    }

    pub fn insert(&mut self, score: Score) {
        self.insert_n(score, 1);
    }

    pub fn insert_n(&mut self, score: Score, n: u64) {
        let slot = &mut self.0[usize::from(score.value())];
        *slot = slot.saturating_add(n);
    }

    /// Takes one answer out, e.g. when a respondent changes their score.
    pub fn remove(&mut self, score: Score) -> Result<(), Underflow> {
        let slot = &mut self.0[usize::from(score.value())];
        match slot.checked_sub(1) {
            Some(v) => {
                *slot = v;
                Ok(())
            }
            None => Err(Underflow { score, held: 0, removed: 1 }),
        }
    }

    /// Element-wise `self - other`, or the first bucket where `other` holds more.
    pub fn checked_sub(&self, other: &Histogram) -> Result<Histogram, Underflow> {
        let mut out = *self;
        for (score, (slot, &taken)) in Score::all().zip(out.0.iter_mut().zip(other.0.iter())) {
            *slot = slot.checked_sub(taken).ok_or(Underflow { score, held: *slot, removed: taken })?;
        }
        Ok(out)
    }

    pub fn merge(&self, other: &Histogram) -> Histogram {
        let mut out = *self;
        out += *other;
        out
    }

    /// Number of scored answers (passives included).
    pub fn n(&self) -> u64 {
        self.0.iter().fold(0u64, |acc, &c| acc.saturating_add(c))
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&c| c == 0)
    }

    pub fn category_count(&self, category: Category) -> u64 {
        Score::all().filter(|s| s.category() == category).map(|s| self.count(s)).fold(0u64, u64::saturating_add)
    }

    /// Sum of all scores given, for the mean.
    pub fn score_sum(&self) -> u64 {
        Score::all().map(|s| u64::from(s.value()).saturating_mul(self.count(s))).fold(0u64, u64::saturating_add)
    }
}

impl AddAssign for Histogram {
    fn add_assign(&mut self, other: Histogram) {
        for (slot, add) in self.0.iter_mut().zip(other.0) {
            *slot = slot.saturating_add(add);
        }
    }
}

impl Add for Histogram {
    type Output = Histogram;
    fn add(mut self, other: Histogram) -> Histogram {
        self += other;
        self
    }
}

impl Sum for Histogram {
    fn sum<I: Iterator<Item = Histogram>>(iter: I) -> Histogram {
        iter.fold(Histogram::EMPTY, Add::add)
    }
}

impl<'a> Sum<&'a Histogram> for Histogram {
    fn sum<I: Iterator<Item = &'a Histogram>>(iter: I) -> Histogram {
        iter.fold(Histogram::EMPTY, |acc, h| acc + *h)
    }
}

impl Extend<Score> for Histogram {
    fn extend<I: IntoIterator<Item = Score>>(&mut self, scores: I) {
        for score in scores {
            self.insert(score);
        }
    }
}

impl FromIterator<Score> for Histogram {
    fn from_iter<I: IntoIterator<Item = Score>>(scores: I) -> Histogram {
        let mut h = Histogram::EMPTY;
        h.extend(scores);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u8) -> Score {
        Score::try_from(v).unwrap()
    }

    #[test]
    fn counts_land_in_the_bucket_of_their_value() {
        // Guards against buttons that send their array index (a bug seen in public tools).
        let h: Histogram = [0u8, 9, 9, 10].into_iter().map(s).collect();
        assert_eq!(h.counts(), &[1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1]);
        assert_eq!(h.n(), 4);
        assert_eq!(h.score_sum(), 28);
        assert_eq!(h.category_count(Category::Promoter), 3);
        assert_eq!(h.category_count(Category::Detractor), 1);
    }

    #[test]
    fn a_changed_score_moves_between_buckets() {
        let mut h: Histogram = [s(9)].into_iter().collect();
        h.remove(s(9)).unwrap();
        h.insert(s(10));
        assert_eq!(h.count(s(9)), 0);
        assert_eq!(h.count(s(10)), 1);
        assert_eq!(h.remove(s(3)), Err(Underflow { score: s(3), held: 0, removed: 1 }));
    }

    #[test]
    fn checked_sub_names_the_bucket_that_would_go_negative() {
        let a = Histogram::from_counts([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
        let b = Histogram::from_counts([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(a.checked_sub(&b).unwrap().count(s(10)), 3);
        let err = b.checked_sub(&a).unwrap_err();
        assert_eq!((err.score, err.held, err.removed), (s(0), 0, 1));
    }

    #[test]
    fn serialises_as_eleven_counts() {
        let h = Histogram::from_counts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "[1,2,3,4,5,6,7,8,9,10,11]");
        assert_eq!(serde_json::from_str::<Histogram>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Histogram>("[1,2,3]").is_err());
    }
}
