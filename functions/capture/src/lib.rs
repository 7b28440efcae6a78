//! The `capture` function: the links of the survey email.
//!
//! - `HEAD /r/{token}`: verifies the token and answers, reading and writing nothing.
//! - `GET /r/{token}?score=N`: shows the page with N selected, and keeps the click as evidence
//!   (a click is not an answer: mail scanners fetch links too).
//! - `POST /r/{token}` (the page's form, or its script as a person leaves after seeing the page):
//!   a person's answer, stored as the confirmed response.
//! - `GET /u/{token}`: asks whether to unsubscribe; `POST /u/{token}` (the page's button, or a
//!   mail client's RFC 8058 one-click POST) suppresses the address; `HEAD` writes nothing.

pub mod config;
mod page;

use std::time::Duration;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use nps_adapters::dynamo::{
    CachedSurveys, DynamoPeople, DynamoResponses, DynamoSurveys, Saved, SuppressionReason, Table,
};
use nps_domain::request::SurveyRequest;
use nps_domain::response::{Click, Comment, ConfirmError, Response as SurveyResponse};
use nps_domain::survey::Survey;
use nps_domain::survey_email::Wording;
use nps_domain::token::{self, TokenClaims};
use nps_domain::{StoreError, Timestamp};
use nps_scoring::Score;

pub use config::Config;
use page::Notice;

/// Largest form body accepted: a 2,000-character comment, percent-encoded, fits many times.
const MAX_FORM_BYTES: usize = 32 * 1024;
/// Saves retried after a concurrent change before giving up with a 503.
const SAVE_ATTEMPTS: usize = 4;
/// How long a warm function keeps a survey it read: a change to a survey's wording reaches the
/// page within this time, and a click costs one read less.
const SURVEY_CACHE: Duration = Duration::from_secs(60);

pub struct App {
    people: DynamoPeople,
    responses: DynamoResponses,
    surveys: CachedSurveys,
    config: Config,
}

/// What a link leads to: the survey request, its survey, and the response so far.
struct Link {
    request: SurveyRequest,
    survey: Survey,
    response: Option<SurveyResponse>,
    /// The person's own wording (Delighted's properties); the product is in `survey` already.
    wording: Wording,
}

impl App {
    pub fn new(config: Config, table: Table) -> Self {
        App {
            people: DynamoPeople::new(table.clone()),
            responses: DynamoResponses::new(table.clone()),
            surveys: CachedSurveys::new(DynamoSurveys::new(table), SURVEY_CACHE),
            config,
        }
    }

    pub async fn handle(&self, req: Request) -> Response<Body> {
        self.handle_at(req, Timestamp::now()).await
    }

    pub async fn handle_at(&self, req: Request, now: Timestamp) -> Response<Body> {
        match self.route(&req, now).await {
            Ok(response) => response,
            Err(e) => {
                // Storage failed: nothing was decided; the person can simply try again.
                tracing::warn!(error = %e, retryable = e.is_retryable(), "capture failed");
                let mut response = Response::new(Body::from("Temporarily unavailable. Please try again."));
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                response.headers_mut().insert(header::RETRY_AFTER, 5.into());
                response
            }
        }
    }

    async fn route(&self, req: &Request, now: Timestamp) -> Result<Response<Body>, StoreError> {
        let path = req.uri().path();
        let Some(at) = path.rfind("/r/").or_else(|| path.rfind("/u/")) else { return Ok(page::invalid_link()) };
        let unsubscribe = &path[at..at + 3] == "/u/";
        let token = &path[at + 3..];
        if token.contains('/') {
            return Ok(page::invalid_link());
        }
        let claims = token::verify(&self.config.token_keys, token, now);
        match *req.method() {
            // No I/O at all: a scanner's HEAD learns nothing and changes nothing.
            Method::HEAD => Ok(page::head(if claims.is_ok() { StatusCode::OK } else { StatusCode::NOT_FOUND })),
            Method::GET | Method::POST => {
                let Ok(claims) = claims else { return Ok(page::invalid_link()) };
                let Some(link) = self.load(claims).await? else { return Ok(page::invalid_link()) };
                match (unsubscribe, req.method() == Method::GET) {
                    (false, true) => self.click(req, link, now).await,
                    (false, false) => self.confirm(req, link, now).await,
                    (true, true) => Ok(page::unsubscribe_confirm(&link.survey, link.request.locale)),
                    (true, false) => {
                        // The page's button and RFC 8058's `List-Unsubscribe=One-Click` body alike.
                        self.people
                            .suppress(
                                &link.request.person_id,
                                Some(&link.request.email),
                                SuppressionReason::Unsubscribed,
                                now,
                            )
                            .await?;
                        tracing::info!(request = %link.request.id, "unsubscribed");
                        Ok(page::unsubscribed(link.request.locale))
                    }
                }
            }
            _ => {
                let mut response = page::head(StatusCode::METHOD_NOT_ALLOWED);
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
                Ok(response)
            }
        }
    }

    /// The request and its response in one read; the survey, usually from the cache.
    async fn load(&self, claims: TokenClaims) -> Result<Option<Link>, StoreError> {
        let Some((request, response)) = self.responses.with_request(claims.request_id).await? else { return Ok(None) };
        let Some(survey) = self.surveys.get(&request.survey_id).await? else { return Ok(None) };
        // Asked about the product the person was told of (Delighted's per-person wording).
        let wording = Wording::of(&request.person_properties);
        let survey = wording.survey(&survey);
        Ok(Some(Link { request, survey, response, wording }))
    }

    /// Applies `change` to the response as loaded (or a new one) and saves it when `change` says
    /// it changed something (a click or a submit that adds nothing writes nothing); after a
    /// concurrent change, re-reads and applies it again, so that none is lost.
    async fn change<T>(
        &self,
        link: &Link,
        now: Timestamp,
        mut change: impl FnMut(&mut SurveyResponse) -> (T, bool),
    ) -> Result<(SurveyResponse, T), StoreError> {
        let (request, mut response) = (&link.request, link.response.clone());
        for attempt in 0..SAVE_ATTEMPTS {
            if attempt > 0 {
                response = self.responses.get(request.id).await?;
            }
            let mut changed = response.take().unwrap_or_else(|| SurveyResponse::new(request, link.survey.kind, now));
            let (outcome, is_changed) = change(&mut changed);
            if !is_changed {
                return Ok((changed, outcome));
            }
            let expires_at = request.created_at.plus(self.config.retention);
            if self.responses.save(&mut changed, expires_at).await? == Saved::Done {
                return Ok((changed, outcome));
            }
        }
        Err(StoreError::Unavailable("the response kept changing under concurrent saves".into()))
    }

    async fn click(&self, req: &Request, link: Link, now: Timestamp) -> Result<Response<Body>, StoreError> {
        let clicked = query_value(req, "score").and_then(|s| s.parse::<Score>().ok());
        let agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let response = match clicked {
            Some(score) => {
                let click = Click::new(now, score, agent, link.request.sent_at);
                let response = self.change(&link, now, |r| ((), r.record_click(click.clone()))).await?.0;
                let mut counts = nps_adapters::emf::Counts::default();
                counts.add("Clicks", 1).add("ClicksOfSuspectedBots", usize::from(response.suspected_bot()));
                counts.emit("capture");
                response
            }
            None => link.response.clone().unwrap_or_else(|| SurveyResponse::new(&link.request, link.survey.kind, now)),
        };
        let notice = match response.score {
            Some(score) => Notice::Answered(score),
            None => Notice::None,
        };
        let selected = clicked.or(response.score);
        let comment = page::comment_text(response.comment.as_ref());
        Ok(page::form(StatusCode::OK, &link.survey, link.request.locale, selected, comment, notice, &link.wording))
    }

    async fn confirm(&self, req: &Request, link: Link, now: Timestamp) -> Result<Response<Body>, StoreError> {
        let body: &[u8] = req.body().as_ref();
        let form: Vec<(String, String)> =
            if body.len() <= MAX_FORM_BYTES { form_urlencoded::parse(body).into_owned().collect() } else { Vec::new() };
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let typed = field("comment").unwrap_or_default();
        let (survey, locale) = (&link.survey, link.request.locale);
        let comment = match Comment::parse(typed) {
            Ok(comment) if body.len() <= MAX_FORM_BYTES => comment,
            _ => {
                let notice = Notice::TooLong;
                return Ok(page::form(
                    StatusCode::BAD_REQUEST,
                    survey,
                    locale,
                    None,
                    Some(typed),
                    notice,
                    &link.wording,
                ));
            }
        };
        let Some(score) = field("score").and_then(|s| s.parse::<Score>().ok()) else {
            let notice = Notice::PickAScore;
            return Ok(page::form(StatusCode::BAD_REQUEST, survey, locale, None, Some(typed), notice, &link.wording));
        };
        let window = self.config.change_window;
        let (response, outcome) = self
            .change(&link, now, |r| {
                let outcome = r.confirm(score, comment.clone(), now, window);
                let changed = outcome == Ok(true);
                (outcome, changed)
            })
            .await?;
        match outcome {
            Ok(_) => {
                // `via=leave`: the page's script kept the score as the person left (see page.rs).
                let via = if field("via") == Some("leave") { "leaving the page" } else { "the form" };
                tracing::info!(request = %link.request.id, version = response.version, via, "response confirmed");
                nps_adapters::emf::Counts::default().add("Confirmations", 1).emit("capture");
                let comment = page::comment_text(response.comment.as_ref());
                Ok(page::form(StatusCode::OK, survey, locale, response.score, comment, Notice::Thanks, &link.wording))
            }
            Err(ConfirmError::WindowClosed | ConfirmError::TooManyChanges) => Ok(page::closed(locale)),
        }
    }
}

fn query_value(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}
