//! Which terms tell detractors' comments from promoters': the log-odds ratio with an informative
//! Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"), and which of those are more
//! than chance once every term tested is accounted for (Benjamini–Hochberg at 5%).
//!
//! For a term w mentioned by y_D detractors' and y_P promoters' comments, with n_D and n_P all
//! terms of each group, and a prior α_w = α₀ · (w's share of the whole corpus):
//!
//!   δ_w = ln((y_D + α_w) / (n_D + α₀ − y_D − α_w)) − ln((y_P + α_w) / (n_P + α₀ − y_P − α_w))
//!   σ²(δ_w) ≈ 1 / (y_D + α_w) + 1 / (y_P + α_w),   z_w = δ_w / σ(δ_w).
//!
//! The prior pulls rare terms towards no difference (a word said twice by detractors and never by
//! promoters is not a reason) and lets frequent ones speak. α₀ is a tenth of the corpus: a weak
//! prior, shaped by the corpus itself. Terms mentioned by fewer than [`MIN_MENTIONS`] comments in
//! all are not tested. z is two-sided normal; the p-values of all tested terms go through
//! Benjamini–Hochberg, so a corpus without a difference shows nothing significant 95% of the time
//! whatever its size, and a real reason is found as soon as its evidence stands out of the many.

use std::collections::BTreeMap;

use nps_scoring::Category;
use serde::{Deserialize, Serialize};

use crate::text::{Language, terms};

/// A term mentioned by fewer comments than this is not tested (nor shown: it could quote a person).
pub const MIN_MENTIONS: u64 = 3;

/// The false discovery rate of the terms called significant.
pub const FDR: f64 = 0.05;

/// The prior's total weight, as a share of the corpus's terms.
const PRIOR_SHARE: f64 = 0.1;

/// How many comments of each category mention something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mentions {
    pub detractors: u64,
    pub passives: u64,
    pub promoters: u64,
}

impl Mentions {
    fn add(&mut self, category: Category, n: u64) {
        match category {
            Category::Detractor => self.detractors += n,
            Category::Passive => self.passives += n,
            Category::Promoter => self.promoters += n,
        }
    }

    fn merge(&mut self, other: &Mentions) {
        self.detractors += other.detractors;
        self.passives += other.passives;
        self.promoters += other.promoters;
    }

    pub fn total(&self) -> u64 {
        self.detractors + self.passives + self.promoters
    }
}

/// The terms of a set of comments, by category: what a day keeps, and what days add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermCounts {
    /// Comments, by category.
    pub comments: Mentions,
    /// By term key: the comments mentioning it, and the words it was written as most.
    pub terms: BTreeMap<String, (Mentions, String)>,
}

impl TermCounts {
    /// One comment of a `category` answer.
    pub fn add_comment(&mut self, category: Category, comment: &str, language: Language) {
        self.comments.add(category, 1);
        for term in terms(comment, language) {
            let (mentions, _) = self.terms.entry(term.key).or_insert_with(|| (Mentions::default(), term.label));
            mentions.add(category, 1);
        }
    }

    /// Adds another set (another day); a term's label is the one of the set mentioning it most.
    pub fn merge(&mut self, other: &TermCounts) {
        self.comments.merge(&other.comments);
        for (key, (mentions, label)) in &other.terms {
            match self.terms.get_mut(key) {
                Some((mine, my_label)) => {
                    if mentions.total() > mine.total() {
                        label.clone_into(my_label);
                    }
                    mine.merge(mentions);
                }
                None => {
                    self.terms.insert(key.clone(), (*mentions, label.clone()));
                }
            }
        }
    }
}

impl TermCounts {
    /// As stored: a line of the comments by category, then a line per term, its fields apart by
    /// tabs (terms and labels are words and spaces).
    pub fn encode(&self) -> String {
        let c = &self.comments;
        let mut out = format!("{}\t{}\t{}\n", c.detractors, c.passives, c.promoters);
        for (key, (m, label)) in &self.terms {
            out.push_str(&format!("{key}\t{label}\t{}\t{}\t{}\n", m.detractors, m.passives, m.promoters));
        }
        out
    }

    /// What [`TermCounts::encode`] wrote; `None` if it is not that.
    pub fn decode(text: &str) -> Option<TermCounts> {
        let mut lines = text.lines();
        let mentions = |fields: &[&str]| {
            let n = |i: usize| fields.get(i)?.parse::<u64>().ok();
            Some(Mentions { detractors: n(0)?, passives: n(1)?, promoters: n(2)? })
        };
        let comments = mentions(&lines.next()?.split('\t').collect::<Vec<_>>())?;
        let mut terms = BTreeMap::new();
        for line in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            let [key, label, ..] = fields[..] else { return None };
            terms.insert(key.to_owned(), (mentions(&fields[2..])?, label.to_owned()));
        }
        Some(TermCounts { comments, terms })
    }
}

/// One reason: a term, how strongly it leans to its side, and how often it is said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Theme {
    /// What was counted: stems (`stove broken`).
    pub term: String,
    /// The words as written most (`stove broken`, `stoves arrived`…).
    pub label: String,
    /// The log-odds ratio, towards this side (> 0).
    pub log_odds: f64,
    /// Its z-score: the weight the ranking is by.
    pub z: f64,
    /// Past the Benjamini–Hochberg cut at 5% over every term tested.
    pub significant: bool,
    pub mentions: Mentions,
}

/// The reasons on each side, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// Why detractors are unhappy: terms said more by detractors than by promoters.
    pub detractors: Vec<Theme>,
    /// Why promoters recommend: the reverse.
    pub promoters: Vec<Theme>,
    /// Terms tested (mentioned by at least [`MIN_MENTIONS`] comments).
    pub tested: usize,
}

/// The `limit` strongest reasons on each side, each a distinct reason (see `distinct`).
pub fn rank(counts: &TermCounts, limit: usize) -> Ranked {
    let n_d: f64 = counts.terms.values().map(|(m, _)| m.detractors as f64).sum();
    let n_p: f64 = counts.terms.values().map(|(m, _)| m.promoters as f64).sum();
    let total: f64 = counts.terms.values().map(|(m, _)| m.total() as f64).sum();
    let alpha0 = PRIOR_SHARE * total;
    let mut scored: Vec<Theme> = counts
        .terms
        .iter()
        .filter(|(_, (m, _))| m.total() >= MIN_MENTIONS)
        .map(|(key, (m, label))| {
            let alpha = alpha0 * m.total() as f64 / total;
            let (y_d, y_p) = (m.detractors as f64, m.promoters as f64);
            let odds = |y: f64, n: f64| ((y + alpha) / (n + alpha0 - y - alpha).max(f64::MIN_POSITIVE)).ln();
            let delta = odds(y_d, n_d) - odds(y_p, n_p);
            let z = delta / (1.0 / (y_d + alpha) + 1.0 / (y_p + alpha)).sqrt();
            Theme { term: key.clone(), label: label.clone(), log_odds: delta, z, significant: false, mentions: *m }
        })
        .collect();
    let tested = scored.len();
    mark_significant(&mut scored);
    scored.sort_by(|a, b| b.z.total_cmp(&a.z).then_with(|| a.term.cmp(&b.term)));
    let detractors = scored.iter().filter(|t| t.z > 0.0).cloned().collect();
    let said = |word: &str| counts.terms.get(word).map(|(m, _)| *m);
    let detractors = distinct(detractors, |m| m.detractors, &said, limit);
    let promoters =
        scored.iter().rev().filter(|t| t.z < 0.0).map(|t| Theme { log_odds: -t.log_odds, z: -t.z, ..t.clone() });
    let promoters = distinct(promoters.collect(), |m| m.promoters, &said, limit);
    Ranked { detractors, promoters, tested }
}

/// Benjamini–Hochberg: with the m p-values sorted, the largest k with p₍ₖ₎ ≤ k/m · FDR, and
/// every term up to it.
fn mark_significant(themes: &mut [Theme]) {
    let m = themes.len();
    let mut by_p: Vec<(f64, usize)> = themes.iter().enumerate().map(|(i, t)| (two_sided_p(t.z), i)).collect();
    by_p.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cut = by_p.iter().enumerate().rev().find(|(k, (p, _))| *p <= (k + 1) as f64 / m as f64 * FDR).map(|(k, _)| k);
    if let Some(cut) = cut {
        for (_, i) in &by_p[..=cut] {
            themes[*i].significant = true;
        }
    }
}

/// P(|Z| ≥ |z|) for a standard normal Z.
fn two_sided_p(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The strongest `limit` of `ranked` (strongest first) that are distinct reasons, `side`
/// counting a term's mentions on this side and `said` any word's.
/// - A word said mostly within a pair on this side gives way to the pair: `stove` to
///   `stove arrived` when most of this side's stoves "arrived".
/// - Two terms sharing a word are one reason when they must share comments: when the word is
///   mentioned by fewer comments than the two together, at least their difference has both, and
///   if that is half the smaller one's, the later is left out (`arrived broken` after
///   `stove arrived`); so are two that share a word and are said by exactly as many comments of
///   each category (`herd kam`, `kam kaputt`: one phrase). A common word in two reasons
///   (`came broken`, `came late`) parts nothing. Reasons chain: terms linked through others are
///   one reason.
fn distinct(
    ranked: Vec<Theme>,
    side: impl Fn(&Mentions) -> u64,
    said: &dyn Fn(&str) -> Option<Mentions>,
    limit: usize,
) -> Vec<Theme> {
    let mut in_pairs: BTreeMap<&str, u64> = BTreeMap::new();
    for pair in ranked.iter().filter(|t| t.term.contains(' ')) {
        for word in pair.term.split(' ') {
            let most = in_pairs.entry(word).or_default();
            *most = (*most).max(side(&pair.mentions));
        }
    }
    let within_a_pair = |t: &Theme| {
        !t.term.contains(' ') && 2 * in_pairs.get(t.term.as_str()).copied().unwrap_or(0) >= side(&t.mentions)
    };
    let same_reason = |a: &Theme, b: &Theme| {
        let mut shared = a.term.split(' ').filter(|w| b.term.split(' ').any(|v| v == *w)).peekable();
        // Said by exactly the same numbers of each category: two pairs of one phrase.
        if shared.peek().is_some() && a.mentions == b.mentions {
            return true;
        }
        shared.any(|w| {
            let (a, b) = (side(&a.mentions), side(&b.mentions));
            let word = said(w).map_or(a + b, |m| side(&m));
            2 * (a + b).saturating_sub(word) >= a.min(b)
        })
    };
    // One reason is every term linked to another by the rules above, through any chain of them
    // (`toll qualitat` – `qualitat beim` – `beim zelt`); the strongest term names it.
    let candidates: Vec<&Theme> = ranked.iter().filter(|t| !within_a_pair(t)).take(MAX_CANDIDATES).collect();
    let mut reason: Vec<usize> = (0..candidates.len()).collect();
    fn root(reason: &mut [usize], mut i: usize) -> usize {
        while reason[i] != i {
            reason[i] = reason[reason[i]];
            i = reason[i];
        }
        i
    }
    for i in 0..candidates.len() {
        for j in i + 1..candidates.len() {
            if same_reason(candidates[i], candidates[j]) {
                let (a, b) = (root(&mut reason, i), root(&mut reason, j));
                reason[a.max(b)] = a.min(b);
            }
        }
    }
    let mut named = std::collections::BTreeSet::new();
    let mut chosen = Vec::new();
    for (i, theme) in candidates.iter().enumerate() {
        if chosen.len() < limit && named.insert(root(&mut reason, i)) {
            chosen.push((*theme).clone());
        }
    }
    chosen
}

/// The strongest terms of a side that [`distinct`] groups into reasons: enough for any limit
/// shown, and a bound on its pairwise comparisons.
const MAX_CANDIDATES: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn theme(term: &str, z: f64) -> Theme {
        Theme {
            term: term.into(),
            label: term.into(),
            log_odds: z / 2.0,
            z,
            significant: true,
            mentions: Mentions::default(),
        }
    }

    #[test]
    fn each_line_is_a_distinct_reason() {
        let said = |term: &str, z: f64, detractors: u64| Theme {
            mentions: Mentions { detractors, passives: 0, promoters: 0 },
            ..theme(term, z)
        };
        let ranked = vec![
            said("stove", 9.0, 10),
            said("broken", 8.5, 12),
            said("arriv broken", 8.0, 6),
            said("stove arriv", 7.0, 9),
            said("late", 6.0, 9),
            said("deliveri late", 5.0, 3),
        ];
        let words = |w: &str| {
            let detractors = match w {
                "arriv" => 10,
                "came" => 30,
                "late" => 9,
                _ => return None,
            };
            Some(Mentions { detractors, passives: 0, promoters: 0 })
        };
        let got: Vec<String> = distinct(ranked, |m| m.detractors, &words, 3).into_iter().map(|t| t.term).collect();
        // `stove` is said mostly in `stove arriv`, `broken` mostly in `arriv broken` (6 of 12);
        // `stove arriv` must share 5 comments of its 9 with `arriv broken` (10 arrive in all);
        // `late` is mostly not in its pair.
        assert_eq!(got, ["arriv broken", "late"]);
        let common = vec![said("came broken", 9.0, 16), said("came late", 8.0, 14)];
        let got: Vec<String> = distinct(common, |m| m.detractors, &words, 3).into_iter().map(|t| t.term).collect();
        assert_eq!(got, ["came broken", "came late"], "30 came: the two need share no comment");
    }

    #[test]
    fn benjamini_hochberg_cuts_at_the_largest_k() {
        // p-values 0.001, 0.02, 0.03, 0.5 over m = 4: 0.03 ≤ 3/4 · 0.05 = 0.0375, 0.5 > 0.05.
        let z = |p: f64| {
            // Invert the two-sided p by bisection, to build the case from p-values.
            let (mut lo, mut hi) = (0.0, 10.0);
            for _ in 0..100 {
                let mid = (lo + hi) / 2.0;
                if two_sided_p(mid) > p { lo = mid } else { hi = mid }
            }
            lo
        };
        let mut themes: Vec<Theme> =
            [0.001, 0.02, 0.03, 0.5].iter().map(|p| Theme { significant: false, ..theme("t", z(*p)) }).collect();
        mark_significant(&mut themes);
        assert_eq!(themes.iter().map(|t| t.significant).collect::<Vec<_>>(), [true, true, true, false]);
        assert!((two_sided_p(1.959964) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn counts_round_trip_as_stored() {
        let mut counts = TermCounts::default();
        counts.add_comment(Category::Detractor, "Der Herd kam kaputt an", Language::De);
        counts.add_comment(Category::Promoter, "Tolle Qualität, schnelle Lieferung", Language::De);
        assert_eq!(TermCounts::decode(&counts.encode()), Some(counts));
        assert_eq!(TermCounts::decode(&TermCounts::default().encode()), Some(TermCounts::default()));
        for bad in ["", "1\t2", "1\t2\t3\nterm", "1\t2\t3\nterm\tlabel\t1\t2\tx"] {
            assert_eq!(TermCounts::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn days_add_up_to_their_range() {
        let mut monday = TermCounts::default();
        monday.add_comment(Category::Detractor, "Stove broken", Language::En);
        let mut tuesday = TermCounts::default();
        tuesday.add_comment(Category::Detractor, "The stoves broke", Language::En);
        tuesday.add_comment(Category::Promoter, "great stoves", Language::En);
        let mut both = monday.clone();
        both.merge(&tuesday);
        let mut direct = TermCounts::default();
        for (c, text) in [
            (Category::Detractor, "Stove broken"),
            (Category::Detractor, "The stoves broke"),
            (Category::Promoter, "great stoves"),
        ] {
            direct.add_comment(c, text, Language::En);
        }
        assert_eq!(both.comments, direct.comments);
        let mentions = |t: &TermCounts| t.terms.iter().map(|(k, (m, _))| (k.clone(), *m)).collect::<Vec<_>>();
        assert_eq!(mentions(&both), mentions(&direct));
        assert_eq!(both.terms["stove"].0, Mentions { detractors: 2, passives: 0, promoters: 1 });
        assert_eq!(both.terms["stove"].1, "stoves", "the label said most");
    }
}
