//! `/v1/surveys/{id}/members`: a relationship or eNPS survey's list (docs/surveys.md, "Lists").
//! Members are added and removed one or [`MAX_BULK`] at a time; each is asked once per period
//! of the survey's cadence, first within a period of joining. Delighted's Autopilot calls
//! (`autopilot.rs`) manage the same list.

use std::collections::BTreeMap;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use nps_domain::member::{Contact, MAX_BULK, Member};
use nps_domain::person::PersonId;
use nps_domain::survey::{Cadence, Locale, Survey, SurveyId};
use nps_domain::{EmailAddress, Timestamp};
use nps_http::{ApiError, json_body, json_of};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::App;

const DEFAULT_LIMIT: i32 = 100;
const MAX_LIMIT: i32 = 1000;

/// A property's value as text: strings, numbers and booleans; anything else is refused.
pub(crate) fn property_texts(given: Map<String, Value>) -> Result<Vec<(String, String)>, &'static str> {
    given
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err("values must be strings, numbers or booleans"),
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    name: Option<String>,
    locale: Option<String>,
    #[serde(default)]
    properties: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Added {
    members: Vec<NewMember>,
}

/// Who to remove: an address or a person id.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Leaving {
    email: Option<String>,
    person_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Removed {
    members: Vec<Leaving>,
}

fn member_json(m: &Member) -> Value {
    json!({
        "person_id": m.person.as_str(),
        "email": m.email.as_str(),
        "name": m.name,
        "locale": m.locale.map(Locale::as_str),
        "properties": m.properties,
        "added_at": m.added_at.to_rfc3339(),
        "next_survey_at": m.next_due_at.to_rfc3339(),
        "waves": m.waves,
    })
}

fn batch_size(len: usize) -> Result<(), ApiError> {
    if (1..=MAX_BULK).contains(&len) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("members: give 1 to {MAX_BULK} members")))
    }
}

impl App {
    /// The survey, which must have a cadence to keep a list.
    async fn listed_survey(&self, id: &str) -> Result<(Survey, Cadence), ApiError> {
        let id = SurveyId::parse(id).map_err(|e| ApiError::invalid(format!("survey: {e}")))?;
        let survey = self
            .surveys
            .get(&id)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no survey with id {id}")))?;
        let cadence = survey.cadence.ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_cadence",
                format!("survey {id} has no cadence: only relationship and eNPS surveys with one keep a list"),
            )
        })?;
        Ok((survey, cadence))
    }

    /// `GET /v1/surveys/{id}/members?limit=&cursor=`: by person id, with the next page's cursor.
    pub(crate) async fn list_members(&self, id: &str, query: Option<&str>) -> Result<Response<Body>, ApiError> {
        let (survey, _) = self.listed_survey(id).await?;
        let (mut limit, mut after) = (DEFAULT_LIMIT, None);
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "limit" => {
                    limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| ApiError::invalid(format!("limit: must be 1 to {MAX_LIMIT}")))?
                }
                "cursor" => {
                    after = Some(PersonId::from_stored(&v).ok_or_else(|| ApiError::invalid("cursor: is not a cursor"))?)
                }
                other => return Err(ApiError::invalid(format!("{other}: is not a parameter of this list"))),
            }
        }
        let (members, last) = self.members.list(&survey.id, after.as_ref(), limit).await?;
        let listed: Vec<Value> = members.iter().map(member_json).collect();
        json_of(StatusCode::OK, &json!({"members": listed, "next_cursor": last.map(|p| p.as_str().to_owned())}))
    }

    /// `POST /v1/surveys/{id}/members`: adds up to [`MAX_BULK`] people, all or none validated
    /// first. Adding someone already on the list updates their details and keeps their schedule.
    pub(crate) async fn add_members(
        &self,
        id: &str,
        req: &Request,
        now: Timestamp,
    ) -> Result<Response<Body>, ApiError> {
        let (survey, cadence) = self.listed_survey(id).await?;
        let body: Added =
            serde_json::from_slice(json_body(req)?).map_err(|e| ApiError::invalid(format!("body: {e}")))?;
        batch_size(body.members.len())?;
        let mut joining = Vec::with_capacity(body.members.len());
        for (i, given) in body.members.into_iter().enumerate() {
            let at = |problem: String| ApiError::invalid(format!("members[{i}].{problem}"));
            let locale = match given.locale.as_deref() {
                Some(tag) => Some(Locale::from_tag(tag).ok_or_else(|| at(format!("locale: {tag} is not offered")))?),
                None => None,
            };
            let properties = property_texts(given.properties).map_err(|e| at(format!("properties: {e}")))?;
            let contact = Contact::parse(&given.email, given.name.as_deref(), locale, properties)
                .map_err(|e| at(e.to_string()))?;
            let person = PersonId::derive(self.person_key()?, &contact.email);
            joining.push(Member::joining(survey.id.clone(), person, contact, now));
        }
        let mut stored = Vec::with_capacity(joining.len());
        for member in &joining {
            stored.push(member_json(&self.members.enrol(member, cadence.period(self.cadence_day)).await?.0));
        }
        json_of(StatusCode::OK, &json!({"members": stored}))
    }

    /// `DELETE /v1/surveys/{id}/members` (a JSON body of up to [`MAX_BULK`] people) and
    /// `DELETE /v1/surveys/{id}/members/{email or person id}`: takes them off the list; their
    /// answers stay (an erasure removes those).
    pub(crate) async fn remove_members(
        &self,
        id: &str,
        one: Option<&str>,
        req: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let (survey, _) = self.listed_survey(id).await?;
        let people = match one {
            // An address (percent-encoded), `email:<address>` or a person id; no phone numbers.
            Some(segment) => {
                let person = self.person_of_segment(segment)?;
                vec![person.ok_or_else(|| ApiError::invalid("person: an address or a person id"))?]
            }
            None => {
                let body: Removed =
                    serde_json::from_slice(json_body(req)?).map_err(|e| ApiError::invalid(format!("body: {e}")))?;
                batch_size(body.members.len())?;
                let mut people = Vec::with_capacity(body.members.len());
                for (i, l) in body.members.into_iter().enumerate() {
                    let at = |problem: &str| ApiError::invalid(format!("members[{i}].{problem}"));
                    people.push(match (l.email, l.person_id) {
                        (Some(email), None) => {
                            let email = EmailAddress::parse(&email).map_err(|_| at("email: is not an address"))?;
                            PersonId::derive(self.person_key()?, &email)
                        }
                        (None, Some(id)) => {
                            PersonId::from_stored(&id).ok_or_else(|| at("person_id: is not a person id"))?
                        }
                        _ => return Err(at("email: give an email or a person_id")),
                    });
                }
                people
            }
        };
        let mut removed = BTreeMap::new();
        for person in people {
            let was = self.members.remove(&survey.id, &person).await?;
            removed.insert(person.as_str().to_owned(), was);
        }
        let removed: Vec<Value> =
            removed.into_iter().map(|(person_id, was)| json!({"person_id": person_id, "removed": was})).collect();
        json_of(StatusCode::OK, &json!({"members": removed}))
    }
}
