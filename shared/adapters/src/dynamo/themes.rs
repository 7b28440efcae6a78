//! The themes' cache (docs/data-model.md): per survey, dimension value and day, the term counts
//! of that day's comments (`nps_themes::TermCounts`, encoded by the reader; opaque here) and the
//! rollup's comment fingerprint they were counted at. `/v1/themes` reads a range of days in one
//! query and counts again only a day whose fingerprint has moved since.

use nps_domain::StoreError;
use nps_domain::survey::SurveyId;

use super::Table;
use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, attr};

const FINGERPRINT: &str = "fingerprint";
const COUNTS: &str = "counts";

/// One cached day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDay {
    /// `2026-11-23`.
    pub day: String,
    /// The rollup's `comments` when counted.
    pub fingerprint: i64,
    /// The encoded term counts.
    pub counts: String,
}

#[derive(Debug, Clone)]
pub struct DynamoThemes {
    table: Table,
}

impl DynamoThemes {
    pub fn new(table: Table) -> Self {
        DynamoThemes { table }
    }

    /// The cached days of one dimension value from `since` to `until` (`yyyy-mm-dd`, inclusive).
    pub async fn days(
        &self,
        survey: &SurveyId,
        (dimension, value): (&str, &str),
        (since, until): (&str, &str),
    ) -> Result<Vec<CachedDay>, StoreError> {
        let mut days = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let query = self
                .table
                .partition(ItemKey::themes(survey, dimension, value, "").pk)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :since AND :until")
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":since", s(since))
                .expression_attribute_values(":until", s(until))
                .set_exclusive_start_key(start.take());
            let out = self.table.query(query).await?;
            for item in out.items() {
                let a = Attrs(item);
                days.push(CachedDay {
                    day: a.s(attr::SK)?.to_owned(),
                    fingerprint: a.n(FINGERPRINT)?,
                    counts: a.s(COUNTS)?.to_owned(),
                });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(days),
            }
        }
    }

    /// Stores one day's counts (over what was there).
    pub async fn put(
        &self,
        survey: &SurveyId,
        (dimension, value): (&str, &str),
        day: &CachedDay,
    ) -> Result<(), StoreError> {
        let mut item = key_item(ItemKey::themes(survey, dimension, value, &day.day));
        item.insert(FINGERPRINT.to_owned(), n(day.fingerprint));
        item.insert(COUNTS.to_owned(), s(day.counts.clone()));
        self.table.put(item).await
    }

    /// Forgets the cached days of `keys` (an erasure: the words of a removed comment go with it).
    pub async fn forget(&self, keys: Vec<ItemKey>) -> Result<(), StoreError> {
        for key in keys {
            self.table.delete(key).await?;
        }
        Ok(())
    }
}
