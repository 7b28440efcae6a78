//! The weighted summary (docs/methodology.md, "Weighted by a property"): worked cases computed by
//! hand in the comments, then its properties against a direct computation on the raw answers.

use nps_scoring::{DEFAULT_MIN_N, Histogram, Score, Summary, WeightSums, WeightedSummary};
use proptest::prelude::*;

fn score(v: u8) -> Score {
    Score::try_from(v).expect("0..=10 is a score")
}

fn sums(answers: &[(u8, f64)]) -> WeightSums {
    let mut sums = WeightSums::EMPTY;
    for &(v, w) in answers {
        sums.add(score(v), w).expect("a valid weight");
    }
    sums
}

fn summary(answers: &[(u8, f64)]) -> WeightedSummary {
    WeightedSummary::with_min_n(&sums(answers), DEFAULT_MIN_N)
}

#[track_caller]
fn close(what: &str, got: Option<f64>, want: f64, tolerance: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: None, expected {want}"));
    assert!((got - want).abs() <= tolerance, "{what} = {got}, expected {want} ± {tolerance}");
}

#[test]
fn one_large_detractor_outweighs_nine_small_promoters() {
    // 9 promoters worth 10 each, 1 detractor worth 910: W = 1000, W_P = 90, W_D = 910.
    // NPS = 100 · (90 − 910) / 1000 = −82 (unweighted it is 100 · (9 − 1) / 10 = 80).
    // m = −0.82; Q_P = 9 · 10² = 900, Q_D = 910² = 828,100.
    // Σw²(x − m)² = 900 · 1.82² + 828,100 · 0.18² = 2,981.16 + 26,830.44 = 29,811.6
    // SE = 100 · √29,811.6 / 1000 = 17.266036; effective n = 1000² / 829,000 = 1.206273.
    // 95%: −82 ± 1.959964 · 17.266036 = −82 ± 33.840809, so [−100 (clipped), −48.159191].
    let mut answers = vec![(10, 10.0); 9];
    answers.push((0, 910.0));
    let s = summary(&answers);
    assert_eq!((s.n, s.nps_rounded), (10, Some(-82)));
    close("nps", s.nps, -82.0, 1e-9);
    close("at risk", Some(s.detractors), 910.0, 1e-9);
    close("promoting", Some(s.promoters), 90.0, 1e-9);
    close("standard error", s.standard_error, 17.266036, 1e-5);
    close("effective n", s.effective_n, 1.206273, 1e-6);
    let interval = s.interval.expect("an interval");
    close("margin", Some(interval.margin), 33.840809, 1e-5);
    close("low", Some(interval.low), -100.0, 0.0);
    close("high", Some(interval.high), -48.159191, 1e-5);
    assert!(!s.min_n_met, "ten answers, 1.2 effective");
    assert_eq!(Summary::of(&Histogram::from_counts([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9])).nps_rounded, Some(80));
}

#[test]
fn a_promoter_a_passive_and_a_detractor_of_different_worth() {
    // Promoter 100, passive 50, detractor 50: W = 200, NPS = 100 · (100 − 50) / 200 = 25.
    // m = 0.25: Σw²(x − m)² = 100² · 0.75² + 50² · 0.25² + 50² · 1.25²
    //                       = 5,625 + 156.25 + 3,906.25 = 9,687.5
    // SE = 100 · √9,687.5 / 200 = 49.212549; effective n = 200² / 15,000 = 2.666667.
    // Shares 50%, 25%, 25%; 95%: 25 ± 96.454824, so [−71.454824, 100 (clipped)].
    let s = summary(&[(9, 100.0), (7, 50.0), (3, 50.0)]);
    close("nps", s.nps, 25.0, 1e-9);
    close("promoter share", s.promoter_percent, 50.0, 1e-9);
    close("passive share", s.passive_percent, 25.0, 1e-9);
    close("detractor share", s.detractor_percent, 25.0, 1e-9);
    close("standard error", s.standard_error, 49.212549, 1e-5);
    close("effective n", s.effective_n, 2.666667, 1e-6);
    let interval = s.interval.expect("an interval");
    close("low", Some(interval.low), -71.454824, 1e-5);
    close("high", Some(interval.high), 100.0, 0.0);
}

#[test]
fn equal_weights_give_the_plain_figures() {
    // The vendor example B of the vectors (8 promoters, 2 passives, 3 detractors), each worth 7:
    // NPS 38.4615, Wald margin 45.423 as unweighted; effective n = (13 · 7)² / (13 · 7²) = 13.
    let mut answers = vec![(9, 7.0); 8];
    answers.extend([(8, 7.0); 2]);
    answers.extend([(2, 7.0); 3]);
    let s = summary(&answers);
    close("nps", s.nps, 38.461538, 1e-5);
    assert_eq!(s.nps_rounded, Some(38));
    close("margin", s.interval.map(|i| i.margin), 45.423, 1e-3);
    close("effective n", s.effective_n, 13.0, 1e-9);
}

#[test]
fn without_weight_there_is_no_score() {
    // Two answers worth 0: counted, but nothing to weigh; null, never NaN or 0.
    let s = summary(&[(10, 0.0), (0, 0.0)]);
    assert_eq!((s.n, s.total), (2, 0.0));
    assert_eq!((s.nps, s.nps_rounded, s.standard_error, s.effective_n), (None, None, None, None));
    assert!(s.interval.is_none() && !s.min_n_met);
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["nps"].is_null() && json["promoter_percent"].is_null(), "{json}");
}

#[test]
fn a_weight_must_be_a_finite_number_of_at_least_zero() {
    let mut sums = WeightSums::EMPTY;
    for bad in [-0.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(sums.add(score(9), bad).is_err(), "{bad}");
    }
    assert_eq!(sums, WeightSums::EMPTY, "a refused weight changes nothing");
}

fn answers() -> impl Strategy<Value = Vec<(u8, f64)>> {
    proptest::collection::vec((0u8..=10, 0.0f64..1e6), 0..200)
}

/// The weighted NPS and the weight of each group, straight from the answers.
fn direct(answers: &[(u8, f64)]) -> (Option<f64>, f64, f64) {
    let total: f64 = answers.iter().map(|(_, w)| w).sum();
    let of = |group: fn(u8) -> bool| answers.iter().filter(|(v, _)| group(*v)).map(|(_, w)| w).sum::<f64>();
    let (promoters, detractors) = (of(|v| v >= 9), of(|v| v <= 6));
    ((total > 0.0).then(|| 100.0 * (promoters - detractors) / total), promoters, detractors)
}

proptest! {
    #[test]
    fn figures_equal_a_direct_computation(answers in answers()) {
        let s = summary(&answers);
        let (nps, promoters, detractors) = direct(&answers);
        let scale = 1e-9 * promoters.max(detractors).max(1.0);
        prop_assert!((s.promoters - promoters).abs() <= scale && (s.detractors - detractors).abs() <= scale);
        match (s.nps, nps) {
            (Some(got), Some(want)) => prop_assert!((got - want).abs() < 1e-6, "{} vs {}", got, want),
            (got, want) => prop_assert_eq!(got, want),
        }
        prop_assert_eq!(s.n, answers.len() as u64);
    }

    #[test]
    fn sums_merge_in_any_split(answers in answers(), at in 0usize..200) {
        let at = at.min(answers.len());
        let mut merged = sums(&answers[at..]);
        merged.merge(&sums(&answers[..at]));
        let whole = sums(&answers);
        prop_assert_eq!(merged.n, whole.n);
        let (a, b) = (WeightedSummary::with_min_n(&merged, 30), WeightedSummary::with_min_n(&whole, 30));
        match (a.nps, b.nps) {
            (Some(x), Some(y)) => prop_assert!((x - y).abs() < 1e-6),
            (x, y) => prop_assert_eq!(x, y),
        }
    }

    #[test]
    fn equal_weights_reproduce_the_plain_summary(counts in proptest::array::uniform11(0u64..50), weight in 0.01f64..1e4) {
        let histogram = Histogram::from_counts(counts);
        let plain = Summary::of(&histogram);
        let mut sums = WeightSums::EMPTY;
        for (value, count) in counts.iter().enumerate() {
            for _ in 0..*count {
                sums.add(score(value as u8), weight).unwrap();
            }
        }
        let weighted = WeightedSummary::with_min_n(&sums, 30);
        match (weighted.nps, plain.nps) {
            (Some(x), Some(y)) => prop_assert!((x - y).abs() < 1e-6),
            (x, y) => prop_assert_eq!(x, y),
        }
        match (weighted.standard_error, plain.standard_error) {
            (Some(x), Some(y)) => prop_assert!((x - y).abs() < 1e-6, "{} vs {}", x, y),
            (x, y) => prop_assert_eq!(x, y),
        }
        prop_assert_eq!(weighted.min_n_met, plain.min_n_met);
    }
}
