use serde::{Deserialize, Serialize};

use crate::{Category, Histogram};

/// The normal quantile for a two-sided 95% interval.
pub const Z_95: f64 = 1.959964;

/// Below this many answers a score is flagged as not yet meaningful (`min_n_met = false`).
pub const DEFAULT_MIN_N: u64 = 30;

/// A 95% interval in NPS points. `low`/`high` are clipped to [-100, 100]; `centre` and `margin` are not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub centre: f64,
    pub margin: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub(crate) fn around(centre: f64, margin: f64) -> Interval {
        Interval { centre, margin, low: (centre - margin).max(-100.0), high: (centre + margin).min(100.0) }
    }
}

/// Every figure derived from one histogram. Undefined figures (n = 0) are `None`, serialised as
/// `null`: never NaN, never 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    pub promoter_count: u64,
    pub passive_count: u64,
    pub detractor_count: u64,
    pub promoter_percent: Option<f64>,
    pub passive_percent: Option<f64>,
    pub detractor_percent: Option<f64>,
    pub mean_score: Option<f64>,
    /// Exact NPS in points, in [-100, 100].
    pub nps: Option<f64>,
    /// `nps` rounded once, half away from zero.
    pub nps_rounded: Option<i64>,
    /// Variance of one response scored +1 / 0 / -1.
    pub variance: Option<f64>,
    /// Standard error of NPS, in points.
    pub standard_error: Option<f64>,
    pub wald: Option<Interval>,
    /// Adjusted Wald (n + 3, +0.75 to each side): best coverage at small n; the interval to publish.
    pub adjusted_wald: Option<Interval>,
    pub min_n: u64,
    pub min_n_met: bool,
}

impl Summary {
    pub fn of(histogram: &Histogram) -> Summary {
        Summary::with_min_n(histogram, DEFAULT_MIN_N)
    }

    pub fn with_min_n(histogram: &Histogram, min_n: u64) -> Summary {
        let n = histogram.n();
        let promoters = histogram.category_count(Category::Promoter);
        let passives = histogram.category_count(Category::Passive);
        let detractors = histogram.category_count(Category::Detractor);
        let defined = n > 0;
        let nf = n as f64;
        let share = |count: u64| defined.then(|| count as f64 / nf);
        let percent = |count: u64| share(count).map(|s| 100.0 * s);

        let (p, d) = (promoters as f64 / nf, detractors as f64 / nf);
        let variance = defined.then(|| p + d - (p - d).powi(2));
        let standard_error = variance.map(|v| 100.0 * (v.max(0.0) / nf).sqrt());
        let nps = defined.then(|| 100.0 * (promoters as f64 - detractors as f64) / nf);

        Summary {
            n,
            promoter_count: promoters,
            passive_count: passives,
            detractor_count: detractors,
            promoter_percent: percent(promoters),
            passive_percent: percent(passives),
            detractor_percent: percent(detractors),
            mean_score: defined.then(|| histogram.score_sum() as f64 / nf),
            nps,
            nps_rounded: defined.then(|| rounded_nps(promoters, detractors, n)),
            variance,
            standard_error,
            wald: nps.zip(standard_error).map(|(c, se)| Interval::around(c, Z_95 * se)),
            adjusted_wald: defined.then(|| adjusted_wald(promoters, detractors, n)),
            min_n,
            min_n_met: n >= min_n,
        }
    }
}

/// 100·(P − D)/n rounded half away from zero, in integers so that halves are exact.
fn rounded_nps(promoters: u64, detractors: u64, n: u64) -> i64 {
    let diff = i128::from(promoters) - i128::from(detractors);
    let n = i128::from(n);
    let magnitude = (200 * diff.abs() + n) / (2 * n);
    let signed = if diff < 0 { -magnitude } else { magnitude };
    // |NPS| <= 100, so this always fits.
    signed as i64
}

fn adjusted_wald(promoters: u64, detractors: u64, n: u64) -> Interval {
    let n_adj = n as f64 + 3.0;
    let p = (promoters as f64 + 0.75) / n_adj;
    let d = (detractors as f64 + 0.75) / n_adj;
    let variance = (p + d - (p - d).powi(2)).max(0.0);
    Interval::around(100.0 * (p - d), Z_95 * 100.0 * (variance / n_adj).sqrt())
}

/// A change between two independent periods (`current` minus `previous`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub delta: f64,
    /// `None` when neither period has any spread (both standard errors are 0): no test is possible.
    pub z: Option<f64>,
    /// |z| > 1.96: a significant change at 95%.
    pub significant: bool,
}

/// Compares two periods; `None` when either has no answers.
pub fn compare(current: &Summary, previous: &Summary) -> Option<Comparison> {
    let (a, b) = (current.nps?, previous.nps?);
    let (se_a, se_b) = (current.standard_error?, previous.standard_error?);
    let delta = a - b;
    let spread = (se_a.powi(2) + se_b.powi(2)).sqrt();
    let z = (spread > 0.0).then(|| delta / spread);
    Some(Comparison { delta, z, significant: z.is_some_and(|z| z.abs() > 1.96) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(promoters: u64, passives: u64, detractors: u64) -> Histogram {
        Histogram::from_counts([detractors, 0, 0, 0, 0, 0, 0, passives, 0, 0, promoters])
    }

    #[test]
    fn rounding_happens_once_at_the_end() {
        // Rounding the percentages first gives 62 - 23 = 39 (a known vendor bug); the right answer is 38.
        let s = Summary::of(&counts(8, 2, 3));
        assert_eq!(s.nps_rounded, Some(38));
        assert_eq!(s.promoter_percent.map(f64::round), Some(62.0));
        assert_eq!(s.detractor_percent.map(f64::round), Some(23.0));
    }

    #[test]
    fn halves_round_away_from_zero_both_ways() {
        assert_eq!(rounded_nps(1, 0, 8), 13); // 12.5
        assert_eq!(rounded_nps(0, 1, 8), -13); // -12.5
        assert_eq!(rounded_nps(3, 0, 8), 38); // 37.5
        assert_eq!(rounded_nps(1, 0, 3), 33); // 33.33
        assert_eq!(rounded_nps(2, 0, 3), 67); // 66.67
        assert_eq!(rounded_nps(0, 0, 5), 0);
    }

    #[test]
    fn equal_thirds_give_the_published_interval_width() {
        for n in [3u64, 30, 300, 3000] {
            let s = Summary::of(&counts(n / 3, n / 3, n / 3));
            assert_eq!(s.nps, Some(0.0));
            let w = s.wald.unwrap();
            let width = w.high - w.low;
            assert!((width - 320.07 / (n as f64).sqrt()).abs() < 0.01 * width.max(1.0), "n={n}: {width}");
        }
    }

    #[test]
    fn min_n_is_configurable() {
        let h = counts(3, 1, 1);
        assert!(!Summary::of(&h).min_n_met);
        assert!(Summary::with_min_n(&h, 5).min_n_met);
        assert!(!Summary::with_min_n(&h, 6).min_n_met);
    }

    #[test]
    fn an_empty_histogram_serialises_nulls_not_nan_or_zero() {
        let json = serde_json::to_value(Summary::of(&Histogram::EMPTY)).unwrap();
        for key in ["nps", "nps_rounded", "mean_score", "promoter_percent", "variance", "wald", "adjusted_wald"] {
            assert!(json[key].is_null(), "{key} should be null: {json}");
        }
        assert_eq!(json["n"], 0);
        assert_eq!(json["min_n_met"], false);
    }

    #[test]
    fn intervals_are_clipped_to_the_scale() {
        let s = Summary::of(&counts(2, 0, 0));
        let a = s.adjusted_wald.unwrap();
        assert!(a.high <= 100.0 && a.low >= -100.0);
        assert!(a.centre + a.margin > 100.0, "this case must exercise the clip");
    }

    #[test]
    fn comparison_detects_a_real_drop_and_not_noise() {
        let before = Summary::of(&counts(600, 200, 200)); // NPS 40, n 1000
        let after = Summary::of(&counts(300, 200, 500)); // NPS -20
        let drop = compare(&after, &before).unwrap();
        assert!((drop.delta + 60.0).abs() < 1e-9);
        assert!(drop.significant && drop.z.unwrap() < -1.96);

        let noise = compare(&Summary::of(&counts(6, 2, 2)), &Summary::of(&counts(5, 3, 2))).unwrap();
        assert!(!noise.significant);
    }

    #[test]
    fn comparison_without_spread_or_answers() {
        let all_promoters = Summary::of(&counts(5, 0, 0));
        let all_detractors = Summary::of(&counts(0, 0, 5));
        let c = compare(&all_promoters, &all_detractors).unwrap();
        assert_eq!((c.delta, c.z, c.significant), (200.0, None, false));
        assert_eq!(compare(&all_promoters, &Summary::of(&Histogram::EMPTY)), None);
    }
}
