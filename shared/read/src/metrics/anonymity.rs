//! Which eNPS figures may be shown (docs/enps.md). The unit is a survey-month: a month is shown
//! only once it has settled (no answer in it can still be given or changed), and only with at
//! least `K` answers. Inside a shown month, a dimension's values are shown from `K` answers on, and
//! then only while the answers left out (values withheld, answers without the property) are none
//! or at least `K` (complementary suppression): the survey's figure minus the values shown never
//! isolates a smaller group. Every eNPS figure is a sum of shown cells, so no combination of calls
//! (ranges, segments, breakdowns, kinds) subtracts to a group under `K`.

use std::collections::BTreeSet;

use time::{Date, Duration};

/// The fewest answers behind any eNPS figure (methodology.md's k).
pub const K: u64 = 5;

/// The values of one dimension in one survey-month to show, given the month's answers (`total`)
/// and each value's. Empty when the month itself is not shown.
pub fn shown_values<'a>(total: u64, values: &[(&'a str, u64)]) -> BTreeSet<&'a str> {
    if total < K {
        return BTreeSet::new();
    }
    let mut shown: Vec<(u64, &str)> = values.iter().filter(|(_, n)| *n >= K).map(|(v, n)| (*n, *v)).collect();
    // Smallest first out: withholding the least information that closes the gap.
    shown.sort_unstable_by(|a, b| b.cmp(a));
    let mut left_out = total.saturating_sub(shown.iter().map(|(n, _)| n).sum());
    while (1..K).contains(&left_out) {
        let Some((n, _)) = shown.pop() else { break };
        left_out += n;
    }
    shown.into_iter().map(|(_, v)| v).collect()
}

/// Whether the month starting on `first` has settled by `today`: it ended more than `settle_days`
/// ago, so every answer in it is final (eNPS answers are closed `change window` after their first
/// click, and count on the day of that click).
pub fn settled(first: Date, settle_days: i64, today: Date) -> bool {
    let end = super::query::Granularity::Month.bucket_end(first);
    end.checked_add(Duration::days(settle_days)).is_some_and(|final_day| final_day < today)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn shown(total: u64, values: &[(&'static str, u64)]) -> Vec<&'static str> {
        shown_values(total, values).into_iter().collect()
    }

    #[test]
    fn values_under_k_are_withheld_and_so_is_a_small_remainder() {
        assert_eq!(shown(20, &[("eng", 10), ("sales", 10)]), ["eng", "sales"]);
        // Legal (3) withheld alone would be the survey minus the others: sales goes too.
        assert_eq!(shown(21, &[("eng", 10), ("sales", 8), ("legal", 3)]), ["eng"]);
        // Answers without the property count in the remainder like a withheld value.
        assert_eq!(shown(12, &[("eng", 10)]), Vec::<&str>::new());
        assert_eq!(shown(15, &[("eng", 10)]), ["eng"]);
        // A month under K shows nothing, whatever its values.
        assert_eq!(shown(4, &[("eng", 4)]), Vec::<&str>::new());
        // Two withheld values whose sum reaches K need no more.
        assert_eq!(shown(16, &[("eng", 10), ("legal", 3), ("hr", 3)]), ["eng"]);
    }

    #[test]
    fn the_remainder_is_never_a_small_group() {
        // Every split of up to 30 answers over four values (and none): what is left out is 0 or >= K.
        for total in 0..=30u64 {
            for a in 0..=total {
                for b in 0..=total - a {
                    for c in 0..=total - a - b {
                        let d = total - a - b - c;
                        let values = [("a", a), ("b", b), ("c", c), ("d", d)];
                        let shown = shown_values(total, &values);
                        let n_shown: u64 = values.iter().filter(|(v, _)| shown.contains(v)).map(|(_, n)| n).sum();
                        let left_out = total - n_shown;
                        assert!(shown.is_empty() || left_out == 0 || left_out >= K, "{values:?}: {shown:?}");
                        assert!(values.iter().all(|(v, n)| !shown.contains(v) || *n >= K));
                    }
                }
            }
        }
    }

    #[test]
    fn a_month_settles_after_its_change_window() {
        assert!(!settled(date!(2026 - 10 - 01), 8, date!(2026 - 11 - 08)));
        assert!(!settled(date!(2026 - 10 - 01), 8, date!(2026 - 11 - 05)));
        assert!(settled(date!(2026 - 10 - 01), 8, date!(2026 - 11 - 09)));
        assert!(!settled(date!(2026 - 11 - 01), 8, date!(2026 - 11 - 29)), "the current month never");
        assert!(!settled(Date::MAX.replace_day(1).unwrap(), 8, Date::MAX), "no overflow at the calendar's end");
    }
}
