use nps_scoring::{Category, Histogram, Score, Summary};
use proptest::prelude::*;

fn score() -> impl Strategy<Value = Score> {
    (0u8..=10).prop_map(|v| Score::try_from(v).expect("0..=10 is a score"))
}

fn histogram() -> impl Strategy<Value = Histogram> {
    proptest::array::uniform11(0u64..10_000).prop_map(Histogram::from_counts)
}

fn nonempty_histogram() -> impl Strategy<Value = Histogram> {
    histogram().prop_filter("at least one answer", |h| !h.is_empty())
}

proptest! {
    #[test]
    fn merge_is_associative(a in histogram(), b in histogram(), c in histogram()) {
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
    }

    #[test]
    fn merge_is_commutative(a in histogram(), b in histogram()) {
        prop_assert_eq!(a.merge(&b), b.merge(&a));
    }

    #[test]
    fn empty_is_the_identity(a in histogram()) {
        prop_assert_eq!(a.merge(&Histogram::EMPTY), a);
        prop_assert_eq!(Histogram::EMPTY.merge(&a), a);
    }

    #[test]
    fn folding_in_any_split_equals_folding_at_once(scores in proptest::collection::vec(score(), 0..300), cut in 0usize..300) {
        let cut = cut.min(scores.len());
        let whole: Histogram = scores.iter().copied().collect();
        let left: Histogram = scores[..cut].iter().copied().collect();
        let right: Histogram = scores[cut..].iter().copied().collect();
        prop_assert_eq!(left + right, whole);
        prop_assert_eq!(whole.n(), scores.len() as u64);
    }

    #[test]
    fn nps_matches_a_direct_count_and_stays_on_the_scale(scores in proptest::collection::vec(score(), 1..500)) {
        let s = Summary::of(&scores.iter().copied().collect());
        let promoters = scores.iter().filter(|s| s.category() == Category::Promoter).count() as f64;
        let detractors = scores.iter().filter(|s| s.category() == Category::Detractor).count() as f64;
        let expected = 100.0 * (promoters - detractors) / scores.len() as f64;
        let nps = s.nps.expect("defined for n > 0");
        prop_assert!((nps - expected).abs() < 1e-9);
        prop_assert!((-100.0..=100.0).contains(&nps));
        prop_assert!((i64::from(-100i8)..=100).contains(&s.nps_rounded.unwrap()));
        prop_assert!((nps.round() - s.nps_rounded.unwrap() as f64).abs() < 1e-9 || (nps.abs().fract() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn intervals_hold_their_centre_and_stay_on_the_scale(h in nonempty_histogram()) {
        let s = Summary::of(&h);
        for interval in [s.wald.unwrap(), s.adjusted_wald.unwrap()] {
            prop_assert!(interval.low <= interval.centre && interval.centre <= interval.high, "{:?}", interval);
            prop_assert!(interval.low >= -100.0 && interval.high <= 100.0);
            prop_assert!(interval.margin >= 0.0 && interval.margin.is_finite());
        }
        prop_assert!((s.wald.unwrap().centre - s.nps.unwrap()).abs() < 1e-12);
    }

    #[test]
    fn adding_a_promoter_never_lowers_nps(h in histogram(), promoter in 9u8..=10) {
        let before = Summary::of(&h).nps;
        let mut after = h;
        after.insert(Score::try_from(promoter).unwrap());
        let after = Summary::of(&after).nps.unwrap();
        prop_assert!(before.is_none_or(|b| after >= b - 1e-12));
    }

    #[test]
    fn adding_a_detractor_never_raises_nps(h in histogram(), detractor in 0u8..=6) {
        let before = Summary::of(&h).nps;
        let mut after = h;
        after.insert(Score::try_from(detractor).unwrap());
        let after = Summary::of(&after).nps.unwrap();
        prop_assert!(before.is_none_or(|b| after <= b + 1e-12));
    }

    #[test]
    fn removing_what_was_added_restores_the_histogram(h in histogram(), s in score()) {
        let mut changed = h;
        changed.insert(s);
        changed.remove(s).unwrap();
        prop_assert_eq!(changed, h);
    }

    #[test]
    fn no_figure_is_ever_nan(h in histogram()) {
        let json = serde_json::to_string(&Summary::of(&h)).unwrap();
        prop_assert!(!json.contains("NaN") && !json.contains("inf"), "{}", json);
    }
}
