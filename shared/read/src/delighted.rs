//! What Delighted's `GET /v1/survey_responses` reads (docs/delighted.md): one survey's responses
//! by page number, from the same `listing` index as `/v1/responses`. Page `N` is the `N`th window
//! of `per_page` listing entries within `since`..`until`, reached by reading keys only; the
//! window's unconfirmed clicks are left out, so a page may hold fewer answers than `per_page`.

use lambda_http::http::StatusCode;
use nps_adapters::dynamo::keys::{listing_keys, sort_from, sort_through};
use nps_adapters::dynamo::{MAX_SKIPPED, Order};
use nps_domain::person::PersonId;
use nps_domain::request::RequestId;
use nps_domain::response::Response;
use nps_domain::survey::{SurveyId, SurveyKind};
use nps_domain::{StoreError, Timestamp};
use nps_http::ApiError;
use time::{Date, Duration, OffsetDateTime};

use crate::Reader;
use crate::params::stored_day;

pub const DEFAULT_PER_PAGE: usize = 20;
pub const MAX_PER_PAGE: usize = 100;
/// A person's requests read at most for `person_id` / `person_email`.
const MAX_PERSON_REQUESTS: usize = 1000;

/// The parameters of `GET /v1/survey_responses`, checked.
#[derive(Debug, Clone, Default)]
pub struct ResponsesQuery {
    /// `trend`: the survey (the default survey when absent).
    pub survey: Option<SurveyId>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub updated_since: Option<Timestamp>,
    pub updated_until: Option<Timestamp>,
    /// `person_id`, or the person of `person_email` (the caller hashes it).
    pub person: Option<PersonId>,
    pub page: usize,
    pub per_page: usize,
    pub newest_first: bool,
}

impl ResponsesQuery {
    fn keeps(&self, r: &Response) -> bool {
        r.score.is_some()
            && self.since.is_none_or(|t| r.created_at >= t)
            && self.until.is_none_or(|t| r.created_at <= t)
            && self.updated_since.is_none_or(|t| r.updated_at >= t)
            && self.updated_until.is_none_or(|t| r.updated_at <= t)
    }
}

fn day(t: Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp(t.unix()).map_or(Date::MIN, |t| t.date())
}

fn month_start(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

fn next_month(first: Date) -> Option<Date> {
    (first + Duration::days(32)).replace_day(1).ok()
}

fn previous_month(first: Date) -> Option<Date> {
    (first - Duration::days(1)).replace_day(1).ok()
}

impl Reader {
    /// One page of `survey`'s confirmed answers, as `GET /v1/survey_responses` lists them.
    pub async fn survey_responses(
        &self,
        q: &ResponsesQuery,
        default_survey: &SurveyId,
        now: Timestamp,
    ) -> Result<Vec<Response>, ApiError> {
        let survey_id = q.survey.clone().unwrap_or_else(|| default_survey.clone());
        let survey = self.surveys.get(&survey_id).await?;
        let survey = survey.ok_or_else(|| unknown_trend(&survey_id))?;
        if survey.kind == SurveyKind::Enps {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "anonymous_survey",
                format!("survey {survey_id} is an eNPS survey: its answers are never listed one by one (docs/enps.md)"),
            ));
        }
        let skip = (q.page - 1) * q.per_page;
        if skip > MAX_SKIPPED {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("page: at most {MAX_SKIPPED} responses can be skipped; narrow since and until"),
            ));
        }
        if let Some(person) = &q.person {
            return self.person_responses(q, &survey_id, person, skip).await;
        }
        // Where the survey's history starts, so no empty month before it is read (one query each):
        // its first day of rollups, the first day of imported answers (not in the rollups until
        // the aggregator folds them), and last month for answers not folded yet.
        let until = q.until.unwrap_or(now);
        let generation = self.rollups.checkpoint().await?.generation;
        let folded = self.rollups.first_day(generation, &survey_id).await?.and_then(|d| stored_day(&d));
        let imported = self.responses.history_from(&survey_id).await?.and_then(|d| stored_day(&d));
        let recent = previous_month(month_start(day(now))).unwrap_or(day(now));
        let history = [folded, imported].into_iter().flatten().fold(recent, Date::min);
        let since = q.since.unwrap_or(Timestamp::from_unix(0));
        let first_day = day(since).max(history);
        let (low, high) = (sort_from(since.unix()), sort_through(until.unix()));
        let (lowest, highest) = (month_start(first_day), month_start(day(until)));
        let mut month = if q.newest_first { highest } else { lowest };
        let (mut ids, mut left) = (Vec::new(), skip);
        let order = if q.newest_first { Order::NewestFirst } else { Order::OldestFirst };
        while lowest <= month && month <= highest && ids.len() < q.per_page {
            let key = crate::params::format_day(month)[..7].to_owned();
            let (found, skipped) =
                self.responses.ids_in(&survey_id, &key, (&low, &high), order, left, q.per_page - ids.len()).await?;
            left -= skipped;
            ids.extend(found);
            let step = if q.newest_first { previous_month(month) } else { next_month(month) };
            let Some(step) = step else { break };
            month = step;
        }
        let responses = self.responses.get_many(&ids).await?;
        Ok(responses.into_iter().filter(|r| q.keeps(r)).collect())
    }

    /// A person's answers (their request pointers: few, read whole), paged in memory.
    async fn person_responses(
        &self,
        q: &ResponsesQuery,
        survey: &SurveyId,
        person: &PersonId,
        skip: usize,
    ) -> Result<Vec<Response>, ApiError> {
        let ids: Vec<RequestId> = self.requests.of_person(person, MAX_PERSON_REQUESTS).await?;
        let mut responses: Vec<Response> =
            self.responses.get_many(&ids).await?.into_iter().filter(|r| &r.survey_id == survey && q.keeps(r)).collect();
        responses.sort_by_key(|r| listing_keys(&r.survey_id, r.created_at, r.request_id).1);
        if q.newest_first {
            responses.reverse();
        }
        Ok(responses.into_iter().skip(skip).take(q.per_page).collect())
    }

    /// One response by id; never an eNPS answer (`None`, as for one that does not exist).
    pub async fn survey_response(&self, id: RequestId) -> Result<Option<Response>, StoreError> {
        Ok(self.responses.get(id).await?.filter(|r| r.kind != SurveyKind::Enps))
    }
}

fn unknown_trend(id: &SurveyId) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("trend: no survey with id {id}"))
}

impl Reader {
    /// Where "all time" starts for `survey`: its first day of rollups, at most three years
    /// before `until` (the longest range `/v1/metrics` reads), or `until`'s day without history.
    pub async fn history_start(&self, survey: &SurveyId, until: Timestamp) -> Result<Timestamp, StoreError> {
        let generation = self.rollups.checkpoint().await?.generation;
        let first = self.rollups.first_day(generation, survey).await?.and_then(|d| stored_day(&d));
        let earliest = day(until) - Duration::days(crate::params::MAX_RANGE_DAYS - 1);
        let start = first.map_or(day(until), |f| f.max(earliest)).min(day(until));
        Ok(Timestamp::from_unix(start.midnight().assume_utc().unix_timestamp()))
    }
}
