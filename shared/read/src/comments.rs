//! Comments as the dashboard shows them: the latest of a survey, and for eNPS the only way an
//! answer's text leaves the table (docs/enps.md): one settled month at a time, all of that month's
//! comments together, only when there are at least `K`, sorted by their text, with no score, day,
//! segment or id beside them. A batch cannot be split by asking twice: it has no filter, and a
//! settled month's comments no longer change.

use std::collections::BTreeMap;

use nps_adapters::dynamo::Order;
use nps_adapters::dynamo::keys::{sort_from, sort_through};
use nps_domain::StoreError;
use nps_domain::survey::{Survey, SurveyId, SurveyKind};
use nps_http::ApiError;
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};

use crate::Reader;
use crate::metrics::anonymity::{K, settled};
use crate::metrics::query::Granularity;
use crate::params::{format_day, pairs, parse_day, range};

/// Responses read at most for one month's batch, and comments shown of it at most (the first
/// by their text: which ones says nothing of their authors).
const EXAMINED_PER_MONTH: usize = 5_000;
pub const SHOWN_PER_BATCH: usize = 200;
/// The latest comments shown, and the responses read at most to find them.
const COMMENTS_SHOWN: usize = 10;
const COMMENTS_EXAMINED: usize = 500;

fn day_of(t: nps_domain::Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp(t.unix()).map_or(Date::MIN, |t| t.date())
}

/// A comment as the dashboard shows it (never an eNPS one: those come in batches).
pub struct Comment {
    pub day: String,
    pub score: u8,
    pub category: &'static str,
    pub text: String,
    pub properties: BTreeMap<String, String>,
}

/// `GET /v1/comments`: an eNPS survey's newest batch in a range.
#[derive(Debug, Serialize)]
pub struct Batch {
    pub survey: String,
    /// `2026-10`; `null` when no settled month of the range has a batch.
    pub month: Option<String>,
    /// Sorted by their text; empty when withheld.
    pub comments: Vec<String>,
    /// Every batch holds at least this many comments.
    pub min_comments: u64,
}

/// The range of `GET /v1/comments` when `since` is not given: the last 90 days.
const DEFAULT_RANGE_DAYS: i64 = 90;

impl Reader {
    /// `GET /v1/comments?survey=<eNPS survey>[&since=&until=]`: the newest batch of the range.
    pub async fn comment_batch(&self, query: Option<&str>, now: nps_domain::Timestamp) -> Result<Batch, ApiError> {
        let today = day_of(now);
        let invalid = |parameter: &str, problem: &str| ApiError::invalid(format!("{parameter}: {problem}"));
        let refused = |e: crate::params::Invalid| ApiError::invalid(e.to_string());
        let (mut survey, mut since, mut until) = (None, None, None);
        for (name, value) in pairs(query).map_err(refused)? {
            let day = |v: &str| parse_day(&name, v).map_err(refused);
            match name.as_ref() {
                "survey" => survey = Some(SurveyId::parse(&value).map_err(|e| invalid("survey", &e.to_string()))?),
                "since" => since = Some(day(&value)?),
                "until" => until = Some(day(&value)?),
                // No segment or other filter: a batch is never split (docs/enps.md).
                other => return Err(invalid(other, "is not a parameter of /v1/comments")),
            }
        }
        let survey = survey.ok_or_else(|| invalid("survey", "name an eNPS survey"))?;
        let found = self.surveys.get(&survey).await?.ok_or_else(|| invalid("survey", "no such survey"))?;
        if found.kind != SurveyKind::Enps {
            return Err(invalid("survey", "only eNPS comments come in batches; /v1/responses lists the others"));
        }
        let (since, until) = range(since, until, today, DEFAULT_RANGE_DAYS).map_err(refused)?;
        let (month, comments) = match self.enps_comments(&survey, since, until, today).await? {
            Some((month, texts)) => (Some(month), texts),
            None => (None, Vec::new()),
        };
        Ok(Batch { survey: survey.to_string(), month, comments, min_comments: K })
    }

    /// The newest confirmed answers with a comment in the range (and segment): the listing index
    /// read backwards, month by month, at most `COMMENTS_EXAMINED` responses.
    pub async fn latest_comments(
        &self,
        survey: &Survey,
        since: Date,
        until: Date,
        segment: Option<&(String, String)>,
    ) -> Result<Vec<Comment>, StoreError> {
        let day_start = |d: Date| d.midnight().assume_utc().unix_timestamp();
        let lower = sort_from(day_start(since));
        let upper = sort_through(day_start(until + Duration::days(1)) - 1);
        let first_month = since.replace_day(1).unwrap_or(since);
        let mut month = until.replace_day(1).unwrap_or(until);
        let (mut found, mut examined) = (Vec::new(), 0);
        while month >= first_month && found.len() < COMMENTS_SHOWN && examined < COMMENTS_EXAMINED {
            let key = &format_day(month)[..7];
            let mut before = upper.clone();
            loop {
                let page = self.responses.listed(&survey.id, key, (&lower, &before), 100, Order::NewestFirst).await?;
                examined += page.responses.len();
                for r in page.responses {
                    let (Some(score), Some(comment)) = (r.score, r.comment.as_ref()) else { continue };
                    if segment.is_some_and(|(d, v)| r.properties.get(d) != Some(v)) || found.len() >= COMMENTS_SHOWN {
                        continue;
                    }
                    found.push(Comment {
                        day: format_day(day_of(r.created_at)),
                        score: score.value(),
                        category: crate::responses::category_name(score.category()),
                        text: comment.as_str().to_owned(),
                        properties: r.properties,
                    });
                }
                match page.last {
                    Some(last) if !page.exhausted && found.len() < COMMENTS_SHOWN && examined < COMMENTS_EXAMINED => {
                        before = last
                    }
                    _ => break,
                }
            }
            month = (month - Duration::days(1)).replace_day(1).unwrap_or(Date::MIN);
        }
        Ok(found)
    }

    /// The newest settled month of `since..=until` with at least `K` comments: its `2026-10` and
    /// comments. `None` when no month has such a batch.
    pub async fn enps_comments(
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
