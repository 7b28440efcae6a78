//! `GET /dashboard`: the page ops and CX staff keep open. Server-rendered from the same reads as
//! `/v1/metrics` and `/v1/responses`; no script, no external asset. Signing in (`POST /dashboard`)
//! trades an API key for a session cookie (HttpOnly, SameSite=Strict, Secure outside localhost)
//! holding a token that ends after 12 hours or with the key (adapters' `open_session`). A sign-in
//! link (`?signin=<token>`, minted for a key by adapters' `open_link`; `make dev` prints one) does
//! the same without typing the key, and is gone from the address bar once used.

mod chart;
mod follow_up;
mod page;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::try_join4;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response as HttpResponse};
use nps_adapters::dynamo::{ApiKey, Scope};
use nps_domain::Timestamp;
use nps_domain::survey::{Survey, SurveyId, SurveyKind};
use nps_http::ApiError;
use time::{Date, Duration, OffsetDateTime};

use crate::App;
use nps_read::metrics::{MAX_GROUPS, Metrics};
use nps_read::params::{dimension, format_day, pairs, segment_value};
use page::{Breakdown, View};

/// The ranges offered, in days, with their label and the bucket the trend uses.
pub const RANGES: &[(i64, &str, &str)] = &[
    (7, "Last 7 days", "day"),
    (30, "Last 30 days", "day"),
    (90, "Last 90 days", "week"),
    (365, "Last 12 months", "month"),
];
const DEFAULT_RANGE_DAYS: i64 = 90;
/// Values listed per dimension in the segment filter.
pub const MAX_SEGMENT_OPTIONS: usize = 200;
const SESSION_COOKIE: &str = "nps_session";
const SESSION_SECONDS: i64 = 12 * 3600;
/// The forms are small (a note is at most 2,000 characters); anything bigger is not ours.
const MAX_FORM_BYTES: usize = 16 * 1024;
const MAX_KEY_CHARS: usize = 200;

/// The comments the page shows.
pub enum Comments {
    /// The newest, with their day, score and segment.
    Latest(Vec<nps_read::comments::Comment>),
    /// eNPS: one settled month's comments, as a batch of at least 5 texts sorted by their text, with
    /// nothing that says who, when or what score (docs/enps.md).
    Batch { month: String, texts: Vec<String> },
    /// eNPS: no month in the range has a batch to show.
    Withheld,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DashboardQuery {
    survey: Option<SurveyId>,
    range_days: i64,
    segment: Option<(String, String)>,
    group_by: Option<String>,
    screen: Screen,
}

/// What the page shows: the overview, the detractors to follow up, or one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Screen {
    Overview,
    ToFollowUp(follow_up::Filters),
    Answer(String),
}

fn refused(parameter: &str, problem: &str) -> ApiError {
    ApiError::invalid(format!("{parameter}: {problem}"))
}

/// The page's filters; an empty value (a form's "all") is no filter.
fn parse(query: Option<&str>) -> Result<DashboardQuery, ApiError> {
    let invalid = |e: nps_read::params::Invalid| ApiError::invalid(e.to_string());
    let mut q = DashboardQuery {
        survey: None,
        range_days: DEFAULT_RANGE_DAYS,
        segment: None,
        group_by: None,
        screen: Screen::Overview,
    };
    let mut filters = follow_up::Filters::new();
    for (name, value) in pairs(query).map_err(invalid)? {
        if value.is_empty() {
            continue;
        }
        match name.as_ref() {
            "survey" => q.survey = Some(SurveyId::parse(&value).map_err(|e| refused("survey", &e.to_string()))?),
            "range" => {
                q.range_days = RANGES
                    .iter()
                    .map(|(days, _, _)| *days)
                    .find(|days| days.to_string() == value)
                    .ok_or_else(|| refused("range", "must be 7, 30, 90 or 365 (days)"))?;
            }
            "segment" => {
                let (d, wanted) =
                    value.split_once(':').ok_or_else(|| refused("segment", "must be <dimension>:<value>"))?;
                q.segment = Some((
                    dimension("segment", d).map_err(invalid)?,
                    segment_value("segment", wanted).map_err(invalid)?,
                ));
            }
            "group_by" => q.group_by = Some(dimension("group_by", &value).map_err(invalid)?),
            // A sign-in link's token: checked by the page against the key it names.
            "signin" => {}
            "view" if value == "follow-up" => q.screen = Screen::ToFollowUp(follow_up::Filters::default()),
            "view" => return Err(refused("view", "must be follow-up")),
            "status" => filters.status = follow_up::status_filter(&value)?,
            "owner" => filters.owner = Some(follow_up::text_filter("owner", &value)?),
            "tag" => filters.tag = Some(follow_up::text_filter("tag", &value)?),
            "response" => {
                nps_domain::request::RequestId::parse(&value)
                    .ok_or_else(|| refused("response", "is not an answer's id"))?;
                q.screen = Screen::Answer(value);
            }
            other => return Err(refused(other, "is not a filter of the dashboard")),
        }
    }
    if let Screen::ToFollowUp(f) = &mut q.screen {
        *f = filters;
    }
    Ok(q)
}

/// `check_queries`' view of the filters' parser: the refusal's message, if any.
pub(crate) fn check_query(query: &str) -> Result<(), String> {
    parse(Some(query)).map(drop).map_err(|e| e.message)
}

/// The page's links, forms and redirects are relative to the page itself: behind API Gateway
/// (with or without a stage) and behind the local emulator (which strips a `/lambda-url/api`
/// prefix the function never sees) `dashboard` resolves to the same page, and never to another site.
const PAGE: &str = "dashboard";

/// The page with the filters it was asked with (for forms and redirects).
fn own_url(req: &Request) -> String {
    match req.uri().query() {
        Some(q) if !q.is_empty() => format!("{PAGE}?{q}"),
        _ => PAGE.to_owned(),
    }
}

/// Whether the browser talks to this machine: then the cookie cannot be `Secure` (plain HTTP).
fn is_local(req: &Request) -> bool {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    name == "localhost" || name == "127.0.0.1" || name == "::1" || name.ends_with(".localhost")
}

fn session_cookie(req: &Request) -> Option<String> {
    req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        },
    )
}

/// `Set-Cookie` for `token` (or its removal). Without a `Path`, the browser scopes it to the page's
/// folder, whatever prefix the page has; the JSON API beside it reads only bearer keys.
fn set_cookie(req: &Request, token: Option<&str>) -> String {
    let secure = if is_local(req) { "" } else { "; Secure" };
    let (value, max_age) = match token {
        Some(t) => (t, SESSION_SECONDS),
        None => ("", 0),
    };
    format!("{SESSION_COOKIE}={value}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn html(status: StatusCode, body: String) -> HttpResponse<Body> {
    nps_http::html_page(status, body, &page::CSP)
}

fn with_cookie(mut response: HttpResponse<Body>, cookie: &str) -> HttpResponse<Body> {
    if let Ok(value) =
        HeaderValue::from_str(cookie).map_err(drop).and_then(|v| if cookie.is_empty() { Err(()) } else { Ok(v) })
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A redirect to `location` (relative to the page) that sets `cookie`.
fn see_other(location: &str, cookie: &str) -> HttpResponse<Body> {
    let mut response = html(StatusCode::SEE_OTHER, String::new());
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    with_cookie(response, cookie)
}

/// Whether a form was posted by another site's page (login CSRF: signing a browser in with the
/// attacker's key, or out). Browsers say so in `Sec-Fetch-Site`, or else in `Origin`; a client
/// that sends neither is no browser and has no session to abuse.
fn cross_site(req: &Request) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match header("origin") {
        Some(origin) => origin.split_once("://").map(|(_, host)| host) != header(header::HOST.as_str()),
        None => false,
    }
}

/// The `signin` parameter of a sign-in link, if given.
fn sign_in_link(req: &Request) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name == "signin" && !value.is_empty())
        .map(|(_, v)| v.into_owned())
}

/// An error as the page shows it: the same status and message the JSON API would give.
fn problem_page(e: ApiError) -> HttpResponse<Body> {
    let mut response = html(e.status, page::problem(&e.message));
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

fn today(now: Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp(now.unix()).map_or(Date::MIN, |t| t.date())
}

impl App {
    pub(crate) async fn dashboard(&self, req: &Request, now: Timestamp) -> HttpResponse<Body> {
        match *req.method() {
            Method::GET => self.dashboard_page(req, now).await,
            Method::POST => self.dashboard_session(req, now).await,
            _ => ApiError::method_not_allowed("GET, POST").into_response(),
        }
    }

    async fn dashboard_page(&self, req: &Request, now: Timestamp) -> HttpResponse<Body> {
        // Filters are checked first, signed in or not: a wrong link is a 400 either way.
        let query = match parse(req.uri().query()) {
            Ok(q) => q,
            Err(e) => return problem_page(e),
        };
        if let Some(link) = sign_in_link(req) {
            let ends = Timestamp::from_unix(now.unix() + SESSION_SECONDS);
            return match self.api_keys.session_from_link(&link, now, ends).await {
                // To the page without the link's token, which the address bar then no longer shows.
                Ok(Some(token)) => see_other(PAGE, &set_cookie(req, Some(&token))),
                Ok(None) => {
                    let page =
                        page::sign_in(PAGE, Some("This sign-in link has ended or is not valid: sign in with a key."));
                    html(StatusCode::UNAUTHORIZED, page)
                }
                Err(e) => problem_page(e.into()),
            };
        }
        let Some(token) = session_cookie(req) else {
            return html(StatusCode::OK, page::sign_in(&own_url(req), None));
        };
        let key = match self.api_keys.verify_session(&token, now).await {
            Ok(Some(key)) => key,
            Ok(None) => {
                let page = page::sign_in(&own_url(req), Some("Your session has ended: sign in again."));
                return with_cookie(html(StatusCode::OK, page), &set_cookie(req, None));
            }
            Err(e) => return problem_page(e.into()),
        };
        match self.render(query, &key, now).await {
            Ok(body) => html(StatusCode::OK, body),
            Err(e) => problem_page(e),
        }
    }

    /// Sign in (`action=sign-in&key=…`) or out (`action=sign-out`), then back to the page.
    async fn dashboard_session(&self, req: &Request, now: Timestamp) -> HttpResponse<Body> {
        if cross_site(req) {
            let e = ApiError::new(StatusCode::FORBIDDEN, "cross_site", "sign in from the dashboard's own page");
            return problem_page(e);
        }
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            let e = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the sign-in form (application/x-www-form-urlencoded)",
            );
            return problem_page(e);
        }
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_FORM_BYTES {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the form is over {MAX_FORM_BYTES} bytes"),
            );
            return problem_page(e);
        }
        let form = match form(body) {
            Ok(form) => form,
            Err(e) => return problem_page(e),
        };
        let back = |cookie: String| see_other(&own_url(req), &cookie);
        if form.get("action").map(String::as_str) == Some("follow-up") {
            // A change to an answer's follow-up: by the session's key, which must be a write key.
            let key = match session_cookie(req) {
                Some(token) => self.api_keys.verify_session(&token, now).await,
                None => Ok(None),
            };
            return match key {
                Ok(Some(key)) => self.dashboard_follow_up(&key, &form, now).await.unwrap_or_else(problem_page),
                Ok(None) => html(StatusCode::UNAUTHORIZED, page::sign_in(PAGE, Some("Sign in to follow up."))),
                Err(e) => problem_page(e.into()),
            };
        }
        if let Some(other) = form.keys().find(|k| !matches!(k.as_str(), "action" | "key")) {
            return problem_page(refused(other, "is not a field of the sign-in form"));
        }
        match form.get("action").map(String::as_str) {
            Some("sign-out") => back(set_cookie(req, None)),
            Some("sign-in") => {
                let presented = form.get("key").map(|k| k.trim()).unwrap_or("");
                let ends = Timestamp::from_unix(now.unix() + SESSION_SECONDS);
                match self.api_keys.open_session(presented, ends).await {
                    Ok(Some((_, token))) => back(set_cookie(req, Some(&token))),
                    Ok(None) => html(
                        StatusCode::UNAUTHORIZED,
                        page::sign_in(&own_url(req), Some("Unknown or revoked API key.")),
                    ),
                    Err(e) => problem_page(e.into()),
                }
            }
            _ => problem_page(refused("action", "must be sign-in or sign-out")),
        }
    }

    async fn render(&self, mut q: DashboardQuery, key: &ApiKey, now: Timestamp) -> Result<String, ApiError> {
        if let Screen::Answer(id) = &q.screen {
            let (id, response, _) = self.followed_answer(id).await?;
            let follow_up = self.follow_ups.get(id).await?;
            return Ok(follow_up::answer(&response, &follow_up, key.scope.allows(Scope::Write)));
        }
        let surveys = self.surveys.list().await?;
        let Some(first) = surveys.first() else { return Ok(page::no_surveys()) };
        let survey = match &q.survey {
            Some(id) => surveys.iter().find(|s| &s.id == id).ok_or_else(|| refused("survey", "no such survey"))?,
            None => first,
        };
        if let Screen::ToFollowUp(filters) = &q.screen {
            let until = today(now);
            let since = until - Duration::days(q.range_days - 1);
            let rows = self.to_follow_up(survey, (since, until), filters).await?;
            return Ok(follow_up::list(&surveys, survey, q.range_days, filters, &rows));
        }
        // Filters kept from another survey's page that this survey lacks are dropped, and said so.
        let mut notes = Vec::new();
        let has = |dimension: &str| survey.segment_properties.iter().any(|d| d == dimension);
        if let Some((dimension, _)) = &q.segment
            && !has(dimension)
        {
            notes.push(format!("Survey {} has no segment {dimension}: showing all answers.", survey.id));
            q.segment = None;
        }
        if q.group_by.as_deref().is_some_and(|d| !has(d)) {
            q.group_by = None;
        }
        let group_by = q.group_by.clone().or_else(|| survey.segment_properties.first().cloned());
        let enps = survey.kind == SurveyKind::Enps;
        let granularity = match RANGES.iter().find(|r| r.0 == q.range_days) {
            // eNPS figures are by calendar month only (docs/enps.md).
            _ if enps => "month",
            Some((_, _, g)) => *g,
            None => "day",
        };
        let until = today(now);
        let since = until - Duration::days(q.range_days - 1);

        let generation = self.rollups.checkpoint().await?.generation;
        let (first_month, last_month) = (format_day(since), format_day(until));
        let months = Some((&first_month[..7], &last_month[..7]));
        let segment_values = self.rollups.segment_values(generation, &survey.id, months).await?;
        let value_count = group_by.as_ref().map_or(0, |d| segment_values.get(d).map_or(0, BTreeSet::len));
        // What the answers are worth, beside the score: by the survey's first weight property.
        let weight = survey.weight_properties.first().map(String::as_str);
        let main_query = metrics_query(survey, since, until, Some(granularity), q.segment.as_ref(), None, weight);
        let groups_query = group_by
            .as_ref()
            .filter(|_| value_count <= MAX_GROUPS)
            .map(|d| metrics_query(survey, since, until, None, None, Some(d), weight));
        // The reasons on each side, for the same survey, range and segment (eNPS: the whole survey).
        let themes_query = {
            let mut t = form_urlencoded::Serializer::new(String::new());
            t.append_pair("survey", survey.id.as_str())
                .append_pair("since", &format_day(since))
                .append_pair("until", &format_day(until))
                .append_pair("limit", "3");
            if let Some((dimension, value)) = q.segment.as_ref().filter(|_| !enps) {
                t.append_pair(&format!("segment.{dimension}"), value);
            }
            t.finish()
        };
        let (metrics, groups, comments, themes) = try_join4(
            self.read.metrics(Some(&main_query), now),
            async {
                match &groups_query {
                    Some(query) => self.read.metrics(Some(query), now).await.map(Some),
                    None => Ok(None),
                }
            },
            async {
                if enps {
                    let batch = self.read.enps_comments(&survey.id, since, until, today(now)).await?;
                    Ok(batch.map_or(Comments::Withheld, |(month, texts)| Comments::Batch { month, texts }))
                } else {
                    let latest = self.read.latest_comments(survey, since, until, q.segment.as_ref()).await?;
                    Ok::<_, ApiError>(Comments::Latest(latest))
                }
            },
            // Boxed: its future is large, and a task's stack is not.
            Box::pin(self.read.themes(Some(&themes_query), now)),
        )
        .await?;
        let groups = groups.and_then(|m: Metrics| m.groups).unwrap_or_default();
        // A list's waves: where each begins in the range, marked on the trend.
        let waves: Vec<(i64, String)> = match self.read.waves(survey).await? {
            Some(w) => {
                let first = w.number(since).max(1);
                (first..=w.number(until))
                    .map(|n| (n, w.first + Duration::days((n - 1) * w.days)))
                    .filter(|(_, day)| (since..=until).contains(day))
                    .map(|(n, day)| (n, format_day(day)))
                    .collect()
            }
            None => Vec::new(),
        };
        let breakdown = match &group_by {
            None => Breakdown::NoDimension,
            Some(_) if value_count > MAX_GROUPS => Breakdown::TooMany(value_count),
            Some(_) => Breakdown::Groups(&groups),
        };
        Ok(page::dashboard(&View {
            surveys: &surveys,
            survey,
            range_days: q.range_days,
            segment: q.segment.as_ref(),
            group_by: group_by.as_deref(),
            segment_values: &segment_values,
            metrics: &metrics,
            breakdown,
            comments: &comments,
            themes: &themes,
            notes: &notes,
            waves: &waves,
        }))
    }
}

/// A posted form's fields: the sign-in form's (`action`, and `key` of at most 200 characters) or
/// the follow-up form's (`action`, `response`, `status`, `owner`, `tags`, `note`); nothing else.
fn form(body: &[u8]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut form = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(body).into_owned() {
        if !matches!(name.as_str(), "action" | "key" | "response" | "status" | "owner" | "tags" | "note") {
            return Err(refused(&name, "is not a field of the dashboard's forms"));
        }
        if name == "key" && value.chars().count() > MAX_KEY_CHARS {
            return Err(refused("key", &format!("is over {MAX_KEY_CHARS} characters")));
        }
        if form.insert(name.clone(), value).is_some() {
            return Err(refused(&name, "is given more than once"));
        }
    }
    Ok(form)
}

/// The `/v1/metrics` query behind a part of the page.
fn metrics_query(
    survey: &Survey,
    since: Date,
    until: Date,
    granularity: Option<&str>,
    segment: Option<&(String, String)>,
    group_by: Option<&str>,
    weight: Option<&str>,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("survey", survey.id.as_str())
        .append_pair("since", &format_day(since))
        .append_pair("until", &format_day(until));
    if let Some(g) = granularity {
        q.append_pair("granularity", g).append_pair("compare", "previous_period");
    }
    if let Some((dimension, value)) = segment {
        q.append_pair(&format!("segment.{dimension}"), value);
    }
    if let Some(d) = group_by {
        q.append_pair("group_by", d);
    }
    if let Some(w) = weight {
        q.append_pair("weight", w);
    }
    q.finish()
}

/// Whether a path is the dashboard's (after any stage or local prefix).
pub fn is_dashboard(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path.ends_with("/dashboard") && !path.contains("/v1/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, host: &str) -> Request {
        lambda_http::http::Request::builder().uri(uri).header("host", host).body(Body::Empty).unwrap()
    }

    #[test]
    fn filters_parse_and_every_refusal_names_its_parameter() {
        let q = parse(Some("survey=default&range=30&segment=product%3ATrail+Boots&group_by=region")).unwrap();
        assert_eq!(q.survey.unwrap().as_str(), "default");
        assert_eq!(q.range_days, 30);
        assert_eq!(q.segment, Some(("product".into(), "Trail Boots".into())));
        assert_eq!(q.group_by.as_deref(), Some("region"));
        let all = parse(Some("survey=&segment=&group_by=")).unwrap();
        let overview = Screen::Overview;
        assert_eq!(
            all,
            DashboardQuery { survey: None, range_days: 90, segment: None, group_by: None, screen: overview }
        );
        let open = parse(Some("view=follow-up&owner=Dana")).unwrap().screen;
        let filters = follow_up::Filters { owner: Some("dana".into()), ..follow_up::Filters::new() };
        assert_eq!(open, Screen::ToFollowUp(filters), "open ones unless asked");
        let any = parse(Some("view=follow-up&status=any&tag=stove")).unwrap().screen;
        assert_eq!(
            any,
            Screen::ToFollowUp(follow_up::Filters { status: None, owner: None, tag: Some("stove".into()) })
        );
        for (query, parameter) in [
            ("view=everything", "view"),
            ("view=follow-up&status=done", "status"),
            ("response=not-an-id", "response"),
            ("range=14", "range"),
            ("segment=product", "segment"),
            ("segment=Product:x", "segment"),
            ("group_by=all", "group_by"),
            ("survey=a%23b", "survey"),
            ("range=7&range=30", "range"),
            ("key=nps_x", "key"),
            ("range=7&=30", "query"),
        ] {
            let e = parse(Some(query)).unwrap_err();
            assert!(e.message.starts_with(&format!("{parameter}:")), "{query}: {}", e.message);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn the_cookie_is_secure_except_on_this_machine() {
        for (host, secure) in [
            ("127.0.0.1:9000", false),
            ("localhost:3000", false),
            ("[::1]:8080", false),
            ("abc123.execute-api.eu-west-1.amazonaws.com", true),
            ("localhost.evil.example", true),
        ] {
            let cookie = set_cookie(&request("/dashboard?range=7", host), Some("t"));
            assert!(cookie.starts_with("nps_session=t; Max-Age=43200; HttpOnly; SameSite=Strict"), "{cookie}");
            assert_eq!(cookie.ends_with("; Secure"), secure, "{host}: {cookie}");
        }
        assert!(set_cookie(&request("/dashboard", "localhost"), None).starts_with("nps_session=; Max-Age=0;"));
    }

    #[test]
    fn forms_posted_by_another_site_are_cross_site() {
        let post = |headers: &[(&str, &str)]| {
            let mut req =
                lambda_http::http::Request::builder().method("POST").uri("/dashboard").header("host", "nps.example");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            cross_site(&req.body(Body::Empty).unwrap())
        };
        assert!(post(&[("sec-fetch-site", "cross-site")]));
        assert!(post(&[("sec-fetch-site", "same-site")]), "a sibling subdomain is another site here");
        assert!(post(&[("origin", "https://evil.example")]));
        assert!(post(&[("origin", "null")]));
        assert!(!post(&[("sec-fetch-site", "same-origin"), ("origin", "https://nps.example")]));
        assert!(!post(&[("origin", "https://nps.example")]));
        assert!(!post(&[]), "curl and scripts send neither");
    }

    #[test]
    fn forms_and_redirects_stay_on_this_page() {
        assert_eq!(own_url(&request("//evil.example/dashboard?range=7", "h")), "dashboard?range=7");
        assert_eq!(own_url(&request("/Prod/dashboard", "h")), "dashboard");
    }

    #[test]
    fn only_the_dashboard_path_is_the_dashboard() {
        assert!(
            is_dashboard("/dashboard") && is_dashboard("/Prod/dashboard/") && is_dashboard("/lambda-url/api/dashboard")
        );
        assert!(!is_dashboard("/v1/dashboard") && !is_dashboard("/dashboards") && !is_dashboard("/v1/metrics"));
    }
}
