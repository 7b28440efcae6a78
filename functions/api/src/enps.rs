//! eNPS comments, the only way an eNPS answer's text leaves the table (docs/enps.md): one settled
//! month at a time, all of that month's comments together, only when there are at least `K`,
//! sorted by their text, with no score, day, segment or id beside them. A batch cannot be split by
//! asking twice: it has no filter, and a settled month's comments no longer change.

use nps_adapters::dynamo::Order;
use nps_domain::StoreError;
use nps_domain::survey::SurveyId;
use time::Date;

use crate::App;
use crate::metrics::anonymity::{K, settled};
use crate::metrics::query::{Granularity, format_day};

/// Responses read at most for one month's batch, and comments shown of it at most (the first
/// by their text: which ones says nothing of their authors).
const EXAMINED_PER_MONTH: usize = 5_000;
pub const SHOWN_PER_BATCH: usize = 200;

impl App {
    /// The newest settled month of `since..=until` with at least `K` comments: its `2026-10` and
    /// comments. `None` when no month has such a batch.
    pub(crate) async fn enps_comments(
        &self,
        survey: &SurveyId,
        since: Date,
        until: Date,
        today: Date,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let first = since.replace_day(1).unwrap_or(since);
        let mut month = until.replace_day(1).unwrap_or(until);
        while month >= first {
            if settled(month, self.enps_settle_days, today) {
                let key = format_day(month)[..7].to_owned();
                let mut texts = self.month_comments(survey, &key).await?;
                if texts.len() as u64 >= K {
                    texts.sort_unstable();
                    texts.truncate(SHOWN_PER_BATCH);
                    return Ok(Some((key, texts)));
                }
            }
            let Some(previous) = month.previous_day() else { break };
            month = Granularity::Month.bucket_start(previous);
        }
        Ok(None)
    }

    /// Every comment of a confirmed answer in `month`'s listing partition.
    async fn month_comments(&self, survey: &SurveyId, month: &str) -> Result<Vec<String>, StoreError> {
        // Every listing key of the month: 11 digits of creation time, `#`, the id.
        let upper = "~".to_owned();
        let mut after = "0".to_owned();
        let (mut texts, mut examined) = (Vec::new(), 0);
        loop {
            let page = self.responses.listed(survey, month, (&after, &upper), 100, Order::OldestFirst).await?;
            examined += page.responses.len();
            texts.extend(
                page.responses
                    .into_iter()
                    .filter(|r| r.score.is_some())
                    .filter_map(|r| r.comment.map(|c| c.as_str().to_owned())),
            );
            match page.last {
                Some(last) if !page.exhausted && examined < EXAMINED_PER_MONTH => after = last,
                _ => return Ok(texts),
            }
        }
    }
}
