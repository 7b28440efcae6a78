//! `/v1/metrics` for eNPS surveys: the same answer, built only from the survey-months and values
//! that `anonymity` lets through. The range is widened to whole calendar months and the series is
//! by month: a figure of part of a month would let two ranges subtract to a few answers.

use std::collections::BTreeMap;

use futures_util::future::try_join_all;
use nps_domain::rollup::{ALL, Counts};
use nps_domain::survey::Survey;
use nps_http::ApiError;
use time::{Date, Duration};

use super::anonymity::{K, settled, shown_values};
use super::figures::{Summarised, summarise_anonymous};
use super::query::{Granularity, MetricsQuery, buckets, format_day, stored_day};
use super::{AnonymityOut, Bucket, ComparisonOut, Group, MAX_GROUPS, Metrics, SegmentOut, damaged, invalid};
use crate::Reader;

/// What is shown of one month, added up over the surveys.
#[derive(Default)]
struct Month {
    /// The surveys' totals, of those shown.
    total: Option<Counts>,
    /// Each value shown, over the surveys where it is shown.
    values: BTreeMap<String, Counts>,
}

fn add(into: &mut Option<Counts>, counts: &Counts) {
    into.get_or_insert_with(Counts::default).add(counts, 1);
}

/// The first day of each month from `since`'s to `until`'s.
fn months(since: Date, until: Date) -> Vec<Date> {
    buckets(since, until, Granularity::Month)
        .into_iter()
        .map(|(start, _)| start.replace_day(1).unwrap_or(start))
        .collect()
}

/// `n` months before the month starting on `first`.
fn months_back(first: Date, n: usize) -> Date {
    (0..n).fold(first, |m, _| m.previous_day().and_then(|d| d.replace_day(1).ok()).unwrap_or(m))
}

impl Reader {
    pub(super) async fn enps_metrics(
        &self,
        q: MetricsQuery,
        surveys: Vec<Survey>,
        today: Date,
    ) -> Result<Metrics, ApiError> {
        if q.granularity.is_some_and(|g| g != Granularity::Month) {
            return Err(invalid("granularity", "eNPS figures are by calendar month or wave (docs/enps.md)"));
        }
        let granularity = self.granularity(&q, &surveys, Granularity::Month).await?;
        let range = months(q.since, q.until);
        let (Some(&first), Some(&last)) = (range.first(), range.last()) else {
            return Err(invalid("since", "must not be after until"));
        };
        let until = Granularity::Month.bucket_end(last);
        let earliest = if q.compare { months_back(first, range.len()) } else { first };
        let dimension = q.segment.as_ref().map(|s| s.dimension.as_str()).or(q.group_by.as_deref());

        let generation = self.rollups.checkpoint().await?.generation;
        let (from_day, until_day) = (format_day(earliest), format_day(until));
        let per_survey = try_join_all(surveys.iter().map(|survey| {
            let (from_day, until_day) = (&from_day, &until_day);
            async move {
                let values = match dimension {
                    Some(d) => {
                        let months = Some((&from_day[..7], &until_day[..7]));
                        self.rollups.segment_values(generation, &survey.id, months).await?.remove(d).unwrap_or_default()
                    }
                    None => Default::default(),
                };
                if values.len() > MAX_GROUPS {
                    let d = dimension.unwrap_or_default();
                    return Err(invalid(&format!("segment.{d}"), format!("{d} has over {MAX_GROUPS} values")));
                }
                let reads = std::iter::once((ALL, ALL.to_owned()))
                    .chain(values.into_iter().map(|v| (dimension.unwrap_or(ALL), v)))
                    .map(|(d, v)| async move {
                        let days = self.rollups.days(generation, &survey.id, d, &v, from_day, until_day).await?;
                        Ok::<_, ApiError>((v, days))
                    });
                try_join_all(reads).await
            }
        }))
        .await?;

        // Per survey and month: the total and each value, then what of them may be shown.
        let mut shown: BTreeMap<Date, Month> = BTreeMap::new();
        for reads in per_survey {
            let mut by_month: BTreeMap<Date, BTreeMap<String, Counts>> = BTreeMap::new();
            for (value, days) in reads {
                for (day, counts) in days {
                    let day = stored_day(&day).ok_or_else(|| {
                        ApiError::from(nps_domain::StoreError::Malformed(format!("rollup day {day}")))
                    })?;
                    let month = day.replace_day(1).unwrap_or(day);
                    by_month.entry(month).or_default().entry(value.clone()).or_default().add(&counts, 1);
                }
            }
            for (month, mut cells) in by_month {
                if !settled(month, self.enps_settle_days, today) {
                    continue;
                }
                let total = cells.remove(ALL).unwrap_or_default();
                let n = |c: &Counts| c.histogram().map_or(0, |h| h.n());
                if n(&total) < K {
                    continue;
                }
                let sizes: Vec<(&str, u64)> = cells.iter().map(|(v, c)| (v.as_str(), n(c))).collect();
                let values = shown_values(n(&total), &sizes);
                let entry = shown.entry(month).or_default();
                add(&mut entry.total, &total);
                for value in values {
                    entry.values.entry(value.to_owned()).or_default().add(&cells[value], 1);
                }
            }
        }

        // Every figure below is a sum of shown cells.
        let main = |month: &Month| -> Option<Counts> {
            match &q.segment {
                Some(s) => month.values.get(&s.value).cloned(),
                None => month.total.clone(),
            }
        };
        let sum = |from: Date, to: Date, cell: &dyn Fn(&Month) -> Option<Counts>| {
            let mut total = None;
            for counts in shown.range(from..=to).filter_map(|(_, m)| cell(m)) {
                add(&mut total, &counts);
            }
            total
        };
        let with_sent = q.segment.is_none();
        let figures = |counts: Option<Counts>, with_sent: bool| -> Result<Summarised, ApiError> {
            summarise_anonymous(counts.as_ref(), with_sent).map_err(damaged)
        };
        let current = figures(sum(first, until, &main), with_sent)?;
        // By wave, a wave's figures are those of the months that begin in it: every figure stays a
        // sum of whole shown months, so no two ranges subtract to part of a month.
        let series = match granularity {
            Granularity::Wave(waves) => buckets(first, until, granularity)
                .into_iter()
                .map(|(start, end)| {
                    let figures = figures(sum(start, end, &main), with_sent)?.figures;
                    Ok(Bucket {
                        start: format_day(start),
                        end: format_day(end),
                        wave: Some(waves.number(start)),
                        figures,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?,
            _ => range
                .iter()
                .map(|&month| {
                    let end = Granularity::Month.bucket_end(month);
                    let figures = figures(sum(month, end, &main), with_sent)?.figures;
                    Ok(Bucket { start: format_day(month), end: format_day(end), wave: None, figures })
                })
                .collect::<Result<Vec<_>, ApiError>>()?,
        };
        let groups = match &q.group_by {
            Some(_) => {
                let mut values: Vec<&String> = shown.range(first..=until).flat_map(|(_, m)| m.values.keys()).collect();
                values.sort();
                values.dedup();
                let groups = values.into_iter().map(|value| {
                    let counts = sum(first, until, &|m: &Month| m.values.get(value).cloned());
                    Ok(Group { value: value.clone(), figures: figures(counts, false)?.figures })
                });
                Some(groups.collect::<Result<Vec<_>, ApiError>>()?)
            }
            None => None,
        };
        let comparison = if q.compare {
            let previous_until = first - Duration::days(1);
            let previous = figures(sum(earliest, previous_until, &main), with_sent)?;
            Some(ComparisonOut::of(earliest, previous_until, &current, previous))
        } else {
            None
        };
        let this_month = today.replace_day(1).unwrap_or(today);
        let settled_month =
            (0..=12).map(|back| months_back(this_month, back)).find(|m| settled(*m, self.enps_settle_days, today));
        let settled_through = settled_month.map_or(earliest, |m| Granularity::Month.bucket_end(m));
        Ok(Metrics {
            survey: q.survey.as_ref().map(ToString::to_string),
            kind: nps_domain::survey::SurveyKind::Enps.as_str(),
            surveys: surveys.iter().map(|s| s.id.to_string()).collect(),
            since: format_day(first),
            until: format_day(until),
            granularity: granularity.as_str(),
            segment: q.segment.as_ref().map(|s| SegmentOut { dimension: s.dimension.clone(), value: s.value.clone() }),
            group_by: q.group_by.clone(),
            figures: current.figures,
            series,
            groups,
            comparison,
            anonymity: Some(AnonymityOut { min_answers: K, settled_through: format_day(settled_through) }),
        })
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn months_are_whole_and_counted_back() {
        assert_eq!(
            months(date!(2026 - 01 - 15), date!(2026 - 03 - 02)),
            [date!(2026 - 01 - 01), date!(2026 - 02 - 01), date!(2026 - 03 - 01)]
        );
        assert_eq!(months_back(date!(2026 - 03 - 01), 3), date!(2025 - 12 - 01));
        assert_eq!(months_back(date!(2026 - 03 - 01), 0), date!(2026 - 03 - 01));
    }
}
