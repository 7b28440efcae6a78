//! What `GET /v1/responses` and `GET /v1/responses.csv` read: a survey's responses (or every survey's),
//! oldest first, from the `listing` index (a partition per survey and month, sorted by creation
//! time; docs/data-model.md).
//! Pages are cut by an opaque cursor (the month and the last listing key read), so every response
//! appears exactly once however many arrive while a client pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::try_join_all;
use lambda_http::http::StatusCode;
use nps_adapters::dynamo::keys::{listing_keys, sort_from, sort_through};
use nps_adapters::dynamo::{Listed, Order};
use nps_domain::request::{RequestId, SurveyRequest};
use nps_domain::response::Response;
use nps_domain::survey::{Survey, SurveyId, SurveyKind};
use nps_domain::{StoreError, Timestamp};
use nps_http::ApiError;
use nps_scoring::Category;
use serde::Serialize;
use time::{Date, Duration, Month, OffsetDateTime};

use crate::Reader;
use crate::params::{dimension, format_day, pairs, parse_day, range, segment_value, stored_day};

/// Default and largest page of the JSON list.
const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 100;
/// Rows of one CSV answer at most, and its bytes at most: a Lambda answer holds 6 MB, and a row
/// with the longest comment and properties holds over 10 KB, so a page may stop before its rows.
const CSV_ROWS: usize = 2000;
const CSV_MAX_BYTES: usize = 5_000_000;
/// Responses read per call at most, so a filter that matches little still answers promptly
/// (with fewer rows and a cursor to go on).
const MAX_EXAMINED: usize = 2000;
/// The longest range, in days.
/// The range when `since` is not given: the last 30 days.
const DEFAULT_RANGE_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirmed {
    Yes,
    No,
    Any,
}

#[derive(Debug, Clone)]
struct ListQuery {
    /// `None`: every survey.
    survey: Option<SurveyId>,
    since: Date,
    until: Date,
    category: Option<Category>,
    confirmed: Confirmed,
    segment: Option<(String, String)>,
    updated_since: Option<Timestamp>,
    per_page: usize,
    cursor: Option<Cursor>,
    expand_person: bool,
}

/// Where the next page starts: a month's partition and the last listing key read in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    month: String,
    after: String,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("1|{}|{}", self.month, self.after))
    }

    fn decode(text: &str) -> Option<Cursor> {
        if text.len() > 120 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let mut parts = raw.split('|');
        let (version, month, after) = (parts.next()?, parts.next()?, parts.next()?);
        let month_ok = month.len() == 7 && month.as_bytes()[4] == b'-' && month_of(month).is_some();
        let (stamp, id) = after.split_once('#')?;
        let after_ok = stamp.len() == 11 && stamp.bytes().all(|b| b.is_ascii_digit()) && RequestId::parse(id).is_some();
        (version == "1" && month_ok && after_ok && parts.next().is_none())
            .then(|| Cursor { month: month.to_owned(), after: after.to_owned() })
    }
}

/// The first day of `2026-11`.
fn month_of(month: &str) -> Option<Date> {
    stored_day(&format!("{month}-01"))
}

fn day_of(t: Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp(t.unix()).map_or(Date::MIN, |t| t.date())
}

fn month_key(day: Date) -> String {
    format_day(day)[..7].to_owned()
}

fn next_month(first: Date) -> Option<Date> {
    match first.month() {
        Month::December => Date::from_calendar_date(first.year() + 1, Month::January, 1).ok(),
        m => Date::from_calendar_date(first.year(), m.next(), 1).ok(),
    }
}

fn invalid(parameter: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("{parameter}: {problem}"))
}

fn parse(query: Option<&str>, today: Date) -> Result<ListQuery, ApiError> {
    let refused = |e: crate::params::Invalid| ApiError::invalid(e.to_string());
    let (mut survey, mut since, mut until, mut category, mut segment, mut updated_since) =
        (None, None, None, None, None, None);
    let (mut confirmed, mut per_page, mut cursor, mut expand_person) = (Confirmed::Yes, DEFAULT_PER_PAGE, None, false);
    for (name, value) in pairs(query).map_err(refused)? {
        let (name, value) = (name.as_str(), value.as_str());
        let day = |v: &str| parse_day(name, v).map_err(refused);
        match name {
            "survey" => survey = Some(SurveyId::parse(value).map_err(|e| invalid(name, e))?),
            "since" => since = Some(day(value)?),
            "until" => until = Some(day(value)?),
            "category" => {
                category = Some(match value {
                    "promoter" => Category::Promoter,
                    "passive" => Category::Passive,
                    "detractor" => Category::Detractor,
                    _ => return Err(invalid(name, "must be promoter, passive or detractor")),
                })
            }
            "confirmed" => {
                confirmed = match value {
                    "true" => Confirmed::Yes,
                    "false" => Confirmed::No,
                    "any" => Confirmed::Any,
                    _ => return Err(invalid(name, "must be true, false or any")),
                }
            }
            "updated_since" => {
                let seconds: i64 = value
                    .parse()
                    .ok()
                    .filter(|s| *s >= 0)
                    .ok_or_else(|| invalid(name, "must be a time in Unix seconds"))?;
                updated_since = Some(Timestamp::from_unix(seconds));
            }
            "per_page" => {
                per_page = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                    .ok_or_else(|| invalid(name, format!("must be 1 to {MAX_PER_PAGE}")))?
            }
            "cursor" => {
                cursor = Some(Cursor::decode(value).ok_or_else(|| invalid(name, "is not a cursor of this list"))?)
            }
            "expand" => {
                if value != "person" {
                    return Err(invalid(name, "must be person"));
                }
                expand_person = true;
            }
            _ => match name.strip_prefix("segment.") {
                Some(d) => {
                    if segment.is_some() {
                        return Err(invalid(name, "one segment at a time"));
                    }
                    segment =
                        Some((dimension(name, d).map_err(refused)?, segment_value(name, value).map_err(refused)?));
                }
                None => return Err(invalid(name, "is not a parameter of this list")),
            },
        }
    }
    if category.is_some() && confirmed != Confirmed::Yes {
        return Err(invalid("category", "only confirmed answers have a category"));
    }
    let (since, until) = range(since, until, today, DEFAULT_RANGE_DAYS).map_err(refused)?;
    if let Some(c) = &cursor {
        let month = month_of(&c.month).unwrap_or(since);
        if month > until || next_month(month).is_none_or(|next| next <= since) {
            return Err(invalid("cursor", "is outside since and until"));
        }
    }
    Ok(ListQuery { survey, since, until, category, confirmed, segment, updated_since, per_page, cursor, expand_person })
}

/// `check_queries`' view of [`parse`]: the refusal's message, if any.
pub fn check_query(query: &str, today: Date) -> Result<(), String> {
    parse(Some(query), today).map(drop).map_err(|e| e.message)
}

/// One response as listed: Delighted's field names where they overlap.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub id: String,
    pub survey: String,
    pub survey_type: SurveyKind,
    pub score: Option<u8>,
    pub category: Option<&'static str>,
    pub comment: Option<String>,
    pub confirmed: bool,
    pub suspected_bot: bool,
    pub bot_reasons: Vec<&'static str>,
    pub version: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub person_properties: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<Option<Person>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
}

/// One page of the JSON list.
#[derive(Debug, Serialize)]
pub struct Page {
    pub responses: Vec<Listing>,
    /// `null` at the end of the range.
    pub next_cursor: Option<String>,
}

/// One answer of the CSV export.
#[derive(Debug)]
pub struct CsvPage {
    pub csv: String,
    /// `responses-<survey or all>-<since>.csv`.
    pub file_name: String,
    pub next_cursor: Option<String>,
}

pub(crate) fn category_name(category: Category) -> &'static str {
    match category {
        Category::Promoter => "promoter",
        Category::Passive => "passive",
        Category::Detractor => "detractor",
    }
}

/// One response as `/v1/responses` lists it.
pub fn listing(r: Response, person: Option<Option<Person>>) -> Listing {
    Listing {
        id: r.request_id.to_string(),
        survey: r.survey_id.to_string(),
        survey_type: r.kind,
        score: r.score.map(|s| s.value()),
        category: r.score.map(|s| category_name(s.category())),
        comment: r.comment.as_ref().map(|c| c.as_str().to_owned()),
        confirmed: r.score.is_some(),
        suspected_bot: r.suspected_bot(),
        bot_reasons: r.bot_reasons.iter().map(|b| b.as_str()).collect(),
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        person_properties: r.properties.into_iter().chain(r.person_properties).collect(),
        person,
    }
}

impl ListQuery {
    fn keeps(&self, r: &Response) -> bool {
        let confirmed = match self.confirmed {
            Confirmed::Yes => r.score.is_some(),
            Confirmed::No => r.score.is_none(),
            Confirmed::Any => true,
        };
        confirmed
            && self.category.is_none_or(|c| r.score.is_some_and(|s| s.category() == c))
            && self.segment.as_ref().is_none_or(|(d, v)| r.properties.get(d) == Some(v))
            && self.updated_since.is_none_or(|t| r.updated_at >= t)
    }
}

impl Reader {
    /// One page: up to `limit` responses after the cursor, and the cursor of the next page.
    async fn page(
        &self,
        q: &ListQuery,
        surveys: &[SurveyId],
        limit: usize,
    ) -> Result<(Vec<Response>, Option<Cursor>), ApiError> {
        let day_start = |d: Date| d.midnight().assume_utc().unix_timestamp();
        let lower = sort_from(day_start(q.since));
        let upper = sort_through(day_start(q.until + Duration::days(1)) - 1);
        let mut month = match &q.cursor {
            Some(c) => month_of(&c.month).unwrap_or(q.since),
            None => q.since.replace_day(1).unwrap_or(q.since),
        };
        let mut after = q.cursor.as_ref().map_or(lower.clone(), |c| c.after.clone());
        let (mut kept, mut examined) = (Vec::new(), 0);
        while month <= q.until {
            let key = month_key(month);
            loop {
                let want = (limit - kept.len()).min(MAX_EXAMINED - examined).max(1);
                let want = i32::try_from(want).unwrap_or(100);
                let Listed { responses, last, exhausted } =
                    self.listed_across(surveys, &key, (&after, &upper), want).await?;
                examined += responses.len();
                kept.extend(responses.into_iter().filter(|r| q.keeps(r)));
                after = last.unwrap_or(after);
                if exhausted {
                    break;
                }
                if kept.len() >= limit || examined >= MAX_EXAMINED {
                    return Ok((kept, Some(Cursor { month: key, after })));
                }
            }
            let Some(next) = next_month(month) else { break };
            month = next;
            after = lower.clone();
            if kept.len() >= limit || examined >= MAX_EXAMINED {
                return Ok((kept, (month <= q.until).then(|| Cursor { month: month_key(month), after })));
            }
        }
        Ok((kept, None))
    }

    /// One month's page across `surveys`, oldest first. Listing keys (creation time, then id)
    /// order the responses of every survey alike, so each survey's partition is read from the same
    /// position and the pages merged. The merge stops where the first unfinished partition's page
    /// stops, so the next page misses nothing.
    async fn listed_across(
        &self,
        surveys: &[SurveyId],
        month: &str,
        bounds: (&str, &str),
        want: i32,
    ) -> Result<Listed, StoreError> {
        if let [survey] = surveys {
            return self.responses.listed(survey, month, bounds, want, Order::OldestFirst).await;
        }
        let pages =
            try_join_all(surveys.iter().map(|s| self.responses.listed(s, month, bounds, want, Order::OldestFirst)))
                .await?;
        let stop = pages.iter().filter(|p| !p.exhausted).filter_map(|p| p.last.clone()).min();
        let mut merged: Vec<(String, Response)> = pages
            .into_iter()
            .flat_map(|p| p.responses)
            .map(|r| (listing_keys(&r.survey_id, r.created_at, r.request_id).1, r))
            .filter(|(key, _)| stop.as_ref().is_none_or(|stop| key <= stop))
            .collect();
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        let want = usize::try_from(want).unwrap_or(0);
        let (last, exhausted) = if merged.len() > want {
            merged.truncate(want);
            (merged.last().map(|(key, _)| key.clone()), false)
        } else {
            let exhausted = stop.is_none();
            (stop.or_else(|| merged.last().map(|(key, _)| key.clone())), exhausted)
        };
        Ok(Listed { responses: merged.into_iter().map(|(_, r)| r).collect(), last, exhausted })
    }

    /// The people behind `responses` (`None` once erased).
    async fn people(&self, responses: &[Response]) -> Result<Vec<Option<Person>>, StoreError> {
        try_join_all(responses.iter().map(|r| async move {
            let request: Option<SurveyRequest> = self.requests.get(r.request_id).await?;
            Ok(request.map(|q| Person { email: q.email.as_str().to_owned(), name: q.name.clone() }))
        }))
        .await
    }

    /// One page of `GET /v1/responses`, and the query string of the next (its `cursor`).
    pub async fn responses_page(&self, query: Option<&str>, now: Timestamp) -> Result<Page, ApiError> {
        let (q, surveys) = self.list_query(query, now).await?;
        let (responses, next) = self.page(&q, &ids(&surveys), q.per_page).await?;
        let people = if q.expand_person { Some(self.people(&responses).await?) } else { None };
        let listed = match people {
            Some(people) => responses.into_iter().zip(people).map(|(r, p)| listing(r, Some(p))).collect(),
            None => responses.into_iter().map(|r| listing(r, None)).collect(),
        };
        Ok(Page { responses: listed, next_cursor: next.map(|c| c.encode()) })
    }

    /// One answer of `GET /v1/responses.csv`: up to 2,000 rows and 5 MB.
    pub async fn responses_csv(&self, query: Option<&str>, now: Timestamp) -> Result<CsvPage, ApiError> {
        if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("per_page="))) {
            return Err(invalid("per_page", "the CSV export pages by itself (2,000 rows, then a Link to the rest)"));
        }
        let (q, surveys) = self.list_query(query, now).await?;
        let (responses, next) = self.page(&q, &ids(&surveys), CSV_ROWS).await?;
        let people = if q.expand_person { Some(self.people(&responses).await?) } else { None };
        let (csv, rows) =
            crate::csv::responses(&responses, people.as_deref(), &dimensions(&surveys), true, CSV_MAX_BYTES)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
        // Cut short by size: the next page starts after the last row written.
        let next = match responses.get(rows.wrapping_sub(1)) {
            Some(last) if rows < responses.len() => {
                let (_, after) = listing_keys(&last.survey_id, last.created_at, last.request_id);
                Some(Cursor { month: month_key(day_of(last.created_at)), after })
            }
            _ => next,
        };
        let name = q.survey.as_ref().map_or("all", SurveyId::as_str);
        Ok(CsvPage {
            csv,
            file_name: format!("responses-{name}-{}.csv", format_day(q.since)),
            next_cursor: next.map(|c| c.encode()),
        })
    }

    /// Every row of the CSV export for `query` (the parameters of `/v1/responses.csv`) into `out`,
    /// page after page: for the ops CLI, where no answer size limits an export. A `per_page` in
    /// `query` sets the rows of each read (2,000 otherwise).
    pub async fn export_all(
        &self,
        query: &str,
        now: Timestamp,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, ApiError> {
        let (mut q, surveys) = self.list_query(Some(query), now).await?;
        let (ids, dimensions) = (ids(&surveys), dimensions(&surveys));
        let rows_per_read = if query.split('&').any(|p| p.starts_with("per_page=")) { q.per_page } else { CSV_ROWS };
        let internal =
            |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
        let (mut rows, mut header) = (0, true);
        loop {
            let (responses, next) = self.page(&q, &ids, rows_per_read).await?;
            let people = if q.expand_person { Some(self.people(&responses).await?) } else { None };
            let (csv, _) = crate::csv::responses(&responses, people.as_deref(), &dimensions, header, usize::MAX)
                .map_err(|e| internal(&e))?;
            out.write_all(csv.as_bytes()).map_err(|e| internal(&e))?;
            (rows, header) = (rows + responses.len(), false);
            match next {
                Some(cursor) => q.cursor = Some(cursor),
                None => return Ok(rows),
            }
        }
    }

    /// The parameters, and the surveys they cover: the one named (which must exist), or all.
    async fn list_query(&self, query: Option<&str>, now: Timestamp) -> Result<(ListQuery, Vec<Survey>), ApiError> {
        let today = OffsetDateTime::from_unix_timestamp(now.unix()).map_err(|_| ApiError::invalid("clock"))?.date();
        let q = parse(query, today)?;
        let surveys = match &q.survey {
            Some(id) => {
                let survey = self.surveys.get(id).await?;
                let survey = survey.ok_or_else(|| invalid("survey", format!("no survey with id {id}")))?;
                if survey.kind == SurveyKind::Enps {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "anonymous_survey",
                        format!(
                            "survey {id} is an eNPS survey: its answers are never listed one by one; read \
                             /v1/metrics and the dashboard's comments (docs/enps.md)"
                        ),
                    ));
                }
                vec![survey]
            }
            // Every survey's responses, but never an eNPS survey's (docs/enps.md).
            None => self.surveys.list().await?.into_iter().filter(|s| s.kind != SurveyKind::Enps).collect(),
        };
        Ok((q, surveys))
    }
}

fn ids(surveys: &[Survey]) -> Vec<SurveyId> {
    surveys.iter().map(|s| s.id.clone()).collect()
}

/// The CSV's `property.*` columns: each survey's segment dimensions, in order, each once.
fn dimensions(surveys: &[Survey]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for d in surveys.iter().flat_map(|s| &s.segment_properties) {
        if !all.contains(d) {
            all.push(d.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 11 - 24);

    fn refused(query: &str) -> String {
        let e = parse(Some(query), TODAY).unwrap_err();
        e.message.split(':').next().unwrap().to_owned()
    }

    #[test]
    fn cursors_round_trip_and_anything_else_is_refused() {
        let c = Cursor { month: "2026-11".into(), after: "01795392000#01KAQ2V5Y0P7F1X6T3ZC9M4N8B".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in
            ["", "abc", &URL_SAFE_NO_PAD.encode("1|2026-13|01795392000#x"), &URL_SAFE_NO_PAD.encode("2|2026-11|1#2")]
        {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_refusal_names_its_parameter() {
        assert_eq!(refused("survey=a%23b"), "survey");
        assert_eq!(refused("survey=s&per_page=0"), "per_page");
        assert_eq!(refused("survey=s&per_page=101"), "per_page");
        assert_eq!(refused("survey=s&category=fan"), "category");
        assert_eq!(refused("survey=s&category=promoter&confirmed=any"), "category");
        assert_eq!(refused("survey=s&updated_since=yesterday"), "updated_since");
        assert_eq!(refused("updated_since=-1"), "updated_since");
        assert_eq!(refused("survey=s&=x"), "query");
        assert_eq!(refused("survey=s&cursor=nope"), "cursor");
        assert_eq!(refused("survey=s&expand=everything"), "expand");
        assert_eq!(refused("survey=s&since=2026-12-01"), "since");
        assert_eq!(refused("survey=s&until=9999-12-31"), "until");
        assert_eq!(refused("survey=s&until=-9999-01-01"), "until");
        assert_eq!(refused("survey=s&segment.a=1&segment.b=2"), "segment.b");
        assert_eq!(refused("survey=s&order=desc"), "order");
        let old = Cursor { month: "2020-01".into(), after: "01577836800#01KAQ2V5Y0P7F1X6T3ZC9M4N8B".into() };
        assert_eq!(refused(&format!("survey=s&cursor={}", old.encode())), "cursor");
    }
}
