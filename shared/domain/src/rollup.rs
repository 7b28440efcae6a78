//! What one stored item adds to the rollups (docs/data-model.md), and the change between two of its
//! images. The aggregator folds `new − old` for every change it reads from the table's stream, so
//! any chain of changes to an item folds to exactly what its last image adds: a score changed from
//! 9 to 10 moves one answer from bucket 9 to bucket 10, whatever happened in between.
//!
//! Every item counts in the survey's `all` rollup and in one rollup per segment property it carries,
//! on one UTC day that never changes: a response on the day it was created (its first click), a
//! survey request on the day it was created, once it has been sent.

use std::collections::{BTreeMap, BTreeSet};

use nps_scoring::{Category, Histogram, WeightSums};

use crate::Timestamp;
use crate::request::SurveyRequest;
use crate::response::Response;
use crate::survey::SurveyId;
use crate::weight::{UNITS, Weight, Weights};

/// The dimension of the whole survey; segment property names may not use it.
pub const ALL: &str = "all";

/// One rollup: a survey's counts for one dimension value on one day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub survey: SurveyId,
    /// `all`, or a segment property name.
    pub dimension: String,
    /// `all` for the `all` dimension, else the property's value.
    pub value: String,
    /// `2026-11-23` (UTC).
    pub day: String,
}

/// A rollup's counts, or a change to them (which may be negative).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Confirmed answers by score.
    pub scores: [i64; 11],
    /// Responses with clicks but no confirmed answer.
    pub unconfirmed: i64,
    /// Responses flagged as probably automated (confirmed or not).
    pub suspected_bot: i64,
    /// Survey requests sent.
    pub sent: i64,
    /// The confirmed answers' weights, by property and currency.
    pub weights: WeightTable,
    /// A fingerprint of the confirmed answers with a comment: the sum of a 32-bit hash of each
    /// (id, version, score, text). Any answer with a comment added, changed or removed changes it
    /// (but by chance, 1 in 4 billion): what the themes' cache of a day is checked against.
    pub comments: i64,
}

/// A rollup's weight totals by property and currency: a short list (a rollup holds one or two)
/// kept sorted by key without zero totals, so that equal counts compare equal. A list, not a map:
/// folding allocates for each answer, and a map's node is a large allocation for one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightTable(Vec<(WeightKey, WeightTotals)>);

impl WeightTable {
    pub fn iter(&self) -> impl Iterator<Item = (&WeightKey, &WeightTotals)> {
        self.0.iter().map(|(k, t)| (k, t))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The totals of `key`, added (as zeros) if absent.
    pub fn entry(&mut self, key: WeightKey) -> &mut WeightTotals {
        let i = match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, WeightTotals::default()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Leaves out the totals that are zero.
    pub fn retain_nonzero(&mut self) {
        self.0.retain(|(_, t)| !t.is_zero());
    }

    fn add(&mut self, other: &WeightTable, sign: i64) {
        for (key, totals) in &other.0 {
            // Found first: the key is cloned only for a new entry.
            match self.0.binary_search_by(|(k, _)| k.cmp(key)) {
                Ok(i) => self.0[i].1.add(totals, sign),
                Err(i) => {
                    let mut mine = WeightTotals::default();
                    mine.add(totals, sign);
                    self.0.insert(i, (key.clone(), mine));
                }
            }
        }
        self.retain_nonzero();
    }
}

/// One weight property in one currency (`""`: the answers without one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeightKey {
    pub property: String,
    pub currency: String,
}

/// Per category (detractors, passives, promoters, in that order): answers, Σw and Σw², with w in
/// units of 1/10,000 ([`crate::weight::UNITS`]), so that they add and cancel exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeightTotals {
    pub n: [i64; 3],
    pub sums: [i128; 3],
    pub squares: [i128; 3],
}

impl WeightTotals {
    fn one(category: Category, weight: Weight) -> Self {
        let mut t = WeightTotals::default();
        let i = category as usize;
        let w = i128::from(weight.units());
        (t.n[i], t.sums[i], t.squares[i]) = (1, w, w * w);
        t
    }

    fn add(&mut self, other: &WeightTotals, sign: i64) {
        for i in 0..3 {
            self.n[i] += sign * other.n[i];
            self.sums[i] += i128::from(sign) * other.sums[i];
            self.squares[i] += i128::from(sign) * other.squares[i];
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == WeightTotals::default()
    }

    /// As the scoring crate's sums, in units of one; `None` if a total is negative (never, for a
    /// sum of whole images).
    pub fn sums(&self) -> Option<WeightSums> {
        if self.n.iter().any(|&n| n < 0) || self.sums.iter().chain(&self.squares).any(|&v| v < 0) {
            return None;
        }
        let one = UNITS as f64;
        let (w, q) = (self.sums.map(|v| v as f64 / one), self.squares.map(|v| v as f64 / (one * one)));
        Some(WeightSums {
            n: self.n.iter().map(|&n| n as u64).sum(),
            detractors: w[0],
            passives: w[1],
            promoters: w[2],
            detractors_squared: q[0],
            passives_squared: q[1],
            promoters_squared: q[2],
        })
    }
}

impl Counts {
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    /// Adds `other` times `sign` (+1 or −1).
    pub fn add(&mut self, other: &Counts, sign: i64) {
        for (mine, theirs) in self.scores.iter_mut().zip(other.scores) {
            *mine += sign * theirs;
        }
        self.unconfirmed += sign * other.unconfirmed;
        self.suspected_bot += sign * other.suspected_bot;
        self.sent += sign * other.sent;
        self.comments += sign * other.comments;
        self.weights.add(&other.weights, sign);
    }

    /// The confirmed answers as a histogram; `None` if a count is negative (never, for a sum of
    /// whole images).
    pub fn histogram(&self) -> Option<Histogram> {
        let mut counts = [0u64; 11];
        for (out, &n) in counts.iter_mut().zip(&self.scores) {
            *out = u64::try_from(n).ok()?;
        }
        Some(Histogram::from_counts(counts))
    }
}

/// A stored item the rollups count.
#[derive(Debug, Clone, Copy)]
pub enum Image<'a> {
    Request(&'a SurveyRequest),
    Response(&'a Response),
}

/// `2026-11-23`: the UTC day of `t`.
pub fn day(t: Timestamp) -> String {
    t.to_rfc3339().chars().take(10).collect()
}

/// The rollups `image` counts in, and what it adds to each.
pub fn contribution(image: Image<'_>) -> Option<(Vec<RollupKey>, Counts)> {
    let (survey, created_at, properties, counts) = match image {
        Image::Request(r) => {
            r.sent_at?;
            (&r.survey_id, r.created_at, &r.properties, Counts { sent: 1, ..Counts::default() })
        }
        Image::Response(r) => {
            let mut counts = Counts { suspected_bot: i64::from(r.suspected_bot()), ..Counts::default() };
            match r.score {
                Some(score) => {
                    counts.scores[usize::from(score.value())] = 1;
                    counts.weights = weights(&r.weights, score.category());
                    counts.comments = r.comment.as_ref().map_or(0, |c| fingerprint(r, score, c.as_str()));
                }
                None => counts.unconfirmed = 1,
            }
            (&r.survey_id, r.created_at, &r.properties, counts)
        }
    };
    let day = day(created_at);
    let key = |dimension: &str, value: &str| RollupKey {
        survey: survey.clone(),
        dimension: dimension.to_owned(),
        value: value.to_owned(),
        day: day.clone(),
    };
    let mut keys = vec![key(ALL, ALL)];
    keys.extend(properties.iter().filter(|(name, _)| name.as_str() != ALL).map(|(name, value)| key(name, value)));
    Some((keys, counts))
}

/// One commented answer's part of [`Counts::comments`]. The hasher need not be stable across
/// builds: an image folded in and out by different builds only leaves a different fingerprint,
/// which recomputes the themes of its day once.
fn fingerprint(r: &Response, score: nps_scoring::Score, comment: &str) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (r.request_id.to_bytes(), r.version, score.value(), comment).hash(&mut h);
    i64::from(h.finish() as u32)
}

/// What one confirmed answer of `category` adds to the weight totals (`values` is sorted by
/// property, so the list is sorted by key).
fn weights(weights: &Weights, category: Category) -> WeightTable {
    let currency = weights.currency.as_deref().unwrap_or_default();
    WeightTable(
        weights
            .values
            .iter()
            .map(|(property, &w)| {
                let key = WeightKey { property: property.clone(), currency: currency.to_owned() };
                (key, WeightTotals::one(category, w))
            })
            .collect(),
    )
}

/// Changes to rollups, added up: what one aggregation batch writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deltas(BTreeMap<RollupKey, Counts>);

impl Deltas {
    /// Adds the change of one item from `old` to `new` (`None`: absent before, or deleted).
    pub fn change(&mut self, old: Option<Image<'_>>, new: Option<Image<'_>>) {
        self.add(new, 1);
        self.add(old, -1);
    }

    /// Adds what `image` counts (`sign` +1), or takes it away (−1).
    pub fn add(&mut self, image: Option<Image<'_>>, sign: i64) {
        if let Some((keys, counts)) = image.and_then(contribution) {
            self.add_to(&keys, &counts, sign);
        }
    }

    /// Adds `counts` times `sign` to each rollup of `keys`.
    pub fn add_to(&mut self, keys: &[RollupKey], counts: &Counts, sign: i64) {
        for key in keys {
            // Found first: most changes add to a rollup the batch already holds.
            match self.0.get_mut(key) {
                Some(rollup) => rollup.add(counts, sign),
                None => self.0.entry(key.clone()).or_default().add(counts, sign),
            }
        }
    }

    /// The rollups that change, with their changes (zero changes left out).
    pub fn iter(&self) -> impl Iterator<Item = (&RollupKey, &Counts)> {
        self.0.iter().filter(|(_, c)| !c.is_zero())
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Items a fold of these changes writes at most: every rollup touched (zero changes included)
    /// and one item per segment value touched (its months).
    pub fn writes_bound(&self) -> usize {
        let values: BTreeSet<(&SurveyId, &str, &str)> = self
            .0
            .keys()
            .filter(|k| k.dimension != ALL)
            .map(|k| (&k.survey, k.dimension.as_str(), k.value.as_str()))
            .collect();
        self.0.len() + values.len()
    }

    /// The segment values whose rollups change, with the months (`2026-11`) they change in: what
    /// `group_by` lists, and what the drop check looks at.
    pub fn segment_values(&self) -> BTreeMap<SegmentValue<'_>, BTreeSet<&str>> {
        let mut values: BTreeMap<SegmentValue<'_>, BTreeSet<&str>> = BTreeMap::new();
        for (key, _) in self.iter().filter(|(k, _)| k.dimension != ALL) {
            let value = SegmentValue { survey: &key.survey, dimension: &key.dimension, value: &key.value };
            values.entry(value).or_default().insert(key.day.get(..7).unwrap_or(&key.day));
        }
        values
    }
}

/// One value of a survey's segment dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentValue<'a> {
    pub survey: &'a SurveyId,
    pub dimension: &'a str,
    pub value: &'a str,
}

/// The most items one change of one item adds to a fold: its old and its new image, each in `all`
/// and in one rollup per segment property, and each of those values' item.
pub const MAX_WRITES_PER_CHANGE: usize = 2 * (1 + 2 * crate::survey::MAX_SEGMENT_PROPERTIES);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::EmailAddress;
    use crate::person::PersonId;
    use crate::request::{RequestId, RequestState};
    use crate::response::BotReason;
    use crate::survey::{Locale, SurveyKind};
    use nps_scoring::Score;

    const DAY_ONE: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z

    fn request(i: u32, properties: &[(&str, &str)]) -> SurveyRequest {
        let at = Timestamp::from_unix(DAY_ONE + i64::from(i) * 3600);
        SurveyRequest {
            id: RequestId::new(at),
            survey_id: SurveyId::parse("default").unwrap(),
            person_id: PersonId::from_stored(&format!("{i:032x}")).unwrap(),
            email: EmailAddress::parse("a@example.com").unwrap(),
            name: None,
            locale: Locale::En,
            properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            person_properties: BTreeMap::new(),
            weights: Weights::default(),
            source: "generic".into(),
            event_id: format!("e{i}"),
            transaction_id: None,
            created_at: at,
            due_at: at,
            state: RequestState::Scheduled,
            attempts: 0,
            lease_until: None,
            sent_at: None,
        }
    }

    fn score(v: u8) -> Score {
        Score::try_from(v).unwrap()
    }

    #[test]
    fn a_changed_score_moves_between_buckets_of_every_rollup_it_is_in() {
        let req = request(1, &[("product", "boots")]);
        let mut before = Response::new(&req, SurveyKind::Transactional, req.created_at);
        before.score = Some(score(9));
        let mut after = before.clone();
        after.score = Some(score(10));
        let mut deltas = Deltas::default();
        deltas.change(Some(Image::Response(&before)), Some(Image::Response(&after)));
        let changes: Vec<_> = deltas.iter().collect();
        assert_eq!(changes.len(), 2, "all=all and product=boots");
        for (key, counts) in changes {
            assert_eq!(key.day, "2026-11-23");
            let mut expected = Counts::default();
            expected.scores[9] = -1;
            expected.scores[10] = 1;
            assert_eq!(*counts, expected, "{key:?}");
        }
        assert_eq!(deltas.iter().map(|(k, _)| k.dimension.as_str()).collect::<Vec<_>>(), ["all", "product"]);
    }

    #[test]
    fn a_request_counts_once_sent_and_a_no_op_change_writes_nothing() {
        let waiting = request(2, &[]);
        let sent = SurveyRequest { sent_at: Some(waiting.created_at), state: RequestState::Sent, ..waiting.clone() };
        let reminded = SurveyRequest {
            sent_at: Some(sent.created_at.plus(std::time::Duration::from_secs(86_400 * 3))),
            state: RequestState::Reminded,
            ..sent.clone()
        };
        let mut deltas = Deltas::default();
        deltas.change(Some(Image::Request(&waiting)), Some(Image::Request(&sent)));
        let (key, counts) = deltas.iter().next().unwrap();
        assert_eq!((key.dimension.as_str(), key.day.as_str(), counts.sent), ("all", "2026-11-23", 1));
        let mut reminder = Deltas::default();
        reminder.change(Some(Image::Request(&sent)), Some(Image::Request(&reminded)));
        assert!(reminder.is_empty(), "a reminder is the same request: counted once, on its creation day");
    }

    /// One item's life: each step is its image after a write (`None`: deleted).
    #[derive(Debug, Clone)]
    enum Step {
        Click(bool),
        /// A score, whether a bot's, whether with a comment.
        Confirm(u8, bool, bool),
        Sent,
        Delete,
    }

    fn image_after(base: &SurveyRequest, previous: &Option<Either>, step: &Step) -> Option<Either> {
        let mut response = match previous {
            Some(Either::Response(r)) => r.clone(),
            _ => Response::new(base, SurveyKind::Transactional, base.created_at),
        };
        match step {
            Step::Delete => None,
            Step::Sent => Some(Either::Request(SurveyRequest { sent_at: Some(base.created_at), ..base.clone() })),
            Step::Click(bot) => {
                if *bot {
                    response.bot_reasons = vec![BotReason::ScoreBurst];
                }
                Some(Either::Response(response))
            }
            Step::Confirm(s, bot, comment) => {
                response.score = Some(score(*s));
                response.version += 1;
                response.comment = comment.then(|| crate::response::Comment::parse("because").unwrap().unwrap());
                if *bot {
                    response.bot_reasons = vec![BotReason::TooSoonAfterSend];
                }
                Some(Either::Response(response))
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Either {
        Request(SurveyRequest),
        Response(Response),
    }

    fn image(e: &Option<Either>) -> Option<Image<'_>> {
        match e {
            Some(Either::Request(r)) => Some(Image::Request(r)),
            Some(Either::Response(r)) => Some(Image::Response(r)),
            None => None,
        }
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            any::<bool>().prop_map(Step::Click),
            (0u8..=10, any::<bool>(), any::<bool>()).prop_map(|(s, b, c)| Step::Confirm(s, b, c)),
            Just(Step::Sent),
            Just(Step::Delete),
        ]
    }

    proptest! {
        /// However the changes of many items interleave and are cut into batches, the folded
        /// changes equal what the items' last images count.
        #[test]
        fn folding_every_change_equals_counting_the_last_images(
            lives in prop::collection::vec(
                (prop::collection::vec(step(), 1..6), 0u8..3, prop::option::of(0i64..2_000_000_000), 0u8..3),
                1..12,
            ),
            cut in 1usize..8,
        ) {
            let products = ["boots", "hats", "socks"];
            let currencies = [None, Some("usd"), Some("eur")];
            let mut changes = Vec::new();
            let mut last = Vec::new();
            for (i, (steps, product, amount, currency)) in lives.iter().enumerate() {
                // Requests and responses are items of their own: steps alternate between them by kind.
                let mut base = request(i as u32, &[("product", products[usize::from(*product)])]);
                if let Some(w) = amount.and_then(Weight::from_units) {
                    base.weights.values.insert("amount".into(), w);
                    base.weights.currency = currencies[usize::from(*currency)].map(str::to_owned);
                }
                let (mut request_image, mut response_image) = (None, None);
                for s in steps {
                    let slot = if matches!(s, Step::Sent) { &mut request_image } else { &mut response_image };
                    let next = image_after(&base, slot, s);
                    changes.push((slot.clone(), next.clone()));
                    *slot = next;
                }
                last.push(request_image);
                last.push(response_image);
            }
            // Fold in batches of `cut` changes, adding the batches up as the rollups would.
            let mut rollups: BTreeMap<RollupKey, Counts> = BTreeMap::new();
            for batch in changes.chunks(cut) {
                let mut deltas = Deltas::default();
                for (old, new) in batch {
                    deltas.change(image(old), image(new));
                }
                for (key, counts) in deltas.iter() {
                    rollups.entry(key.clone()).or_default().add(counts, 1);
                }
            }
            rollups.retain(|_, c| !c.is_zero());
            let mut recount = Deltas::default();
            for item in &last {
                recount.add(image(item), 1);
            }
            let recount: BTreeMap<RollupKey, Counts> = recount.iter().map(|(k, c)| (k.clone(), c.clone())).collect();
            prop_assert_eq!(&rollups, &recount);
            prop_assert!(rollups.values().all(|c| c.histogram().is_some() && c.unconfirmed >= 0 && c.sent >= 0));
            prop_assert!(rollups.values().flat_map(|c| c.weights.iter()).all(|(_, w)| w.sums().is_some()));
        }
    }
}
