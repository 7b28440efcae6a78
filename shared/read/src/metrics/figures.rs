//! The figures of a set of rollup counts, as `/v1/metrics` answers them: the scoring crate's
//! summary of the confirmed scores, with the published interval (adjusted Wald), plus the counts
//! that are not scores (sent, unconfirmed, suspected bots).

use nps_domain::rollup::Counts;
use nps_scoring::{Comparison, DEFAULT_MIN_N, Summary, WeightedSummary, compare};
use serde::Serialize;

/// Every figure of one set of counts. All `null` when withheld; the undefined ones (n = 0) `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// eNPS: no settled month with enough answers stands behind it (docs/enps.md); nothing is shown.
    pub withheld: bool,
    pub n: Option<u64>,
    /// The same as `n`: confirmed answers.
    pub response_count: Option<u64>,
    pub nps: Option<f64>,
    pub nps_rounded: Option<i64>,
    /// The 95% adjusted-Wald interval, clipped to [-100, 100].
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub margin: Option<f64>,
    pub promoter_count: Option<u64>,
    pub passive_count: Option<u64>,
    pub detractor_count: Option<u64>,
    pub promoter_percent: Option<f64>,
    pub passive_percent: Option<f64>,
    pub detractor_percent: Option<f64>,
    pub mean_score: Option<f64>,
    pub min_n_met: Option<bool>,
    /// Surveys sent in the period.
    pub sent_count: Option<u64>,
    /// Answers confirmed in the period ÷ surveys sent in it (a short period may exceed 1: an
    /// answer counts on the day of its first click, its survey on the day it was requested).
    pub response_rate: Option<f64>,
    /// Responses with clicks but no confirmed answer.
    pub unconfirmed_count: Option<u64>,
    /// Responses flagged as probably automated, confirmed or not.
    pub suspected_bot_count: Option<u64>,
    /// `weight=<property>` only: the NPS weighted by it, one per currency (never summed across).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted: Option<Vec<Weighted>>,
}

/// The confirmed answers weighted by one property (revenue, seats), in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weighted {
    pub property: String,
    /// Lower case ISO 4217; `null` for the answers whose event named none.
    pub currency: Option<String>,
    /// Answers with this weight.
    pub n: u64,
    /// Σ of the weight over them.
    pub total: f64,
    /// Weighted NPS: each answer counts for its weight.
    pub nps: Option<f64>,
    pub nps_rounded: Option<i64>,
    /// The 95% interval for a weighted proportion (linearised), clipped to [-100, 100].
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub margin: Option<f64>,
    /// Kish's effective number of answers: a few large weights count as few answers.
    pub effective_n: Option<f64>,
    /// `effective_n` ≥ 30.
    pub min_n_met: bool,
    /// Σ of the weight over promoters, passives and detractors (what the detractors' business
    /// is worth: the revenue at risk).
    pub revenue_promoting: f64,
    pub revenue_passive: f64,
    pub revenue_at_risk: f64,
}

/// `counts`' answers weighted by `property`, one entry per currency (no currency last).
pub fn weighted(counts: &Counts, property: &str) -> Result<Vec<Weighted>, Damaged> {
    let mut out: Vec<Weighted> = counts
        .weights
        .iter()
        .filter(|(key, _)| key.property == property)
        .map(|(key, totals)| {
            let sums = totals.sums().ok_or(Damaged)?;
            let w = WeightedSummary::with_min_n(&sums, DEFAULT_MIN_N);
            Ok(Weighted {
                property: key.property.clone(),
                currency: (!key.currency.is_empty()).then(|| key.currency.clone()),
                n: w.n,
                total: w.total,
                nps: w.nps,
                nps_rounded: w.nps_rounded,
                ci_low: w.interval.map(|i| i.low),
                ci_high: w.interval.map(|i| i.high),
                margin: w.interval.map(|i| i.margin),
                effective_n: w.effective_n,
                min_n_met: w.min_n_met,
                revenue_promoting: w.promoters,
                revenue_passive: w.passives,
                revenue_at_risk: w.detractors,
            })
        })
        .collect::<Result<_, Damaged>>()?;
    out.sort_by_key(|w| w.currency.is_none());
    Ok(out)
}

/// Figures and the summary behind them (for comparisons); `None` when withheld.
#[derive(Debug, Clone)]
pub struct Summarised {
    pub figures: Figures,
    pub summary: Option<Summary>,
}

/// The counts held a negative number: the rollups are damaged (a rebuild repairs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

fn count(v: i64) -> Result<u64, Damaged> {
    u64::try_from(v).map_err(|_| Damaged)
}

/// The figures of `counts`.
pub fn summarise(counts: &Counts) -> Result<Summarised, Damaged> {
    let histogram = counts.histogram().ok_or(Damaged)?;
    let (sent, unconfirmed, bots) = (count(counts.sent)?, count(counts.unconfirmed)?, count(counts.suspected_bot)?);
    let s = Summary::of(&histogram);
    let interval = s.adjusted_wald;
    let figures = Figures {
        withheld: false,
        n: Some(s.n),
        response_count: Some(s.n),
        nps: s.nps,
        nps_rounded: s.nps_rounded,
        ci_low: interval.map(|i| i.low),
        ci_high: interval.map(|i| i.high),
        margin: interval.map(|i| i.margin),
        promoter_count: Some(s.promoter_count),
        passive_count: Some(s.passive_count),
        detractor_count: Some(s.detractor_count),
        promoter_percent: s.promoter_percent,
        passive_percent: s.passive_percent,
        detractor_percent: s.detractor_percent,
        mean_score: s.mean_score,
        min_n_met: Some(s.min_n_met),
        sent_count: Some(sent),
        response_rate: (sent > 0).then(|| s.n as f64 / sent as f64),
        unconfirmed_count: Some(unconfirmed),
        suspected_bot_count: Some(bots),
        weighted: None,
    };
    Ok(Summarised { figures, summary: Some(s) })
}

/// eNPS figures of the shown cells' `counts` (`None`: none shown): withheld without answers.
/// Clicks that were never confirmed and suspected bots are never shown (each is one person's act);
/// the surveys sent only for a whole survey (`with_sent`), not for a segment of it.
pub fn summarise_anonymous(counts: Option<&Counts>, with_sent: bool) -> Result<Summarised, Damaged> {
    let Some(counts) = counts else { return Ok(Summarised { figures: withheld(), summary: None }) };
    let mut s = summarise(counts)?;
    if s.figures.n.is_none_or(|n| n == 0) {
        return Ok(Summarised { figures: withheld(), summary: None });
    }
    let f = &mut s.figures;
    (f.unconfirmed_count, f.suspected_bot_count) = (None, None);
    if !with_sent {
        (f.sent_count, f.response_rate) = (None, None);
    }
    Ok(s)
}

fn withheld() -> Figures {
    Figures {
        withheld: true,
        n: None,
        response_count: None,
        nps: None,
        nps_rounded: None,
        ci_low: None,
        ci_high: None,
        margin: None,
        promoter_count: None,
        passive_count: None,
        detractor_count: None,
        promoter_percent: None,
        passive_percent: None,
        detractor_percent: None,
        mean_score: None,
        min_n_met: None,
        sent_count: None,
        response_rate: None,
        unconfirmed_count: None,
        suspected_bot_count: None,
        weighted: None,
    }
}

/// This period against the one before it: `None` when either is withheld or has no answers.
pub fn comparison(current: &Summarised, previous: &Summarised) -> Option<Comparison> {
    compare(current.summary.as_ref()?, previous.summary.as_ref()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(scores: [i64; 11], sent: i64) -> Counts {
        Counts { scores, sent, unconfirmed: 2, suspected_bot: 1, ..Counts::default() }
    }

    #[test]
    fn figures_are_the_scoring_crates_with_the_adjusted_wald_interval() {
        // methodology.md, vendor doc example B: P 8, Pa 2, D 3.
        let c = counts([3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 8], 26);
        let f = summarise(&c).unwrap().figures;
        assert_eq!((f.n, f.promoter_count, f.passive_count, f.detractor_count), (Some(13), Some(8), Some(2), Some(3)));
        assert!((f.nps.unwrap() - 38.4615).abs() < 1e-4);
        assert_eq!(f.nps_rounded, Some(38));
        assert!((f.margin.unwrap() - 40.512).abs() < 1e-3);
        assert!((f.ci_low.unwrap() - (31.250 - 40.512)).abs() < 1e-3);
        assert_eq!(f.response_rate, Some(0.5));
        assert_eq!((f.unconfirmed_count, f.suspected_bot_count, f.sent_count), (Some(2), Some(1), Some(26)));
        assert_eq!(f.min_n_met, Some(false));
    }

    #[test]
    fn no_answers_give_nulls_not_zeros() {
        let f = summarise(&Counts::default()).unwrap().figures;
        assert_eq!((f.n, f.nps, f.ci_low, f.mean_score, f.response_rate), (Some(0), None, None, None, None));
        assert!(!f.withheld);
    }

    #[test]
    fn anonymous_figures_show_no_single_act() {
        let none = summarise_anonymous(None, true).unwrap();
        assert_eq!(none.figures, withheld());
        assert!(none.summary.is_none());
        assert_eq!(summarise_anonymous(Some(&counts([0; 11], 3)), true).unwrap().figures, withheld());
        let five = counts([1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2], 10);
        let whole = summarise_anonymous(Some(&five), true).unwrap().figures;
        assert_eq!(
            (whole.n, whole.sent_count, whole.unconfirmed_count, whole.suspected_bot_count),
            (Some(5), Some(10), None, None)
        );
        let segment = summarise_anonymous(Some(&five), false).unwrap().figures;
        assert_eq!((segment.n, segment.sent_count, segment.response_rate), (Some(5), None, None));
        assert_eq!(comparison(&summarise_anonymous(Some(&five), true).unwrap(), &none), None);
    }

    #[test]
    fn negative_counts_are_damage_not_figures() {
        let mut c = Counts::default();
        c.scores[3] = -1;
        assert_eq!(summarise(&c).unwrap_err(), Damaged);
        c.scores[3] = 0;
        c.sent = -1;
        assert_eq!(summarise(&c).unwrap_err(), Damaged);
    }
}
