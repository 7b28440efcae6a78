//! `GET /v1/metrics`: NPS with its interval for a range, a segment or a breakdown, a series per
//! day, week or month, and a comparison with the previous period. It reads day rollups only
//! (docs/data-model.md, access pattern 11), never raw responses. eNPS surveys answer under the
//! rules of `anonymity` (docs/enps.md).

pub mod anonymity;
mod enps;
pub mod figures;
pub mod query;

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use lambda_http::http::StatusCode;
use nps_domain::rollup::{ALL, Counts};
use nps_domain::survey::{Survey, SurveyKind};
use nps_domain::{StoreError, Timestamp};
use nps_http::ApiError;
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::Reader;
use figures::{Damaged, Figures, summarise};
use query::{Granularity, MetricsQuery, Waves, format_day};

/// Most values one `group_by` breaks down into (each is a query).
pub const MAX_GROUPS: usize = 100;

#[derive(Debug, Serialize)]
pub struct Metrics {
    /// The survey asked for, or `null` when a kind combines several.
    pub survey: Option<String>,
    pub kind: &'static str,
    /// The surveys counted.
    pub surveys: Vec<String>,
    pub since: String,
    pub until: String,
    pub granularity: &'static str,
    pub segment: Option<SegmentOut>,
    pub group_by: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
    pub series: Vec<Bucket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<ComparisonOut>,
    /// eNPS only: what the figures are limited to (docs/enps.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymity: Option<AnonymityOut>,
}

#[derive(Debug, Serialize)]
pub struct AnonymityOut {
    /// No figure stands for fewer answers than this.
    pub min_answers: u64,
    /// Months are shown once settled: the last day of the latest settled month.
    pub settled_through: String,
}

#[derive(Debug, Serialize)]
pub struct SegmentOut {
    pub dimension: String,
    pub value: String,
}

/// One day, week, month or wave of the range (the first and last clipped to it).
#[derive(Debug, Serialize)]
pub struct Bucket {
    pub start: String,
    pub end: String,
    /// By wave: its number, from 1 (the list's first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<i64>,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Serialize)]
pub struct Group {
    pub value: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Serialize)]
pub struct ComparisonOut {
    pub previous_since: String,
    pub previous_until: String,
    pub previous: Figures,
    /// NPS points, this period minus the previous; `null` when either has no answers or is withheld.
    pub delta: Option<f64>,
    pub z: Option<f64>,
    /// |z| > 1.96.
    pub significant: bool,
}

impl ComparisonOut {
    /// `current` against the period from `since` to `until`, whose figures are `previous`.
    fn of(since: Date, until: Date, current: &figures::Summarised, previous: figures::Summarised) -> Self {
        let compared = figures::comparison(current, &previous);
        ComparisonOut {
            previous_since: format_day(since),
            previous_until: format_day(until),
            previous: previous.figures,
            delta: compared.map(|c| c.delta),
            z: compared.and_then(|c| c.z),
            significant: compared.is_some_and(|c| c.significant),
        }
    }
}

/// A rollup's days, by date.
type Days = BTreeMap<Date, Counts>;

fn total(days: &Days, from: Date, to: Date) -> Counts {
    let mut sum = Counts::default();
    if from > to {
        return sum;
    }
    for counts in days.range(from..=to).map(|(_, c)| c) {
        sum.add(counts, 1);
    }
    sum
}

/// The figures of `counts`, and weighted by `weight` when the query names one.
fn figures_of(counts: &Counts, weight: Option<&str>) -> Result<figures::Summarised, ApiError> {
    let mut s = summarise(counts).map_err(damaged)?;
    if let Some(property) = weight {
        s.figures.weighted = Some(figures::weighted(counts, property).map_err(damaged)?);
    }
    Ok(s)
}

fn damaged(_: Damaged) -> ApiError {
    tracing::error!("a rollup holds a negative count; rebuild the rollups");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the rollups need a rebuild")
}

fn invalid(parameter: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("{parameter}: {problem}"))
}

impl Reader {
    pub async fn metrics(&self, raw_query: Option<&str>, now: Timestamp) -> Result<Metrics, ApiError> {
        let today = OffsetDateTime::from_unix_timestamp(now.unix()).map_err(|_| ApiError::invalid("clock"))?.date();
        let q = query::parse(raw_query, today).map_err(|e| ApiError::invalid(e.to_string()))?;
        let surveys = self.surveys_of(&q).await?;
        let kind =
            q.kind.or(surveys.first().map(|s| s.kind)).ok_or_else(|| invalid("survey", "name a survey or a kind"))?;
        for (parameter, dimension) in [
            (q.segment.as_ref().map(|s| format!("segment.{}", s.dimension)), q.segment.as_ref().map(|s| &s.dimension)),
            (q.group_by.as_ref().map(|_| "group_by".to_owned()), q.group_by.as_ref()),
        ] {
            if let (Some(parameter), Some(dimension)) = (parameter, dimension)
                && !surveys.iter().any(|s| s.segment_properties.contains(dimension))
            {
                return Err(invalid(&parameter, format!("{dimension} is not a segment dimension of these surveys")));
            }
        }
        if let Some(weight) = &q.weight
            && !surveys.iter().any(|s| s.weight_properties.contains(weight))
        {
            let why = if kind == SurveyKind::Enps {
                "an eNPS answer carries no weight"
            } else {
                "name one of their weight_properties"
            };
            return Err(invalid("weight", format!("{weight} is not a weight property of these surveys: {why}")));
        }
        if kind == SurveyKind::Enps {
            return Box::pin(self.enps_metrics(q, surveys, today)).await;
        }
        let generation = self.rollups.checkpoint().await?.generation;
        let from = if q.compare { q.previous_period().0 } else { q.since };
        let (from_day, until_day) = (format_day(from), format_day(q.until));

        // The dimension values to read: the whole survey or one segment, and the breakdown's values.
        let (dimension, value) = match &q.segment {
            Some(s) => (s.dimension.as_str(), s.value.as_str()),
            None => (ALL, ALL),
        };
        let mut wanted: Vec<(&str, String)> = vec![(dimension, value.to_owned())];
        if let Some(group_by) = &q.group_by {
            let months = Some((&from_day[..7], &until_day[..7]));
            let listed =
                try_join_all(surveys.iter().map(|s| self.rollups.segment_values(generation, &s.id, months))).await?;
            let mut values: Vec<String> =
                listed.into_iter().flat_map(|mut d| d.remove(group_by).unwrap_or_default()).collect();
            values.sort();
            values.dedup();
            if values.len() > MAX_GROUPS {
                return Err(invalid(
                    "group_by",
                    format!("{group_by} has over {MAX_GROUPS} values; filter with segment.{group_by}"),
                ));
            }
            wanted.extend(values.into_iter().map(|v| (group_by.as_str(), v)));
        }
        let reads = surveys.iter().flat_map(|s| wanted.iter().map(move |(d, v)| (s, *d, v.as_str())));
        let (from_day, until_day) = (&from_day, &until_day);
        let read = try_join_all(reads.map(|(survey, d, v)| async move {
            let days = self.rollups.days(generation, &survey.id, d, v, from_day, until_day).await?;
            Ok::<_, StoreError>(((d, v), days))
        }))
        .await?;
        let mut by_value: BTreeMap<(&str, &str), Days> = BTreeMap::new();
        for (key, days) in read {
            let merged = by_value.entry(key).or_default();
            for (day, counts) in days {
                let day = crate::params::stored_day(&day)
                    .ok_or_else(|| ApiError::from(StoreError::Malformed(format!("rollup day {day}"))))?;
                merged.entry(day).or_default().add(&counts, 1);
            }
        }
        let empty = Days::new();
        let main = by_value.get(&(dimension, value)).unwrap_or(&empty);

        let granularity = self.granularity(&q, &surveys, Granularity::Day).await?;
        let weight = q.weight.as_deref();
        let current = figures_of(&total(main, q.since, q.until), weight)?;
        let series = series(main, &q, granularity)?;
        let groups = match &q.group_by {
            Some(group_by) => Some(
                by_value
                    .iter()
                    .filter(|((d, _), _)| d == group_by)
                    .map(|((_, v), days)| {
                        let figures = figures_of(&total(days, q.since, q.until), weight)?.figures;
                        Ok::<_, ApiError>(Group { value: (*v).to_owned(), figures })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let comparison = if q.compare {
            let (previous_since, previous_until) = q.previous_period();
            let previous = figures_of(&total(main, previous_since, previous_until), weight)?;
            Some(ComparisonOut::of(previous_since, previous_until, &current, previous))
        } else {
            None
        };
        Ok(Metrics {
            survey: q.survey.as_ref().map(ToString::to_string),
            kind: kind.as_str(),
            surveys: surveys.iter().map(|s| s.id.to_string()).collect(),
            since: format_day(q.since),
            until: format_day(q.until),
            granularity: granularity.as_str(),
            segment: q.segment.as_ref().map(|s| SegmentOut { dimension: s.dimension.clone(), value: s.value.clone() }),
            group_by: q.group_by.clone(),
            figures: current.figures,
            series,
            groups,
            comparison,
            anonymity: None,
        })
    }

    /// The series' granularity: as asked, `default` when not, or the survey's waves.
    pub(crate) async fn granularity(
        &self,
        q: &MetricsQuery,
        surveys: &[Survey],
        default: Granularity,
    ) -> Result<Granularity, ApiError> {
        if !q.by_wave {
            return Ok(q.granularity.unwrap_or(default));
        }
        let survey = surveys.first().filter(|s| s.cadence.is_some());
        let survey = survey.ok_or_else(|| invalid("granularity", "wave: the survey has no cadence"))?;
        let waves = self.waves(survey).await?;
        Ok(Granularity::Wave(waves.ok_or_else(|| invalid("granularity", "wave: the survey's list is empty"))?))
    }

    /// The waves of the survey's list: `None` without a cadence or a member yet.
    pub async fn waves(&self, survey: &Survey) -> Result<Option<Waves>, StoreError> {
        let Some(cadence) = survey.cadence else { return Ok(None) };
        let started = self.members.started(&survey.id).await?;
        let first = started.and_then(|t| OffsetDateTime::from_unix_timestamp(t.unix()).ok()).map(|t| t.date());
        Ok(first.map(|first| Waves { first, days: i64::from(cadence.frequency_days) }))
    }

    /// The survey named, or every survey of the kind named.
    async fn surveys_of(&self, q: &MetricsQuery) -> Result<Vec<Survey>, ApiError> {
        match &q.survey {
            Some(id) => {
                let survey =
                    self.surveys.get(id).await?.ok_or_else(|| invalid("survey", format!("no survey with id {id}")))?;
                if let Some(kind) = q.kind
                    && kind != survey.kind
                {
                    return Err(invalid("kind", format!("survey {id} is of kind {}", survey.kind.as_str())));
                }
                Ok(vec![survey])
            }
            None => {
                let mut surveys = self.surveys.list().await?;
                surveys.retain(|s| Some(s.kind) == q.kind);
                Ok(surveys)
            }
        }
    }
}

/// One bucket per day, week or month of the range, empty ones included.
fn series(days: &Days, q: &MetricsQuery, granularity: Granularity) -> Result<Vec<Bucket>, ApiError> {
    query::buckets(q.since, q.until, granularity)
        .into_iter()
        .map(|(start, end)| {
            let figures = figures_of(&total(days, start, end), q.weight.as_deref())?.figures;
            let wave = match granularity {
                Granularity::Wave(w) => Some(w.number(start)),
                _ => None,
            };
            Ok(Bucket { start: format_day(start), end: format_day(end), wave, figures })
        })
        .collect()
}
