//! The `api` function: what ops and dashboards read, with an API key (`Authorization: Bearer`).
//! `GET /v1/metrics` answers from the day rollups the aggregate function keeps;
//! `GET /v1/responses` (and `.csv`) lists a survey's responses; `GET /v1/comments` gives an eNPS
//! survey's comments a settled month's batch at a time; `GET /v1/themes` the reasons behind the
//! score; `/v1/surveys` keeps the surveys;
//! `/v1/surveys/{id}/members` keeps a survey's list; `DELETE /v1/people/{email}` erases a person; `GET /dashboard` is the page people read.

mod autopilot;
pub mod config;
mod dashboard;
mod delighted;
mod follow_up;
mod members;
mod people;
mod responses;
mod surveys;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use nps_adapters::dynamo::{
    DynamoApiKeys, DynamoErasure, DynamoFollowUps, DynamoMembers, DynamoPeople, DynamoRequests, DynamoResponses,
    DynamoRollups, DynamoSurveys, Scope, SuppressionList, Table,
};
use nps_domain::Timestamp;
use nps_domain::person::PersonKey;
use nps_domain::survey::SurveyId;
use nps_http::{ApiError, Dialect, api_path, authorize, dialect, json_of};
pub use nps_read::DEFAULT_CHANGE_WINDOW_DAYS;
use nps_read::Reader;
use nps_read::metrics;

/// Parses `query` as `/v1/metrics`, `/v1/responses` and `/dashboard` would, for the fuzz targets
/// (tests/fuzz): each parser accepts it, or refuses it with `<parameter>: <problem>`; none may
/// panic.
#[doc(hidden)]
pub fn check_queries(query: &str) {
    let today = time::macros::date!(2026 - 11 - 24);
    // A range that parses is walked as the answer would walk it (buckets, the period before).
    let walked = metrics::query::parse(Some(query), today).map(|q| {
        let granularity = q.granularity.unwrap_or(metrics::query::Granularity::Day);
        drop((metrics::query::buckets(q.since, q.until, granularity), q.previous_period()));
    });
    for result in [
        walked.map_err(|e| e.to_string()),
        nps_read::responses::check_query(query, today),
        dashboard::check_query(query),
    ] {
        if let Err(message) = result {
            // A name may hold ": " itself; an empty one is refused as `query` (unit tests).
            assert!(message.contains(": ") && message.len() > 2, "a refusal says what is wrong: {message}");
        }
    }
}

/// Everything a request needs, built once at init.
pub struct App {
    api_keys: DynamoApiKeys,
    rollups: DynamoRollups,
    surveys: DynamoSurveys,
    erasure: DynamoErasure,
    people: DynamoPeople,
    members: DynamoMembers,
    requests: DynamoRequests,
    responses: DynamoResponses,
    follow_ups: DynamoFollowUps,
    /// The survey of Delighted's calls without a `trend` (`NPS_DEFAULT_SURVEY`).
    default_survey: SurveyId,
    /// The survey whose list Delighted's Autopilot calls manage (`NPS_AUTOPILOT_SURVEY`).
    autopilot_survey: SurveyId,
    /// How long an imported response is kept (`NPS_RETENTION_DAYS`).
    retention: std::time::Duration,
    /// Metrics, responses and comments (the read side the ops CLI shares).
    read: Reader,
    /// Hashes an address to the person id (erasure); the function always has it.
    person_key: Option<PersonKey>,
    /// `NPS_SENDER_DOMAIN`: surveys may send only from it (unset locally: any sender).
    sender_domain: Option<String>,
    /// How long a cadence's day lasts (`NPS_CADENCE_DAY_SECONDS`; a day when deployed).
    cadence_day: std::time::Duration,
}

impl App {
    pub fn new(table: Table) -> Self {
        App {
            api_keys: DynamoApiKeys::new(table.clone()),
            rollups: DynamoRollups::new(table.clone()),
            surveys: DynamoSurveys::new(table.clone()),
            read: Reader::new(table.clone()),
            people: DynamoPeople::new(table.clone()),
            members: DynamoMembers::new(table.clone()),
            requests: DynamoRequests::new(table.clone()),
            responses: DynamoResponses::new(table.clone()),
            follow_ups: DynamoFollowUps::new(table.clone()),
            default_survey: SurveyId::parse("default").expect("a valid survey id"),
            autopilot_survey: SurveyId::parse("relationship").expect("a valid survey id"),
            retention: std::time::Duration::from_secs(730 * 86_400),
            erasure: DynamoErasure::new(table),
            person_key: None,
            sender_domain: None,
            cadence_day: nps_domain::survey::CADENCE_DAY,
        }
    }

    /// A cadence's day lasts `day` (a local stack's shortened days).
    pub fn with_cadence_day(mut self, day: std::time::Duration) -> Self {
        self.cadence_day = day;
        self
    }

    /// Delighted's calls without a `trend` read `survey`.
    pub fn with_default_survey(mut self, survey: SurveyId) -> Self {
        self.default_survey = survey;
        self
    }

    /// Delighted's Autopilot calls manage `survey`'s list.
    pub fn with_autopilot_survey(mut self, survey: SurveyId) -> Self {
        self.autopilot_survey = survey;
        self
    }

    /// Responses imported through `POST /v1/survey_responses` are kept this long.
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Surveys may send only from `domain` (the SES identity IAM lets the functions send from).
    pub fn with_sender_domain(mut self, domain: String) -> Self {
        self.sender_domain = Some(domain);
        self
    }

    /// The change window capture enforces: an eNPS month settles a day after it has passed.
    pub fn with_change_window_days(mut self, days: i64) -> Self {
        self.read = self.read.with_change_window_days(days);
        self
    }

    /// Enables `DELETE /v1/people/{email}`, which needs the deployment's person key.
    pub fn with_person_key(mut self, key: PersonKey) -> Self {
        self.person_key = Some(key);
        self
    }

    /// Answers one request; every failure becomes a JSON error response here.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        self.handle_at(req, Timestamp::now()).await
    }

    pub async fn handle_at(&self, req: Request, now: Timestamp) -> Response<Body> {
        if dashboard::is_dashboard(req.uri().path()) {
            return self.dashboard(&req, now).await;
        }
        let dialect = dialect(&req);
        // On the heap: the routes' futures together are large, and a Lambda's stack is not.
        nps_http::respond_in(dialect, Box::pin(self.route(req, now)).await)
    }

    async fn route(&self, req: Request, now: Timestamp) -> Result<Response<Body>, ApiError> {
        let path = api_path(&req);
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        match (segments.as_slice(), req.method()) {
            (["v1", "metrics"], &Method::GET) if dialect(&req) == Dialect::Delighted => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.delighted_metrics(&req, now).await
            }
            (["v1", "metrics"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                let metrics = self.read.metrics(req.uri().query(), now).await?;
                json_of(StatusCode::OK, &metrics)
            }
            (["v1", "metrics"], _) => Err(ApiError::method_not_allowed("GET")),
            (["v1", "responses"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.list_responses(req.uri().path(), req.uri().query(), now).await
            }
            (["v1", "responses.csv"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.export_responses(req.uri().path(), req.uri().query(), now).await
            }
            (["v1", "responses" | "responses.csv"], _) => Err(ApiError::method_not_allowed("GET")),
            (["v1", "responses", id], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                Box::pin(self.get_followed(id)).await
            }
            (["v1", "responses", id], &Method::PATCH) => {
                let key = authorize(&req, &self.api_keys, Scope::Write).await?;
                Box::pin(self.edit_followed(&req, id, &format!("API key {}", key.name), now)).await
            }
            (["v1", "responses", _], _) => Err(ApiError::method_not_allowed("GET, PATCH")),
            (["v1", "comments"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                let batch = self.read.comment_batch(req.uri().query(), now).await?;
                json_of(StatusCode::OK, &batch)
            }
            (["v1", "comments"], _) => Err(ApiError::method_not_allowed("GET")),
            // The larger routes' futures are boxed, so that this match's own stays small.
            (["v1", "themes"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                let themes = Box::pin(self.read.themes(req.uri().query(), now)).await?;
                json_of(StatusCode::OK, &themes)
            }
            (["v1", "themes"], _) => Err(ApiError::method_not_allowed("GET")),
            (["v1", "surveys"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.list_surveys().await
            }
            (["v1", "surveys"], &Method::POST) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.create_survey(&req).await
            }
            (["v1", "surveys"], _) => Err(ApiError::method_not_allowed("GET, POST")),
            (["v1", "surveys", id], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.get_survey(id).await
            }
            (["v1", "surveys", id], &Method::PUT) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.replace_survey(id, &req).await
            }
            (["v1", "surveys", _], _) => Err(ApiError::method_not_allowed("GET, PUT")),
            (["v1", "surveys", id, "members"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.list_members(id, req.uri().query()).await
            }
            (["v1", "surveys", id, "members"], &Method::POST) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.add_members(id, &req, now).await
            }
            (["v1", "surveys", id, "members"], &Method::DELETE) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.remove_members(id, None, &req).await
            }
            (["v1", "surveys", _, "members"], _) => Err(ApiError::method_not_allowed("GET, POST, DELETE")),
            (["v1", "surveys", id, "members", who], &Method::DELETE) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.remove_members(id, Some(who), &req).await
            }
            (["v1", "surveys", _, "members", _], _) => Err(ApiError::method_not_allowed("DELETE")),
            (["v1", "people"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.delighted_people(&req).await
            }
            (["v1", "people"], _) => Err(ApiError::method_not_allowed("GET, POST")),
            (["v1", "people", person], &Method::DELETE) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.erase_person(person, dialect(&req), now).await
            }
            (["v1", "people", _], _) => Err(ApiError::method_not_allowed("DELETE")),
            (["v1", "people", email, "survey_requests", "pending"], &Method::DELETE) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.cancel_pending(email).await
            }
            (["v1", "people", _, "survey_requests", "pending"], _) => Err(ApiError::method_not_allowed("DELETE")),
            (["v1", "survey_responses"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.delighted_responses(&req, now).await
            }
            (["v1", "survey_responses"], &Method::POST) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.create_delighted_response(&req, now).await
            }
            // Delighted's Node client saves a response to the collection, its id in the body.
            (["v1", "survey_responses"], &Method::PUT) => {
                let key = authorize(&req, &self.api_keys, Scope::Write).await?;
                let id = delighted::id_in_body(&req)?;
                Box::pin(self.update_delighted_response(&req, &id, &format!("API key {}", key.name), now)).await
            }
            (["v1", "survey_responses"], _) => Err(ApiError::method_not_allowed("GET, POST, PUT")),
            (["v1", "survey_responses", id], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.delighted_response(&req, id).await
            }
            (["v1", "survey_responses", id], &Method::PUT) => {
                let key = authorize(&req, &self.api_keys, Scope::Write).await?;
                Box::pin(self.update_delighted_response(&req, id, &format!("API key {}", key.name), now)).await
            }
            (["v1", "survey_responses", _], _) => Err(ApiError::method_not_allowed("GET, PUT")),
            (["v1", "unsubscribes"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.suppressions(&req, SuppressionList::Unsubscribes).await
            }
            (["v1", "unsubscribes"], &Method::POST) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.unsubscribe(&req, now).await
            }
            (["v1", "unsubscribes"], _) => Err(ApiError::method_not_allowed("GET, POST")),
            (["v1", "bounces"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.suppressions(&req, SuppressionList::Bounces).await
            }
            (["v1", "bounces"], _) => Err(ApiError::method_not_allowed("GET")),
            (["v1", "autopilot", platform], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.autopilot_configuration(platform).await
            }
            (["v1", "autopilot", _], _) => Err(ApiError::method_not_allowed("GET")),
            (["v1", "autopilot", platform, "memberships"], &Method::GET) => {
                authorize(&req, &self.api_keys, Scope::Read).await?;
                self.memberships(&req, platform).await
            }
            (["v1", "autopilot", platform, "memberships"], &Method::POST) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.add_membership(&req, platform, now).await
            }
            (["v1", "autopilot", platform, "memberships"], &Method::DELETE) => {
                authorize(&req, &self.api_keys, Scope::Write).await?;
                self.remove_membership(&req, platform).await
            }
            (["v1", "autopilot", _, "memberships"], _) => Err(ApiError::method_not_allowed("GET, POST, DELETE")),
            _ => Err(ApiError::not_found()),
        }
    }
}
