//! `GET /v1/themes` (docs/themes.md): the reasons detractors and promoters give, for a survey, a
//! range and a segment. The term counts of each day are counted once from that day's comments and
//! cached beside the rollups, checked against the rollup's comment fingerprint; a call reads the
//! range's rollups and cached days (two queries) and counts again only the days whose comments
//! changed since (and today, which is never cached: the listing index may lag the rollups by a
//! moment). Its cost grows with the days of the range, not with the answers in it.
//!
//! eNPS (docs/enps.md): settled months only, each only with at least `K` comments; no segment; no
//! comment quoted; a reason shown only when at least `K` comments of its side give it.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use nps_adapters::dynamo::keys::{sort_from, sort_through};
use nps_adapters::dynamo::{CachedDay, Order};
use nps_domain::rollup::ALL;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_domain::{StoreError, Timestamp};
use nps_http::ApiError;
use nps_scoring::Category;
use nps_themes::{Language, Mentions, TermCounts, Theme, rank, terms};
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};

use crate::Reader;
use crate::metrics::anonymity::{K, settled};
use crate::metrics::query::Granularity;
use crate::params::{dimension, format_day, invalid, pairs, parse_day, range, segment_value, stored_day};

/// The range when `since` is not given: the last 90 days.
const DEFAULT_RANGE_DAYS: i64 = 90;
/// Reasons per side: 5 unless `limit` says (1 to 20).
const DEFAULT_LIMIT: usize = 5;
const MAX_LIMIT: usize = 20;
/// Example comments per reason, and the newest responses of the range read at most to find them.
const EXAMPLES: usize = 3;
const EXAMPLES_EXAMINED: usize = 500;
/// Days counted again at once.
const CONCURRENT_DAYS: usize = 8;

/// The parameters of `GET /v1/themes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemesQuery {
    pub survey: SurveyId,
    pub since: Date,
    pub until: Date,
    pub segment: Option<(String, String)>,
    pub limit: usize,
}

pub fn parse(query: Option<&str>, today: Date) -> Result<ThemesQuery, crate::params::Invalid> {
    let (mut survey, mut since, mut until, mut segment, mut limit) = (None, None, None, None, DEFAULT_LIMIT);
    for (name, value) in pairs(query)? {
        match name.as_str() {
            "survey" => survey = Some(SurveyId::parse(&value).map_err(|e| invalid(&name, e.to_string()))?),
            "since" => since = Some(parse_day(&name, &value)?),
            "until" => until = Some(parse_day(&name, &value)?),
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid(&name, format!("must be 1 to {MAX_LIMIT}")))?
            }
            other => match other.strip_prefix("segment.") {
                Some(d) if segment.is_none() => segment = Some((dimension(&name, d)?, segment_value(&name, &value)?)),
                Some(_) => return Err(invalid(&name, "one segment at a time")),
                None => return Err(invalid(&name, "is not a parameter of /v1/themes")),
            },
        }
    }
    let survey = survey.ok_or_else(|| invalid("survey", "is required"))?;
    let (since, until) = range(since, until, today, DEFAULT_RANGE_DAYS)?;
    Ok(ThemesQuery { survey, since, until, segment, limit })
}

#[derive(Debug, Serialize)]
pub struct Themes {
    pub survey: String,
    pub since: String,
    pub until: String,
    pub segment: Option<crate::metrics::SegmentOut>,
    pub language: Language,
    /// Comments counted, by category.
    pub comments: Mentions,
    /// Terms said often enough to be tested.
    pub tested: usize,
    /// Why detractors don't recommend: strongest first.
    pub detractors: Vec<Reason>,
    /// Why promoters recommend.
    pub promoters: Vec<Reason>,
    /// eNPS: the settled months counted (each with at least `min_comments` comments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_comments: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Reason {
    #[serde(flatten)]
    pub theme: Theme,
    /// Up to three of the newest comments of this side that give it (never for eNPS).
    pub examples: Vec<Example>,
}

#[derive(Debug, Serialize)]
pub struct Example {
    pub day: String,
    pub score: u8,
    pub text: String,
}

fn language(locale: Locale) -> Language {
    match locale {
        Locale::En => Language::En,
        Locale::De => Language::De,
        Locale::Fr => Language::Fr,
        Locale::Es => Language::Es,
    }
}

fn day_start(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp()
}

fn today_of(now: Timestamp) -> Result<Date, ApiError> {
    Ok(OffsetDateTime::from_unix_timestamp(now.unix()).map_err(|_| ApiError::invalid("clock"))?.date())
}

impl Reader {
    pub async fn themes(&self, raw_query: Option<&str>, now: Timestamp) -> Result<Themes, ApiError> {
        let today = today_of(now)?;
        let q = parse(raw_query, today).map_err(|e| ApiError::invalid(e.to_string()))?;
        let survey = self
            .surveys
            .get(&q.survey)
            .await?
            .ok_or_else(|| ApiError::invalid(format!("survey: no survey with id {}", q.survey)))?;
        if let Some((d, _)) = &q.segment {
            if survey.kind == SurveyKind::Enps {
                return Err(ApiError::invalid(format!(
                    "segment.{d}: eNPS themes are of the whole survey only (docs/enps.md)"
                )));
            }
            if !survey.segment_properties.contains(d) {
                return Err(ApiError::invalid(format!("segment.{d}: {d} is not a segment dimension of this survey")));
            }
        }
        let (dimension, value) = q.segment.as_ref().map_or((ALL, ALL), |(d, v)| (d.as_str(), v.as_str()));
        let enps = survey.kind == SurveyKind::Enps;
        // eNPS: whole months, widened to the range's.
        let (since, until) = if enps {
            let first = q.since.replace_day(1).unwrap_or(q.since);
            (first, Granularity::Month.bucket_end(q.until.replace_day(1).unwrap_or(q.until)))
        } else {
            (q.since, q.until)
        };
        let days = self.day_counts(&survey, (dimension, value), (since, until), today).await?;

        let mut counts = TermCounts::default();
        let mut months = None;
        if enps {
            let mut by_month: BTreeMap<Date, TermCounts> = BTreeMap::new();
            for (day, c) in &days {
                by_month.entry(day.replace_day(1).unwrap_or(*day)).or_default().merge(c);
            }
            by_month.retain(|month, c| settled(*month, self.enps_settle_days, today) && c.comments.total() >= K);
            for c in by_month.values() {
                counts.merge(c);
            }
            months = Some(by_month.keys().map(|m| format_day(*m)[..7].to_owned()).collect());
        } else {
            for (_, c) in &days {
                counts.merge(c);
            }
        }
        let mut ranked = rank(&counts, q.limit);
        if enps {
            // A reason shown stands for at least K people of its side.
            ranked.detractors.retain(|t| t.mentions.detractors >= K);
            ranked.promoters.retain(|t| t.mentions.promoters >= K);
        }
        let language = language(survey.default_locale);
        let (detractors, promoters) = if enps {
            let bare = |t: Vec<Theme>| t.into_iter().map(|theme| Reason { theme, examples: Vec::new() }).collect();
            (bare(ranked.detractors), bare(ranked.promoters))
        } else {
            self.with_examples(&survey, &q, language, ranked.detractors, ranked.promoters).await?
        };
        Ok(Themes {
            survey: survey.id.to_string(),
            since: format_day(since),
            until: format_day(until),
            segment: q
                .segment
                .as_ref()
                .map(|(d, v)| crate::metrics::SegmentOut { dimension: d.clone(), value: v.clone() }),
            language,
            comments: counts.comments,
            tested: ranked.tested,
            detractors,
            promoters,
            months,
            min_comments: enps.then_some(K),
        })
    }

    /// The term counts of each day of the range that has comments: cached when the rollup's
    /// fingerprint matches, else counted again (and cached, except today).
    async fn day_counts(
        &self,
        survey: &Survey,
        (dimension, value): (&str, &str),
        (since, until): (Date, Date),
        today: Date,
    ) -> Result<Vec<(Date, TermCounts)>, StoreError> {
        let (from, to) = (format_day(since), format_day(until));
        let generation = self.rollups.checkpoint().await?.generation;
        let (rollups, cached) = futures_util::try_join!(
            self.rollups.days(generation, &survey.id, dimension, value, &from, &to),
            self.themes.days(&survey.id, (dimension, value), (&from, &to)),
        )?;
        let cached: BTreeMap<String, CachedDay> = cached.into_iter().map(|c| (c.day.clone(), c)).collect();
        let mut ready = Vec::new();
        let mut stale = Vec::new();
        for (day, counts) in rollups.into_iter().filter(|(_, c)| c.comments != 0) {
            let date = stored_day(&day).ok_or_else(|| StoreError::Malformed(format!("rollup day {day}")))?;
            match cached.get(&day).filter(|c| c.fingerprint == counts.comments && date < today) {
                Some(c) => {
                    let decoded = TermCounts::decode(&c.counts)
                        .ok_or_else(|| StoreError::Malformed(format!("themes of {day}")))?;
                    ready.push((date, decoded));
                }
                None => stale.push((date, counts.comments)),
            }
        }
        let language = language(survey.default_locale);
        let counted: Vec<(Date, TermCounts)> = stream::iter(stale.into_iter().map(|(date, fingerprint)| async move {
            let counts = self.count_day(&survey.id, date, (dimension, value), language).await?;
            if date < today {
                let day = CachedDay { day: format_day(date), fingerprint, counts: counts.encode() };
                self.themes.put(&survey.id, (dimension, value), &day).await?;
            }
            Ok::<_, StoreError>((date, counts))
        }))
        .buffer_unordered(CONCURRENT_DAYS)
        .try_collect()
        .await?;
        ready.extend(counted);
        Ok(ready)
    }

    /// One day's comments of a dimension value, counted from the responses.
    async fn count_day(
        &self,
        survey: &SurveyId,
        day: Date,
        (dimension, value): (&str, &str),
        language: Language,
    ) -> Result<TermCounts, StoreError> {
        let month = &format_day(day)[..7];
        let (after, before) = (sort_from(day_start(day)), sort_through(day_start(day + Duration::days(1)) - 1));
        let mut counts = TermCounts::default();
        let mut cursor = after.clone();
        loop {
            let page = self.responses.listed(survey, month, (&cursor, &before), 100, Order::OldestFirst).await?;
            for r in &page.responses {
                let (Some(score), Some(comment)) = (r.score, r.comment.as_ref()) else { continue };
                if dimension != ALL && r.properties.get(dimension).map(String::as_str) != Some(value) {
                    continue;
                }
                counts.add_comment(score.category(), comment.as_str(), language);
            }
            match page.last {
                Some(last) if !page.exhausted => cursor = last,
                _ => return Ok(counts),
            }
        }
    }

    /// Each reason with up to [`EXAMPLES`] of the newest comments of its side that give it.
    async fn with_examples(
        &self,
        survey: &Survey,
        q: &ThemesQuery,
        language: Language,
        detractors: Vec<Theme>,
        promoters: Vec<Theme>,
    ) -> Result<(Vec<Reason>, Vec<Reason>), StoreError> {
        let mut sides: Vec<(Category, Vec<Reason>)> =
            [(Category::Detractor, detractors), (Category::Promoter, promoters)]
                .into_iter()
                .map(|(c, themes)| {
                    (c, themes.into_iter().map(|theme| Reason { theme, examples: Vec::new() }).collect())
                })
                .collect();
        let wanted =
            |sides: &[(Category, Vec<Reason>)]| sides.iter().flat_map(|(_, r)| r).any(|r| r.examples.len() < EXAMPLES);
        let (lower, upper) = (sort_from(day_start(q.since)), sort_through(day_start(q.until + Duration::days(1)) - 1));
        let first_month = q.since.replace_day(1).unwrap_or(q.since);
        let mut month = q.until.replace_day(1).unwrap_or(q.until);
        let mut examined = 0;
        while month >= first_month && examined < EXAMPLES_EXAMINED && wanted(&sides) {
            let key = &format_day(month)[..7];
            let mut before = upper.clone();
            loop {
                let page = self.responses.listed(&survey.id, key, (&lower, &before), 100, Order::NewestFirst).await?;
                examined += page.responses.len();
                for r in &page.responses {
                    let (Some(score), Some(comment)) = (r.score, r.comment.as_ref()) else { continue };
                    if q.segment.as_ref().is_some_and(|(d, v)| r.properties.get(d) != Some(v)) {
                        continue;
                    }
                    let said: BTreeSet<String> = terms(comment.as_str(), language).into_iter().map(|t| t.key).collect();
                    for (category, reasons) in &mut sides {
                        if *category != score.category() {
                            continue;
                        }
                        for reason in reasons.iter_mut().filter(|r| r.examples.len() < EXAMPLES) {
                            if said.contains(&reason.theme.term) {
                                reason.examples.push(Example {
                                    day: format_day(
                                        OffsetDateTime::from_unix_timestamp(r.created_at.unix())
                                            .map_or(q.until, |t| t.date()),
                                    ),
                                    score: score.value(),
                                    text: comment.as_str().to_owned(),
                                });
                            }
                        }
                    }
                }
                match page.last {
                    Some(last) if !page.exhausted && examined < EXAMPLES_EXAMINED && wanted(&sides) => before = last,
                    _ => break,
                }
            }
            month = (month - Duration::days(1)).replace_day(1).unwrap_or(Date::MIN);
        }
        let mut sides = sides.into_iter().map(|(_, r)| r);
        Ok((sides.next().unwrap_or_default(), sides.next().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn parameters_are_bounded_and_named_when_refused() {
        let today = date!(2026 - 11 - 30);
        let q = parse(Some("survey=default&segment.product=stoves&limit=3"), today).unwrap();
        assert_eq!((q.limit, q.segment.as_ref().map(|s| s.1.as_str())), (3, Some("stoves")));
        assert_eq!((q.since, q.until), (date!(2026 - 09 - 02), today), "the last 90 days");
        for (query, parameter) in [
            ("", "survey"),
            ("survey=default&limit=0", "limit"),
            ("survey=default&limit=21", "limit"),
            ("survey=default&weight=amount", "weight"),
            ("survey=default&since=2026-12-01&until=2026-11-01", "since"),
            ("survey=default&segment.Product=x", "segment.Product"),
        ] {
            assert_eq!(parse(Some(query), today).unwrap_err().parameter, parameter, "{query}");
        }
    }
}
