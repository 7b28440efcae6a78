//! Delighted's API on our data (docs/delighted.md), for the integrations written against it and
//! its official clients: `Authorization: Basic` selects it (`nps_http::Dialect`). People,
//! survey responses, metrics, unsubscribes and bounces, in Delighted's shapes: bare arrays,
//! Unix times, `422` for what does not validate. `POST /v1/people` is the trigger's.

use std::collections::BTreeMap;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response as HttpResponse};
use nps_adapters::dynamo::{MAX_SKIPPED, Profile, Start, SuppressionList, SuppressionReason};
use nps_domain::Timestamp;
use nps_domain::email::EmailAddress;
use nps_domain::follow_up::{Edit, FollowUp, Note};
use nps_domain::person::PersonId;
use nps_domain::request::RequestId;
use nps_domain::response::{Comment, Response};
use nps_domain::survey::{SurveyId, SurveyKind};
use nps_domain::weight::Weights;
use nps_http::{ApiError, json_body, json_of};
use nps_read::delighted::{DEFAULT_PER_PAGE, MAX_PER_PAGE, ResponsesQuery};
use nps_scoring::Score;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::App;

/// A Delighted validation error: `422` naming the parameter.
fn unprocessable(parameter: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("{parameter}: {problem}"))
}

/// A query string's parameters, each at most once, only those `allowed`.
fn params(query: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let query = query.unwrap_or("");
    if query.len() > 2000 {
        return Err(unprocessable("query", "is over 2000 characters"));
    }
    let mut found = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            return Err(unprocessable(&name, "is not a parameter of this list"));
        }
        if found.insert(name.clone().into_owned(), value.into_owned()).is_some() {
            return Err(unprocessable(&name, "is given more than once"));
        }
    }
    Ok(found)
}

fn unix(params: &BTreeMap<String, String>, name: &str) -> Result<Option<Timestamp>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|s| (0..=32_503_680_000).contains(s))
                .map(Timestamp::from_unix)
                .ok_or_else(|| unprocessable(name, "must be a time in Unix seconds"))
        })
        .transpose()
}

fn count(params: &BTreeMap<String, String>, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    params.get(name).map_or(Ok(default), |v| {
        v.parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| unprocessable(name, format!("must be 1 to {max}")))
    })
}

/// `<scheme>://<host>` as the client reached us: API Gateway (and the local gateway) pass the
/// host, and the scheme in `X-Forwarded-Proto`.
pub(crate) fn origin(req: &Request) -> String {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let scheme = header("x-forwarded-proto").filter(|s| matches!(*s, "http" | "https")).unwrap_or("https");
    let host = header("host").or(req.uri().host()).unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// The path as asked, from `/v1/` on (behind a local URL prefix, the API's own path starts there).
fn public_path(req: &Request) -> &str {
    let path = req.uri().path();
    path.find("/v1/").map_or(path, |i| &path[i..])
}

/// A person in Delighted's shape; what we do not keep is `null`.
fn person_json(p: &Profile) -> Value {
    json!({
        "id": p.id.as_str(), "email": p.email, "name": p.name, "phone_number": null,
        "created_at": p.created_at.unix(), "last_sent_at": null, "last_responded_at": null,
        "next_survey_scheduled_at": null,
    })
}

/// A survey response in Delighted's shape.
#[derive(Serialize)]
struct SurveyResponse {
    id: String,
    /// The person's id, or (with `expand[]=person`) the person; `null` once erased.
    person: Value,
    survey_type: &'static str,
    score: Option<u8>,
    comment: Option<String>,
    permalink: String,
    created_at: i64,
    updated_at: i64,
    person_properties: BTreeMap<String, String>,
    notes: Vec<Value>,
    tags: Vec<String>,
    additional_answers: Vec<Value>,
}

/// The body of `POST /v1/survey_responses`: an answer given elsewhere, at `created_at`. Other
/// fields Delighted knew (`additional_answers`, `notes`, `tags`) are not kept.
#[derive(Deserialize)]
struct NewResponse {
    person: Option<Value>,
    person_email: Option<String>,
    score: Value,
    comment: Option<String>,
    created_at: Option<i64>,
    person_properties: Option<serde_json::Map<String, Value>>,
    trend: Option<Value>,
}

impl App {
    pub(crate) fn person_key(&self) -> Result<&nps_domain::person::PersonKey, ApiError> {
        self.person_key.as_ref().ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "not_configured", "NPS_PERSON_KEY is not set")
        })
    }

    pub(crate) fn person_of_email(&self, parameter: &str, email: &str) -> Result<(PersonId, EmailAddress), ApiError> {
        let email = EmailAddress::parse(email).map_err(|e| unprocessable(parameter, e))?;
        Ok((PersonId::derive(self.person_key()?, &email), email))
    }

    /// `GET /v1/people`: oldest first, `per_page` at a time, an absolute `Link` to the next page.
    pub(crate) async fn delighted_people(&self, req: &Request) -> Result<HttpResponse<Body>, ApiError> {
        let query = req.uri().query();
        let p = params(query, &["per_page", "since", "until", "email", "phone_number", "cursor"])?;
        let per_page = count(&p, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
        let (since, until) = (unix(&p, "since")?, unix(&p, "until")?);
        let within = |profile: &Profile| until.is_none_or(|u| profile.created_at <= u);
        if p.contains_key("phone_number") {
            // Nobody is kept by phone number: SMS surveys are not sent.
            return json_of(StatusCode::OK, &Vec::<Value>::new());
        }
        if let Some(email) = p.get("email") {
            let (person, _) = self.person_of_email("email", email)?;
            let found = self.people.profile(&person).await?.filter(|f| since.is_none_or(|s| f.created_at >= s));
            let listed: Vec<Value> = found.iter().filter(|f| within(f)).map(person_json).collect();
            return json_of(StatusCode::OK, &listed);
        }
        let after = match p.get("cursor") {
            Some(c) => Some(decode_cursor(c).ok_or_else(|| unprocessable("cursor", "is not a cursor of this list"))?),
            None => since.map(|s| nps_adapters::dynamo::keys::sort_from(s.unix() - 1)),
        };
        let start = after.as_deref().map_or(Start::Skip(0), Start::After);
        let page = self.people.people(start, per_page).await?;
        let listed: Vec<&Profile> = page.items.iter().take_while(|f| within(f)).collect();
        let ended = listed.len() < page.items.len();
        let mut answer = json_of(StatusCode::OK, &listed.iter().map(|f| person_json(f)).collect::<Vec<_>>())?;
        if let (Some(last), false) = (page.last, ended) {
            let mut next: Vec<(String, String)> = p.into_iter().filter(|(k, _)| k != "cursor").collect();
            next.push(("cursor".into(), encode_cursor(&last)));
            let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(next).finish();
            let link = format!("<{}{}?{query}>; rel=\"next\"", origin(req), public_path(req));
            if let Ok(value) = HeaderValue::from_str(&link) {
                answer.headers_mut().insert(header::LINK, value);
            }
        }
        Ok(answer)
    }

    /// `DELETE /v1/people/{id | email:… | phone_number:…}` (and our `{email}`): the person as
    /// [`App::erase_person`] finds them.
    pub(crate) fn person_of_segment(&self, segment: &str) -> Result<Option<PersonId>, ApiError> {
        let decoded = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| ApiError::invalid("person: not UTF-8 (percent-encode it in the path)"))?;
        if let Some(email) = decoded.strip_prefix("email:").or((decoded.contains('@')).then_some(&*decoded)) {
            let email = EmailAddress::parse(email)
                .map_err(|_| ApiError::invalid("email: not an email address (percent-encode it in the path)"))?;
            return Ok(Some(PersonId::derive(self.person_key()?, &email)));
        }
        if decoded.starts_with("phone_number:") {
            // No one is kept by phone number.
            return Ok(None);
        }
        PersonId::from_stored(&decoded)
            .map(Some)
            .ok_or_else(|| ApiError::invalid("person: an id, email:<address> or phone_number:<number>"))
    }

    /// `DELETE /v1/people/{email}/survey_requests/pending`.
    pub(crate) async fn cancel_pending(&self, segment: &str) -> Result<HttpResponse<Body>, ApiError> {
        let email =
            percent_decode_str(segment).decode_utf8().map_err(|_| unprocessable("person_email", "not UTF-8"))?;
        let (person, _) = self.person_of_email("person_email", &email)?;
        let cancelled = self.requests.cancel_pending(&person).await?;
        tracing::info!(cancelled, "pending survey requests cancelled");
        json_of(StatusCode::OK, &json!({"ok": true}))
    }

    /// `GET /v1/survey_responses`.
    pub(crate) async fn delighted_responses(
        &self,
        req: &Request,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let p = params(
            req.uri().query(),
            &[
                "per_page",
                "page",
                "since",
                "until",
                "updated_since",
                "updated_until",
                "trend",
                "person_id",
                "person_email",
                "order",
                "expand[]",
            ],
        )?;
        let per_page = count(&p, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
        let page = count(&p, "page", 1, MAX_SKIPPED / per_page + 1)?;
        let person = match (p.get("person_id"), p.get("person_email")) {
            (Some(_), Some(_)) => return Err(unprocessable("person_id", "give person_id or person_email, not both")),
            (Some(id), None) => {
                Some(PersonId::from_stored(id).ok_or_else(|| unprocessable("person_id", "is not a person id"))?)
            }
            (None, Some(email)) => Some(self.person_of_email("person_email", email)?.0),
            (None, None) => None,
        };
        let newest_first = match p.get("order").map(String::as_str) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(unprocessable("order", "must be asc or desc")),
        };
        let expand = expand_person(&p)?;
        let q = ResponsesQuery {
            survey: p.get("trend").map(|t| trend(t)).transpose()?,
            since: unix(&p, "since")?,
            until: unix(&p, "until")?,
            updated_since: unix(&p, "updated_since")?,
            updated_until: unix(&p, "updated_until")?,
            person,
            page,
            per_page,
            newest_first,
        };
        let responses = self.read.survey_responses(&q, &self.default_survey, now).await?;
        let ids: Vec<RequestId> = responses.iter().map(|r| r.request_id).collect();
        let follow_ups: BTreeMap<RequestId, FollowUp> = self.follow_ups.get_many(&ids).await?.into_iter().collect();
        let mut listed = Vec::with_capacity(responses.len());
        for r in &responses {
            let follow_up = follow_ups.get(&r.request_id).cloned().unwrap_or_default();
            listed.push(self.survey_response_json(req, r, &follow_up, expand).await?);
        }
        json_of(StatusCode::OK, &listed)
    }

    async fn survey_response_json(
        &self,
        req: &Request,
        r: &Response,
        follow_up: &FollowUp,
        expand: bool,
    ) -> Result<SurveyResponse, ApiError> {
        let person = match (&r.person_id, expand) {
            (None, _) => Value::Null,
            (Some(id), false) => Value::String(id.to_string()),
            (Some(id), true) => self.people.profile(id).await?.map_or(Value::Null, |p| person_json(&p)),
        };
        Ok(SurveyResponse {
            id: r.request_id.to_string(),
            person,
            survey_type: "nps",
            score: r.score.map(|s| s.value()),
            comment: r.comment.as_ref().map(|c| c.as_str().to_owned()),
            permalink: format!("{}/v1/survey_responses/{}", origin(req), r.request_id),
            created_at: r.created_at.unix(),
            updated_at: r.updated_at.unix(),
            person_properties: r
                .properties
                .iter()
                .chain(&r.person_properties)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            notes: follow_up.notes.iter().enumerate().map(|(i, n)| note_json(i, n)).collect(),
            tags: follow_up.tags.clone(),
            additional_answers: Vec::new(),
        })
    }

    /// `GET /v1/survey_responses/{id}`.
    pub(crate) async fn delighted_response(&self, req: &Request, id: &str) -> Result<HttpResponse<Body>, ApiError> {
        let p = params(req.uri().query(), &["expand[]"])?;
        let expand = expand_person(&p)?;
        let response = self.found_response(id).await?;
        let follow_up = self.follow_ups.get(response.request_id).await?;
        json_of(StatusCode::OK, &self.survey_response_json(req, &response, &follow_up, expand).await?)
    }

    async fn found_response(&self, id: &str) -> Result<Response, ApiError> {
        let missing = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such survey response");
        let id = RequestId::parse(id).ok_or_else(missing)?;
        self.read.survey_response(id).await?.ok_or_else(missing)
    }

    /// `PUT /v1/survey_responses/{id}`: the answer is the person's own and stays as given; `tags`
    /// replace the follow-up's tags and a note in `notes` that is not there yet is added (as the
    /// key's change: docs/responses.md, "Following up"). Notes are kept: leaving one out of
    /// `notes` is refused, as is anything that would change the answer.
    pub(crate) async fn update_delighted_response(
        &self,
        req: &Request,
        id: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let body: Value = serde_json::from_slice(json_body(req)?).map_err(|e| unprocessable("body", e))?;
        let Value::Object(fields) = body else { return Err(unprocessable("body", "must be a JSON object")) };
        let response = self.found_response(id).await?;
        let follow_up = self.follow_ups.get(response.request_id).await?;
        let current = serde_json::to_value(self.survey_response_json(req, &response, &follow_up, false).await?)
            .map_err(|e| unprocessable("body", e))?;
        let (mut tags, mut notes) = (None, Vec::new());
        for (name, value) in &fields {
            match name.as_str() {
                "score" | "comment" | "person_properties" if current.get(name) != Some(value) => {
                    return Err(unprocessable(name, "cannot be changed here: the answer is the person's own"));
                }
                "tags" if current.get(name) != Some(value) => {
                    let list = value
                        .as_array()
                        .and_then(|t| t.iter().map(|t| t.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                        .ok_or_else(|| unprocessable("tags", "must be an array of strings"))?;
                    tags = Some(list);
                }
                "notes" => notes = new_notes(value, &follow_up)?,
                // The person as read (an id, or expanded), and read-only fields, as they are.
                _ => {}
            }
        }
        if tags.is_none() && notes.is_empty() {
            return json_of(StatusCode::OK, &current);
        }
        if response.kind == nps_domain::survey::SurveyKind::Enps {
            return Err(unprocessable("notes", "an eNPS answer is anonymous: it has no notes or tags"));
        }
        // The tags and the first new note in one change; an edit adds one note, so each further
        // note is a change of its own.
        let mut notes = notes.into_iter();
        let first = Edit { tags, note: notes.next(), ..Edit::default() };
        let mut follow_up = follow_up;
        for edit in std::iter::once(first).chain(notes.map(|note| Edit { note: Some(note), ..Edit::default() })) {
            follow_up = self.follow_up(id, edit, by, now).await.map_err(unprocessable_of)?.1;
        }
        json_of(StatusCode::OK, &self.survey_response_json(req, &response, &follow_up, false).await?)
    }

    /// `POST /v1/survey_responses`: an answer given before (how history was brought into
    /// Delighted), counted on its own day once the aggregator folds it.
    pub(crate) async fn create_delighted_response(
        &self,
        req: &Request,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let body: NewResponse = serde_json::from_slice(json_body(req)?).map_err(|e| unprocessable("body", e))?;
        let person = match (&body.person, &body.person_email) {
            (Some(Value::String(id)), _) => {
                PersonId::from_stored(id).ok_or_else(|| unprocessable("person", "is not a person id"))?
            }
            (None | Some(Value::Null), Some(email)) => self.person_of_email("person_email", email)?.0,
            _ => return Err(unprocessable("person", "give the person's id (or person_email)")),
        };
        let score = body
            .score
            .as_u64()
            .and_then(|s| u8::try_from(s).ok())
            .and_then(|s| Score::try_from(s).ok())
            .ok_or_else(|| unprocessable("score", "must be an integer from 0 to 10"))?;
        let comment =
            body.comment.as_deref().map(Comment::parse).transpose().map_err(|e| unprocessable("comment", e))?.flatten();
        let created_at = match body.created_at {
            Some(t) if !(0..=now.unix()).contains(&t) => {
                return Err(unprocessable("created_at", "must be a past time in Unix seconds"));
            }
            t => t.map_or(now, Timestamp::from_unix),
        };
        let survey_id = match &body.trend {
            None | Some(Value::Null) => self.default_survey.clone(),
            Some(Value::String(t)) => trend(t)?,
            Some(Value::Number(t)) => trend(&t.to_string())?,
            Some(_) => return Err(unprocessable("trend", "must be a survey id")),
        };
        let survey = self.surveys.get(&survey_id).await?.ok_or_else(|| unprocessable("trend", "no such survey"))?;
        if survey.kind == SurveyKind::Enps {
            return Err(unprocessable(
                "trend",
                "an eNPS survey's answers are anonymous and are not imported one by one",
            ));
        }
        let given = body.person_properties.unwrap_or_default();
        if given.len() > nps_domain::intake::MAX_PROPERTIES {
            let most = nps_domain::intake::MAX_PROPERTIES;
            return Err(unprocessable("person_properties", format!("at most {most} properties")));
        }
        let mut all = BTreeMap::new();
        for (name, value) in given {
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(unprocessable("person_properties", "values must be strings, numbers or booleans")),
            };
            let (name, text) =
                nps_domain::intake::property(&name, &text).map_err(|e| unprocessable("person_properties", e))?;
            all.insert(name, text);
        }
        let weights = Weights::from_properties(&survey.weight_properties, &all);
        // The survey's segments count in its rollups; the rest is kept with the answer.
        let (properties, person_properties) = all.into_iter().partition(|(k, _)| survey.segment_properties.contains(k));
        let response = Response {
            request_id: RequestId::new(created_at),
            survey_id,
            kind: survey.kind,
            score: Some(score),
            comment,
            version: 1,
            revision: 1,
            clicks: Vec::new(),
            bot_reasons: Vec::new(),
            created_at,
            updated_at: created_at,
            first_confirmed_at: Some(created_at),
            properties,
            person_properties,
            weights,
            person_id: Some(person),
        };
        // Retention counts from the import: history older than it is kept as long as new answers.
        self.responses.note_history(&response.survey_id, &created_at.to_rfc3339()[..10]).await?;
        self.responses.import(&response, now.plus(self.retention)).await?;
        json_of(StatusCode::CREATED, &self.survey_response_json(req, &response, &FollowUp::default(), false).await?)
    }

    /// `GET /v1/metrics` in Delighted's shape: whole UTC days from `since`'s to `until`'s.
    pub(crate) async fn delighted_metrics(
        &self,
        req: &Request,
        now: Timestamp,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let p = params(req.uri().query(), &["since", "until", "trend"])?;
        let survey = p.get("trend").map(|t| trend(t)).transpose()?.unwrap_or_else(|| self.default_survey.clone());
        let until = unix(&p, "until")?.unwrap_or(now);
        let since = match unix(&p, "since")? {
            Some(since) => since,
            None => self.read.history_start(&survey, until).await?,
        };
        let day = |t: Timestamp| t.to_rfc3339()[..10].to_owned();
        let query = format!("survey={survey}&since={}&until={}", day(since), day(until));
        let m = self.read.metrics(Some(&query), now).await.map_err(|e| match e.status {
            StatusCode::BAD_REQUEST => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code, e.message),
            _ => e,
        })?;
        let f = &m.figures;
        let percent = |v: Option<f64>| (v.unwrap_or(0.0) * 10.0).round() / 10.0;
        json_of(
            StatusCode::OK,
            &json!({
                "nps": f.nps_rounded.unwrap_or(0),
                "promoter_count": f.promoter_count.unwrap_or(0),
                "promoter_percent": percent(f.promoter_percent),
                "passive_count": f.passive_count.unwrap_or(0),
                "passive_percent": percent(f.passive_percent),
                "detractor_count": f.detractor_count.unwrap_or(0),
                "detractor_percent": percent(f.detractor_percent),
                "response_count": f.response_count.unwrap_or(0),
            }),
        )
    }

    /// `POST /v1/unsubscribes` (`person_email`): no more surveys to that address.
    pub(crate) async fn unsubscribe(&self, req: &Request, now: Timestamp) -> Result<HttpResponse<Body>, ApiError> {
        #[derive(Deserialize)]
        struct Unsubscribe {
            person_email: String,
        }
        let body: Unsubscribe = serde_json::from_slice(json_body(req)?).map_err(|e| unprocessable("body", e))?;
        let (person, email) = self.person_of_email("person_email", &body.person_email)?;
        self.people.suppress(&person, Some(&email), SuppressionReason::Unsubscribed, now).await?;
        json_of(StatusCode::OK, &json!({"ok": true}))
    }

    /// `GET /v1/unsubscribes` and `GET /v1/bounces`, oldest first, by page number.
    pub(crate) async fn suppressions(
        &self,
        req: &Request,
        list: SuppressionList,
    ) -> Result<HttpResponse<Body>, ApiError> {
        let p = params(req.uri().query(), &["per_page", "page", "since", "until"])?;
        let per_page = count(&p, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
        let page = count(&p, "page", 1, MAX_SKIPPED / per_page + 1)?;
        let (since, until) = (unix(&p, "since")?, unix(&p, "until")?);
        let listed = self.people.suppressed(list, Start::Skip((page - 1) * per_page), per_page).await?;
        let at_name = match list {
            SuppressionList::Unsubscribes => "unsubscribed_at",
            SuppressionList::Bounces => "bounced_at",
        };
        let rows: Vec<Value> = listed
            .items
            .iter()
            .filter(|s| since.is_none_or(|t| s.at >= t) && until.is_none_or(|t| s.at <= t))
            .map(|s| json!({"person_id": s.person.as_str(), "email": s.email, "name": null, at_name: s.at.unix()}))
            .collect();
        json_of(StatusCode::OK, &rows)
    }
}

/// `expand[]=person`.
fn expand_person(params: &BTreeMap<String, String>) -> Result<bool, ApiError> {
    match params.get("expand[]").map(String::as_str) {
        None => Ok(false),
        Some("person") => Ok(true),
        Some(_) => Err(unprocessable("expand[]", "must be person")),
    }
}

fn trend(value: &str) -> Result<SurveyId, ApiError> {
    SurveyId::parse(value).map_err(|e| unprocessable("trend", e))
}

fn encode_cursor(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

/// A people cursor: the last listing key, `<11 digits>#<person id>`.
fn decode_cursor(text: &str) -> Option<String> {
    use base64::Engine;
    if text.len() > 80 {
        return None;
    }
    let raw = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let (stamp, person) = raw.split_once('#')?;
    (stamp.len() == 11 && stamp.bytes().all(|b| b.is_ascii_digit()) && PersonId::from_stored(person).is_some())
        .then_some(raw)
}

/// The `id` of a `PUT /v1/survey_responses` body (how Delighted's Node client saves a response).
pub(crate) fn id_in_body(req: &Request) -> Result<String, ApiError> {
    let body: Value = serde_json::from_slice(json_body(req)?).map_err(|e| unprocessable("body", e))?;
    body.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unprocessable("id", "name the survey response to save"))
}

/// A note as Delighted listed them: an id (its place, from 1), the text, who and when.
fn note_json(i: usize, note: &Note) -> Value {
    serde_json::json!({"id": (i + 1).to_string(), "text": note.text, "user_email": Value::Null, "by": note.by, "created_at": note.at.unix()})
}

/// The notes of a `PUT`'s `notes` that are new: a string, or an object whose `text` is new (one
/// with an `id` must be that note, unchanged). Every note kept must still be there.
fn new_notes(value: &Value, kept: &FollowUp) -> Result<Vec<String>, ApiError> {
    let notes = value.as_array().ok_or_else(|| unprocessable("notes", "must be an array"))?;
    let mut seen = vec![false; kept.notes.len()];
    let mut added = Vec::new();
    for note in notes {
        let (id, text) = match note {
            Value::String(text) => (None, text.as_str()),
            Value::Object(o) => (
                o.get("id").and_then(Value::as_str),
                o.get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| unprocessable("notes", "each note needs its text"))?,
            ),
            _ => return Err(unprocessable("notes", "each note is a text or an object with its text")),
        };
        let existing = match id {
            Some(id) => Some(
                id.parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .filter(|&i| kept.notes.get(i).is_some_and(|n| n.text == text))
                    .ok_or_else(|| unprocessable("notes", "a note with an id is that note, unchanged"))?,
            ),
            None => kept.notes.iter().position(|n| n.text == text.trim()).filter(|&i| !seen[i]),
        };
        match existing {
            Some(i) => seen[i] = true,
            None => added.push(text.to_owned()),
        }
    }
    if seen.iter().any(|s| !s) {
        return Err(unprocessable("notes", "notes are kept: one cannot be removed"));
    }
    Ok(added)
}

/// An error of a follow-up change, as Delighted's clients expect errors: `422` for bad input.
fn unprocessable_of(e: ApiError) -> ApiError {
    if e.status == StatusCode::BAD_REQUEST { unprocessable("notes", e.message) } else { e }
}
