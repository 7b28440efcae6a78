//! Delighted's Autopilot on our survey lists (docs/delighted.md): the configuration of the
//! autopilot survey (`NPS_AUTOPILOT_SURVEY`, a relationship or eNPS survey with a cadence) and its
//! list's memberships. Only email is sent: the `sms` platform is never active and has no members.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use nps_domain::Timestamp;
use nps_domain::member::{Contact, Member};
use nps_domain::person::PersonId;
use nps_domain::survey::{Cadence, Survey};
use nps_http::{ApiError, json_body, json_of};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;

const MAX_PER_PAGE: i32 = 100;

/// What `POST` and `DELETE` memberships send.
#[derive(Deserialize)]
struct MembershipBody {
    person_email: Option<String>,
    person_id: Option<String>,
    person_name: Option<String>,
    properties: Option<serde_json::Map<String, Value>>,
}

fn unprocessable(parameter: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("{parameter}: {problem}"))
}

fn platform(name: &str) -> Result<bool, ApiError> {
    match name {
        "email" => Ok(true),
        "sms" => Ok(false),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "platform: email or sms")),
    }
}

fn membership(m: &Member, created_at: Option<Timestamp>) -> Value {
    json!({
        "created_at": m.added_at.unix(),
        "updated_at": m.added_at.unix(),
        "person": {
            "id": m.person.as_str(), "email": m.email.as_str(), "name": m.name,
            "created_at": created_at.unwrap_or(m.added_at).unix(),
        },
        "next_survey_request": {
            "id": null, "created_at": m.added_at.unix(), "survey_scheduled_at": m.next_due_at.unix(),
            "properties": m.properties,
        },
    })
}

impl App {
    /// The autopilot survey and its cadence: it must exist and have one.
    async fn autopilot(&self) -> Result<(Survey, Cadence), ApiError> {
        let missing = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no survey {} with a cadence (NPS_AUTOPILOT_SURVEY)", self.autopilot_survey),
            )
        };
        let survey = self.surveys.get(&self.autopilot_survey).await?.ok_or_else(missing)?;
        let cadence = survey.cadence.ok_or_else(missing)?;
        Ok((survey, cadence))
    }

    /// `GET /v1/autopilot/{platform}`.
    pub(crate) async fn autopilot_configuration(&self, name: &str) -> Result<Response<Body>, ApiError> {
        let email = platform(name)?;
        let (_, cadence) = self.autopilot().await?;
        json_of(
            StatusCode::OK,
            &json!({
                "platform_id": name,
                "active": email && !cadence.paused,
                "frequency": u64::from(cadence.frequency_days) * 86_400,
                "created_at": null,
                "updated_at": null,
            }),
        )
    }

    /// `GET /v1/autopilot/{platform}/memberships`: by person id, `per_page` at a time, with an
    /// absolute `Link` to the next page.
    pub(crate) async fn memberships(&self, req: &Request, name: &str) -> Result<Response<Body>, ApiError> {
        if !platform(name)? {
            return json_of(StatusCode::OK, &Vec::<Value>::new());
        }
        let (survey, _) = self.autopilot().await?;
        let (mut per_page, mut after) = (20, None);
        for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "per_page" => {
                    per_page = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                        .ok_or_else(|| unprocessable("per_page", format!("must be 1 to {MAX_PER_PAGE}")))?
                }
                "cursor" => {
                    after = Some(PersonId::from_stored(&v).ok_or_else(|| unprocessable("cursor", "is not a cursor"))?)
                }
                other => return Err(unprocessable(other, "is not a parameter of this list")),
            }
        }
        let (members, last) = self.members.list(&survey.id, after.as_ref(), per_page).await?;
        let listed: Vec<Value> = members.iter().map(|m| membership(m, None)).collect();
        let mut answer = json_of(StatusCode::OK, &listed)?;
        if let Some(last) = last {
            let link = format!(
                "<{}/v1/autopilot/{name}/memberships?per_page={per_page}&cursor={last}>; rel=\"next\"",
                crate::delighted::origin(req)
            );
            if let Ok(value) = HeaderValue::from_str(&link) {
                answer.headers_mut().insert(header::LINK, value);
            }
        }
        Ok(answer)
    }

    /// `POST /v1/autopilot/{platform}/memberships`: adds the person to the list (again: their
    /// details change, their schedule stays). Their first survey comes within a period.
    pub(crate) async fn add_membership(
        &self,
        req: &Request,
        name: &str,
        now: Timestamp,
    ) -> Result<Response<Body>, ApiError> {
        if !platform(name)? {
            return Err(unprocessable("platform", "SMS surveys are not sent; use email"));
        }
        let (survey, cadence) = self.autopilot().await?;
        let body: MembershipBody = serde_json::from_slice(json_body(req)?).map_err(|e| unprocessable("body", e))?;
        let (person, email) = match (&body.person_email, &body.person_id) {
            (Some(email), _) => {
                let (person, email) = self.person_of_email("person_email", email)?;
                (person, email)
            }
            (None, Some(id)) => {
                let person =
                    PersonId::from_stored(id).ok_or_else(|| unprocessable("person_id", "is not a person id"))?;
                let profile = self.people.profile(&person).await?;
                let profile = profile.ok_or_else(|| unprocessable("person_id", "no such person; give person_email"))?;
                let email = nps_domain::email::EmailAddress::parse(&profile.email)
                    .map_err(|e| unprocessable("person_id", e))?;
                (person, email)
            }
            (None, None) => return Err(unprocessable("person_email", "is required (or person_id)")),
        };
        let mut given = body.properties.unwrap_or_default();
        // Delighted's locale is a property; one we do not translate falls back to the survey's.
        let locale = given.remove("locale").and_then(|l| l.as_str().and_then(nps_domain::survey::Locale::from_tag));
        let properties = crate::members::property_texts(given).map_err(|e| unprocessable("properties", e))?;
        let contact = Contact::parse(email.as_str(), body.person_name.as_deref(), locale, properties)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", e.to_string()))?;
        let member = Member::joining(survey.id.clone(), person, contact, now);
        let (stored, _) = self.members.enrol(&member, cadence.period(self.cadence_day)).await?;
        json_of(StatusCode::OK, &membership(&stored, None))
    }

    /// `DELETE /v1/autopilot/{platform}/memberships`: takes the person off the list. The person is
    /// in the query string (Delighted's Node client) or the JSON body (its Python client).
    pub(crate) async fn remove_membership(&self, req: &Request, name: &str) -> Result<Response<Body>, ApiError> {
        if !platform(name)? {
            return Err(unprocessable("platform", "SMS surveys are not sent; use email"));
        }
        let (survey, _) = self.autopilot().await?;
        let query: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let body: MembershipBody = if query.is_empty() {
            serde_json::from_slice(json_body(req)?).map_err(|e| unprocessable("body", e))?
        } else {
            let find = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            MembershipBody {
                person_email: find("person_email"),
                person_id: find("person_id"),
                person_name: None,
                properties: None,
            }
        };
        let person = match (&body.person_email, &body.person_id) {
            (Some(email), _) => self.person_of_email("person_email", email)?.0,
            (None, Some(id)) => {
                PersonId::from_stored(id).ok_or_else(|| unprocessable("person_id", "is not a person id"))?
            }
            (None, None) => return Err(unprocessable("person_email", "is required (or person_id)")),
        };
        let member = self.members.get(&survey.id, &person).await?;
        self.members.remove(&survey.id, &person).await?;
        let person_json = match member {
            Some(m) => json!({"id": m.person.as_str(), "email": m.email.as_str(), "name": m.name}),
            None => json!({"id": person.as_str(), "email": body.person_email, "name": null}),
        };
        json_of(StatusCode::OK, &json!({"person": person_json}))
    }
}
