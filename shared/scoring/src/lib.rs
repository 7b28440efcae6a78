//! The NPS math of `docs/methodology.md`: pure, with no I/O, no async and no AWS.
//!
//! Scores go into an 11-bucket [`Histogram`], which merges exactly; every figure (n, category
//! counts and shares, mean, NPS, its variance and intervals) is derived from one via [`Summary`],
//! and two periods are compared with [`compare`]. Answers weighted by a property (revenue, seats)
//! add up in [`WeightSums`], read by [`WeightedSummary`].

mod histogram;
mod score;
mod summary;
mod weighted;

pub use histogram::{Histogram, Underflow};
pub use score::{Category, Score, ScoreError};
pub use summary::{Comparison, DEFAULT_MIN_N, Interval, Summary, Z_95, compare};
pub use weighted::{WeightError, WeightSums, WeightedSummary};
