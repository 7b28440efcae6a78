//! NPS weighted by a numeric property of each answer (revenue, seats): each answer counts for its
//! weight instead of for one. Like the histogram, the sums it needs merge by addition, so they can
//! be kept per day and segment and added up for any range.
//!
//! With weights w and answers scored x = +1 (promoter), 0 (passive), −1 (detractor):
//! - weighted NPS = 100 · Σw·x / Σw = 100 · (W_P − W_D) / W;
//! - its standard error is the ratio estimator's (linearisation):
//!   SE = 100 · sqrt(Σ w² (x − m)²) / W with m = Σw·x / W; per category that sum is
//!   Q_P (1 − m)² + Q_Pa m² + Q_D (1 + m)² where Q is the category's Σw². With every weight equal
//!   it is the plain Wald standard error, sqrt(v / n);
//! - the effective number of answers (Kish) is W² / Σw²: how many equally weighted answers would
//!   be as precise. A few large weights make it small, and `min_n_met` reads it, not n;
//! - the 95% interval is NPS ± 1.959964 · SE, clipped to [−100, 100].

use serde::{Deserialize, Serialize};

use crate::summary::{Interval, Z_95};
use crate::{Category, Score};

/// The sums of one weight over the answers of each category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightSums {
    /// Answers counted (those with a weight), whatever their weight.
    pub n: u64,
    /// Σw over promoters, passives and detractors.
    pub promoters: f64,
    pub passives: f64,
    pub detractors: f64,
    /// Σw² over promoters, passives and detractors.
    pub promoters_squared: f64,
    pub passives_squared: f64,
    pub detractors_squared: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("a weight must be a finite number of at least 0, not {0}")]
pub struct WeightError(pub f64);

impl WeightSums {
    pub const EMPTY: WeightSums = WeightSums {
        n: 0,
        promoters: 0.0,
        passives: 0.0,
        detractors: 0.0,
        promoters_squared: 0.0,
        passives_squared: 0.0,
        detractors_squared: 0.0,
    };

    /// One answer's score and weight; a negative, infinite or NaN weight is refused.
    pub fn add(&mut self, score: Score, weight: f64) -> Result<(), WeightError> {
        if !weight.is_finite() || weight < 0.0 {
            return Err(WeightError(weight));
        }
        let (sum, squares) = match score.category() {
            Category::Promoter => (&mut self.promoters, &mut self.promoters_squared),
            Category::Passive => (&mut self.passives, &mut self.passives_squared),
            Category::Detractor => (&mut self.detractors, &mut self.detractors_squared),
        };
        *sum += weight;
        *squares += weight * weight;
        self.n += 1;
        Ok(())
    }

    /// Adds another set of sums (another day, shard or segment).
    pub fn merge(&mut self, other: &WeightSums) {
        self.n += other.n;
        self.promoters += other.promoters;
        self.passives += other.passives;
        self.detractors += other.detractors;
        self.promoters_squared += other.promoters_squared;
        self.passives_squared += other.passives_squared;
        self.detractors_squared += other.detractors_squared;
    }

    pub fn total(&self) -> f64 {
        self.promoters + self.passives + self.detractors
    }
}

/// The weighted figures of one set of sums. Undefined figures (no weight at all) are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedSummary {
    /// Answers with a weight.
    pub n: u64,
    /// Σw: all answers' weight.
    pub total: f64,
    /// Σw over promoters: what the promoters are worth (`revenue_promoting` for revenue).
    pub promoters: f64,
    pub passives: f64,
    /// Σw over detractors: what is at risk (`revenue_at_risk` for revenue).
    pub detractors: f64,
    pub promoter_percent: Option<f64>,
    pub passive_percent: Option<f64>,
    pub detractor_percent: Option<f64>,
    /// Weighted NPS in points, in [−100, 100].
    pub nps: Option<f64>,
    /// `nps` rounded once, half away from zero.
    pub nps_rounded: Option<i64>,
    /// Kish's effective number of answers, W² / Σw².
    pub effective_n: Option<f64>,
    /// Standard error of the weighted NPS, in points.
    pub standard_error: Option<f64>,
    /// NPS ± 1.959964 · SE, clipped to the scale.
    pub interval: Option<Interval>,
    pub min_n: u64,
    /// `effective_n` ≥ `min_n`.
    pub min_n_met: bool,
}

impl WeightedSummary {
    pub fn with_min_n(sums: &WeightSums, min_n: u64) -> WeightedSummary {
        let total = sums.total();
        let defined = total > 0.0;
        let share = |w: f64| defined.then(|| 100.0 * w / total);
        let m = (sums.promoters - sums.detractors) / total;
        let squares = sums.promoters_squared + sums.passives_squared + sums.detractors_squared;
        let spread = sums.promoters_squared * (1.0 - m).powi(2)
            + sums.passives_squared * m.powi(2)
            + sums.detractors_squared * (1.0 + m).powi(2);
        let nps = defined.then(|| (100.0 * m).clamp(-100.0, 100.0));
        let standard_error = defined.then(|| 100.0 * spread.max(0.0).sqrt() / total);
        let effective_n = defined.then(|| total * total / squares);
        WeightedSummary {
            n: sums.n,
            total,
            promoters: sums.promoters,
            passives: sums.passives,
            detractors: sums.detractors,
            promoter_percent: share(sums.promoters),
            passive_percent: share(sums.passives),
            detractor_percent: share(sums.detractors),
            nps,
            // f64::round rounds half away from zero.
            nps_rounded: nps.map(|v| v.round() as i64),
            effective_n,
            standard_error,
            interval: nps.zip(standard_error).map(|(c, se)| Interval::around(c, Z_95 * se)),
            min_n,
            // Within rounding: equal weights give n itself, or a hair under it.
            min_n_met: effective_n.is_some_and(|n| n * (1.0 + 1e-12) >= min_n as f64),
        }
    }
}
