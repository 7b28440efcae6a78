//! Test data for tests and benchmarks across the workspace (feature `fixtures`, never enabled in
//! a function binary): a sent survey request, and its confirmed response.

use std::collections::BTreeMap;

use nps_scoring::Score;

use crate::person::PersonId;
use crate::request::{RequestId, RequestState, SurveyRequest};
use crate::response::Response;
use crate::survey::{Locale, SurveyId, SurveyKind};
use crate::{EmailAddress, Timestamp};

/// Request number `n` of survey `survey`, created and sent at `at`, with segment `properties`.
pub fn sent_request(n: usize, survey: &str, properties: &[(&str, &str)], at: Timestamp) -> SurveyRequest {
    SurveyRequest {
        id: RequestId::new(at),
        survey_id: SurveyId::parse(survey).expect("a valid survey id"),
        person_id: PersonId::from_stored(&format!("{n:032x}")).expect("a person id"),
        email: EmailAddress::parse(&format!("person{n}@example.com")).expect("an address"),
        name: None,
        locale: Locale::En,
        properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
        person_properties: BTreeMap::new(),
        weights: Default::default(),
        source: "generic".into(),
        event_id: format!("e{n}"),
        transaction_id: None,
        created_at: at,
        due_at: at,
        state: RequestState::Sent,
        attempts: 0,
        lease_until: None,
        sent_at: Some(at),
    }
}

/// The response to `request`, created at its creation, with `score` confirmed as `version`
/// (no score: a click only, version 0).
pub fn response(request: &SurveyRequest, kind: SurveyKind, score: Option<u8>, version: u32) -> Response {
    let mut r = Response::new(request, kind, request.created_at);
    r.score = score.map(|s| Score::try_from(s).expect("a score from 0 to 10"));
    r.version = if r.score.is_some() { version } else { 0 };
    r
}
